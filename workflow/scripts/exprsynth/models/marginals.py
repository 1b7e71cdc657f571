"""Marginal calibration of a network's samples (setting `marginals: training`).

A network learns how genes vary together long before it gets each gene's own distribution
exactly: its samples are a little too narrow here, skewed there, and a detector adds those
small errors up over hundreds of genes. After training, each gene's values are mapped,
within each label, from the network's own distribution (estimated from a large draw) onto
the training split's: a monotone map per gene, so the network's gene-gene structure (the
ranks of its samples, its copula) is kept and each gene's marginal becomes the training
split's, zeros included. Marginals from the data and the dependence from a model is how
scDesign2/3 build single-cell simulators; here the dependence is the network's.

The maps are two quantile tables per label (the network's and the training split's,
labels x genes x MAP_QUANTILES) stored beside the weights.
"""

from __future__ import annotations

import numpy as np

from ..data.preprocess import fit_quantiles, from_normal, to_normal

# Quantiles per gene and label in each table: enough that the map is smooth where the
# values are dense, few enough that the checkpoint stays small (500 genes, 2 labels: 0.8 MB).
MAP_QUANTILES = 100
# Samples per label drawn from the trained network to estimate its marginals.
CALIBRATION_DRAWS = 2000
# A label with fewer training samples keeps the network's values: each gene would have a
# handful of values, and samples would be assembled from those of a few training rows.
MIN_TRAINING_ROWS = 20


def fit_maps(sample, x: np.ndarray, y: np.ndarray | None, n_labels: int, seed: int):
    """The network's and the training split's quantile tables (labels x genes x quantiles).

    sample(n, labels, rng): the network's samples in the scaled space; x, y: the training
    split (y None or n_labels 0: one table for all samples)."""
    groups = max(n_labels, 1)
    y = np.zeros(len(x), dtype=np.int64) if y is None or n_labels == 0 else np.asarray(y)
    rng = np.random.default_rng(seed)
    model = np.empty((groups, x.shape[1], MAP_QUANTILES))
    training = np.empty_like(model)
    for label in range(groups):
        labels = np.full(CALIBRATION_DRAWS, label) if n_labels else None
        model[label] = fit_quantiles(sample(CALIBRATION_DRAWS, labels, rng), MAP_QUANTILES)
        rows = y == label
        enough = rows.sum() >= MIN_TRAINING_ROWS
        training[label] = fit_quantiles(x[rows], MAP_QUANTILES) if enough else model[label]
    return model, training


def apply_maps(
    x: np.ndarray, y: np.ndarray | None, model: np.ndarray, training: np.ndarray
) -> np.ndarray:
    """Each gene of each row from the network's quantiles onto its label's training ones."""
    y = np.zeros(len(x), dtype=np.int64) if y is None else np.asarray(y)
    out = np.empty_like(x)
    for label in np.unique(y):
        rows = y == label
        out[rows] = from_normal(to_normal(x[rows], model[label]), training[label])
    return out
