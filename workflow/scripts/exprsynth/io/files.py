"""The workflow's own files: tables, expression matrices, .npz arrays and the scaler.

Every writer goes through a temporary file and a rename, so a killed job never leaves a
half-written output that looks complete.
"""

from __future__ import annotations

import csv
import io
import os
import json
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.preprocess import Scaler


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


# Exact powers of ten by index (10.0 ** k, as numpy computes it): one gather instead of a
# power per value. 331 covers the smallest subnormal's 5 - floor(log10(x)).
with np.errstate(over="ignore"):
    _POWERS_OF_TEN = 10.0 ** np.arange(331)


def round_significant(x: np.ndarray, digits: int = 6) -> np.ndarray:
    """x rounded to `digits` significant digits, each the double nearest its decimal value.

    Dividing an integer by an exact power of ten (or multiplying by one, above 10**digits)
    rounds once, so the shortest repr of the result is the decimal itself: written out it
    reads like printf's %.6g.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.log10(np.abs(x))
    np.floor(exponent, out=exponent)
    exponent[~np.isfinite(exponent)] = 0
    k = (digits - 1 - exponent).astype(np.int64)
    if (k >= 0).all():  # every |x| below 10**digits: the common case, in place
        up = _POWERS_OF_TEN[k]
        out = np.multiply(x, up)
        np.round(out, out=out)
        out /= up
        return out
    up, down = _POWERS_OF_TEN[np.clip(k, 0, None)], _POWERS_OF_TEN[np.clip(-k, 0, None)]
    return np.where(k >= 0, np.round(x * up) / up, np.round(x / down) * down)


def write_expression(
    df: pd.DataFrame,
    path: str | Path,
    *,
    matrix: str | Path | None = None,
    rows_per_block: int = 1024,
) -> None:
    """A samples x genes matrix as CSV (ids in the first column), 6 significant digits.

    The same values as `write_csv(df, path, index=True)` (only large or tiny numbers are
    spelled differently, 123457000 for 1.23457e+08), 4x faster: pyarrow formats the
    numbers, in blocks of rows to bound memory. At 10,000 x 20,000 pandas takes minutes.
    With `matrix`, the same rounded values also go to an .npz file: the CSV is for people,
    the .npz for the workflow's later rules (`read_expression`). At 10,000 x 20,000,
    parsing the CSV took about 40 s in every job that read it; loading the .npz 1-2 s.
    """
    import pyarrow as pa
    from pyarrow import csv as pacsv

    def line(fields) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(fields)
        return out.getvalue().encode()

    values = df.to_numpy(dtype=np.float64)
    ids = [line([i])[:-1] for i in df.index]
    options = pacsv.WriteOptions(include_header=False)
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(path))
        fh = stack.enter_context(open(tmp, "wb"))
        store = stack.enter_context(_matrix_writer(matrix, df)) if matrix else None
        fh.write(line([df.index.name or "", *df.columns]))
        for start in range(0, len(df), rows_per_block):
            block = round_significant(values[start : start + rows_per_block])
            if store:
                store(np.ascontiguousarray(block))  # rows in file order
            buffer = io.BytesIO()
            table = pa.Table.from_arrays(
                list(block.T), names=[str(j) for j in range(block.shape[1])]
            )
            pacsv.write_csv(table, buffer, options)
            body = buffer.getvalue().splitlines()
            fh.write(b"".join(i + b"," + row + b"\n" for i, row in zip(ids[start:], body)))


@contextmanager
def _matrix_writer(path: str | Path, df: pd.DataFrame):
    """Yields a function that appends rows to the values of an uncompressed .npz (the
    layout np.savez writes), so the matrix is written block by block, never copied whole."""
    import zipfile

    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        for name, labels in (("sample_id", df.index), ("gene_id", df.columns)):
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(labels, dtype=str), allow_pickle=False)
        with zf.open("values.npy", "w", force_zip64=True) as fh:
            header = {"descr": "<f8", "fortran_order": False, "shape": df.shape}
            np.lib.format.write_array_header_1_0(fh, header)
            yield fh.write


def read_expression(path: str | Path) -> pd.DataFrame:
    """The samples x genes matrix that `write_expression(..., matrix=path)` wrote, index
    sample_id (text): the values are those of its CSV, bit for bit."""
    with np.load(path, allow_pickle=False) as npz:
        values, ids, genes = npz["values"], npz["sample_id"], npz["gene_id"]
    return pd.DataFrame(
        values, index=pd.Index(ids.tolist(), name="sample_id"), columns=genes.tolist(), copy=False
    )


def read_sample_ids(path: str | Path) -> pd.Index:
    """The sample ids of a matrix .npz, without loading its values."""
    with np.load(path, allow_pickle=False) as npz:
        return pd.Index(npz["sample_id"].tolist(), name="sample_id")


def read_values(path: str | Path, genes: list[str]) -> np.ndarray:
    """A matrix .npz's values with the columns in `genes`' order; no copy when the file
    already has that order (at cohort scale each copy is gigabytes)."""
    df = read_expression(path)
    return df.to_numpy() if list(df.columns) == list(genes) else df[genes].to_numpy()


def read_table(path: str | Path, *, sep: str = ",") -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, dtype={"sample_id": str})


def write_scaler(scaler: Scaler, path: str | Path) -> None:
    """JSON: plain numbers a user can read, and nothing that would need unpickling."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(scaler.to_dict()))


def read_scaler(path: str | Path) -> Scaler:
    return Scaler.from_dict(json.loads(Path(path).read_text()))


def write_npz(arrays: dict[str, np.ndarray], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return dict(data)
