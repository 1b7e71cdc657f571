"""Rules plot_replicate, plot_summary, plot_tuning and plot_privacy: the comparison figures a rule's outputs name.

plot_replicate draws from the first replicate (samples, evaluation details, training
histories); plot_summary from the summary table over all replicates; plot_tuning from
the tuner's trials; plot_privacy from the summary table and the private runs' histories.
Each input is read only when a requested figure needs it.
"""

import sys
from functools import cache
from pathlib import Path

from threadpoolctl import threadpool_limits

from exprsynth.data.preprocess import split_data
from exprsynth.evaluation.metrics import subsample
from exprsynth.io.files import (
    atomic_path,
    read_expression,
    read_npz,
    read_scaler,
    read_table,
    read_values,
)
from exprsynth.reporting import plots

# Synthetic samples per model that the figures draw from (the default cohort has 1,000).
FIGURE_ROWS = 2000
# The rules' inputs that are lists of files.
LISTS = ("samples", "histories", "details", "tuning_trials", "privacy_histories")
# Genes a correlation heatmap shows at most: more make a grey blur at a figure's size.
HEATMAP_GENES = 300


def main(
    *,
    models: list[str],
    outputs: dict[str, str],
    expression: str | None = None,
    split: str | None = None,
    scaler: str | None = None,
    samples: list[str] = (),
    histories: list[str] = (),
    details: list[str] = (),
    summary: str | None = None,
    tuning_trials: list[str] = (),
    privacy_histories: list[str] = (),
    baselines: dict[str, str] | None = None,
    against: str = "test",
    max_genes: int = HEATMAP_GENES,
) -> None:
    @cache
    def data():
        fitted = read_scaler(scaler)
        return fitted, split_data(
            read_expression(expression), None, read_table(split, sep="\t"), fitted, None
        )

    @cache
    def spread():
        fitted, d = data()
        return fitted.spread(d.x_train)

    @cache
    def synthetic():
        # A figure needs no more points than this; at cohort scale the full sample files
        # of four models would not fit in memory together. One file at a time.
        fitted, d = data()
        return {
            m: fitted.transform(subsample(read_values(p, d.genes), FIGURE_ROWS))
            for m, p in zip(models, samples)
        }

    @cache
    def evaluation():
        return {m: read_npz(p) for m, p in zip(["real", *models], details)}

    @cache
    def table():
        return read_table(summary)

    def searches():  # results/tuning/{model}/rep{rep}/trials.csv, per generator
        found = {}
        for path in map(Path, tuning_trials):
            found.setdefault(path.parent.parent.name, []).append(read_table(path))
        return found

    def spent():  # results/models/{model}/rep{rep}/history.csv: the mean epsilon per run
        found = {}
        for path in map(Path, privacy_histories):
            found.setdefault(path.parent.parent.name, []).append(read_table(path).epsilon.iloc[-1])
        return {m: sum(v) / len(v) for m, v in found.items()}

    figures = {
        "training_curves": lambda: plots.training_curves(
            {m: read_table(p) for m, p in zip(models, histories)}
        ),
        "pca_comparison": lambda: plots.pca_comparison(
            data()[1].x_train, data()[1].x_test, synthetic()
        ),
        "distribution_comparison": lambda: plots.distribution_comparison(
            data()[1].x_test, synthetic(), data()[1].genes, spread()
        ),
        "comparison_summary": lambda: plots.comparison_summary(table(), models, against),
        "gene_mean_variance": lambda: plots.gene_mean_variance(data()[1].x_test, synthetic()),
        "correlation_heatmaps": lambda: plots.correlation_heatmaps(
            data()[1].x_test, synthetic(), spread(), min(HEATMAP_GENES, max_genes)
        ),
        "c2st_roc": lambda: plots.c2st_roc(evaluation()),
        "dcr_histograms": lambda: plots.dcr_histograms(evaluation(), against),
        "de_scatter": lambda: plots.de_scatter(evaluation(), against),
        "forest_plot": lambda: plots.forest_plot(table(), models, against),
        "tuning_trials": lambda: plots.tuning_trials(searches()),
        "privacy_tradeoff": lambda: plots.privacy_tradeoff(table(), spent(), baselines or {}),
    }
    for name, path in outputs.items():
        with atomic_path(path) as tmp:  # a killed job leaves no truncated PNG
            plots.save(figures[name](), tmp)
    print(f"wrote {len(outputs)} figures", file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    with threadpool_limits(snakemake.threads):  # numpy's BLAS (PCA axes, correlations)
        main(
            **{
                k: (list(v) if k in LISTS else v) for k, v in snakemake.input.items() if k != "code"
            },
            **snakemake.params,
            outputs=dict(snakemake.output.items()),
        )
