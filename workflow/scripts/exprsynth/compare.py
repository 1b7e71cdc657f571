"""Aggregate per-replicate metrics into means, confidence intervals and a VAE-vs-GAN verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

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
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def paired_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value of a vs b across replicates (NaN if untestable)."""
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    if len(d) < 2:
        return float("nan")
    if np.all(d == d[0]):
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_rel(a[ok], b[ok]).pvalue)


def summarise(per_replicate: pd.DataFrame, contenders: tuple[str, str] = ("vae", "gan")) -> pd.DataFrame:
    """per_replicate: columns replicate, model, metric, value, floor.

    Returns one row per metric x model: mean, ci_low, ci_high, n_replicates, floor, better,
    and per metric the point-estimate leader between the contenders, the paired t-test
    p-value, and the winner only where p < 0.05 ("no clear winner" otherwise).
    """
    rows = []
    for (metric, model), g in per_replicate.groupby(["metric", "model"], sort=False):
        values = g["value"].to_numpy(dtype=float)
        lo, hi = confidence_interval(values)
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
    for key in ("leader", "p_value", "winner"):
        summary[key] = summary["metric"].map(lambda m: verdicts[m][key])
    return summary


def _verdict(rows: pd.DataFrame, contenders: tuple[str, str]) -> dict:
    a, b = contenders
    wide = rows.pivot_table(index="replicate", columns="model", values="value", dropna=False)
    if a not in wide or b not in wide:
        return {"leader": "", "p_value": float("nan"), "winner": ""}
    better = METRIC_BY_NAME[rows.metric.iloc[0]].better
    floor = rows.groupby("replicate")["floor"].mean().reindex(wide.index)
    sa, sb = _score(wide[a], better, floor), _score(wide[b], better, floor)
    if not (np.isfinite(sa).any() and np.isfinite(sb).any()):
        return {"leader": "", "p_value": float("nan"), "winner": ""}
    leader = a if np.nanmean(sa) > np.nanmean(sb) else b if np.nanmean(sb) > np.nanmean(sa) else "tie"
    p = paired_test(sa, sb)
    winner = leader if np.isfinite(p) and p < ALPHA and leader != "tie" else "no clear winner"
    return {"leader": leader, "p_value": p, "winner": winner}
