"""The independent reference: each gene resampled on its own, within its label.

Plain numpy: its jobs never import torch. Its state is the training matrix (an .npz
checkpoint), or with privacy.epsilon set, noisy per-gene histograms and no training row.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data.preprocess import is_zero
from .base import Generator, label_array, row_chunks


def gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The smallest noise sd that makes the Gaussian mechanism of this L2 sensitivity
    (epsilon, delta)-DP: the analytic Gaussian mechanism (Balle & Wang, 2018, Theorem 8),
    exact where the classical sqrt(2 log(1.25 / delta)) / epsilon bound is loose."""
    from scipy.special import log_ndtr, ndtr

    def delta_of(sigma):
        a, b = sensitivity / (2 * sigma), epsilon * sigma / sensitivity
        return ndtr(a - b) - math.exp(min(epsilon + log_ndtr(-a - b), 700.0))

    lo, hi = 1e-8 * sensitivity, sensitivity
    while delta_of(hi) > delta:  # delta_of falls as sigma grows
        lo, hi = hi, 2 * hi
    for _ in range(100):  # bisection, on the log scale
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if delta_of(mid) > delta else (lo, mid)
    return hi


class IndependentReference(Generator):
    """Each gene resampled independently from the training split (per label when conditional).

    Keeps every marginal exactly and destroys all gene-gene structure; keeps the training
    rows themselves, so it has no privacy guarantee.

    With privacy.epsilon set it keeps no row: per label and gene, a histogram of the scaled
    values over `bins` equal bins on [-bound, bound] (values beyond go to the edge bins;
    with zero_value, exact zeros in a bin of their own), released with Gaussian noise, and
    samples are drawn from the noisy histograms (negative counts set to 0), uniformly
    within a bin. Adding or removing one training sample changes one count by one in each
    of its label's gene histograms: L2 sensitivity sqrt(genes). Labels split the budget by
    parallel composition (every sample is in one label's histograms, so each label's take
    the whole epsilon); genes share it through that one Gaussian mechanism over all of a
    label's histograms, which is the even split across genes under zCDP composition,
    calibrated exactly (gaussian_sigma). The label counts are treated as public.
    """

    def fit(
        self, x, y, *, seed, zero_value=None, device="cpu", cuda_graphs=False, progress=False
    ) -> pd.DataFrame:
        privacy = self.settings.get("privacy", {})
        if privacy.get("epsilon") is None:
            self.data, self.labels = np.array(x), label_array(y, len(x))
            return pd.DataFrame({"epoch": [0]})
        self._fit_private(np.asarray(x), label_array(y, len(x)), privacy, zero_value, seed)
        guarantee = self.fitted["privacy"]
        return pd.DataFrame(
            {"epoch": [0], "epsilon": [guarantee["epsilon"]], "delta": [guarantee["delta"]]}
        )

    def _fit_private(self, x, y, privacy, zero_value, seed):
        bins, bound = privacy["bins"], privacy["bound"]
        n, genes = x.shape
        # The last bin holds the exact zeros (empty without zero_value).
        which = np.clip(((x + bound) / (2 * bound) * bins).astype(np.int64), 0, bins - 1)
        if zero_value is not None:
            which[is_zero(x, zero_value)] = bins
        counts = np.zeros((max(self.n_labels, 1), genes, bins + 1))
        for label in range(len(counts)):
            rows = which[y == label]
            for g in range(genes):
                counts[label, g] = np.bincount(rows[:, g], minlength=bins + 1)
        delta = privacy["delta"] if privacy["delta"] is not None else 1.0 / n
        sigma = gaussian_sigma(privacy["epsilon"], delta, math.sqrt(genes))
        noisy = np.clip(
            counts + np.random.default_rng(seed).normal(0, sigma, counts.shape), 0, None
        )
        if zero_value is None:
            noisy[..., bins] = 0.0
        noisy[noisy.sum(axis=-1) == 0, :bins] = 1.0  # nothing left: a flat histogram
        self.probabilities = noisy / noisy.sum(axis=-1, keepdims=True)
        self.edges = np.linspace(-bound, bound, bins + 1)
        self.zero_value = np.zeros(genes) if zero_value is None else np.asarray(zero_value, float)
        self.fitted["privacy"] = {
            "epsilon": float(privacy["epsilon"]),
            "delta": float(delta),
            "noise_sd": float(sigma),
            "sensitivity": math.sqrt(genes),
            "mechanism": "gaussian (analytic), per-label per-gene histograms",
        }

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        if "privacy" in self.fitted:
            return self._sample_histograms(n, label_array(y, n), rng)
        y = label_array(y, n)
        out = np.empty((n, self.data.shape[1]))
        genes = np.arange(self.data.shape[1])
        for label in np.unique(y):
            pool = self.data[self.labels == label]
            for rows in row_chunks(np.flatnonzero(y == label)):
                out[rows] = pool[rng.integers(len(pool), size=(len(rows), len(genes))), genes]
        return out

    def _sample_histograms(self, n, y, rng):
        genes, slots = self.probabilities.shape[1:]
        bins = slots - 1
        out = np.empty((n, genes))
        offset = np.arange(genes)
        for label in np.unique(y):
            # One searchsorted for all genes: gene g's cumulative shares shifted by g.
            cdf = np.cumsum(self.probabilities[label], axis=1)
            cdf[:, -1] = 1.0
            flat = (cdf + offset[:, None]).ravel()
            for rows in row_chunks(np.flatnonzero(y == label)):
                u = rng.random((len(rows), genes))
                slot = np.searchsorted(flat, u + offset, side="right") - offset * slots
                slot = np.minimum(slot, slots - 1)
                within = self.edges[np.minimum(slot, bins - 1)] + rng.random(u.shape) * (
                    self.edges[1] - self.edges[0]
                )
                out[rows] = np.where(slot == bins, self.zero_value, within)
        return out

    def numbers(self) -> dict[str, np.ndarray]:
        if "privacy" in self.fitted:
            return {k: getattr(self, k) for k in ("probabilities", "edges", "zero_value")}
        return {"data": self.data, "labels": self.labels}

    def load(self, fitted: dict, numbers: dict[str, np.ndarray]) -> None:
        self.fitted = dict(fitted)
        for k, v in numbers.items():
            setattr(self, k, v)
