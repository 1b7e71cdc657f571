"""Rule import_samples: synthetic samples made outside exprsynth (config external), checked
against the data and written as a generator's samples are, so they are scored the same way.

Checked as strictly as the data: the data's genes (put in the data's order), no negative
value where the data have none, and for a conditional run a known label for every sample
(from the .h5ad's obs, or from <file>_metadata.csv with sample_id and the label column).
Each problem is one line, in the log and on stderr, and nothing is written.
"""

import sys

import pandas as pd

from exprsynth.io.checks import InputError, errors_in_one_line
from exprsynth.io.external import check_support, read_set, with_genes_of
from exprsynth.io.files import read_expression, read_table, write_csv, write_expression
from exprsynth.io.user_data import read_labels


def main(
    *,
    name: str,
    source: str,
    expression: str,
    metadata: str,
    samples: str,
    matrix: str,
    samples_metadata: str,
    history: str,
    label_column: str | None,
    transform: str,
    labels: str | None = None,
) -> None:
    real = read_expression(expression)
    synthetic, obs = read_set(source, transform)
    synthetic = with_genes_of(real, synthetic, source)
    check_support(real, synthetic, source)
    meta = pd.DataFrame({"sample_id": synthetic.index})
    if label_column:
        if labels:
            found = read_labels(labels, synthetic.index, matrix=source, label_column=label_column)
        elif obs is not None and label_column in obs:
            found = obs[label_column].astype(str).loc[synthetic.index]
        else:
            raise InputError(
                f"{source}: no labels for label_column {label_column!r}; put them in the .h5ad's "
                f"obs, or in a CSV beside it named like the file with _metadata.csv (columns "
                f"sample_id and {label_column})"
            )
        known = set(read_table(metadata)[label_column].astype(str))
        unknown = sorted(set(found.astype(str)) - known)
        if unknown:
            raise InputError(
                f"{source}: label {unknown[0]!r} does not occur in the data ({label_column})"
            )
        meta[label_column] = found.astype(str).to_numpy()
    meta["source"] = name
    write_expression(synthetic, samples, matrix=matrix)
    write_csv(meta, samples_metadata)
    write_csv(pd.DataFrame({"epoch": [0]}), history)  # made elsewhere: no training history
    print(
        f"{source}: {len(synthetic)} samples x {synthetic.shape[1]} genes as {name}",
        file=sys.stderr,
    )


if "snakemake" in globals():
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stderr = log
    with errors_in_one_line(log, InputError):
        main(
            name=snakemake.wildcards.model,
            source=snakemake.input.source,
            labels=snakemake.input.get("labels"),
            expression=snakemake.input.expression,
            metadata=snakemake.input.metadata,
            samples=snakemake.output.samples,
            matrix=snakemake.output.matrix,
            samples_metadata=snakemake.output.metadata,
            history=snakemake.output.history,
            **snakemake.params,
        )
