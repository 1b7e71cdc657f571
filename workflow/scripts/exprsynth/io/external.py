"""Synthetic samples made by any tool, with the real training and held-out samples they
are judged against (`python -m exprsynth evaluate`): read and checked as strictly as the
workflow's own input, each problem one line naming the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .checks import InputError
from .h5ad import read_h5ad
from .user_data import SEPARATORS, data_format, read_labels, read_matrix


@dataclass
class ExternalSets:
    train: pd.DataFrame  # samples x genes, expression units
    test: pd.DataFrame
    synthetic: pd.DataFrame  # the training split's genes, in its order
    labels: dict[str, pd.Series | None]  # per set, the label of each sample (or None)


def read_set(path: str | Path, transform: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(samples x genes, the .h5ad obs or None) from a CSV/TSV/.h5ad file, checked."""
    fmt = data_format(path)
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    if fmt == "h5ad":
        return read_h5ad(path, transform=transform)
    return read_matrix(path, sep=SEPARATORS[fmt], transform=transform), None


def read_external_sets(
    train: str | Path,
    test: str | Path,
    synthetic: str | Path,
    *,
    transform: str = "log1p",
    metadata: str | Path | None = None,
    label_column: str | None = None,
    sample_id_column: str = "sample_id",
) -> ExternalSets:
    """The three sets with their labels: from `metadata` (one table for every sample of the
    three files) or from each .h5ad's obs. The test and synthetic sets must have the
    training set's genes; synthetic values must lie where the real data can (no negative
    values where the training set has none)."""
    paths = {"train": train, "test": test, "synthetic": synthetic}
    sets, obs = {}, {}
    for name, path in paths.items():
        sets[name], obs[name] = read_set(path, transform)
    genes = list(sets["train"].columns)
    for name in ("test", "synthetic"):
        missing = [g for g in genes if g not in sets[name].columns]
        if missing:
            raise InputError(
                f"{paths[name]}: {len(missing)} of the training set's {len(genes)} genes are "
                f"missing (first: {missing[0]!r}); every set needs the training set's genes"
            )
        sets[name] = sets[name][genes]
    overlap = sets["train"].index.intersection(sets["test"].index)
    if len(overlap):
        raise InputError(
            f"{test}: sample {overlap[0]!r} is also in {train}; the held-out set must not "
            f"share samples with the training set"
        )
    real_min = sets["train"].to_numpy().min()
    synth = sets["synthetic"].to_numpy()
    if real_min >= 0 and (synth < 0).any():
        i, j = np.unravel_index(np.argmax(synth < 0), synth.shape)
        raise InputError(
            f"{synthetic}: negative value {synth[i, j]:g} at sample {sets['synthetic'].index[i]!r}, "
            f"gene {genes[j]!r}, where the training set has none; synthetic values must lie "
            f"where the data can"
        )
    labels = {name: None for name in paths}
    if label_column:
        for name, path in paths.items():
            ids = sets[name].index
            if metadata:
                labels[name] = read_labels(
                    metadata,
                    ids,
                    matrix=path,
                    id_column=sample_id_column,
                    label_column=label_column,
                )
            elif obs[name] is not None and label_column in obs[name]:
                labels[name] = obs[name][label_column].astype(str).loc[ids]
            else:
                raise InputError(
                    f"{path}: no label column {label_column!r}; give --metadata with the labels "
                    f"of every sample, or an .h5ad whose obs holds it"
                )
        unknown = sorted(set(labels["synthetic"].astype(str)) - set(labels["train"].astype(str)))
        if unknown:
            raise InputError(
                f"{synthetic}: label {unknown[0]!r} does not occur in the training set {train}"
            )
    return ExternalSets(sets["train"], sets["test"], sets["synthetic"], labels)
