"""Checks shared by every reader of user data: one-line errors naming file and place."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import numpy as np
import pandas as pd

from ..data.preprocess import LOG_SCALE_MAX, log_scale_evidence


class InputError(ValueError):
    """Input data the workflow cannot use; the message is one line: file, where, what to do."""


def one_line(text) -> str:
    return " ".join(str(text).split())


def check_unique(ids: pd.Index, path, kind: str, place) -> None:
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        positions = np.flatnonzero(ids == ids[duplicated][0])
        raise InputError(
            f"{path}: {kind} id {ids[positions[0]]!r} appears {len(positions)} times "
            f"({place(positions[0])} and {place(positions[1])}); {kind} ids must be unique: "
            f"remove or rename the duplicates"
        )


def check_values(values: np.ndarray, path, where, transform: str) -> None:
    """Missing, infinite and (with log1p) negative or already-log-scaled values."""
    for bad, what, fix in (
        (np.isnan(values), "missing value (empty or NA)", "fill it in or drop that sample or gene"),
        (np.isinf(values), "infinite value", "fix or drop that sample or gene"),
    ):
        if bad.any():
            i, j = np.unravel_index(np.argmax(bad), bad.shape)
            raise InputError(f"{path}: {what} at {where(i, j)}; {fix}")
    if transform != "log1p":  # auto takes none for log-scaled values (resolved_transform)
        return
    evidence = log_scale_evidence(values)
    if evidence is None:
        return
    kind, (i, j) = evidence
    if kind == "negative":
        raise InputError(
            f"{path}: negative value {values[i, j]:g} at {where(i, j)}; scaler.transform: log1p "
            f"needs values >= 0: set scaler.transform: none or auto (the data look already "
            f"log-scaled or centred)"
        )
    raise InputError(
        f"{path}: values look already log-transformed (maximum {values.max():.3g} < "
        f"{LOG_SCALE_MAX:g} and non-integer, e.g. {values[i, j]:.4g} at {where(i, j)}); "
        f"scaler.transform: log1p would log them twice: set scaler.transform: none or auto"
    )


@contextmanager
def errors_in_one_line(log, *kinds: type[Exception]):
    """For rule scripts: an error of `kinds` (bad input, a diverged training) ends the job
    with one line, in its log and where the user is looking, instead of a traceback."""
    try:
        yield
    except kinds as e:
        for stream in (log, sys.__stderr__):
            print(f"Error: {e}", file=stream)
        sys.exit(1)
