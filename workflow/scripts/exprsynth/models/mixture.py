"""The mixture reference: per label, a Gaussian mixture in a low-rank space plus per-gene noise.

A single Gaussian puts one ellipsoid over each label; expression data of cell types or
subtypes form several clusters, and a network that draws samples on the bridges between
them can still beat a Gaussian. This reference can follow the clusters without being able
to memorise samples: the mixture lives in the training split's top principal components
(`rank`), with enough samples per component for a full covariance there, and every gene
gets independent noise with its label's residual variance around that subspace. The number
of components per label is chosen on the training split by BIC, up to `max_components`.

scikit-learn fits the mixtures; sampling is plain numpy, from the stored arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Generator, bic_gaussian_mixture, label_array, row_chunks


class MixtureReference(Generator):
    def fit(
        self, x, y, *, seed, zero_value=None, device="cpu", cuda_graphs=False, progress=False
    ) -> pd.DataFrame:
        y = label_array(y, len(x))
        k_labels = max(self.n_labels, 1)
        self.mean = x.mean(axis=0)
        xc = x - self.mean
        rank = int(min(self.settings["rank"], len(x) - 1, x.shape[1]))
        # The principal axes from the thin SVD: no genes x genes matrix at 20,000 genes.
        self.axes = np.linalg.svd(xc, full_matrices=False)[2][:rank]  # rank x genes
        scores = xc @ self.axes.T
        residual = xc - scores @ self.axes
        most = self.settings["max_components"]
        self.weights = np.zeros((k_labels, most))
        self.centres = np.zeros((k_labels, most, rank))
        self.cholesky = np.zeros((k_labels, most, rank, rank))
        self.residual_mean = np.zeros((k_labels, x.shape[1]))
        self.noise_sd = np.zeros((k_labels, x.shape[1]))
        chosen = []
        for label in range(k_labels):
            rows = y == label
            z = scores[rows]
            best = bic_gaussian_mixture(z, most, self.settings["min_samples_per_dim"], seed)
            c = best.n_components
            chosen.append(c)
            self.weights[label, :c] = best.weights_
            self.centres[label, :c] = best.means_
            self.cholesky[label, :c] = np.linalg.cholesky(best.covariances_)
            # The label's own offset off the shared subspace: a label effect on genes the top
            # axes do not carry would otherwise vanish.
            self.residual_mean[label] = residual[rows].mean(axis=0)
            self.noise_sd[label] = residual[rows].std(axis=0)
        self.fitted = {"components": chosen, "rank": rank}
        return pd.DataFrame({"epoch": [0]})

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        y = label_array(y, n)
        out = np.empty((n, len(self.mean)))
        for label in np.unique(y):
            for rows in row_chunks(np.flatnonzero(y == label)):
                component = rng.choice(
                    len(self.weights[label]), size=len(rows), p=self.weights[label]
                )
                e = rng.standard_normal((len(rows), self.centres.shape[2]))
                z = self.centres[label, component] + np.einsum(
                    "nij,nj->ni", self.cholesky[label, component], e
                )
                noise = (
                    self.residual_mean[label]
                    + rng.standard_normal((len(rows), len(self.mean))) * self.noise_sd[label]
                )
                out[rows] = self.mean + z @ self.axes + noise
        return out

    def numbers(self) -> dict[str, np.ndarray]:
        names = ("mean", "axes", "weights", "centres", "cholesky", "residual_mean", "noise_sd")
        return {name: getattr(self, name) for name in names}

    def load(self, fitted: dict, numbers: dict[str, np.ndarray]) -> None:
        self.fitted = dict(fitted)
        for name, value in numbers.items():
            setattr(self, name, value)
