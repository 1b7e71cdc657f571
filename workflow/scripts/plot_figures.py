"""Rule plot_figures: the comparison figures, from the first replicate and the summary table."""

import sys

from exprsynth import plots
from exprsynth.io import read_expression, read_scaler, read_table
from exprsynth.preprocess import split_data


def main(
    *,
    expression: str,
    split: str,
    scaler: str,
    samples: list[str],
    histories: list[str],
    summary: str,
    models: list[str],
    outputs: dict[str, str],
) -> None:
    fitted = read_scaler(scaler)
    data = split_data(read_expression(expression), None, read_table(split, sep="\t"), fitted, None)
    synthetic = {m: fitted.transform(read_expression(p)[data.genes].to_numpy()) for m, p in zip(models, samples)}
    plots.save(plots.training_curves({m: read_table(p) for m, p in zip(models, histories)}), outputs["training_curves"])
    plots.save(plots.pca_comparison(data.x_train, data.x_test, synthetic), outputs["pca"])
    plots.save(plots.distribution_comparison(data.x_test, synthetic), outputs["distribution"])
    plots.save(plots.comparison_summary(read_table(summary), models), outputs["summary"])
    print(f"wrote {len(outputs)} figures", file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    main(
        expression=snakemake.input.expression,
        split=snakemake.input.split,
        scaler=snakemake.input.scaler,
        samples=list(snakemake.input.samples),
        histories=list(snakemake.input.histories),
        summary=snakemake.input.summary,
        models=snakemake.params.models,
        outputs=dict(snakemake.output.items()),
    )
