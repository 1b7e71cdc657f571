"""Reading and writing the workflow's files: the one place that parses CSV and pickles.

Every writer goes through a temporary file and a rename, so a killed job never leaves a
half-written output that looks complete.
"""

from __future__ import annotations

import os
import pickle
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from .preprocess import Scaler


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary sibling path; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(df: pd.DataFrame, path: str | Path, *, index: bool = False, sep: str = ",") -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, sep=sep, float_format="%.6g")


def read_expression(path: str | Path) -> pd.DataFrame:
    """Samples x genes matrix written by the workflow (index sample_id)."""
    df = pd.read_csv(path, index_col=0, engine="pyarrow")
    df.index = df.index.astype(str)
    df.index.name = "sample_id"
    return df.astype(np.float64)


def read_table(path: str | Path, *, sep: str = ",") -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, dtype={"sample_id": str})


def write_scaler(scaler: Scaler, path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(scaler.to_dict(), fh)


def read_scaler(path: str | Path) -> Scaler:
    """The scaler pickle holds only a dict of lists, and only this workflow writes it."""
    with open(path, "rb") as fh:
        return Scaler.from_dict(pickle.load(fh))


def label_levels(labels: pd.Series) -> list[str]:
    """Sorted distinct labels as strings (numeric labels sort numerically)."""
    values = labels.dropna().unique()
    try:
        values = sorted(values, key=float)
    except (TypeError, ValueError):
        values = sorted(values, key=str)
    return [str(v) for v in values]


def encode_labels(labels: pd.Series, levels: list[str]) -> np.ndarray:
    return labels.astype(str).map({lvl: i for i, lvl in enumerate(levels)}).to_numpy(dtype=np.int64)


def write_npz(arrays: dict[str, np.ndarray], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return dict(data)
