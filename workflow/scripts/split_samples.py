"""Rule split_samples: stratified train/test assignment for one replicate (a random
re-split, or one fold of a K-fold partition: split.scheme)."""

import sys

from exprsynth.data.preprocess import kfold_split, split_samples
from exprsynth.io.checks import errors_in_one_line
from exprsynth.io.files import read_sample_ids, read_table, write_csv


def main(
    *,
    expression: str,
    metadata: str,
    split: str,
    test_fraction: float,
    label_column: str,
    seed: int,
    kfold: dict | None = None,
) -> None:
    ids = read_sample_ids(expression)
    meta = read_table(metadata).set_index("sample_id")
    labels = meta[label_column] if label_column else None
    if kfold:  # {"fold": r's position in replicates, "n_folds": K}
        table = kfold_split(ids, labels, seed=seed, **kfold)
    else:
        table = split_samples(ids, labels, test_fraction=test_fraction, seed=seed)
    write_csv(table, split, sep="\t")
    print(table["split"].value_counts().to_string(), file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    # A class too small for K folds: one line, not a traceback.
    with errors_in_one_line(sys.stderr, ValueError):
        main(
            expression=snakemake.input.expression,
            metadata=snakemake.input.metadata,
            split=snakemake.output.split,
            **snakemake.params,
        )
