"""The verdict: the comparison's summary table read out for the user, as reStructuredText."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.compare import ALPHA, oriented_score
from ..evaluation.metrics import METRIC_BY_NAME
from ..models import display_name


# Metrics quoted in the verdict's table, in this order.
HEADLINE = [
    "c2st_gbt",
    "gamma",
    "log2_var_ratio",
    "recall",
    "precision",
    "tstr_auroc",
    "dcr_ratio",
    "near_copy_rate",
    "mia_auroc",
]


def _fmt(row: pd.Series) -> str:
    if np.isfinite(row["ci_low"]):
        return f"{row['mean']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
    return f"{row['mean']:.3g}" if np.isfinite(row["mean"]) else "n/a"


def verdict_rst(summary: pd.DataFrame, contenders: tuple[str, str] = ("vae", "gan"), against: str = "test") -> str:
    """The report's first page: who wins on what, by how much, how sure, and where references win.

    against: the split the samples were scored against (config evaluation.against)."""
    a, b = contenders
    per_metric = summary.drop_duplicates("metric").set_index("metric")
    n = int(summary["n_replicates"].max())
    wins = {m: per_metric.index[per_metric["winner"] == m].tolist() for m in contenders}
    unclear = per_metric.index[per_metric["winner"] == "no clear winner"].tolist()
    # Both networks NaN on every replicate: e.g. augmentation_gain on 50 training samples or fewer.
    means = summary.pivot_table(index="metric", columns="model", values="mean", dropna=False, sort=False)
    both = {a, b} <= set(means.columns)
    missing = means.index[means[a].isna() & means[b].isna()].tolist() if both else []
    ranked = per_metric.index[per_metric["p_value"].notna()].tolist()
    if against == "train":
        scored = "the training split they were trained on (``evaluation.against: train``, as in the original comparison; privacy metrics mean nothing then)"
        floor = "real training samples scored against themselves"
    else:
        scored, floor = "a held-out test split", "real training vs real test samples"
    lines = ["Verdict", "=======", ""]
    lines.append(
        f"Synthetic samples were scored against {scored} over **{n} replicate"
        f"{'s' if n != 1 else ''}** (each re-splits, re-trains and re-evaluates). A winner is "
        f"named only where a paired t-test across replicates gives p < {ALPHA}"
        + (f" after adjusting for the {_count(ranked)} tested together (Benjamini-Hochberg)." if ranked else ".")
    )
    lines.append("")
    if n < 2:
        lines += [
            "With a single replicate no difference can be tested, so no winner is named; "
            "set ``replicates`` to at least 3 in ``config.yaml`` for a verdict.",
            "",
        ]
    for m in contenders:
        if wins[m]:
            lines.append(f"- **{display_name(m)} wins** on {_count(wins[m])}: {', '.join(wins[m])}.")
    if unclear:
        lines.append(f"- **No clear winner** on {_count(unclear)}: {', '.join(unclear)}.")
    if missing:
        lines.append(f"- **Not computed** on this data (NaN for both): {', '.join(missing)}.")
    lines.append("")
    references = [m for m in summary.model.unique() if m not in contenders]
    for ref in references:
        beaten = []
        for metric, g in summary.groupby("metric", sort=False):
            g = g.set_index("model")
            if not {a, b, ref} <= set(g.index):
                continue
            better = METRIC_BY_NAME[metric].better
            s = {k: float(oriented_score([g.loc[k, "mean"]], better, g.loc[k, "floor"])[0]) for k in (a, b, ref)}
            if all(np.isfinite(list(s.values()))) and s[ref] > max(s[a], s[b]):
                beaten.append(metric)
        # Means only, untested: a reference's lead can be within replicate noise.
        what = f"- The **{display_name(ref)}** has a better mean than both {display_name(a)} and {display_name(b)} on"
        lines.append(f"{what}: {', '.join(beaten)}." if beaten else f"{what} no metric.")
    lines += [
        "",
        f"Headline metrics (mean [95% CI]; floor = {floor}"
        + ("; p adjusted as above):" if ranked else "):"),
        "",
    ]
    models = list(summary.model.unique())
    header = ["metric", "better", "floor", *[display_name(m) for m in models], "winner (p)"]
    rows = []
    for metric in HEADLINE:
        if metric not in per_metric.index:
            continue
        g = summary[summary.metric == metric].set_index("model")
        p = per_metric.loc[metric, "p_adjusted"]
        winner = per_metric.loc[metric, "winner"]
        rows.append(
            [
                metric,
                per_metric.loc[metric, "better"],
                f"{per_metric.loc[metric, 'floor']:.3g}",
                *[_fmt(g.loc[m]) for m in models],
                f"{display_name(winner)} ({p:.2g})" if np.isfinite(p) else winner,
            ]
        )
    lines += _rst_table(header, rows)
    lines += ["", "Every metric with its interval is in ``comparison_results.csv`` and the forest plot."]
    return "\n".join(lines) + "\n"


def _count(metrics: list[str]) -> str:
    return f"{len(metrics)} metric{'s' if len(metrics) != 1 else ''}"


def _rst_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    rule = " ".join("=" * w for w in widths)
    fmt = lambda r: " ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return [rule, fmt(header), rule, *[fmt(r) for r in rows], rule]
