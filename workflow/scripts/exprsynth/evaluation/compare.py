"""Per-replicate metrics aggregated: means, confidence intervals, tests between generators."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import stdtr, stdtrit  # Student t CDF and its inverse; scipy.stats is 0.3 s slower to import

from .metrics import METRIC_BY_NAME

ALPHA = 0.05


def oriented_score(values: pd.Series | np.ndarray, better: str, floor) -> np.ndarray:
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
    sa, sb = oriented_score(wide[a], better, floor), oriented_score(wide[b], better, floor)
    paired = np.isfinite(sa) & np.isfinite(sb)  # the leader from the replicates the test sees
    if not paired.any():
        return {"leader": "", "p_value": float("nan"), "winner": ""}
    ma, mb = sa[paired].mean(), sb[paired].mean()
    leader = a if ma > mb else b if mb > ma else "tie"
    return {"leader": leader, "p_value": paired_test(sa, sb), "winner": "no clear winner"}
