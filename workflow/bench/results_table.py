"""Print a Markdown table of results/comparison_results.csv (the README's results tables).

    python workflow/bench/results_table.py [results/comparison_results.csv] [--metrics a,b,c]
"""

from __future__ import annotations

import argparse
import math

import pandas as pd

ORDER = ["vae", "gan", "gaussian", "independent"]


def cell(row) -> str:
    if math.isnan(row["mean"]):
        return "–"
    if math.isnan(row["ci_low"]):
        return f"{row['mean']:.3g}"
    return f"{row['mean']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="results/comparison_results.csv")
    parser.add_argument("--metrics", help="comma-separated metric names (default: all)")
    args = parser.parse_args(argv)
    table = pd.read_csv(args.path)
    models = [m for m in ORDER if m in set(table.model)] + sorted(set(table.model) - set(ORDER))
    metrics = args.metrics.split(",") if args.metrics else list(dict.fromkeys(table.metric))
    print("| metric | better | floor | " + " | ".join(models) + " | VAE vs GAN |")
    print("|---" * (len(models) + 4) + "|")
    for metric in metrics:
        rows = table[table.metric == metric].set_index("model")
        first = rows.iloc[0]
        p, p_adjusted = first["p_value"], first["p_adjusted"]
        tested = not math.isnan(p)
        verdict = first["winner"] + (f" (p = {p:.2g}, adjusted {p_adjusted:.2g})" if tested else "")
        cells = [cell(rows.loc[m]) for m in models]
        print(f"| {metric} | {first['better']} | {first['floor']:.3g} | " + " | ".join(cells) + f" | {verdict} |")
    print(
        f"\nn = {int(table.n_replicates.max())} replicates; mean [95% CI]; floor = real train vs real test; "
        "paired t-test p, and adjusted over all ranked metrics (Benjamini-Hochberg)."
    )


if __name__ == "__main__":
    main()
