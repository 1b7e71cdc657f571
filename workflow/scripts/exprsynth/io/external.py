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


def with_genes_of(real: pd.DataFrame, other: pd.DataFrame, path) -> pd.DataFrame:
    """`other` with `real`'s genes in `real`'s order; an error naming a missing gene."""
    genes = list(real.columns)
    missing = [g for g in genes if g not in other.columns]
    if missing:
        raise InputError(
            f"{path}: {len(missing)} of the real data's {len(genes)} genes are missing (first: "
            f"{missing[0]!r}); every set needs the real data's genes"
        )
    return other[genes]


def check_support(real: pd.DataFrame, synthetic: pd.DataFrame, path) -> None:
    """Synthetic values must lie where the data can: none negative where the real data have none."""
    values = synthetic.to_numpy()
    if real.to_numpy().min() >= 0 and (values < 0).any():
        i, j = np.unravel_index(np.argmax(values < 0), values.shape)
        raise InputError(
            f"{path}: negative value {values[i, j]:g} at sample {synthetic.index[i]!r}, gene "
            f"{synthetic.columns[j]!r}, where the real data have none; synthetic values must lie "
            f"where the data can"
        )


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
    sets["test"] = with_genes_of(sets["train"], sets["test"], test)
    sets["synthetic"] = with_genes_of(sets["train"], sets["synthetic"], synthetic)
    overlap = sets["train"].index.intersection(sets["test"].index)
    if len(overlap):
        raise InputError(
            f"{test}: sample {overlap[0]!r} is also in {train}; the held-out set must not "
            f"share samples with the training set"
        )
    check_support(sets["train"], sets["synthetic"], synthetic)
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
