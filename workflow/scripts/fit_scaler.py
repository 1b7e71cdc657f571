"""Rule fit_scaler: the transform (log1p, quantile or none; auto decided on all the data) and
standardisation, fitted on the training split only."""

import sys

from exprsynth.data.preprocess import fit_scaler
from exprsynth.io.files import read_expression, read_table, write_scaler


def main(*, expression: str, split: str, scaler: str, transform: str) -> None:
    expr = read_expression(expression)
    table = read_table(split, sep="\t")
    train = expr.loc[table.loc[table["split"] == "train", "sample_id"]]
    fitted = fit_scaler(train.to_numpy(), transform, decide_on=expr.to_numpy())
    write_scaler(fitted, scaler)
    print(
        f"scaler fitted on {len(train)} training samples (transform: {fitted.transform_name}"
        f"{' by auto' if transform == 'auto' else ''})",
        file=sys.stderr,
    )


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    main(
        expression=snakemake.input.expression,
        split=snakemake.input.split,
        scaler=snakemake.output.scaler,
        transform=snakemake.params.transform,
    )
