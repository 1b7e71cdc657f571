"""Rule pool_out_of_fold (split.scheme kfold only): one two-sample test and the neighbour
metrics per generator on the pooled held-out folds and their generators' samples."""

import sys

# Before threadpool_limits: an OpenMP runtime loaded inside the block escapes its cap.
import sklearn.ensemble  # noqa: F401
from threadpoolctl import threadpool_limits

from exprsynth.evaluation.pooled import pooled_out_of_fold
from exprsynth.io.files import read_expression, read_table, read_values, write_csv


def main(
    *,
    expression: str,
    splits: list[str],
    samples: list[str],
    models: list[str],
    summary: str,
    pairs: str,
    transform: str,
    max_genes: int,
    seed: int,
) -> None:
    data = read_expression(expression)
    held_out = []
    for path in splits:  # in fold order, as the samples
        split = read_table(path, sep="\t")
        held_out.append(split.loc[split["split"] == "test", "sample_id"].astype(str))
    genes = list(data.columns)
    k = len(splits)
    sets = {
        m: [read_values(p, genes) for p in samples[i * k : (i + 1) * k]]
        for i, m in enumerate(models)
    }
    table, tests = pooled_out_of_fold(
        data, held_out, sets, transform=transform, max_genes=max_genes, seed=seed
    )
    write_csv(table, summary)
    write_csv(tests, pairs)
    print(f"{table.to_string(index=False)}\n{tests.to_string(index=False)}", file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    with threadpool_limits(snakemake.threads):
        main(
            expression=snakemake.input.expression,
            splits=list(snakemake.input.splits),
            samples=list(snakemake.input.samples),
            summary=snakemake.output.summary,
            pairs=snakemake.output.pairs,
            **snakemake.params,
        )
