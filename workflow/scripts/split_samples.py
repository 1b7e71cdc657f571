"""Rule split_samples: stratified train/test assignment for one replicate."""

import sys

from exprsynth.data.preprocess import split_samples
from exprsynth.io.files import read_sample_ids, read_table, write_csv


def main(
    *,
    expression: str,
    metadata: str,
    split: str,
    test_fraction: float,
    label_column: str,
    seed: int,
) -> None:
    ids = read_sample_ids(expression)
    meta = read_table(metadata).set_index("sample_id")
    labels = meta[label_column] if label_column else None
    table = split_samples(ids, labels, test_fraction=test_fraction, seed=seed)
    write_csv(table, split, sep="\t")
    print(table["split"].value_counts().to_string(), file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    main(
        expression=snakemake.input.expression,
        metadata=snakemake.input.metadata,
        split=snakemake.output.split,
        **snakemake.params,
    )
