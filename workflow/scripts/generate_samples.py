"""Rule generate_samples: draw synthetic profiles from a checkpoint, in expression units.

When the input was .h5ad, the samples are also written as .h5ad: var_names the genes,
obs the label column (conditional models) and `source`, the generator.
"""

import sys

from threadpoolctl import threadpool_limits

from exprsynth.io.checkpoint import load_generator
from exprsynth.io.files import read_sample_ids, write_csv, write_expression
from exprsynth.models import GENERATORS


def main(
    *,
    model: str,
    expression: str,
    samples: str,
    matrix: str,
    metadata: str,
    n_samples: int | None,
    seed: int,
    h5ad: str | None = None,
    threads: int = 1,
) -> None:
    generator = load_generator(model)
    if GENERATORS[generator.kind].network:
        import torch

        torch.set_num_threads(threads)
    n = n_samples or len(read_sample_ids(expression))
    expr, meta = generator.generate(n, seed=seed, prefix=generator.kind.upper())
    write_expression(expr, samples, matrix=matrix)
    write_csv(meta, metadata)
    if h5ad:  # only .h5ad input asks for .h5ad output
        from exprsynth.io.h5ad import write_h5ad

        write_h5ad(h5ad, expr, meta.set_index("sample_id"))
    zeros = float((expr.to_numpy() == 0).mean())
    print(f"{generator.kind}: wrote {n} samples ({zeros:.1%} of values are zeros)", file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    with threadpool_limits(snakemake.threads):  # numpy's BLAS
        main(
            model=snakemake.input.model,
            expression=snakemake.input.expression,
            samples=snakemake.output.samples,
            matrix=snakemake.output.matrix,
            metadata=snakemake.output.metadata,
            h5ad=snakemake.output.get("h5ad"),
            threads=snakemake.threads,
            **snakemake.params,
        )
