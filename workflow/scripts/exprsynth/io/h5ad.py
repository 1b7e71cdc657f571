"""AnnData .h5ad files: the user's input (read_h5ad) and synthetic samples (write_h5ad)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .checks import InputError, check_unique, check_values, one_line
from .files import atomic_path


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
            f"{path}: not an HDF5 file, so not AnnData ({one_line(e)}); write it with "
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
        check_unique(sample_ids, path, "sample", lambda k: f"obs_names position {k}")
        check_unique(gene_ids, path, "gene", lambda k: f"var_names position {k}")

        def where(i: int, j: int) -> str:
            return f"sample {sample_ids[i]!r}, gene {gene_ids[j]!r} ({key}[{i}, {j}])"

        check_values(values, path, where, transform)
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
