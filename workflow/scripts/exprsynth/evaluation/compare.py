"""Per-replicate metrics aggregated: means, confidence intervals, tests between generators."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import (
    stdtr,
    stdtrit,
)  # Student t CDF and its inverse; scipy.stats is 0.3 s slower to import

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


def confidence_interval(
    values: np.ndarray, level: float = 0.95, test_train_ratio: float = 0.0
) -> tuple[float, float]:
    """Student-t interval of the mean; NaN with fewer than two finite values.

    test_train_ratio > 0: replicates that re-split one cohort are correlated, and the
    interval is widened as the corrected resampled t-test widens its variance (the
    standard error sqrt((1/J + n_test/n_train) s^2) instead of sqrt(s^2 / J))."""
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return float("nan"), float("nan")
    half = (
        stdtrit(len(v) - 1, 0.5 + level / 2)
        * v.std(ddof=1)
        * np.sqrt(1 / len(v) + test_train_ratio)
    )
    return float(v.mean() - half), float(v.mean() + half)


def split_ratio(test_fraction: float, folds: int | None = None) -> float:
    """n_test / n_train of a replicate's split, the correction of the resampled t-test:
    test_fraction / (1 - test_fraction) for random re-splits; for the K folds of one
    cross-fitting (split.scheme kfold) 1 / (K - 1), the corrected k-fold cv test
    (Nadeau & Bengio, 2003; Bouckaert & Frank, 2004)."""
    return 1 / (folds - 1) if folds else test_fraction / (1 - test_fraction)


def resampled_t_test(a: np.ndarray, b: np.ndarray, test_train_ratio: float) -> float:
    """Two-sided p-value of a vs b across replicates: the corrected resampled t-test
    (Nadeau & Bengio, 2003). NaN if untestable.

    Replicates re-split one cohort, so their training sets overlap and their scores are
    correlated: the plain paired t-test's variance of the mean difference, s^2 / J, is too
    small. The correction inflates it to (1/J + n_test/n_train) s^2. test_train_ratio = 0
    gives the plain paired t-test.
    """
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    if len(d) < 2:
        return float("nan")
    # No spread to test against (up to rounding): identical results are no difference, and
    # a constant difference counts only when it held in at least three replicates.
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        return 1.0 if np.all(d == 0) else (0.0 if len(d) >= 3 else float("nan"))
    t = d.mean() / np.sqrt((1 / len(d) + test_train_ratio) * d.var(ddof=1))
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


def summarise(
    per_replicate: pd.DataFrame,
    *,
    test_train_ratio: float,
    contenders: tuple[str, str] = ("vae", "gan"),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """per_replicate: columns replicate, model, metric, value, floor.

    Returns (summary, pairs). summary: one row per metric x model: mean, ci_low, ci_high
    (a t-interval with the resampling correction, clipped to the values the metric can
    take), n_replicates, floor, better,
    and the contenders' comparison from `pairs` (leader, p_value, p_adjusted, winner).
    pairs: `pairwise_tests` over every pair of models.
    """
    rows = []
    for (metric, model), g in per_replicate.groupby(["metric", "model"], sort=False):
        values = g["value"].to_numpy(dtype=float)
        interval = confidence_interval(values, test_train_ratio=test_train_ratio)
        lo, hi = (float(v) for v in np.clip(interval, *METRIC_BY_NAME[metric].bounds))
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
    pairs = pairwise_tests(per_replicate, list(dict.fromkeys(summary.model)), test_train_ratio)
    a, b = contenders
    duel = pairs[pairs.model_a.isin(contenders) & pairs.model_b.isin(contenders)].set_index(
        "metric"
    )
    for key in ("leader", "p_value", "p_adjusted", "winner"):
        blank = float("nan") if key.startswith("p_") else ""
        summary[key] = summary["metric"].map(lambda m: duel[key].get(m, blank))
    unranked = summary["metric"].map(lambda m: not METRIC_BY_NAME[m].ranked)
    summary.loc[unranked, "winner"] = "not ranked"
    return summary, pairs


def pairwise_tests(
    per_replicate: pd.DataFrame, models: list[str], test_train_ratio: float
) -> pd.DataFrame:
    """Every pair of models (in `models`' order) on every ranked metric: the leader (better
    mean over the replicates where both have a value), the corrected resampled t-test's
    p-value, that p adjusted over all the pairs and metrics tested together
    (Benjamini-Hochberg: 6 pairs x 24 metrics at once would otherwise name winners by
    chance), and the winner where the adjusted p < 0.05, else "no clear winner"."""
    rows = []
    for metric, g in per_replicate.groupby("metric", sort=False):
        if not METRIC_BY_NAME[metric].ranked:
            continue
        wide = g.pivot_table(index="replicate", columns="model", values="value", dropna=False)
        floor = g.groupby("replicate")["floor"].mean().reindex(wide.index)
        present = [m for m in models if m in wide]
        score = {m: oriented_score(wide[m], METRIC_BY_NAME[metric].better, floor) for m in present}
        for i, a in enumerate(present):
            for b in present[i + 1 :]:
                sa, sb = score[a], score[b]
                paired = np.isfinite(sa) & np.isfinite(
                    sb
                )  # the leader from the replicates the test sees
                if not paired.any():
                    continue
                ma, mb = sa[paired].mean(), sb[paired].mean()
                leader = a if ma > mb else b if mb > ma else "tie"
                p = resampled_t_test(sa, sb, test_train_ratio)
                rows.append(
                    {"metric": metric, "model_a": a, "model_b": b, "leader": leader, "p_value": p}
                )
    pairs = pd.DataFrame(rows, columns=["metric", "model_a", "model_b", "leader", "p_value"])
    pairs["p_adjusted"] = adjust_p_values(pairs["p_value"].to_numpy(dtype=float))
    significant = (pairs["p_adjusted"] < ALPHA) & (pairs["leader"] != "tie")
    pairs["winner"] = np.where(significant, pairs["leader"], "no clear winner")
    return pairs
