"""Rules evaluate_model and evaluate_floor: the metric suite against the held-out split.

Without synthetic samples as input (rule evaluate_floor) it scores the real training
split against the test split: the floor a perfect generator would reach.
"""

import sys

# Loaded before threadpool_limits below: an OpenMP runtime loaded inside the block escapes
# its cap, and the two-sample test's trees would run one thread per core in every job.
import sklearn.ensemble  # noqa: F401
from threadpoolctl import threadpool_limits

from exprsynth.data.preprocess import encode_labels, split_data, zero_values
from exprsynth.evaluation.evaluate import evaluate
from exprsynth.io.files import read_expression, read_scaler, read_table, read_values, write_csv, write_npz


def main(
    *,
    expression: str,
    metadata: str,
    modules: str,
    split: str,
    scaler: str,
    metrics: str,
    details: str,
    label_column: str,
    max_genes: int,
    seed: int,
    against: str = "test",
    samples: str | None = None,
    samples_metadata: str | None = None,
    history: str | None = None,
    floor: str | None = None,
) -> None:
    fitted = read_scaler(scaler)
    data = split_data(
        read_expression(expression), read_table(metadata), read_table(split, sep="\t"), fitted, label_column
    )
    module_of_gene = read_table(modules).set_index("gene_id")["module"].reindex(data.genes)
    synth = y_synth = loss = None
    if samples is not None:
        synth = fitted.transform(read_values(samples, data.genes))
        synth_meta = read_table(samples_metadata)
        if label_column in synth_meta:
            y_synth = encode_labels(synth_meta[label_column], data.label_levels)
        hist = read_table(history)
        loss_column = next((c for c in ("loss", "generator_loss") if c in hist), None)
        loss = hist[loss_column].to_numpy() if loss_column else None
    # against=train reproduces the original comparison, which scored on training data;
    # privacy metrics are meaningless then (train is its own nearest neighbour).
    reference, y_reference = (data.x_train, data.y_train) if against == "train" else (data.x_test, data.y_test)
    result = evaluate(
        data.x_train,
        reference,
        synth,
        y_train=data.y_train,
        y_test=y_reference,
        y_synth=y_synth,
        modules=module_of_gene.fillna("background").to_numpy(),
        loss_history=loss,
        # Each gene's expression 0 in the scaled space, for the zero-fraction metrics.
        zero_value=zero_values(fitted, len(data.genes)),
        zero_clipped=fitted.log1p,
        max_genes=max_genes,
        gene_spread=fitted.spread(data.x_train),
        label_levels=data.label_levels,
        seed=seed,
    )
    table = result.to_frame()
    if floor is not None:
        table["floor"] = table["metric"].map(read_table(floor).set_index("metric")["value"])
    write_csv(table, metrics)
    write_npz(result.details, details)
    print(table.to_string(index=False), file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    with threadpool_limits(snakemake.threads):
        main(
            **{k: v for k, v in snakemake.input.items() if k != "code"},
            **snakemake.output,
            **snakemake.params,
        )
