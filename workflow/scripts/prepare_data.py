"""Rule prepare_data: the expression data, simulated or the user's, written as the same files.

Every later rule reads the same files whether the data were simulated or not. Any
problem with a user's input stops the workflow here, before a split or a training job
starts: one line (file, row/column or key, what to do) in the log and on stderr, nothing
written.
"""

import sys

from threadpoolctl import threadpool_limits

from exprsynth.io.checks import InputError, errors_in_one_line
from exprsynth.io.files import atomic_path, write_csv, write_expression


def simulate(settings: dict):
    from exprsynth.data.simulate import simulate_cohort

    cohort = simulate_cohort(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    )
    print(
        f"simulated cohort, prevalence {cohort.metadata['disease_status'].mean():.2f}",
        file=sys.stderr,
    )
    return cohort


def load(
    source: str,
    source_metadata: str | None,
    data: dict,
    label_column: str,
    transform: str,
    test_fraction: float,
    n_folds: int | None = None,
):
    from exprsynth.io.user_data import check_data_config, load_user_data

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
        rare_classes=data["rare_classes"],
        min_class_size=data["min_class_size"],
        n_folds=n_folds,
    )
    for note in loaded.notes:
        print(note, file=sys.stderr)
    classes = loaded.metadata[label_column].value_counts().to_dict() if label_column else {}
    print(f"{source}: label counts {classes}", file=sys.stderr)
    return loaded


def main(
    *,
    expression: str,
    matrix: str,
    metadata: str,
    modules: str,
    notes: str,
    settings: dict,
    source=None,
    source_metadata=None,
) -> None:
    if "simulate" in settings:
        tables, changes = simulate(settings["simulate"]), []
    else:
        tables = load(source, source_metadata or None, **settings)
        changes = tables.notes
    write_expression(tables.expression, expression, matrix=matrix)
    write_csv(tables.metadata, metadata)
    write_csv(tables.modules, modules)
    n, g = tables.expression.shape
    # What was changed on the way in (classes merged or dropped, constant genes dropped):
    # the verdict repeats it.
    with atomic_path(notes) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in [f"{n} samples x {g} genes", *changes]))
    print(f"wrote {n} samples x {g} genes", file=sys.stderr)


if "snakemake" in globals():
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stderr = log
    # threadpool_limits: numpy's BLAS (the simulator's module activities)
    with errors_in_one_line(log, InputError), threadpool_limits(snakemake.threads):
        main(
            source=snakemake.input.get("source"),
            source_metadata=snakemake.input.get("source_metadata"),
            settings=snakemake.params.settings,
            **snakemake.output,
        )
