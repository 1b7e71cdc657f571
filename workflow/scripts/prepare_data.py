"""Rule prepare_data: the user's expression data, checked, written as the simulator's tables.

Every later rule reads the same files whether the data were simulated or not. Any
problem with the input stops the workflow here, before a split or a training job starts:
one line (file, row/column or key, what to do) in the log and on stderr, nothing written.
"""

import sys

from exprsynth.io import InputError, check_data_config, load_user_data, write_csv, write_expression


def main(
    *,
    source: str,
    source_metadata: str | None,
    expression: str,
    matrix: str,
    metadata: str,
    modules: str,
    data: dict,
    label_column: str,
    transform: str,
    test_fraction: float,
) -> None:
    check_data_config(data)
    loaded = load_user_data(
        source,
        format=data["format"],
        orientation=data["orientation"],
        metadata=source_metadata,
        sample_id_column=data["sample_id_column"],
        layer=data["layer"],
        label_column=label_column,
        transform=transform,
        test_fraction=test_fraction,
    )
    for note in loaded.notes:
        print(note, file=sys.stderr)
    write_expression(loaded.expression, expression, matrix=matrix)
    write_csv(loaded.metadata, metadata)
    write_csv(loaded.modules, modules)
    n, g = loaded.expression.shape
    classes = loaded.metadata[label_column].value_counts().to_dict() if label_column else {}
    print(f"{source}: {n} samples x {g} genes; label counts {classes}", file=sys.stderr)


if "snakemake" in globals():
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stderr = log
    try:
        main(
            source=snakemake.input.source,
            source_metadata=snakemake.input.source_metadata or None,
            **snakemake.output,
            **snakemake.params,
        )
    except InputError as e:
        # One line, in the log and where the user is looking, instead of a traceback.
        print(f"Error: {e}", file=log)
        print(f"Error: {e}", file=sys.__stderr__)
        sys.exit(1)
