"""Command line: draw synthetic samples from a saved checkpoint.

python -m exprsynth sample results/models/vae/rep0/checkpoint.pt --n 500 --label 1 --out vae.csv
python -m exprsynth sample results/models/gan/rep0/checkpoint.pt --n 500 --out gan.h5ad
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exprsynth", description=__doc__.strip().splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser(
        "sample",
        help="draw samples from a checkpoint, in original expression units",
        description="Draw synthetic samples from a checkpoint written by the workflow.",
    )
    sample.add_argument(
        "checkpoint",
        help="path to a checkpoint written by exprsynth (checkpoint.pt, or .npz for a reference)",
    )
    sample.add_argument("--n", type=int, default=100, help="number of samples (default 100)")
    sample.add_argument(
        "--label", help="draw every sample with this label (conditional models only)"
    )
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument(
        "--out",
        required=True,
        help="output .csv (samples x genes; metadata goes to <out>_metadata.csv) or .h5ad (AnnData, label in obs)",
    )
    args = parser.parse_args(argv)

    from pathlib import Path

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".h5ad"):
        parser.error(f"--out must end in .csv or .h5ad, got {args.out!r}")
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")

    from .io.checkpoint import load_generator
    from .io.files import write_csv, write_expression
    from .io.h5ad import write_h5ad

    try:
        generator = load_generator(args.checkpoint)
        expr, meta = generator.generate(
            args.n, label=args.label, seed=args.seed, prefix=generator.kind.upper()
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if out.suffix.lower() == ".h5ad":
            write_h5ad(out, expr, meta.set_index("sample_id"))
        else:
            write_expression(expr, out)
            write_csv(meta, out.with_name(f"{out.stem}_metadata.csv"))
    except OSError as e:  # a directory, a file where a folder should be, no permission
        print(f"error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"wrote {args.n} {generator.kind} samples to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
