"""Rule plot_figures: the comparison figures, from the first replicate and the summary table."""

import sys

from exprsynth import plots
from exprsynth.io import read_expression, read_npz, read_scaler, read_table
from exprsynth.preprocess import split_data


def main(
    *,
    expression: str,
    split: str,
    scaler: str,
    samples: list[str],
    histories: list[str],
    details: list[str],
    summary: str,
    models: list[str],
    outputs: dict[str, str],
) -> None:
    fitted = read_scaler(scaler)
    data = split_data(read_expression(expression), None, read_table(split, sep="\t"), fitted, None)
    synthetic = {m: fitted.transform(read_expression(p)[data.genes].to_numpy()) for m, p in zip(models, samples)}
    evaluation = {m: read_npz(p) for m, p in zip(["real", *models], details)}
    table = read_table(summary)
    figures = {
        "training_curves": lambda: plots.training_curves({m: read_table(p) for m, p in zip(models, histories)}),
        "pca_comparison": lambda: plots.pca_comparison(data.x_train, data.x_test, synthetic),
        "distribution_comparison": lambda: plots.distribution_comparison(data.x_test, synthetic, data.genes),
        "comparison_summary": lambda: plots.comparison_summary(table, models),
        "gene_mean_variance": lambda: plots.gene_mean_variance(data.x_test, synthetic),
        "correlation_heatmaps": lambda: plots.correlation_heatmaps(data.x_test, synthetic),
        "c2st_roc": lambda: plots.c2st_roc(evaluation),
        "dcr_histograms": lambda: plots.dcr_histograms(evaluation),
        "de_scatter": lambda: plots.de_scatter(evaluation),
        "forest_plot": lambda: plots.forest_plot(table, models),
    }
    for name, path in outputs.items():
        plots.save(figures[name](), path)
    print(f"wrote {len(outputs)} figures", file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    main(
        expression=snakemake.input.expression,
        split=snakemake.input.split,
        scaler=snakemake.input.scaler,
        samples=list(snakemake.input.samples),
        histories=list(snakemake.input.histories),
        details=list(snakemake.input.details),
        summary=snakemake.input.summary,
        models=snakemake.params.models,
        outputs=dict(snakemake.output.items()),
    )
