"""Reference generators every deep model must be seen to beat (SPEC §3, "Both").

Plain numpy: fitting and sampling them never imports torch, so their jobs take a fraction
of a second. Their state is a few arrays (`arrays()` / `from_arrays()`), which the
checkpoint stores as an .npz file.
"""

from __future__ import annotations

import numpy as np

# Rows drawn per matrix product: bounds the memory of sampling at 20,000 genes.
CHUNK = 2048


def _labels(y: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64) if y is None else np.asarray(y, dtype=np.int64)


def _chunks(rows: np.ndarray):
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


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


class GaussianReference:
    """Multivariate normal in the scaled space, one per label when conditional.

    The covariance is Ledoit-Wolf shrunk, (1 - s) S + s mu I: per-label training sets are
    often smaller than the number of genes, where the sample covariance S is singular. It
    is never formed: with xc the n centred training rows of a label, S = xc'xc / n, so

        x = mean + sqrt((1 - s) / n) xc'z + sqrt(s mu) e,   z ~ N(0, I_n), e ~ N(0, I_genes)

    has exactly that covariance, and memory stays n x genes (at 20,000 genes the
    covariance would take 3.2 GB per label).
    """

    def __init__(self, n_labels: int = 0):
        self.n_labels = n_labels

    def fit(self, x: np.ndarray, y: np.ndarray | None) -> None:
        y = _labels(y, len(x))
        k = max(self.n_labels, 1)
        self.mean = np.stack([x[y == label].mean(axis=0) for label in range(k)])
        self.centred, self.labels = x - self.mean[y], y
        fits = [ledoit_wolf(self.centred[y == label]) for label in range(k)]
        self.shrinkage, self.mu = (np.array(v) for v in zip(*fits))

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        y = _labels(y, n)
        out = np.empty((n, self.mean.shape[1]))
        for label in np.unique(y):
            xc = self.centred[self.labels == label]
            s, mu = self.shrinkage[label], self.mu[label]
            for rows in _chunks(np.flatnonzero(y == label)):
                z = rng.standard_normal((len(rows), len(xc)))
                e = rng.standard_normal((len(rows), xc.shape[1]))
                out[rows] = self.mean[label] + np.sqrt((1 - s) / len(xc)) * (z @ xc) + np.sqrt(s * mu) * e
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean,
            "centred": self.centred,
            "labels": self.labels,
            "shrinkage": self.shrinkage,
            "mu": self.mu,
        }

    @classmethod
    def from_arrays(cls, n_labels: int, arrays: dict[str, np.ndarray]) -> GaussianReference:
        model = cls(n_labels)
        for name, value in arrays.items():
            setattr(model, name, value)
        return model


class IndependentReference:
    """Each gene resampled independently from the training split (per label when conditional).

    Keeps every marginal exactly and destroys all gene-gene structure.
    """

    def __init__(self, n_labels: int = 0):
        self.n_labels = n_labels

    def fit(self, x: np.ndarray, y: np.ndarray | None) -> None:
        self.data, self.labels = np.array(x), _labels(y, len(x))

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        y = _labels(y, n)
        out = np.empty((n, self.data.shape[1]))
        genes = np.arange(self.data.shape[1])
        for label in np.unique(y):
            pool = self.data[self.labels == label]
            for rows in _chunks(np.flatnonzero(y == label)):
                out[rows] = pool[rng.integers(len(pool), size=(len(rows), len(genes))), genes]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"data": self.data, "labels": self.labels}

    @classmethod
    def from_arrays(cls, n_labels: int, arrays: dict[str, np.ndarray]) -> IndependentReference:
        model = cls(n_labels)
        model.data, model.labels = arrays["data"], arrays["labels"]
        return model


REFERENCES = {"gaussian": GaussianReference, "independent": IndependentReference}
