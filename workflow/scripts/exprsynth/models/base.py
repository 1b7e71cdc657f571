"""The interface every generator implements, and what the networks share.

A generator is built from its config section (`build.build_generator`), fitted on
the scaled training matrix, and samples in that scaled space; `TrainedGenerator` adds the
scaler and the labels and gives profiles in expression units. Its state is two parts: the
facts learned while fitting (`fitted`: plain numbers and lists) and its numbers (arrays,
or a torch state dict), which the checkpoint stores beside the config section.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.preprocess import is_zero

# zero_inflation: auto turns the zero-inflated outputs on when more than this share of the
# training values are exact zeros in expression units (single-cell data: 60-90%; bulk
# RNA-seq and the simulated cohort: few or none).
ZERO_INFLATION_THRESHOLD = 0.30


class TrainingError(RuntimeError):
    """Training cannot go on (no CUDA device, a diverged loss): one line for the user."""


class Generator:
    """Fit on scaled training data, sample in the scaled space, checkpoint a state.

    settings: the generator's config section, complete (the schema's defaults filled in by
    `exprsynth.config.model_settings` or the workflow's validation): no default lives here.
    """

    def __init__(self, n_genes: int, n_labels: int, settings: dict):
        self.n_genes, self.n_labels, self.settings = n_genes, n_labels, dict(settings)
        self.fitted: dict = {}
        # The scaler of the data fitted on: given to `fit` (networks) and, for a loaded
        # checkpoint, by `TrainedGenerator`, which stores it once. Only generators that
        # model the counts themselves (vae likelihood nb/zinb) use it.
        self.scaler = None

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        *,
        seed: int,
        zero_value: np.ndarray | None = None,
        device: str = "cpu",
        cuda_graphs: bool = False,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Fit on x (samples x genes, scaled) with labels y (indices, or None); returns the
        training history, one row per epoch. zero_value: each gene's zero in the scaled
        space, for generators that model exact zeros. The networks also take `scaler`, the
        `Scaler` that made x (for generators that need the counts); callers pass it to
        networks only, as the references' fit does not take it."""
        raise NotImplementedError

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """n rows in the scaled space, row i with label y[i] (None: unconditional)."""
        raise NotImplementedError

    def numbers(self) -> dict[str, Any]:
        """The fitted numbers: numpy arrays (references) or a torch state dict (networks)."""
        raise NotImplementedError

    def load(self, fitted: dict, numbers: dict[str, Any]) -> None:
        """Restore what `fitted` and `numbers()` held when the checkpoint was written."""
        raise NotImplementedError


def zero_fraction(x: np.ndarray, zero_value: np.ndarray) -> float:
    """Share of the entries of scaled data that are exact zeros in expression units."""
    return float(np.mean(is_zero(x, zero_value)))


def resolve_zero_inflation(setting, x: np.ndarray, zero_value: np.ndarray | None) -> bool:
    """zero_inflation: true | false | auto (on above ZERO_INFLATION_THRESHOLD zeros)."""
    if setting in (False, "false"):
        return False
    if setting in (True, "true"):
        if zero_value is None:
            raise ValueError("zero_inflation: true needs the per-gene zero_value")
        return True
    if setting != "auto":
        raise ValueError(f"zero_inflation must be auto, true or false, not {setting!r}")
    return zero_value is not None and zero_fraction(x, zero_value) > ZERO_INFLATION_THRESHOLD


def resolve_device(device: str):
    """'auto' picks CUDA when available; asking for CUDA without one is an error, not a fallback."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            "device: cuda was requested but torch sees no CUDA device; set device: auto or cpu"
        )
    return torch.device(device)


# Rows the numpy references draw per matrix product: bounds memory at 20,000 genes.
CHUNK = 2048


def label_array(y: np.ndarray | None, n: int) -> np.ndarray:
    """Label indices, all 0 for an unconditional fit."""
    return np.zeros(n, dtype=np.int64) if y is None else np.asarray(y, dtype=np.int64)


def row_chunks(rows: np.ndarray):
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def bic_gaussian_mixture(z: np.ndarray, most: int, min_samples_per_dim: int, seed: int):
    """scikit-learn's full-covariance Gaussian mixture on z, with the number of components
    (at most `most`) chosen by BIC; a component needs `min_samples_per_dim` samples per
    dimension of z, so none can sit on a handful of samples."""
    from sklearn.mixture import GaussianMixture

    allowed = max(1, min(most, len(z) // (min_samples_per_dim * max(z.shape[1], 1))))
    fits = [
        GaussianMixture(c, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(z)
        for c in range(1, allowed + 1)
    ]
    return min(fits, key=lambda m: m.bic(z))
