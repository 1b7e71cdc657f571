"""Rules evaluate_model and evaluate_references: the metric suite against the held-out split.

evaluate_model scores one network's samples. evaluate_references scores, with the data
read once, the floor (the real training split in the synthetic set's place: what a
perfect generator would reach) and every reference generator's samples.
"""

import sys
from dataclasses import dataclass

# Loaded before threadpool_limits below: an OpenMP runtime loaded inside the block escapes
# its cap, and the two-sample test's trees would run one thread per core in every job.
import sklearn.ensemble  # noqa: F401
from threadpoolctl import threadpool_limits

from exprsynth.data.preprocess import encode_labels, split_data
from exprsynth.evaluation.evaluate import evaluate_scaled
from exprsynth.io.files import (
    read_expression,
    read_scaler,
    read_table,
    read_values,
    write_csv,
    write_npz,
)


@dataclass
class ScoredSet:
    """One set to score and where its results go; samples None: the floor."""

    metrics: str
    details: str
    samples: str | None = None
    samples_metadata: str | None = None
    history: str | None = None


def main(
    *,
    expression: str,
    metadata: str,
    modules: str,
    split: str,
    scaler: str,
    sets: list[ScoredSet],
    label_column: str,
    max_genes: int,
    seed: int,
    against: str = "test",
) -> None:
    fitted = read_scaler(scaler)
    data = split_data(
        read_expression(expression),
        read_table(metadata),
        read_table(split, sep="\t"),
        fitted,
        label_column,
    )
    module_of_gene = read_table(modules).set_index("gene_id")["module"].reindex(data.genes)
    # against=train reproduces the original comparison, which scored on training data;
    # privacy metrics are meaningless then (train is its own nearest neighbour).
    reference, y_reference = (
        (data.x_train, data.y_train) if against == "train" else (data.x_test, data.y_test)
    )
    for scored in sets:
        synth = y_synth = loss = None
        if scored.samples is not None:
            synth = fitted.transform(read_values(scored.samples, data.genes))
            synth_meta = read_table(scored.samples_metadata)
            if label_column in synth_meta:
                y_synth = encode_labels(synth_meta[label_column], data.label_levels)
            hist = read_table(scored.history)
            loss_column = next((c for c in ("loss", "generator_loss") if c in hist), None)
            loss = hist[loss_column].to_numpy() if loss_column else None
        result = evaluate_scaled(
            data.x_train,
            reference,
            synth,
            fitted,
            y_train=data.y_train,
            y_test=y_reference,
            y_synth=y_synth,
            modules=module_of_gene.fillna("background").to_numpy(),
            loss_history=loss,
            max_genes=max_genes,
            label_levels=data.label_levels,
            seed=seed,
        )
        table = result.to_frame()
        write_csv(table, scored.metrics)
        write_npz(result.details, scored.details)
        print(f"{scored.metrics}:\n{table.to_string(index=False)}", file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    inputs, outputs = snakemake.input, snakemake.output
    if snakemake.rule == "evaluate_references":  # the floor first, then each reference
        references = zip(inputs.samples, inputs.samples_metadata, inputs.histories)
        sets = [ScoredSet(outputs.metrics[0], outputs.details[0])] + [
            ScoredSet(m, d, *files)
            for m, d, files in zip(outputs.metrics[1:], outputs.details[1:], references)
        ]
    else:
        sets = [
            ScoredSet(
                outputs.metrics,
                outputs.details,
                inputs.samples,
                inputs.samples_metadata,
                inputs.history,
            )
        ]
    with threadpool_limits(snakemake.threads):
        main(
            **{k: inputs[k] for k in ("expression", "metadata", "modules", "split", "scaler")},
            sets=sets,
            **snakemake.params,
        )
