"""Rule simulate_expression: write the simulated cohort's tables (the expression also as .npz)."""

import sys

from threadpoolctl import threadpool_limits

from exprsynth.io import write_csv, write_expression
from exprsynth.simulate import simulate_cohort


def main(*, params: dict, expression: str, matrix: str, metadata: str, modules: str) -> None:
    cohort = simulate_cohort(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    write_expression(cohort.expression, expression, matrix=matrix)
    write_csv(cohort.metadata, metadata)
    write_csv(cohort.modules, modules)
    print(
        f"simulated {cohort.expression.shape[0]} samples x {cohort.expression.shape[1]} genes, "
        f"prevalence {cohort.metadata['disease_status'].mean():.2f}",
        file=sys.stderr,
    )


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    with threadpool_limits(snakemake.threads):  # numpy's BLAS (the module activities)
        main(params=snakemake.params.simulate, **snakemake.output)
