"""Rule generate_samples: draw synthetic profiles from a checkpoint, in expression units."""

import sys

import pandas as pd
import torch

from exprsynth.generator import load_generator
from exprsynth.io import write_csv


def main(*, model: str, expression: str, samples: str, metadata: str, n_samples: int | None, seed: int, threads: int = 1) -> None:
    torch.set_num_threads(threads)
    generator = load_generator(model)
    n = n_samples or len(pd.read_csv(expression, usecols=[0]))
    expr, meta = generator.generate(n, seed=seed, prefix=generator.kind.upper())
    write_csv(expr, samples, index=True)
    write_csv(meta, metadata)
    print(f"{generator.kind}: wrote {n} samples", file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    main(
        model=snakemake.input.model,
        expression=snakemake.input.expression,
        samples=snakemake.output.samples,
        metadata=snakemake.output.metadata,
        threads=snakemake.threads,
        **snakemake.params,
    )
