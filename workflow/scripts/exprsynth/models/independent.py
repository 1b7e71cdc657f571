"""The independent reference: each gene resampled on its own, within its label.

Plain numpy: its jobs never import torch. Its state is the training matrix (an .npz checkpoint).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Generator, label_array, row_chunks


class IndependentReference(Generator):
    """Each gene resampled independently from the training split (per label when conditional).

    Keeps every marginal exactly and destroys all gene-gene structure.
    """

    def fit(
        self, x, y, *, seed, zero_value=None, device="cpu", cuda_graphs=False, progress=False
    ) -> pd.DataFrame:
        self.data, self.labels = np.array(x), label_array(y, len(x))
        return pd.DataFrame({"epoch": [0]})

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        y = label_array(y, n)
        out = np.empty((n, self.data.shape[1]))
        genes = np.arange(self.data.shape[1])
        for label in np.unique(y):
            pool = self.data[self.labels == label]
            for rows in row_chunks(np.flatnonzero(y == label)):
                out[rows] = pool[rng.integers(len(pool), size=(len(rows), len(genes))), genes]
        return out

    def numbers(self) -> dict[str, np.ndarray]:
        return {"data": self.data, "labels": self.labels}

    def load(self, fitted: dict, numbers: dict[str, np.ndarray]) -> None:
        self.data, self.labels = numbers["data"], numbers["labels"]
