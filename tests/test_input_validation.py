"""The user's own data in (CSV/TSV, .h5ad), bad input out with one clear line.

Each bad input goes through the rule script's main(): it must raise InputError with one
line naming the file and the place, and write nothing. A few runs of the real workflow
check the wiring: round trips from CSV and from a sparse .h5ad, a failing input that stops
before any training job, and a missing file caught before any job at all.
"""

import importlib.util
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, TINY_CONFIG, planned_jobs, run_snakemake, write_config
from exprsynth.io.checks import InputError
from exprsynth.io.files import read_expression
from exprsynth.io.user_data import load_user_data

spec = importlib.util.spec_from_file_location(
    "prepare_data", ROOT / "workflow/scripts/prepare_data.py"
)
prepare_data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare_data)

OUTPUTS = [
    "gene_expression_data.csv",
    "sample_metadata.csv",
    "gene_modules.csv",
    "gene_expression_data.npz",
]


def counts(n=40, g=6, seed=0) -> pd.DataFrame:
    """Integer counts, samples x genes, ids S01.. and G1.."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(rng.uniform(5, 200, g), size=(n, g))
    ids = pd.Index([f"S{i + 1:02d}" for i in range(n)], name="sample_id")
    return pd.DataFrame(values, index=ids, columns=[f"G{j + 1}" for j in range(g)]).astype(object)


def labels(ids, classes=("a", "b")) -> pd.DataFrame:
    return pd.DataFrame(
        {"sample_id": ids, "label": [classes[i % len(classes)] for i in range(len(ids))]}
    )


@pytest.fixture
def files(tmp_path):
    """expr.csv (40 samples x 6 genes) and meta.csv (label a/b), written by the test."""
    expr, meta = tmp_path / "expr.csv", tmp_path / "meta.csv"
    counts().to_csv(expr)
    labels(counts().index).to_csv(meta, index=False)
    return expr, meta


def prepare(tmp_path, source, *, metadata=None, label_column="label", transform="log1p", **data):
    """Run the rule script's main() as the rule would; outputs under tmp_path/results/data."""
    out = tmp_path / "results" / "data"
    config = {
        "source": str(source),
        "format": "auto",
        "orientation": "samples_x_genes",
        "metadata": str(metadata) if metadata else None,
        "sample_id_column": "sample_id",
        "layer": None,
        "rare_classes": "merge",
        "min_class_size": None,
        **data,
    }
    prepare_data.main(
        source=str(source),
        source_metadata=config["metadata"],
        expression=str(out / OUTPUTS[0]),
        metadata=str(out / OUTPUTS[1]),
        modules=str(out / OUTPUTS[2]),
        matrix=str(out / OUTPUTS[3]),
        notes=str(out / "notes.txt"),
        settings={
            "data": config,
            "label_column": label_column,
            "transform": transform,
            "test_fraction": 0.2,
        },
    )
    return out


def fails(tmp_path, message, source, **kwargs):
    """The input is refused with exactly `message` (one line), and nothing is written."""
    with pytest.raises(InputError) as caught:
        prepare(tmp_path, source, **kwargs)
    text = str(caught.value)
    assert "\n" not in text
    assert text == message
    assert not [p for p in (tmp_path / "results").rglob("*") if p.is_file()]


# --- good input --------------------------------------------------------------------------


def test_csv_becomes_the_simulators_three_tables(tmp_path, files):
    expr, meta = files
    out = prepare(tmp_path, expr, metadata=meta)
    written = pd.read_csv(out / OUTPUTS[0], index_col=0)
    assert written.index.name == "sample_id"
    pd.testing.assert_frame_equal(written, counts().astype(np.int64), check_names=False)
    assert pd.read_csv(out / OUTPUTS[1]).equals(labels(counts().index))
    modules = pd.read_csv(out / OUTPUTS[2])
    assert list(modules.columns) == ["gene_id", "module"] and (modules.module == "background").all()
    assert list(modules.gene_id) == list(written.columns)
    matrix = read_expression(out / OUTPUTS[3])  # what later rules read: the same table
    assert np.array_equal(matrix.to_numpy(), written.to_numpy())
    assert list(matrix.index) == list(written.index)


def test_tsv_genes_x_samples_reads_as_the_transpose(tmp_path, files):
    _, meta = files
    source = tmp_path / "expr_t.tsv"
    counts().T.to_csv(source, sep="\t")
    out = prepare(tmp_path, source, metadata=meta, orientation="genes_x_samples")
    written = pd.read_csv(out / OUTPUTS[0], index_col=0)
    pd.testing.assert_frame_equal(written, counts().astype(np.int64), check_names=False)


def test_metadata_may_hold_more_samples_than_the_matrix(tmp_path, files):
    expr, meta = files
    extra = pd.concat([labels(counts().index), pd.DataFrame({"sample_id": ["X1"], "label": ["a"]})])
    extra.to_csv(meta, index=False)
    out = prepare(tmp_path, expr, metadata=meta)
    assert len(pd.read_csv(out / OUTPUTS[1])) == 40


def test_zero_variance_genes_are_dropped_with_a_warning(tmp_path, files, capsys):
    expr, meta = files
    df = counts()
    df["G2"] = 5
    df.to_csv(expr)
    out = prepare(tmp_path, expr, metadata=meta)
    assert "G2" not in pd.read_csv(out / OUTPUTS[0], index_col=0).columns
    assert (
        f"warning: {expr}: dropped 1 of 6 genes with zero variance: G2" in capsys.readouterr().err
    )


def test_log_scaled_or_negative_data_pass_with_transform_none(tmp_path, files):
    expr, meta = files
    np.log1p(counts().astype(float)).sub(2.0).to_csv(expr)  # log scale, centred: negatives too
    prepare(tmp_path, expr, metadata=meta, transform="none")
    assert (tmp_path / "results/data" / OUTPUTS[0]).exists()


# --- bad input: one line naming file, place and fix; nothing written ----------------------


def test_missing_file(tmp_path):
    source = tmp_path / "nope.csv"
    fails(
        tmp_path,
        f"{source}: file not found (config data.source); fix the path, or set data.source: simulate",
        source,
    )


def test_empty_file(tmp_path, files):
    expr, meta = files
    expr.write_text("")
    fails(
        tmp_path,
        f"{expr}: the file is empty; expected a header line, then one line per sample",
        expr,
        metadata=meta,
    )


def test_header_without_data_lines(tmp_path, files):
    expr, meta = files
    expr.write_text("sample_id,G1,G2\n")
    fails(
        tmp_path,
        f"{expr}: a header line but no data lines; expected one line per sample",
        expr,
        metadata=meta,
    )


def test_wrong_delimiter(tmp_path, files):
    expr, meta = files
    counts().to_csv(expr, sep=";")
    fails(
        tmp_path,
        f"{expr}: every line has a single field when split on commas, and the header has semicolons: "
        "wrong delimiter; save it comma- or tab-separated",
        expr,
        metadata=meta,
    )
    counts().to_csv(expr, sep="\t")
    fails(
        tmp_path,
        f"{expr}: every line has a single field when split on commas, and the header has tabs: "
        "wrong delimiter; set data.format: tsv",
        expr,
        metadata=meta,
    )


def test_ragged_line(tmp_path, files):
    expr, meta = files
    lines = expr.read_text().splitlines()
    lines[3] += ",7"
    expr.write_text("\n".join(lines) + "\n")
    fails(
        tmp_path,
        f"{expr}: line 4 has 8 fields, but the header has 7; every line needs one field per column",
        expr,
        metadata=meta,
    )


def test_non_numeric_cell_names_sample_and_gene(tmp_path, files):
    expr, meta = files
    df = counts()
    df.loc["S05", "G4"] = "n/a?"
    df.loc["S09", "G2"] = "abc"  # later in the file: the first one is reported
    df.to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: non-numeric value 'n/a?' at sample 'S05', gene 'G4' (line 6, column 5); "
        "expression values must be numbers",
        expr,
        metadata=meta,
    )
    # In a genes x samples file the same cell is on the gene's line.
    df.T.to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: non-numeric value 'abc' at sample 'S09', gene 'G2' (line 3, column 10); "
        "expression values must be numbers",
        expr,
        metadata=meta,
        orientation="genes_x_samples",
    )


def test_label_inside_the_matrix_is_pointed_at_the_metadata(tmp_path, files):
    expr, meta = files
    df = counts()
    df["label"] = labels(df.index)["label"].to_numpy()
    df.to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: non-numeric value 'a' at sample 'S01', gene 'label' (line 2, column 8); "
        "'label' is the label: move it to a metadata table (data.metadata)",
        expr,
    )


@pytest.mark.parametrize(
    "value, what, fix",
    [
        (np.nan, "missing value (empty or NA)", "fill it in or drop that sample or gene"),
        (np.inf, "infinite value", "fix or drop that sample or gene"),
    ],
)
def test_nan_or_inf_names_sample_and_gene(tmp_path, files, value, what, fix):
    expr, meta = files
    df = counts()
    df.loc["S07", "G3"] = value
    df.to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: {what} at sample 'S07', gene 'G3' (line 8, column 4); {fix}",
        expr,
        metadata=meta,
    )


def test_negative_values_with_log1p(tmp_path, files):
    expr, meta = files
    df = counts()
    df.loc["S03", "G6"] = -1.5
    df.to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: negative value -1.5 at sample 'S03', gene 'G6' (line 4, column 7); scaler.transform: "
        "log1p needs values >= 0: set scaler.transform: none or auto (the data look already log-scaled "
        "or centred)",
        expr,
        metadata=meta,
    )


def test_already_log_scaled_values_with_log1p(tmp_path, files):
    expr, meta = files
    logged = np.log2(counts().to_numpy(float) + 1)
    logged[0, 0] = 2.5  # the first non-integer value in the file, whatever the counts
    pd.DataFrame(logged, index=counts().index, columns=counts().columns).to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: values look already log-transformed (maximum {logged.max():.3g} < 30 and non-integer, "
        "e.g. 2.5 at sample 'S01', gene 'G1' (line 2, column 2)); scaler.transform: log1p would log "
        "them twice: set scaler.transform: none or auto",
        expr,
        metadata=meta,
    )


@pytest.mark.parametrize("logged, chosen", [(True, "none"), (False, "log1p")])
def test_auto_takes_the_transform_the_values_look_like(tmp_path, files, logged, chosen):
    """scaler.transform auto (the default) refuses neither; the data step notes its choice and
    the scaler of every replicate is decided on all the data."""
    from exprsynth.data.preprocess import fit_scaler

    expr, meta = files
    values = counts().to_numpy(float)
    if logged:
        values = np.log2(values + 1)
        values[0, 0] = 2.5
    pd.DataFrame(values, index=counts().index, columns=counts().columns).to_csv(expr)
    out = prepare(tmp_path, expr, metadata=meta, transform="auto")
    assert f"scaler.transform auto: {chosen}" in (out / "notes.txt").read_text()
    written = pd.read_csv(out / OUTPUTS[0], index_col=0).to_numpy()
    # A training split of whole numbers alone still gets the choice made on all the data.
    whole = written[1:] if logged else written
    assert fit_scaler(np.round(whole), "auto", decide_on=written).log1p is (chosen == "log1p")


def test_duplicate_sample_ids(tmp_path, files):
    expr, meta = files
    df = counts()
    df.index = df.index.where(df.index != "S09", "S04")
    df.to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: sample id 'S04' appears 2 times (line 5 and line 10); sample ids must be unique: "
        "remove or rename the duplicates",
        expr,
        metadata=meta,
    )


def test_duplicate_gene_ids(tmp_path, files):
    expr, meta = files
    counts().rename(columns={"G5": "G2"}).to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: gene id 'G2' appears 2 times (column 3 and column 6); gene ids must be unique: "
        "remove or rename the duplicates",
        expr,
        metadata=meta,
    )


def test_all_genes_zero_variance(tmp_path, files):
    expr, meta = files
    (counts() * 0 + 3).to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: all 6 genes have zero variance (the same value in every sample); check that the "
        "file holds expression values",
        expr,
        metadata=meta,
    )


def test_too_few_samples(tmp_path, files):
    expr, meta = files
    counts(n=8).to_csv(expr)
    fails(
        tmp_path,
        f"{expr}: 8 samples, fewer than the 10 the train/test split needs; add samples",
        expr,
        metadata=meta,
    )


def test_class_too_small_for_the_test_split(tmp_path, files):
    expr, meta = files
    table = labels(counts().index)
    table["label"] = ["b" if i < 4 else "a" for i in range(40)]
    table.to_csv(meta, index=False)
    fails(
        tmp_path,
        f"{meta}: label column 'label': class 'b' has 4 samples, so about 0.8 in the test split "
        "(split.test_fraction = 0.2), fewer than the 2 needed; add samples of that class, set "
        "data.rare_classes: merge or drop, or change split.test_fraction",
        expr,
        metadata=meta,
        rare_classes="error",
    )


def rare_cell_types(meta):
    """Cell types as annotations have them: two large, two rare (6 and 5 samples; a class
    needs 10 for 2 in an 8-sample test split)."""
    table = labels(counts().index)
    table["label"] = ["rare1"] * 6 + ["rare2"] * 5 + ["T"] * 15 + ["B"] * 14
    table.to_csv(meta, index=False)


def test_rare_classes_are_merged_by_default_and_the_notes_say_so(tmp_path, files):
    expr, meta = files
    rare_cell_types(meta)
    out = prepare(tmp_path, expr, metadata=meta)
    written = pd.read_csv(out / OUTPUTS[1])
    assert written["label"].value_counts().to_dict() == {"T": 15, "B": 14, "other": 11}
    notes = (out / "notes.txt").read_text()
    assert notes.startswith("40 samples x 6 genes\n")
    assert (
        "2 classes with fewer than 10 samples merged into 'other', 11 samples: 'rare1' (6), 'rare2' (5)"
        in notes
    )


def test_rare_classes_dropped_and_a_merged_class_still_too_small(tmp_path, files):
    expr, meta = files
    rare_cell_types(meta)
    out = prepare(tmp_path, expr, metadata=meta, rare_classes="drop")
    assert len(pd.read_csv(out / OUTPUTS[0])) == 29
    assert "dropped 11 samples of 2 classes" in (out / "notes.txt").read_text()
    table = labels(counts().index)
    table["label"] = ["rare"] * 3 + ["T"] * 20 + ["B"] * 17
    table.to_csv(meta, index=False)
    out = prepare(tmp_path, expr, metadata=meta)
    assert set(pd.read_csv(out / OUTPUTS[1])["label"]) == {"T", "B"}
    assert (
        "the merged class 'other' has 3 samples, still fewer than 10: dropped"
        in (out / "notes.txt").read_text()
    )
    out = prepare(tmp_path, expr, metadata=meta, rare_classes="merge", min_class_size=18)
    assert set(pd.read_csv(out / OUTPUTS[1])["label"]) == {
        "T",
        "other",
    }  # B (17) joins the rare one


def test_label_column_missing(tmp_path, files):
    expr, meta = files
    fails(
        tmp_path,
        f"{meta}: no column 'status' (label_column); its columns are sample_id, label: set label_column "
        "to the one holding the label",
        expr,
        metadata=meta,
        label_column="status",
    )
    fails(
        tmp_path,
        f"{expr}: no label column 'label' (label_column) for a CSV matrix; set data.metadata to a CSV/TSV "
        "table with columns sample_id and label",
        expr,
    )


def test_sample_id_column_missing(tmp_path, files):
    expr, meta = files
    fails(
        tmp_path,
        f"{meta}: no column 'id' (data.sample_id_column); its columns are sample_id, label: set "
        "data.sample_id_column to the one holding the sample ids",
        expr,
        metadata=meta,
        sample_id_column="id",
    )


def test_label_with_a_single_class(tmp_path, files):
    expr, meta = files
    labels(counts().index, classes=("a",)).to_csv(meta, index=False)
    fails(
        tmp_path,
        f"{meta}: label column 'label' has a single class ('a') across all 40 samples; it needs two or "
        "more: set label_column to another column",
        expr,
        metadata=meta,
    )


def test_metadata_ids_that_do_not_match(tmp_path, files):
    expr, meta = files
    table = labels(counts().index)
    table["sample_id"] = table["sample_id"].str.lower()
    table.to_csv(meta, index=False)
    fails(
        tmp_path,
        f"{meta}: 40 of 40 samples of {expr} have no line here (first: 'S01', looked up in column "
        "'sample_id'); the ids must match the matrix's sample ids exactly",
        expr,
        metadata=meta,
    )


def test_metadata_missing_a_label_value(tmp_path, files):
    expr, meta = files
    table = labels(counts().index)
    table.loc[5, "label"] = None
    table.to_csv(meta, index=False)
    fails(
        tmp_path,
        f"{meta}: sample 'S06' (line 7) has no value in label column 'label'; fill it in or drop the "
        "sample from the matrix",
        expr,
        metadata=meta,
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            {"source": "{d}/expr.xlsx"},
            "{d}/expr.xlsx: cannot tell the format from the extension '.xlsx'; "
            "name it .csv, .tsv, .txt or .h5ad, or set data.format: csv | tsv | h5ad",
        ),
        (
            {"layer": "counts"},
            "config: data.layer = 'counts' applies only to .h5ad input, and data.source "
            "'{d}/expr.csv' is csv; remove data.layer",
        ),
        (
            {"metadata": "{d}/meta.h5ad"},
            "{d}/meta.h5ad: data.metadata must be a CSV or TSV table (sample ids "
            "and label), not h5ad; for .h5ad input leave data.metadata null to take the label from obs",
        ),
    ],
)
def test_inconsistent_data_config(tmp_path, files, edit, message):
    expr, _ = files
    edit = {k: v.format(d=tmp_path) for k, v in edit.items()}
    fails(tmp_path, message.format(d=tmp_path), edit.pop("source", expr), **edit)


# --- .h5ad -------------------------------------------------------------------------------


def _write_strings(group, name, values):
    group.create_dataset(name, data=np.array(values, dtype=object), dtype=h5py.string_dtype())
    group[name].attrs.update({"encoding-type": "string-array", "encoding-version": "0.2.0"})


def _write_frame(f, name, index, columns):
    group = f.create_group(name)
    group.attrs.update(
        {"encoding-type": "dataframe", "encoding-version": "0.2.0", "_index": "_index"}
    )
    group.attrs.create("column-order", data=list(columns), dtype=h5py.string_dtype())
    _write_strings(group, "_index", index)
    for column, values in columns.items():  # categorical, as anndata writes string columns
        categories = sorted(set(values))
        cat = group.create_group(column)
        cat.attrs.update(
            {"encoding-type": "categorical", "encoding-version": "0.2.0", "ordered": False}
        )
        cat.create_dataset(
            "codes", data=np.array([categories.index(v) for v in values], dtype=np.int8)
        )
        _write_strings(cat, "categories", categories)


def _write_csr(f, key, matrix):
    rows, cols = np.nonzero(matrix)
    group = f.create_group(key)
    group.attrs.update(
        {"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": matrix.shape}
    )
    group["data"] = matrix[rows, cols].astype(np.float32)
    group["indices"] = cols.astype(np.int32)
    group["indptr"] = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=matrix.shape[0]))])


def write_h5ad(path, df, obs, *, layers=None):
    """A minimal AnnData file (on-disk format 0.1.0) with a sparse CSR X, written with h5py."""
    with h5py.File(path, "w") as f:
        f.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        _write_csr(f, "X", df.to_numpy(dtype=float))
        _write_frame(f, "obs", list(df.index), obs)
        _write_frame(f, "var", list(df.columns), {})
        group = f.create_group("layers")
        group.attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})
        for name, values in (layers or {}).items():
            group[name] = values


def sparse_counts(n=40, g=6):
    df = counts(n, g).astype(float)
    df.iloc[::3, 1:4] = 0.0  # a third of some genes zero: a real sparse pattern
    return df


def test_h5ad_with_sparse_x_and_obs_label(tmp_path):
    source = tmp_path / "cohort.h5ad"
    df = sparse_counts()
    write_h5ad(source, df, {"label": list(labels(df.index)["label"]), "batch": ["x"] * 40})
    out = prepare(tmp_path, source)
    written = pd.read_csv(out / OUTPUTS[0], index_col=0)
    pd.testing.assert_frame_equal(written, df, check_names=False, check_dtype=False)
    assert pd.read_csv(out / OUTPUTS[1]).equals(labels(df.index))


def test_h5ad_layer_instead_of_x(tmp_path):
    source = tmp_path / "cohort.h5ad"
    df = sparse_counts()
    raw = counts().to_numpy(dtype=float) + 1
    write_h5ad(source, df, {"label": list(labels(df.index)["label"])}, layers={"raw": raw})
    out = prepare(tmp_path, source, layer="raw")
    np.testing.assert_array_equal(pd.read_csv(out / OUTPUTS[0], index_col=0).to_numpy(), raw)
    fails(
        tmp_path / "again",
        f"{source}: no layer 'counts' (data.layer); its layers are raw: set data.layer to one of them, "
        "or to null for X",
        source,
        layer="counts",
    )


def test_h5ad_label_missing_from_obs(tmp_path):
    source = tmp_path / "cohort.h5ad"
    write_h5ad(source, sparse_counts(), {"batch": ["x"] * 40})
    fails(
        tmp_path,
        f"{source}: obs has no column 'label' (label_column); its obs columns are batch: set "
        "label_column to one of them, or give the labels in data.metadata",
        source,
    )


def test_h5ad_that_is_not_anndata(tmp_path):
    source = tmp_path / "cohort.h5ad"
    source.write_text("sample_id,G1\nS1,3\n")
    with pytest.raises(InputError) as caught:
        prepare(tmp_path, source)
    assert (
        str(caught.value)
        == f"{source}: not an HDF5 file, so not AnnData; write it with anndata's AnnData.write_h5ad"
    )
    with h5py.File(source, "w") as f:
        f["matrix"] = np.ones((3, 3))
    with pytest.raises(InputError) as caught:
        prepare(tmp_path, source)
    assert str(caught.value).startswith(f"{source}: not an AnnData file anndata can read (")
    assert str(caught.value).endswith("); write it with anndata's AnnData.write_h5ad")
    assert "\n" not in str(caught.value)


def test_h5ad_with_text_values_or_a_sparse_x_without_shape(tmp_path):
    source = tmp_path / "cohort.h5ad"
    df = sparse_counts()
    write_h5ad(source, df, {"label": list(labels(df.index)["label"])})
    with h5py.File(source, "a") as f:
        del f["X"].attrs["shape"]
    with pytest.raises(InputError) as caught:
        prepare(tmp_path, source)
    assert str(caught.value).startswith(f"{source}: anndata cannot read its X (")
    assert str(caught.value).endswith("); re-save it with anndata's AnnData.write_h5ad")
    with h5py.File(source, "a") as f:
        del f["X"]
        f["X"] = df.to_numpy().astype(str).astype("S")
    fails(
        tmp_path, f"{source}: X holds text, not numbers; expression values must be numeric", source
    )


@pytest.mark.parametrize("layout", ["csr", "csc", "dense"])
def test_h5ad_written_by_anndata(tmp_path, layout):
    """The reader against the real library's output, where anndata is installed."""
    ad = pytest.importorskip("anndata")
    sparse = pytest.importorskip("scipy.sparse")
    ad.settings.allow_write_nullable_strings = True  # pandas 3 strings
    df = sparse_counts()
    x = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "dense": np.asarray}[layout](
        df.to_numpy()
    )
    obs = pd.DataFrame({"label": list(labels(df.index)["label"])}, index=list(df.index))
    adata = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=list(df.columns)))
    adata.write_h5ad(tmp_path / "cohort.h5ad")
    loaded = load_user_data(tmp_path / "cohort.h5ad", label_column="label")
    np.testing.assert_array_equal(loaded.expression.to_numpy(), df.to_numpy())
    assert list(loaded.metadata["label"]) == list(labels(df.index)["label"])


# --- the real workflow ---------------------------------------------------------------------


def workflow_config(**data):
    config = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    config["data"] = data
    return config


def test_workflow_on_a_csv_file(tmp_path):
    """The worked example of docs/own-data.md, on examples/: CSV + metadata table."""
    for name in ("counts.csv", "samples.csv"):
        shutil.copy(ROOT / "examples" / name, tmp_path / name)
    config = workflow_config(source="counts.csv", metadata="samples.csv")
    config.update(label_column="condition", models=["vae", "gaussian"])
    write_config(tmp_path, config)
    dry = planned_jobs(run_snakemake(tmp_path, "-n", "results/comparison_results.csv").stdout)
    assert ("prepare_data", "") in dry
    run_snakemake(tmp_path, "--cores", "2", "results/comparison_results.csv")
    written = pd.read_csv(tmp_path / "results/data/gene_expression_data.csv", index_col=0)
    assert written.equals(pd.read_csv(tmp_path / "counts.csv", index_col=0))
    summary = pd.read_csv(tmp_path / "results/comparison_results.csv")
    assert set(summary.model) == {"vae", "gaussian"}
    assert (
        "Nothing to be done"
        in run_snakemake(tmp_path, "-n", "results/comparison_results.csv").stdout
    )


def single_cell_counts(n=60, g=12, seed=1):
    """Counts with about 60% exact zeros, like single-cell data (no gene all zero)."""
    df = counts(n, g, seed).astype(float)
    df[np.random.default_rng(seed).random(df.shape) < 0.6] = 0.0
    return df


def test_workflow_on_a_sparse_h5ad_file(tmp_path):
    """Single-cell-like .h5ad in: zero inflation turns on (auto), samples come out as .h5ad too."""
    df = single_cell_counts()
    write_h5ad(tmp_path / "cohort.h5ad", df, {"condition": ["a", "b", "b"] * 20})
    config = workflow_config(source="cohort.h5ad")
    config.update(label_column="condition", models=["vae", "gan"])
    write_config(tmp_path, config)
    run_snakemake(tmp_path, "--cores", "2", "results/comparison_results.csv")
    written = pd.read_csv(tmp_path / "results/data/gene_expression_data.csv", index_col=0)
    np.testing.assert_array_equal(written.to_numpy(), df.to_numpy())
    real_zeros = (df.to_numpy() == 0).mean()
    assert 0.5 < real_zeros < 0.7
    for model in ("vae", "gan"):
        assert (
            f"{model}: zero inflation on"
            in (tmp_path / f"logs/train_model/{model}/rep0.log").read_text()
        )
        samples = tmp_path / f"results/samples/{model}/rep0"
        csv = pd.read_csv(f"{samples}.csv", index_col=0)
        meta = pd.read_csv(f"{samples}_metadata.csv")
        assert (
            abs((csv.to_numpy() == 0).mean() - real_zeros) < 0.2
        )  # exact zeros, at about the real rate
        # the .h5ad holds the same samples: through the project's reader, and its obs by hand
        values, obs = load_h5ad(f"{samples}.h5ad", label_column="condition")
        assert list(values.columns) == list(df.columns) and list(values.index) == list(csv.index)
        np.testing.assert_allclose(values.to_numpy(), csv.to_numpy(), rtol=1e-5)  # CSV: 6 digits
        assert list(obs["condition"]) == list(meta["condition"])
        with h5py.File(f"{samples}.h5ad") as f:
            assert [c.decode() for c in f["obs/source/categories"][()]] == [model]
        metrics = pd.read_csv(tmp_path / f"results/metrics/{model}/rep0.csv").set_index("metric")
        floor = pd.read_csv(tmp_path / "results/metrics/real/rep0.csv").set_index("metric")
        assert (
            metrics.loc["zero_fraction_gene", "value"] < 0.2
            and floor.loc["zero_fraction_gene", "value"] < 0.2
        )
        assert np.isfinite(
            [
                metrics.loc["zero_fraction_sample_ks", "value"],
                floor.loc["zero_fraction_sample_ks", "value"],
            ]
        ).all()
    summary = pd.read_csv(tmp_path / "results/comparison_results.csv")
    assert set(summary.model) == {"vae", "gan"}
    assert {"zero_fraction_gene", "zero_fraction_sample_ks"} <= set(summary.metric)


def load_h5ad(path, label_column):
    from exprsynth.io.h5ad import read_h5ad

    return read_h5ad(path, transform="none", label_column=label_column)


def test_bad_input_stops_the_workflow_before_any_training(tmp_path):
    df = counts()
    df.loc["S07", "G3"] = np.nan
    df.to_csv(tmp_path / "expr.csv")
    labels(df.index).to_csv(tmp_path / "meta.csv", index=False)
    write_config(
        tmp_path,
        {**workflow_config(source="expr.csv", metadata="meta.csv"), "label_column": "label"},
    )
    proc = run_snakemake(tmp_path, "--cores", "2", "results/comparison_results.csv", check=False)
    line = (
        "Error: expr.csv: missing value (empty or NA) at sample 'S07', gene 'G3' (line 8, column 4); "
        "fill it in or drop that sample or gene"
    )
    assert proc.returncode != 0
    assert line in proc.stderr.splitlines()
    assert (tmp_path / "logs/prepare_data.log").read_text().splitlines() == [line]
    assert not [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    assert not (tmp_path / "logs/train_model").exists()


def test_missing_file_fails_before_any_job(tmp_path):
    write_config(tmp_path, workflow_config(source="missing.csv"))
    proc = run_snakemake(tmp_path, "--cores", "1", check=False)
    assert proc.returncode != 0
    error_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert error_lines == [
        f"Error: missing.csv: file not found (config data.source, relative to {tmp_path}); fix the "
        "path, or set data.source: simulate"
    ]
    assert not (tmp_path / "results").exists()


def test_unknown_data_key_is_a_config_error(tmp_path):
    write_config(tmp_path, workflow_config(source="x.csv", delimiter=";"))
    proc = run_snakemake(tmp_path, "--cores", "1", check=False)
    error_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and error_lines[0].startswith(
        "Error: config: unknown key 'delimiter' under data"
    )


def test_command_line_strings_are_read_as_the_schema_expects():
    """`--config conditional=false` or `gan={"epochs": 4}` hand the workflow strings."""
    from exprsynth.config import ConfigError, validate_config

    schema = ROOT / "workflow/schemas/config.schema.yaml"
    config = validate_config(
        {
            "conditional": "false",
            "replicates": ["1", "3"],
            "gan": {
                "epochs": "4",
                "clip_norm": "null",
                "zero_inflation": "false",
                "betas": ["0.5", "0.9"],
            },
            "split": {"test_fraction": "0.25"},
            "data": {"source": "123.csv"},  # a string where a string belongs stays one
            "label_column": "1",
        },
        schema,
    )
    assert config["conditional"] is False and config["replicates"] == [1, 3]
    assert config["gan"]["epochs"] == 4 and config["gan"]["clip_norm"] is None
    assert config["gan"]["zero_inflation"] is False and config["gan"]["betas"] == [0.5, 0.9]
    assert config["split"]["test_fraction"] == 0.25
    assert config["data"]["source"] == "123.csv" and config["label_column"] == "1"
    # YAML 1.1 would read 1e-3 as text, 010 as octal 8 and 1:30 as 90.
    read = validate_config(
        {
            "gan": '{"epochs": 4}',
            "vae": {"lr": "1e-3"},
            "simulate": {"random_state": "010"},
            "data": {"source": "x.csv", "metadata": "null"},
        },
        schema,
    )
    assert read["gan"]["epochs"] == 4 and read["gan"]["batch_size"] == 128  # with its defaults
    assert read["vae"]["lr"] == 0.001 and read["simulate"]["random_state"] == 10
    assert read["data"]["metadata"] is None
    with pytest.raises(ConfigError, match="gan.epochs = '1:30'"):
        validate_config({"gan": {"epochs": "1:30"}}, schema)
    with pytest.raises(ConfigError, match="gan.epochs = 'four'"):
        validate_config({"gan": {"epochs": "four"}}, schema)
    with pytest.raises(ConfigError, match="conditional = 'yes'"):  # YAML 1.1's booleans stay text
        validate_config({"conditional": "yes"}, schema)


def test_h5ad_in_the_pre_0_7_layout_with_raw(tmp_path):
    """An older anndata's file (obs and var as record arrays, raw.X beside X) as single-cell
    files are still shared: read through anndata, with .raw selectable (data.layer: raw)."""
    source = tmp_path / "old.h5ad"
    df = sparse_counts()
    kinds = list(labels(df.index)["label"])
    with h5py.File(source, "w") as f:
        f["X"] = (df.to_numpy() - df.to_numpy().mean(0)).astype(np.float32)  # scaled, as X often is
        f["obs"] = np.array(
            [(i.encode(), k.encode()) for i, k in zip(df.index, kinds)],
            dtype=[("index", "S10"), ("label", "S5")],
        )
        f["var"] = np.array([(g.encode(),) for g in df.columns], dtype=[("index", "S10")])
        f["raw.X"] = np.log1p(df.to_numpy()).astype(np.float32)
        f["raw.var"] = np.array([(g.encode(),) for g in df.columns], dtype=[("index", "S10")])
    # Only data.source, data.layer and label_column set: scaler.transform auto sees the
    # log-normalised values and takes none.
    out = prepare(tmp_path, source, layer="raw", transform="auto")
    assert "scaler.transform auto: none" in (out / "notes.txt").read_text()
    written = pd.read_csv(out / OUTPUTS[0], index_col=0)
    np.testing.assert_allclose(written.to_numpy(), np.log1p(df.to_numpy()), rtol=1e-5)
    assert list(pd.read_csv(out / OUTPUTS[1])["label"]) == kinds
    fails(
        tmp_path / "again",
        f"{source}: no layer 'counts' (data.layer); its layers are raw: set data.layer "
        "to one of them, or to null for X",
        source,
        layer="counts",
        transform="none",
    )
