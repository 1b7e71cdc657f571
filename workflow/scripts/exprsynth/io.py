"""Reading and writing the workflow's files: the one place that parses CSV and pickles.

Every writer goes through a temporary file and a rename, so a killed job never leaves a
half-written output that looks complete.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .preprocess import Scaler, n_test_samples


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
            table = pa.Table.from_arrays(list(block.T), names=[str(j) for j in range(block.shape[1])])
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


# --- the user's own data (rule prepare_data) -------------------------------------------
#
# A CSV/TSV matrix or an AnnData .h5ad file, and optionally a metadata table with the
# label, become the three tables the simulator writes. Every problem found is raised as
# one InputError whose message is one line: the file, the row/column or key, what to do.

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".tab": "tsv", ".h5ad": "h5ad"}
SEPARATORS = {"csv": ",", "tsv": "\t"}
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
COMPRESSION = {".gz", ".bz2", ".xz", ".zst", ".zip"}
MIN_SAMPLES = 10  # fewer leave too little for a train/test split and the metrics
MIN_PER_CLASS = 2  # members of each class needed in the test split and in the training split
LOG_SCALE_MAX = 30.0  # non-integer data whose maximum is below this look log-transformed


class InputError(ValueError):
    """Input data the workflow cannot use; the message is one line: file, where, what to do."""


@dataclass
class InputData:
    """The user's data in the simulator's layout, and what was changed on the way."""

    expression: pd.DataFrame  # samples x genes, index sample_id, float64
    metadata: pd.DataFrame  # sample_id, then the label column (if any)
    modules: pd.DataFrame  # gene_id, module ("background": user data have no planted modules)
    notes: list[str] = field(default_factory=list)  # warnings for the log


def data_format(path: str | Path, declared: str = "auto") -> str:
    """csv, tsv or h5ad: as declared, else from the extension (.gz and the like ignored)."""
    if declared != "auto":
        return declared
    suffixes = [s.lower() for s in Path(path).suffixes]
    while suffixes and suffixes[-1] in COMPRESSION:
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    if ext not in FORMATS:
        raise InputError(
            f"{path}: cannot tell the format from the extension {ext or '(none)'!r}; "
            f"name it .csv, .tsv, .txt or .h5ad, or set data.format: csv | tsv | h5ad"
        )
    return FORMATS[ext]


def check_data_config(data: dict) -> str:
    """Cheap checks of the config's data section that need no parsing; returns the format.

    Run when the workflow is parsed, so a wrong path fails before any job starts.
    """
    source = data["source"]
    fmt = data_format(source, data.get("format", "auto"))
    _require_file(source, "data.source")
    if data.get("metadata"):
        _metadata_separator(data["metadata"])
        _require_file(data["metadata"], "data.metadata")
    if data.get("layer") and fmt != "h5ad":
        raise InputError(
            f"config: data.layer = {data['layer']!r} applies only to .h5ad input, and data.source "
            f"{source!r} is {fmt}; remove data.layer"
        )
    if fmt == "h5ad" and data.get("orientation", "samples_x_genes") != "samples_x_genes":
        raise InputError(
            f"config: data.orientation = {data['orientation']!r} does not apply to .h5ad input "
            f"(AnnData is always samples x genes); remove data.orientation"
        )
    return fmt


def load_user_data(
    source: str | Path,
    *,
    format: str = "auto",
    orientation: str = "samples_x_genes",
    metadata: str | Path | None = None,
    sample_id_column: str = "sample_id",
    layer: str | None = None,
    label_column: str | None = "disease_status",
    transform: str = "log1p",
    test_fraction: float = 0.2,
) -> InputData:
    """Read, check and reshape the user's data; raise InputError on the first problem."""
    fmt = data_format(source, format)
    _require_file(source, "data.source")
    if metadata:
        _metadata_separator(metadata)
        _require_file(metadata, "data.metadata")
    obs = None
    if fmt == "h5ad":
        expression, obs = read_h5ad(
            source,
            layer=layer,
            transform=transform,
            label_column=None if metadata else label_column,
        )
    else:
        expression = read_matrix(
            source,
            sep=SEPARATORS[fmt],
            orientation=orientation,
            transform=transform,
            label_column=label_column,
        )
    notes: list[str] = []
    expression = _drop_constant_genes(expression, source, notes)

    labels, label_source = None, None
    if label_column:
        if metadata:
            labels = read_labels(
                metadata,
                expression.index,
                matrix=source,
                id_column=sample_id_column,
                label_column=label_column,
                notes=notes,
            )
            label_source = f"{metadata}: label column {label_column!r}"
        elif obs is not None:
            labels = _labels_from_obs(obs, source, label_column).loc[expression.index]
            label_source = f"{source}: obs column {label_column!r}"
        else:
            raise InputError(
                f"{source}: no label column {label_column!r} (label_column) for a {fmt.upper()} "
                f"matrix; set data.metadata to a CSV/TSV table with columns {sample_id_column} and "
                f"{label_column}"
            )
    _check_sample_counts(expression, source, labels, label_source, test_fraction)

    meta = pd.DataFrame({"sample_id": expression.index})
    if labels is not None:
        meta[label_column] = labels.to_numpy()
    modules = pd.DataFrame({"gene_id": expression.columns, "module": "background"})
    return InputData(expression, meta, modules, notes)


def _metadata_separator(path: str | Path) -> str:
    fmt = data_format(path)
    if fmt not in SEPARATORS:
        raise InputError(
            f"{path}: data.metadata must be a CSV or TSV table (sample ids and label), not {fmt}; "
            f"for .h5ad input leave data.metadata null to take the label from obs"
        )
    return SEPARATORS[fmt]


def _require_file(path: str | Path, key: str) -> None:
    p = Path(path)
    if not p.exists():
        where = "" if p.is_absolute() else f", relative to {Path.cwd()}"
        raise InputError(
            f"{path}: file not found (config {key}{where}); fix the path"
            + (", or set data.source: simulate" if key == "data.source" else "")
        )
    if not p.is_file():
        raise InputError(f"{path}: not a regular file (config {key}); point {key} at a file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{path}: permission denied (config {key}); make the file readable")


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _first_line(path: str | Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.readline()
    except OSError:
        return ""


def _delimiter_hint(path: str | Path, sep: str) -> str:
    """Why a file parsed as a single column, and what to set instead."""
    header = _first_line(path)
    counts = {d: header.count(d) for d in DELIMITER_NAMES if d != sep}
    other = max(counts, key=counts.get)
    if not counts[other]:
        return (
            f"{path}: every line has a single field when split on {DELIMITER_NAMES[sep]}s; expected "
            f"an id column and one column per gene or sample"
        )
    fix = (
        f"set data.format: {'csv' if other == ',' else 'tsv'}"
        if other in SEPARATORS.values()
        else "save it comma- or tab-separated"
    )
    return (
        f"{path}: every line has a single field when split on {DELIMITER_NAMES[sep]}s, and the "
        f"header has {DELIMITER_NAMES[other]}s: wrong delimiter; {fix}"
    )


def _read_header(path: str | Path, sep: str, what: str) -> list[str]:
    from pandas.errors import EmptyDataError, ParserError

    try:
        header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    except EmptyDataError:
        raise InputError(
            f"{path}: the file is empty; expected a header line, then {what}"
        ) from None
    except (ParserError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable text table ({_one_line(e)})") from None
    return [str(v).strip() for v in header.iloc[0]]


def read_matrix(
    path: str | Path,
    *,
    sep: str = ",",
    orientation: str = "samples_x_genes",
    transform: str = "log1p",
    label_column: str | None = None,
) -> pd.DataFrame:
    """A delimited expression matrix, checked cell by cell; samples x genes, index sample_id.

    samples_x_genes: first column sample ids, header gene ids; genes_x_samples: the transpose.
    Problems are reported in the file's own terms (line and column numbers, 1-based).
    """
    from pandas.errors import EmptyDataError, ParserError

    by_sample = orientation == "samples_x_genes"
    row_kind, col_kind = ("sample", "gene") if by_sample else ("gene", "sample")
    header = _read_header(path, sep, f"one line per {row_kind}")
    if len(header) < 2:
        raise InputError(_delimiter_hint(path, sep))
    try:
        body = pd.read_csv(path, sep=sep, header=None, skiprows=1, index_col=0, dtype={0: str})
    except EmptyDataError:
        raise InputError(
            f"{path}: a header line but no data lines; expected one line per {row_kind}"
        ) from None
    except ParserError as e:
        raise InputError(
            f"{path}: {_parser_problem(e)}, but the header has {len(header)}; every line needs "
            f"one field per column"
        ) from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not a readable text table ({_one_line(e)})") from None
    if body.shape[1] != len(header) - 1:
        raise InputError(
            f"{path}: the header has {len(header)} fields but line 2 has {body.shape[1] + 1}; "
            f"every line needs one field per column"
        )
    names = pd.Index(header[1:])
    if (names == "").any():
        j = int(np.flatnonzero(names == "")[0])
        raise InputError(f"{path}: column {j + 2} has no {col_kind} id in the header line; name it")
    if body.index.isna().any():
        i = int(np.flatnonzero(body.index.isna())[0])
        raise InputError(
            f"{path}: line {i + 2} has no {row_kind} id in its first field; fill it in"
        )
    body.index = body.index.astype(str).str.strip()
    _check_unique(body.index, path, row_kind, lambda k: f"line {k + 2}")
    _check_unique(names, path, col_kind, lambda k: f"column {k + 2}")
    body.columns = names

    def where(i: int, j: int) -> str:
        row, col = body.index[i], body.columns[j]
        sample, gene = (row, col) if by_sample else (col, row)
        return f"sample {sample!r}, gene {gene!r} (line {i + 2}, column {j + 2})"

    text_columns = [
        j for j in range(body.shape[1]) if not pd.api.types.is_numeric_dtype(body.iloc[:, j])
    ]
    if text_columns:
        first = None  # (line, column) of the first non-numeric cell in file order
        for j in text_columns:
            column = body.iloc[:, j]
            bad = np.flatnonzero(
                (pd.to_numeric(column, errors="coerce").isna() & column.notna()).to_numpy()
            )
            if len(bad) and (first is None or (bad[0], j) < first):
                first = (int(bad[0]), j)
        if first is not None:
            i, j = first
            hint = "expression values must be numbers"
            if by_sample and label_column and body.columns[j] == label_column:
                hint = f"{label_column!r} is the label: move it to a metadata table (data.metadata)"
            raise InputError(
                f"{path}: non-numeric value {body.iat[i, j]!r} at {where(i, j)}; {hint}"
            )
        body = body.apply(pd.to_numeric)
    values = body.to_numpy(dtype=np.float64)
    _check_values(values, path, where, transform)
    expression = pd.DataFrame(values, index=body.index, columns=body.columns)
    if not by_sample:
        expression = expression.T
    expression.index.name = "sample_id"
    expression.columns.name = None
    return expression


def _parser_problem(error) -> str:
    """'line 7 has 6 fields' from pandas' 'Expected 5 fields in line 7, saw 6'."""
    import re

    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    return f"line {m.group(2)} has {m.group(3)} fields" if m else _one_line(error)


def _check_unique(ids: pd.Index, path, kind: str, place) -> None:
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        positions = np.flatnonzero(ids == ids[duplicated][0])
        raise InputError(
            f"{path}: {kind} id {ids[positions[0]]!r} appears {len(positions)} times "
            f"({place(positions[0])} and {place(positions[1])}); {kind} ids must be unique: "
            f"remove or rename the duplicates"
        )


def _check_values(values: np.ndarray, path, where, transform: str) -> None:
    """Missing, infinite and (with log1p) negative or already-log-scaled values."""
    for bad, what, fix in (
        (np.isnan(values), "missing value (empty or NA)", "fill it in or drop that sample or gene"),
        (np.isinf(values), "infinite value", "fix or drop that sample or gene"),
    ):
        if bad.any():
            i, j = np.unravel_index(np.argmax(bad), bad.shape)
            raise InputError(f"{path}: {what} at {where(i, j)}; {fix}")
    if transform != "log1p" or values.size == 0:
        return
    negative = values < 0
    if negative.any():
        i, j = np.unravel_index(np.argmax(negative), negative.shape)
        raise InputError(
            f"{path}: negative value {values[i, j]:g} at {where(i, j)}; scaler.transform: log1p "
            f"needs values >= 0: set scaler.transform: none (the data look already log-scaled "
            f"or centred)"
        )
    top = float(values.max())
    fractional = values != np.round(values)
    if top < LOG_SCALE_MAX and fractional.any():
        i, j = np.unravel_index(np.argmax(fractional), fractional.shape)
        raise InputError(
            f"{path}: values look already log-transformed (maximum {top:.3g} < {LOG_SCALE_MAX:g} "
            f"and non-integer, e.g. {values[i, j]:.4g} at {where(i, j)}); scaler.transform: log1p "
            f"would log them twice: set scaler.transform: none"
        )


def _drop_constant_genes(expression: pd.DataFrame, path, notes: list[str]) -> pd.DataFrame:
    values = expression.to_numpy()
    constant = np.ptp(values, axis=0) == 0 if len(values) else np.ones(values.shape[1], bool)
    if constant.all():
        raise InputError(
            f"{path}: all {constant.size} genes have zero variance (the same value in every "
            f"sample); check that the file holds expression values"
        )
    if constant.any():
        dropped = list(expression.columns[constant])
        shown = ", ".join(dropped[:10]) + (", ..." if len(dropped) > 10 else "")
        notes.append(
            f"warning: {path}: dropped {len(dropped)} of {constant.size} genes with zero "
            f"variance: {shown}"
        )
        expression = expression.loc[:, ~constant]
    return expression


def read_labels(
    path: str | Path,
    sample_ids: pd.Index,
    *,
    matrix: str | Path,
    id_column: str = "sample_id",
    label_column: str = "disease_status",
    notes: list[str] | None = None,
) -> pd.Series:
    """The label of every matrix sample from a metadata table (CSV/TSV with an id column)."""
    from pandas.errors import EmptyDataError, ParserError

    sep = _metadata_separator(path)
    header = _read_header(path, sep, "one line per sample")
    if len(header) < 2:
        raise InputError(_delimiter_hint(path, sep))
    try:
        table = pd.read_csv(path, sep=sep, dtype=str)
    except EmptyDataError:
        raise InputError(
            f"{path}: the file is empty; expected a header line, then one line per sample"
        ) from None
    except ParserError as e:
        raise InputError(
            f"{path}: {_parser_problem(e)}, but the header has {len(header)}"
        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    for column, key, role in (
        (id_column, "data.sample_id_column", "the sample ids"),
        (label_column, "label_column", "the label"),
    ):
        if column not in table.columns:
            raise InputError(
                f"{path}: no column {column!r} ({key}); its columns are {', '.join(table.columns)}: "
                f"set {key} to the one holding {role}"
            )
    ids = table[id_column].str.strip()
    if ids.isna().any():
        raise InputError(
            f"{path}: line {int(np.flatnonzero(ids.isna())[0]) + 2} has no sample id in column {id_column!r}; fill it in"
        )
    _check_unique(pd.Index(ids), path, "sample", lambda k: f"line {k + 2}")
    line_of = pd.Series(np.arange(len(ids)) + 2, index=ids)
    missing = sample_ids[~sample_ids.isin(ids)]
    if len(missing):
        raise InputError(
            f"{path}: {len(missing)} of {len(sample_ids)} samples of {matrix} have no line here "
            f"(first: {missing[0]!r}, looked up in column {id_column!r}); the ids must match the "
            f"matrix's sample ids exactly"
        )
    extra = len(ids) - len(sample_ids)
    if extra and notes is not None:
        notes.append(f"note: {path}: ignored {extra} lines whose samples are not in {matrix}")
    labels = table[label_column].set_axis(ids).loc[sample_ids].str.strip()
    if labels.isna().any():
        sample = labels.index[labels.isna()][0]
        raise InputError(
            f"{path}: sample {sample!r} (line {line_of[sample]}) has no value in label column "
            f"{label_column!r}; fill it in or drop the sample from the matrix"
        )
    _check_classes(labels, f"{path}: label column {label_column!r}")
    return labels


def _check_classes(labels: pd.Series, where: str) -> None:
    classes = labels.unique()
    if len(classes) < 2:
        raise InputError(
            f"{where} has a single class ({classes[0]!r}) across all {len(labels)} samples; "
            f"it needs two or more: set label_column to another column"
        )


def _check_sample_counts(expression, path, labels, label_source, test_fraction: float) -> None:
    n = len(expression)
    if n < MIN_SAMPLES:
        raise InputError(
            f"{path}: {n} samples, fewer than the {MIN_SAMPLES} the train/test split needs; "
            f"add samples"
        )
    if labels is None:
        return
    n_test = n_test_samples(n, test_fraction)
    for label, count in labels.value_counts().sort_values().items():
        in_test = count * n_test / n
        if in_test < MIN_PER_CLASS or count - in_test < MIN_PER_CLASS:
            side = "test" if in_test < MIN_PER_CLASS else "training"
            raise InputError(
                f"{label_source}: class {label!r} has {count} samples, so about "
                f"{min(in_test, count - in_test):.1f} in the {side} split (split.test_fraction = "
                f"{test_fraction:g}), fewer than the {MIN_PER_CLASS} needed; add samples of that "
                f"class, merge it into another, or change split.test_fraction"
            )


# --- AnnData .h5ad, read through the HDF5 file object (AnnData on-disk format) -----------


def read_h5ad(
    path: str | Path,
    *,
    layer: str | None = None,
    transform: str = "log1p",
    label_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """X (or a layer; dense or sparse) as samples x genes, and obs with the label column only.

    Follows the AnnData on-disk format (anndata >= 0.7): X a 2-d dataset or a CSR/CSC
    group, obs/var groups whose `_index` attribute names the id column.
    """
    import h5py  # only .h5ad input and output need it

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(
            f"{path}: not an HDF5 file, so not AnnData ({_one_line(e)}); write it with "
            f"anndata's AnnData.write_h5ad"
        ) from None
    with f:
        kind = _attr(f, "encoding-type")
        if (kind is not None and kind != "anndata") or not {"obs", "var"} <= set(f.keys()):
            found = ", ".join(sorted(f.keys())) or "nothing"
            raise InputError(
                f"{path}: not an AnnData file (top level holds {found}, not X/obs/var); write it "
                f"with anndata's AnnData.write_h5ad"
            )
        layers = sorted(f["layers"].keys()) if "layers" in f else []
        if layer:
            if layer not in layers:
                raise InputError(
                    f"{path}: no layer {layer!r} (data.layer); its layers are "
                    f"{', '.join(layers) or '(none)'}: set data.layer to one of them, or to null for X"
                )
            key = f"layers/{layer}"
        elif "X" not in f:
            raise InputError(
                f"{path}: has no X matrix; set data.layer to one of its layers: "
                f"{', '.join(layers) or '(none)'}"
            )
        else:
            key = "X"
        values = _h5_matrix(f[key], path, key)
        sample_ids = pd.Index(_h5_index(f, "obs", path), dtype=object)
        gene_ids = pd.Index(_h5_index(f, "var", path), dtype=object)
        if values.shape != (len(sample_ids), len(gene_ids)):
            raise InputError(
                f"{path}: {key} is {values.shape[0]} x {values.shape[1]} but obs has "
                f"{len(sample_ids)} and var {len(gene_ids)} entries; the file is inconsistent"
            )
        _check_unique(sample_ids, path, "sample", lambda k: f"obs_names position {k}")
        _check_unique(gene_ids, path, "gene", lambda k: f"var_names position {k}")

        def where(i: int, j: int) -> str:
            return f"sample {sample_ids[i]!r}, gene {gene_ids[j]!r} ({key}[{i}, {j}])"

        _check_values(values, path, where, transform)
        columns = _h5_columns(f["obs"])
        obs = pd.DataFrame(index=sample_ids, columns=columns, dtype=object)
        if label_column in columns:  # only the label is read: other columns may be of any type
            labels = _h5_column(f, f["obs"][label_column], path, f"obs/{label_column}")
            if len(labels) != len(sample_ids):
                raise InputError(
                    f"{path}: obs/{label_column} has {len(labels)} values for {len(sample_ids)} samples"
                )
            obs[label_column] = labels
    expression = pd.DataFrame(
        values, index=pd.Index(sample_ids, name="sample_id"), columns=gene_ids
    )
    return expression, obs


def _labels_from_obs(obs: pd.DataFrame, path, label_column: str) -> pd.Series:
    if label_column not in obs.columns:
        raise InputError(
            f"{path}: obs has no column {label_column!r} (label_column); its obs columns are "
            f"{', '.join(obs.columns) or '(none)'}: set label_column to one of them, or give the "
            f"labels in data.metadata"
        )
    labels = obs[label_column]
    if labels.isna().any():
        raise InputError(
            f"{path}: sample {labels.index[labels.isna()][0]!r} has no value in obs column "
            f"{label_column!r}; fill it in or drop the sample"
        )
    _check_classes(labels, f"{path}: obs column {label_column!r}")
    return labels


def _attr(node, name: str):
    value = node.attrs.get(name)
    return value.decode() if isinstance(value, bytes) else value


def _strings(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "OSU":
        return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
    return values


def _h5_matrix(node, path, key: str) -> np.ndarray:
    """A dense float64 matrix from a 2-d dataset or a CSR/CSC group (without scipy)."""
    if not hasattr(node, "keys"):  # a dataset
        values = _h5_numbers(node, path, key)
        if values.ndim != 2:
            raise InputError(f"{path}: {key} has {values.ndim} dimensions, not 2 (samples x genes)")
        return values
    encoding = _attr(node, "encoding-type") or {"csr": "csr_matrix", "csc": "csc_matrix"}.get(
        _attr(node, "h5sparse_format")
    )
    if encoding not in ("csr_matrix", "csc_matrix") or not {"data", "indices", "indptr"} <= set(
        node
    ):
        raise InputError(
            f"{path}: {key} is stored as {encoding or 'an unknown group'}, not a dense, CSR or CSC "
            f"matrix; re-save it with anndata's AnnData.write_h5ad"
        )
    shape = node.attrs.get("shape", node.attrs.get("h5sparse_shape"))
    if shape is None or np.size(shape) != 2:
        raise InputError(
            f"{path}: {key} is a sparse matrix without a 2-d shape attribute, so not valid "
            f"AnnData; re-save it with anndata's AnnData.write_h5ad"
        )
    shape = tuple(int(s) for s in shape)
    data = _h5_numbers(node["data"], path, f"{key}/data")
    indices = np.asarray(node["indices"][()], dtype=np.int64)
    indptr = np.asarray(node["indptr"][()], dtype=np.int64)
    major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    dense = np.zeros(shape, dtype=np.float64)
    rows, cols = (major, indices) if encoding == "csr_matrix" else (indices, major)
    np.add.at(dense, (rows, cols), data)  # sums duplicate entries, as scipy does
    return dense


def _h5_numbers(dataset, path, key: str) -> np.ndarray:
    if dataset.dtype.kind not in "biuf":
        what = "text" if dataset.dtype.kind in "OSU" else f"{dataset.dtype} values"
        raise InputError(f"{path}: {key} holds {what}, not numbers; expression values must be numeric")
    return np.asarray(dataset[()], dtype=np.float64)


def _h5_index(f, group: str, path) -> np.ndarray:
    node = f[group]
    if not hasattr(node, "keys"):
        raise InputError(
            f"{path}: {group} is stored in the pre-0.7 AnnData layout; re-save the file with a "
            f"recent anndata (AnnData.write_h5ad)"
        )
    name = _attr(node, "_index") or "_index"
    if name not in node:
        raise InputError(
            f"{path}: {group} has no index dataset {name!r}; the file is not valid AnnData"
        )
    ids = _h5_column(f, node[name], path, f"{group}/{name}")  # newer anndata: nullable strings
    return np.array([str(v) for v in ids], dtype=object)


def _h5_columns(node) -> list[str]:
    index = _attr(node, "_index") or "_index"
    order = node.attrs.get("column-order")
    names = (
        [str(_strings(np.atleast_1d(order))[k]) for k in range(np.size(order))]
        if order is not None
        else []
    )
    return names or [k for k in node if k not in (index, "__categories")]


def _h5_column(f, node, path, key: str) -> pd.Series | np.ndarray:
    """One obs column: plain, categorical, or nullable (values + mask)."""
    if not hasattr(node, "keys"):  # a dataset; anndata < 0.8 kept categories by reference
        values = _strings(node[()])
        ref = node.attrs.get("categories")
        if ref is not None and not isinstance(ref, (str, bytes, np.ndarray)):
            categories = _strings(f[ref][()])
            return pd.Series(pd.Categorical.from_codes(values.astype(int), categories)).to_numpy()
        return values
    encoding = _attr(node, "encoding-type")
    if encoding == "categorical":
        codes = np.asarray(node["codes"][()], dtype=np.int64)
        categories = _strings(node["categories"][()])
        return np.array([categories[c] if c >= 0 else None for c in codes], dtype=object)
    if encoding and encoding.startswith("nullable") and {"values", "mask"} <= set(node):
        values = _strings(node["values"][()]).astype(object)
        values[np.asarray(node["mask"][()], dtype=bool)] = None
        return values
    raise InputError(
        f"{path}: {key} is stored as {encoding or 'an unknown group'}, which this reader does "
        f"not know; give the labels in data.metadata instead"
    )


# --- writing .h5ad (synthetic samples, when the input was .h5ad) ---------------------------


def write_h5ad(path: str | Path, expression: pd.DataFrame, obs: pd.DataFrame) -> None:
    """Samples x genes as an AnnData file (on-disk format 0.1.0), written with h5py.

    X is dense float32; obs_names are the expression's index, var_names its columns; every
    obs column is written as a categorical of strings (as anndata writes string columns).
    The layout is the one `read_h5ad` above reads and `anndata.read_h5ad` opens.
    """
    import h5py  # only .h5ad input and output need it

    strings = h5py.string_dtype()

    def string_array(group, name: str, values) -> None:
        data = np.array([str(v) for v in values], dtype=object)
        group.create_dataset(name, data=data, dtype=strings)
        group[name].attrs.update({"encoding-type": "string-array", "encoding-version": "0.2.0"})

    def dataframe(name: str, index, columns: dict) -> None:
        group = f.create_group(name)
        group.attrs.update(
            {"encoding-type": "dataframe", "encoding-version": "0.2.0", "_index": "_index"}
        )
        if columns:
            group.attrs.create("column-order", data=list(columns), dtype=strings)
        else:
            group.attrs["column-order"] = np.array([], dtype=np.float64)  # as anndata writes it
        string_array(group, "_index", index)
        for column, values in columns.items():
            cat = pd.Categorical([str(v) for v in values])
            node = group.create_group(column)
            node.attrs.update(
                {"encoding-type": "categorical", "encoding-version": "0.2.0", "ordered": False}
            )
            node.create_dataset("codes", data=np.asarray(cat.codes))
            node["codes"].attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
            string_array(node, "categories", cat.categories)

    if obs.index.tolist() != expression.index.tolist():
        raise ValueError("write_h5ad: obs must have the expression's samples, in order")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        f.create_dataset("X", data=expression.to_numpy(dtype=np.float32))
        f["X"].attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
        dataframe("obs", expression.index, {c: obs[c].tolist() for c in obs.columns})
        dataframe("var", expression.columns, {})
        for name in ("layers", "obsm", "varm", "obsp", "varp", "uns"):
            f.create_group(name).attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})
