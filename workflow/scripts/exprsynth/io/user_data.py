"""The user's own expression data (rule prepare_data).

A CSV/TSV matrix or an AnnData .h5ad file, and optionally a metadata table with the
label, become the tables the simulator writes. Every problem found is raised as
one InputError whose message is one line: the file, the row/column or key, what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.preprocess import n_test_samples, resolved_transform
from .checks import InputError, check_unique, check_values, one_line
from .h5ad import read_h5ad

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".tab": "tsv", ".h5ad": "h5ad"}
SEPARATORS = {"csv": ",", "tsv": "\t"}
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
COMPRESSION = {".gz", ".bz2", ".xz", ".zst", ".zip"}
MIN_SAMPLES = 10  # fewer leave too little for a train/test split and the metrics
MIN_PER_CLASS = 2  # members of each class needed in the test split and in the training split


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
    rare_classes: str = "merge",
    min_class_size: int | None = None,
    n_folds: int | None = None,
) -> InputData:
    """Read, check and reshape the user's data; raise InputError on the first problem.
    n_folds: K under split.scheme kfold (test_fraction is then ignored), else None."""
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
    _check_enough_samples(expression, source)
    if labels is not None:
        labels = _rare_classes(
            labels, label_source, rare_classes, min_class_size, test_fraction, notes, n_folds
        )
        _check_classes(labels, f"{label_source}, after data.rare_classes: {rare_classes}")
        expression = expression.loc[labels.index]
    _check_sample_counts(expression, source, labels, label_source, test_fraction, n_folds)

    if transform == "auto":  # on the matrix fit_scaler will decide on: the same choice
        chosen = resolved_transform(transform, expression.to_numpy())
        why = "they look log-scaled already" if chosen == "none" else "they look linear"
        notes.insert(0, f"note: {source}: scaler.transform auto: {chosen} ({why})")

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
        raise InputError(f"{path}: not a readable text table ({one_line(e)})") from None
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
        raise InputError(f"{path}: not a readable text table ({one_line(e)})") from None
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
    check_unique(body.index, path, row_kind, lambda k: f"line {k + 2}")
    check_unique(names, path, col_kind, lambda k: f"column {k + 2}")
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
    check_values(values, path, where, transform)
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
    return f"line {m.group(2)} has {m.group(3)} fields" if m else one_line(error)


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
    check_unique(pd.Index(ids), path, "sample", lambda k: f"line {k + 2}")
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
    if isinstance(labels.dtype, pd.CategoricalDtype):
        # A subset of an annotated file keeps the categories of the cells it dropped.
        labels = labels.cat.remove_unused_categories()
    _check_classes(labels, f"{path}: obs column {label_column!r}")
    return labels


def _check_classes(labels: pd.Series, where: str) -> None:
    classes = labels.unique()
    if len(classes) < 2:
        raise InputError(
            f"{where} has a single class ({classes[0]!r}) across all {len(labels)} samples; "
            f"it needs two or more: set label_column to another column"
        )


MERGED_CLASS = "other"


def smallest_splittable_class(n: int, test_fraction: float, n_folds: int | None = None) -> int:
    """The fewest samples a class needs for MIN_PER_CLASS of them on each side of the split;
    under split.scheme kfold, K: one in each fold's test split."""
    if n_folds:
        return n_folds
    share = n_test_samples(n, test_fraction) / n
    count = MIN_PER_CLASS
    while count * share < MIN_PER_CLASS or count - count * share < MIN_PER_CLASS:
        count += 1
    return count


def _rare_classes(
    labels,
    label_source,
    policy: str,
    min_size: int | None,
    test_fraction: float,
    notes,
    n_folds: int | None = None,
) -> pd.Series:
    """Classes below the size a split needs (or data.min_class_size, if larger): merged into
    one class "other" (merge), their samples dropped (drop), or refused (error, by
    _check_sample_counts). A merged class still too small is dropped. Each change is a note."""
    needed = max(smallest_splittable_class(len(labels), test_fraction, n_folds), min_size or 0)
    counts = labels.value_counts()
    rare = counts[counts < needed]
    if rare.empty:
        return labels
    listed = ", ".join(f"{k!r} ({v})" for k, v in rare.items())
    if policy == "error":
        if (
            min_size and (counts < min_size).any()
        ):  # what the split cannot take, _check_sample_counts says
            raise InputError(
                f"{label_source}: classes with fewer than data.min_class_size = {min_size} samples: "
                f"{listed}; set data.rare_classes: merge or drop, or lower data.min_class_size"
            )
        return labels
    if policy == "merge":
        name = (
            MERGED_CLASS
            if MERGED_CLASS not in counts.index.astype(str)
            else f"{MERGED_CLASS} (merged)"
        )
        labels = labels.astype(object).where(~labels.isin(rare.index), name)
        notes.append(
            f"note: {label_source}: {_classes(len(rare))} with fewer than {needed} samples "
            f"merged into {name!r}, {int(rare.sum())} samples: {listed} (data.rare_classes: merge)"
        )
        merged = int((labels == name).sum())
        if merged >= needed:
            return labels
        notes.append(
            f"note: {label_source}: the merged class {name!r} has {merged} samples, still fewer than {needed}: dropped"
        )
        return labels[labels != name]
    notes.append(
        f"note: {label_source}: dropped {int(rare.sum())} samples of {_classes(len(rare))} with fewer "
        f"than {needed} samples: {listed} (data.rare_classes: drop)"
    )
    return labels[~labels.isin(rare.index)]


def _classes(n: int) -> str:
    return f"{n} class{'es' if n != 1 else ''}"


def _check_enough_samples(expression, path) -> None:
    if len(expression) < MIN_SAMPLES:
        raise InputError(
            f"{path}: {len(expression)} samples, fewer than the {MIN_SAMPLES} the train/test split "
            f"needs; add samples"
        )


def _check_sample_counts(
    expression, path, labels, label_source, test_fraction: float, n_folds: int | None = None
) -> None:
    n = len(expression)
    _check_enough_samples(expression, path)  # again: a rare-class policy may have dropped some
    if labels is None:
        return
    if n_folds:
        counts = labels.value_counts().sort_values()
        if counts.iloc[0] < n_folds:
            raise InputError(
                f"{label_source}: class {counts.index[0]!r} has {counts.iloc[0]} samples, fewer "
                f"than the {n_folds} folds of split.scheme: kfold (one per replicate); add samples "
                f"of that class, set data.rare_classes: merge or drop, or use fewer replicates"
            )
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
                f"class, set data.rare_classes: merge or drop, or change split.test_fraction"
            )
