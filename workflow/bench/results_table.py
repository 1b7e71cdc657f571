"""Print a Markdown table of results/comparison_results.csv (the README's results tables).

python workflow/bench/results_table.py [results/comparison_results.csv] [--metrics a,b,c]
    [--by-generator]

--by-generator: one row per generator (the floor first), one column per metric, the means
only: narrow enough for many generators (a tuned run's default and tuned rows).
"""

from __future__ import annotations

import argparse
import math

import pandas as pd

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from exprsynth.models import GENERATORS, display_name, kind_of  # noqa: E402


def number(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.3f}" if 0.01 <= abs(x) < 1000 else f"{x:.3g}"


def cell(row) -> str:
    if math.isnan(row["mean"]):
        return "–"
    if row["mean"] == row["ci_low"] == row["ci_high"] == 0:
        return "0"
    if math.isnan(row["ci_low"]):
        return number(row["mean"])
    return f"{number(row['mean'])} [{number(row['ci_low'])}, {number(row['ci_high'])}]"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="results/comparison_results.csv")
    parser.add_argument("--metrics", help="comma-separated metric names (default: all)")
    parser.add_argument(
        "--by-generator", action="store_true", help="generators as rows, means only"
    )
    args = parser.parse_args(argv)
    table = pd.read_csv(args.path)
    # The registry's order, each generator's variants after it, external sets last.
    order = list(GENERATORS)
    models = sorted(
        set(table.model),
        key=lambda m: (order.index(kind_of(m)) if kind_of(m) in order else len(order), m),
    )
    known = list(dict.fromkeys(table.metric))
    metrics = args.metrics.split(",") if args.metrics else known
    unknown = [m for m in metrics if m not in known]
    if unknown:
        parser.error(f"no metric {', '.join(unknown)} in {args.path}; it has {', '.join(known)}")
    if args.by_generator:
        return by_generator(table, models, metrics)
    print(
        "| metric | better | floor | "
        + " | ".join(display_name(m) for m in models)
        + " | VAE vs GAN |"
    )
    print("|---" * (len(models) + 4) + "|")
    for metric in metrics:
        rows = table[table.metric == metric].set_index("model")
        first = rows.iloc[0]
        p, p_adjusted = first["p_value"], first["p_adjusted"]
        tested = not math.isnan(p)
        winner = display_name(first["winner"])
        verdict = winner + (f" (p = {p:.2g}, adjusted {p_adjusted:.2g})" if tested else "")
        cells = [cell(rows.loc[m]) for m in models]
        better = first["better"].replace("-", " ")
        floor = "–" if math.isnan(first["floor"]) else f"{first['floor']:.3g}"
        print(f"| {metric} | {better} | {floor} | " + " | ".join(cells) + f" | {verdict} |")
    print(
        f"\nn = {int(table.n_replicates.max())} replicates; mean [95% CI]; floor = real train vs real test; "
        "p from the corrected resampled t-test across replicates (Nadeau & Bengio, 2003), and "
        "adjusted over every pair of generators and ranked metric (Benjamini-Hochberg)."
    )


def by_generator(table: pd.DataFrame, models: list[str], metrics: list[str]) -> None:
    means = table.pivot_table(index="model", columns="metric", values="mean", dropna=False)
    first = table.drop_duplicates("metric").set_index("metric")
    print("| generator | " + " | ".join(metrics) + " |")
    print("|---" * (len(metrics) + 1) + "|")
    print(
        "| *better* | "
        + " | ".join(first.loc[m, "better"].replace("-", " ") for m in metrics)
        + " |"
    )
    print("| floor | " + " | ".join(number(first.loc[m, "floor"]) for m in metrics) + " |")
    for model in models:
        cells = [
            "–" if math.isnan(means.loc[model, m]) else number(means.loc[model, m]) for m in metrics
        ]
        print(f"| {display_name(model)} | " + " | ".join(cells) + " |")
    print(
        f"\nMeans over {int(table.n_replicates.max())} replicates; floor = real train vs real "
        "test; intervals and tests in results/comparison_results.csv and results/verdict.rst."
    )


if __name__ == "__main__":
    main()
