"""AnnData .h5ad files through the anndata library: the user's input and synthetic samples.

anndata reads every layout it has written (the pre-0.7 one included) and keeps X on disk
(backed mode) until the one matrix asked for is read: X, a layer, or `.raw` (data.layer:
raw). Later stages work on dense matrices, so the chosen matrix is made dense once, here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .checks import InputError, check_unique, check_values, one_line

RAW = "raw"  # data.layer: raw selects the .raw matrix (and its genes)
SPARSE_OUTPUT_ZEROS = 0.5  # written samples with more zeros than this get a sparse (CSR) X


def read_h5ad(
    path: str | Path,
    *,
    layer: str | None = None,
    transform: str = "log1p",
    label_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """X, a layer or .raw as samples x genes (dense float64), and obs."""
    import anndata as ad
    import h5py

    if not h5py.is_hdf5(path):
        raise InputError(
            f"{path}: not an HDF5 file, so not AnnData; write it with anndata's AnnData.write_h5ad"
        )
    try:
        adata = ad.read_h5ad(path, backed="r")
    except Exception as e:  # anndata and h5py fail on foreign files in many ways
        raise InputError(
            f"{path}: not an AnnData file anndata can read ({one_line(e)}); write it with anndata's "
            f"AnnData.write_h5ad"
        ) from None
    try:
        matrix, genes, key = _matrix(adata, path, layer)
        try:
            values = _dense(matrix, path, key)
        except InputError:
            raise
        except Exception as e:  # a malformed matrix: anndata fails in many ways
            raise InputError(
                f"{path}: anndata cannot read its {key} ({one_line(e) or type(e).__name__}); re-save it "
                f"with anndata's AnnData.write_h5ad"
            ) from None
        sample_ids = pd.Index(adata.obs_names.astype(str), dtype=object)
        gene_ids = pd.Index(genes.astype(str), dtype=object)
        obs = adata.obs.copy()
    finally:
        adata.file.close()
    if values.shape != (len(sample_ids), len(gene_ids)):
        raise InputError(
            f"{path}: {key} is {values.shape[0]} x {values.shape[1]} but there are {len(sample_ids)} "
            f"samples and {len(gene_ids)} genes; the file is inconsistent"
        )
    check_unique(sample_ids, path, "sample", lambda k: f"obs_names position {k}")
    check_unique(gene_ids, path, "gene", lambda k: f"var_names position {k}")

    def where(i: int, j: int) -> str:
        return f"sample {sample_ids[i]!r}, gene {gene_ids[j]!r} ({key}[{i}, {j}])"

    check_values(values, path, where, transform)
    obs.index = sample_ids
    expression = pd.DataFrame(
        values, index=pd.Index(sample_ids, name="sample_id"), columns=gene_ids
    )
    return expression, obs


def _matrix(adata, path, layer: str | None):
    """(matrix, its gene names, its name for messages)."""
    layers = sorted(adata.layers.keys())
    if layer == RAW and RAW not in layers:
        if adata.raw is None:
            raise InputError(
                f"{path}: has no .raw matrix (data.layer: raw); its layers are {', '.join(layers) or '(none)'}"
            )
        return adata.raw.X, adata.raw.var_names, "raw.X"
    if layer:
        if layer not in layers:
            choices = [*layers, *([RAW] if adata.raw is not None else [])]
            raise InputError(
                f"{path}: no layer {layer!r} (data.layer); its layers are {', '.join(choices) or '(none)'}: "
                f"set data.layer to one of them, or to null for X"
            )
        return adata.layers[layer], adata.var_names, f"layers/{layer}"
    if adata.X is None:
        raise InputError(
            f"{path}: has no X matrix; set data.layer to one of its layers: {', '.join(layers) or '(none)'}"
        )
    return adata.X, adata.var_names, "X"


def _dense(matrix, path, key: str) -> np.ndarray:
    import h5py
    from scipy import sparse

    if hasattr(matrix, "to_memory"):  # a backed sparse matrix
        matrix = matrix.to_memory()
    elif isinstance(matrix, h5py.Dataset):
        matrix = matrix[()]
    if sparse.issparse(matrix):
        matrix = matrix.toarray()
    values = np.asarray(matrix)
    if values.dtype.kind not in "biuf":
        what = "text" if values.dtype.kind in "SUO" else f"{values.dtype} values"
        raise InputError(
            f"{path}: {key} holds {what}, not numbers; expression values must be numeric"
        )
    return values.astype(np.float64)


def write_h5ad(path: str | Path, expression: pd.DataFrame, obs: pd.DataFrame) -> None:
    """Samples x genes as AnnData, written by anndata: X float32, sparse (CSR) when most
    values are zeros (single-cell data), obs_names the samples, var_names the genes, each
    obs column a categorical of strings."""
    import anndata as ad
    from scipy import sparse

    if obs.index.tolist() != expression.index.tolist():
        raise ValueError("write_h5ad: obs must have the expression's samples, in order")
    values = expression.to_numpy(dtype=np.float32)
    x = sparse.csr_matrix(values) if (values == 0).mean() > SPARSE_OUTPUT_ZEROS else values
    columns = {
        c: pd.Categorical(np.array([str(v) for v in obs[c]], dtype=object)) for c in obs.columns
    }
    adata = ad.AnnData(
        X=x,
        obs=pd.DataFrame(
            columns, index=pd.Index(np.array(expression.index.astype(str), dtype=object))
        ),
        var=pd.DataFrame(index=pd.Index(np.array(expression.columns.astype(str), dtype=object))),
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.h5ad")  # a killed job leaves no truncated file
    try:
        adata.write_h5ad(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
