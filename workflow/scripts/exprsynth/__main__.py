"""Command line: draw synthetic samples from a saved checkpoint, or score synthetic samples
made by any tool against real training and held-out samples.

python -m exprsynth sample results/models/vae/rep0/checkpoint.pt --n 500 --label 1 --out vae.csv
python -m exprsynth sample results/models/gan/rep0/checkpoint.pt --n 500 --out gan.h5ad
python -m exprsynth evaluate --train train.csv --test test.csv --synthetic synth.csv \
    --metadata labels.csv --label-column condition
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
    evaluate = sub.add_parser(
        "evaluate",
        help="score one synthetic set against real training and held-out samples",
        description="Score synthetic samples made by any tool with exprsynth's metrics, each "
        "beside its floor (the real training set scored the same way). Files: CSV/TSV "
        "(samples x genes, ids in the first column) or .h5ad, in expression units.",
    )
    evaluate.add_argument(
        "--train", required=True, help="the real samples the generator learned from"
    )
    evaluate.add_argument("--test", required=True, help="real samples it never saw")
    evaluate.add_argument("--synthetic", required=True, help="the synthetic samples")
    evaluate.add_argument("--metadata", help="CSV/TSV with sample ids and labels of every sample")
    evaluate.add_argument(
        "--label-column", help="the label (in --metadata, or in each .h5ad's obs)"
    )
    evaluate.add_argument("--sample-id-column", default="sample_id", help="id column of --metadata")
    evaluate.add_argument(
        "--transform",
        choices=["auto", "log1p", "quantile", "none"],
        default="auto",
        help="before per-gene standardisation: log1p for counts, none for log-scale data, "
        "auto (default) the one of the two the values look like, quantile: each gene through "
        "its training distribution to a normal",
    )
    evaluate.add_argument(
        "--max-genes", type=int, default=2000, help="genes of the pair metrics (default 2000)"
    )
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    evaluate.add_argument("--out", help="also write the table to this CSV")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        return _evaluate(args)

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


def _evaluate(args) -> int:
    from .io.checks import InputError
    from .io.external import read_external_sets

    try:
        sets = read_external_sets(
            args.train,
            args.test,
            args.synthetic,
            transform=args.transform,
            metadata=args.metadata,
            label_column=args.label_column,
            sample_id_column=args.sample_id_column,
        )
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = score_external(sets, transform=args.transform, max_genes=args.max_genes, seed=args.seed)
    if args.out:
        from .io.files import write_csv

        write_csv(table, args.out)
    print(table.to_string(index=False))
    return 0


def score_external(sets, *, transform: str, max_genes: int, seed: int):
    """The metric table of a synthetic set (value beside floor), as the workflow scores it."""
    from .data.preprocess import encode_labels, fit_scaler, label_levels
    from .evaluation.evaluate import evaluate_scaled
    from .evaluation.metrics import METRIC_BY_NAME

    scaler = fit_scaler(sets.train.to_numpy(), transform)
    train, test, synth = (
        scaler.transform(s.to_numpy()) for s in (sets.train, sets.test, sets.synthetic)
    )
    y = {name: None for name in sets.labels}
    levels = []
    if sets.labels["train"] is not None:
        levels = label_levels(sets.labels["train"])
        y = {name: encode_labels(labels, levels) for name, labels in sets.labels.items()}
    common = dict(
        y_train=y["train"], y_test=y["test"], max_genes=max_genes, label_levels=levels, seed=seed
    )
    floor = evaluate_scaled(train, test, None, scaler, **common).to_frame()
    scored = evaluate_scaled(
        train, test, synth, scaler, y_synth=y["synthetic"], **common
    ).to_frame()
    scored["floor"] = scored["metric"].map(floor.set_index("metric")["value"])
    scored["better"] = scored["metric"].map(lambda m: METRIC_BY_NAME[m].better)
    return scored


if __name__ == "__main__":
    sys.exit(main())
