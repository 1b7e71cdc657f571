"""The Gaussian reference: a multivariate normal per label, every network must beat it.

Plain numpy: its jobs never import torch. Its state is a few arrays (an .npz checkpoint).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Generator, label_array, row_chunks


def ledoit_wolf(xc: np.ndarray) -> tuple[float, float]:
    """(shrinkage, mu) of Ledoit & Wolf (2004) for centred rows xc (n x genes).

    The covariance estimate is (1 - shrinkage) S + shrinkage mu I, with S = xc'xc / n and
    mu = trace(S) / genes: sklearn.covariance.ledoit_wolf_shrinkage's formula, computed
    from the smaller of the two Gram matrices, so no genes x genes matrix is needed when
    there are fewer samples than genes.
    """
    n, p = xc.shape
    sq_norms = np.einsum("ij,ij->i", xc, xc)  # squared norm of each row
    mu = sq_norms.sum() / (n * p)
    gram = xc @ xc.T if n <= p else xc.T @ xc
    fro2 = np.einsum("ij,ij->", gram, gram) / n**2  # ||S||_F^2
    beta = ((sq_norms**2).sum() / n - fro2) / (n * p)
    delta = (fro2 - 2 * mu * sq_norms.sum() / n + p * mu**2) / p
    beta = min(beta, delta)
    return (0.0 if beta == 0 else float(beta / delta)), float(mu)


class GaussianReference(Generator):
    """Multivariate normal in the scaled space, one per label when conditional.

    The covariance is Ledoit-Wolf shrunk, (1 - s) S + s mu I: per-label training sets are
    often smaller than the number of genes, where the sample covariance S is singular. It
    is never formed: with xc the n centred training rows of a label, S = xc'xc / n, so

        x = mean + sqrt((1 - s) / n) xc'z + sqrt(s mu) e,   z ~ N(0, I_n), e ~ N(0, I_genes)

    has exactly that covariance, and memory stays n x genes (at 20,000 genes the
    covariance would take 3.2 GB per label).
    """

    def fit(
        self, x, y, *, seed, zero_value=None, device="cpu", cuda_graphs=False, progress=False
    ) -> pd.DataFrame:
        y = label_array(y, len(x))
        k = max(self.n_labels, 1)
        self.mean = np.stack([x[y == label].mean(axis=0) for label in range(k)])
        self.centred, self.labels = x - self.mean[y], y
        fits = [ledoit_wolf(self.centred[y == label]) for label in range(k)]
        self.shrinkage, self.mu = (np.array(v) for v in zip(*fits))
        return pd.DataFrame({"epoch": [0]})

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        y = label_array(y, n)
        out = np.empty((n, self.mean.shape[1]))
        for label in np.unique(y):
            xc = self.centred[self.labels == label]
            s, mu = self.shrinkage[label], self.mu[label]
            for rows in row_chunks(np.flatnonzero(y == label)):
                z = rng.standard_normal((len(rows), len(xc)))
                e = rng.standard_normal((len(rows), xc.shape[1]))
                out[rows] = (
                    self.mean[label] + np.sqrt((1 - s) / len(xc)) * (z @ xc) + np.sqrt(s * mu) * e
                )
        return out

    def numbers(self) -> dict[str, np.ndarray]:
        return {
            name: getattr(self, name) for name in ("mean", "centred", "labels", "shrinkage", "mu")
        }

    def load(self, fitted: dict, numbers: dict[str, np.ndarray]) -> None:
        for name, value in numbers.items():
            setattr(self, name, value)
