"""Aggregate per-replicate metrics into means, confidence intervals and a VAE-vs-GAN verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import stdtr, stdtrit  # Student t CDF and its inverse; scipy.stats is 0.3 s slower to import

from .metrics import METRIC_BY_NAME

ALPHA = 0.05


def _score(values: pd.Series | np.ndarray, better: str, floor) -> np.ndarray:
    """Orient a metric so that larger is better."""
    v = np.asarray(values, dtype=float)
    if better == "higher":
        return v
    if better == "lower":
        return -v
    return -np.abs(v - np.asarray(floor, dtype=float))


def confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean; NaN with fewer than two finite values."""
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return float("nan"), float("nan")
    half = stdtrit(len(v) - 1, 0.5 + level / 2) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def paired_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value of a vs b across replicates (NaN if untestable)."""
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    if len(d) < 2:
        return float("nan")
    # No spread to test against (up to rounding): identical results are no difference, and
    # a constant difference counts only when it held in at least three replicates.
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        return 1.0 if np.all(d == 0) else (0.0 if len(d) >= 3 else float("nan"))
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
    return float(2 * stdtr(len(d) - 1, -abs(t)))


def adjust_p_values(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate over the tests given);
    NaN stays NaN and does not count as a test."""
    p = np.asarray(p, dtype=float)
    out = np.full(len(p), np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * len(order) / np.arange(1, len(order) + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def summarise(per_replicate: pd.DataFrame, contenders: tuple[str, str] = ("vae", "gan")) -> pd.DataFrame:
    """per_replicate: columns replicate, model, metric, value, floor.

    Returns one row per metric x model: mean, ci_low, ci_high (a t-interval, clipped to
    the values the metric can take), n_replicates, floor, better,
    and per metric the leader between the contenders (better mean over the replicates where
    both have a value), the paired t-test p-value, that p-value adjusted over all ranked
    metrics (Benjamini-Hochberg: 25 metrics tested at once would otherwise name about one
    winner by chance), and the winner only where the adjusted p < 0.05 ("no clear winner"
    otherwise).
    """
    rows = []
    for (metric, model), g in per_replicate.groupby(["metric", "model"], sort=False):
        values = g["value"].to_numpy(dtype=float)
        lo, hi = (float(v) for v in np.clip(confidence_interval(values), *METRIC_BY_NAME[metric].bounds))
        finite = values[np.isfinite(values)]
        rows.append(
            {
                "metric": metric,
                "model": model,
                "mean": float(finite.mean()) if len(finite) else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
                "n_replicates": int(len(finite)),
                "floor": float(g["floor"].mean()),
                "better": METRIC_BY_NAME[metric].better,
            }
        )
    summary = pd.DataFrame(rows)
    verdicts = {m: _verdict(per_replicate[per_replicate.metric == m], contenders) for m in summary.metric.unique()}
    metrics = list(verdicts)
    adjusted = adjust_p_values([verdicts[m]["p_value"] for m in metrics])
    for m, p in zip(metrics, adjusted):
        v = verdicts[m]
        v["p_adjusted"] = p
        if v["winner"] not in ("", "not ranked"):
            v["winner"] = v["leader"] if p < ALPHA and v["leader"] != "tie" else "no clear winner"
    for key in ("leader", "p_value", "p_adjusted", "winner"):
        summary[key] = summary["metric"].map(lambda m: verdicts[m][key])
    return summary


def _verdict(rows: pd.DataFrame, contenders: tuple[str, str]) -> dict:
    a, b = contenders
    wide = rows.pivot_table(index="replicate", columns="model", values="value", dropna=False)
    if a not in wide or b not in wide:
        return {"leader": "", "p_value": float("nan"), "winner": ""}
    metric = METRIC_BY_NAME[rows.metric.iloc[0]]
    if not metric.ranked:
        return {"leader": "", "p_value": float("nan"), "winner": "not ranked"}
    better = metric.better
    floor = rows.groupby("replicate")["floor"].mean().reindex(wide.index)
    sa, sb = _score(wide[a], better, floor), _score(wide[b], better, floor)
    paired = np.isfinite(sa) & np.isfinite(sb)  # the leader from the replicates the test sees
    if not paired.any():
        return {"leader": "", "p_value": float("nan"), "winner": ""}
    ma, mb = sa[paired].mean(), sb[paired].mean()
    leader = a if ma > mb else b if mb > ma else "tie"
    return {"leader": leader, "p_value": paired_test(sa, sb), "winner": "no clear winner"}


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
NAMES = {"vae": "VAE", "gan": "GAN", "gaussian": "Gaussian reference", "independent": "independent reference"}


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
            lines.append(f"- **{NAMES[m]} wins** on {_count(wins[m])}: {', '.join(wins[m])}.")
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
            s = {k: float(_score([g.loc[k, "mean"]], better, g.loc[k, "floor"])[0]) for k in (a, b, ref)}
            if all(np.isfinite(list(s.values()))) and s[ref] > max(s[a], s[b]):
                beaten.append(metric)
        # Means only, untested: a reference's lead can be within replicate noise.
        what = f"- The **{NAMES.get(ref, ref)}** has a better mean than both {NAMES[a]} and {NAMES[b]} on"
        lines.append(f"{what}: {', '.join(beaten)}." if beaten else f"{what} no metric.")
    lines += [
        "",
        f"Headline metrics (mean [95% CI]; floor = {floor}"
        + ("; p adjusted as above):" if ranked else "):"),
        "",
    ]
    models = list(summary.model.unique())
    header = ["metric", "better", "floor", *[NAMES.get(m, m) for m in models], "winner (p)"]
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
                f"{NAMES.get(winner, winner)} ({p:.2g})" if np.isfinite(p) else winner,
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
