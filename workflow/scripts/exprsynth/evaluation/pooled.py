"""Pooled out-of-fold two-sample tests for split.scheme kfold (docs/design.md,
"Pooled out-of-fold tests").

Under kfold every real sample is held out exactly once, so the K held-out folds pool into
the whole cohort, and each fold's generator's samples into one synthetic set. One
two-sample test on the pooled sets sees K times the held-out samples a per-fold test sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from . import metrics as M
from .compare import ALPHA, adjust_p_values
from ..data.preprocess import Scaler, most_variable_genes

POOLED_METRICS = ("c2st_gbt", "precision", "recall", "coverage")


def delong(real_scores: np.ndarray, synth_scores: np.ndarray):
    """AUROC of synthetic (positive) against real scores, with DeLong's structural
    components: per synthetic sample the share of real ones it outscores (v_synth), per
    real sample the share of synthetic ones that outscore it (v_real); ties count half.
    Returns (auroc, v_synth, v_real)."""
    from scipy.stats import rankdata

    m, n = len(synth_scores), len(real_scores)
    both = rankdata(np.r_[synth_scores, real_scores])
    v_synth = (both[:m] - rankdata(synth_scores)) / n
    v_real = 1 - (both[m:] - rankdata(real_scores)) / m
    return float(v_synth.mean()), v_synth, v_real


def delong_variance(v_synth: np.ndarray, v_real: np.ndarray) -> float:
    return float(v_synth.var(ddof=1) / len(v_synth) + v_real.var(ddof=1) / len(v_real))


def paired_delong_p(a: tuple, b: tuple) -> float:
    """Two-sided p of AUROC a = AUROC b, where both score the same real samples (in the
    same order) against independent synthetic sets: the real samples' components are
    paired, so their covariance comes off the variance of the difference."""
    (auc_a, s_a, r_a), (auc_b, s_b, r_b) = a, b
    real = np.cov(r_a, r_b, ddof=1)
    var = (
        s_a.var(ddof=1) / len(s_a)
        + s_b.var(ddof=1) / len(s_b)
        + (real[0, 0] + real[1, 1] - 2 * real[0, 1]) / len(r_a)
    )
    if var <= 0:
        return 1.0 if auc_a == auc_b else 0.0
    return float(2 * ndtr(-abs(auc_a - auc_b) / np.sqrt(var)))


def pooled_synthetic(
    synth: list[np.ndarray], held_out: list[int], *, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(for the two-sample test, for the neighbour metrics): from fold r's synthetic set,
    c x (fold r's held-out size) random rows, and the first held-out size of them, so that
    each fold's generator counts as its fold counts in the pooled real set. c is what every
    fold's set allows, at most K - 1: the per-fold test's ratio of synthetic (the training
    split's size) to held-out samples. None if a set is smaller than its fold."""
    c = min(min(len(s) // n for s, n in zip(synth, held_out)), len(held_out) - 1)
    if c < 1:
        return None
    rng = np.random.default_rng(seed)
    picks = [s[rng.permutation(len(s))[: c * n]] for s, n in zip(synth, held_out)]
    return np.vstack(picks), np.vstack([p[:n] for p, n in zip(picks, held_out)])


def pooled_out_of_fold(
    expression: pd.DataFrame,
    held_out_ids: list[pd.Index],
    samples: dict[str, list[np.ndarray]],
    *,
    transform: str,
    max_genes: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pooled two-sample test and neighbour metrics of every model.

    expression: every real sample (expression units); held_out_ids: each fold's held-out
    samples; samples: per model, each fold's synthetic samples in expression units, columns
    as expression's. One scaler (config scaler.transform, then per-gene standardising) is
    fitted on all real samples and applied to everything: the folds' own scalers differ, and
    pooling samples scaled by different maps would mix their offsets into the test. The map
    is fitted without knowing which set a sample is in and is the same for both sets.

    Returns (per model, pairs). Per model: n_real, n_synthetic, the pooled c2st_gbt AUROC
    with a DeLong 95% interval and its one-sided p against 0.5, k-NN precision, recall and
    coverage; the row "real" is the floor: two random halves of the real samples. Pairs:
    every pair of models on the pooled AUROC, the paired DeLong test, p adjusted over the
    pairs (Benjamini-Hochberg), and the winner (lower AUROC) where adjusted p < ALPHA.
    """
    real_raw = np.vstack([expression.loc[ids].to_numpy() for ids in held_out_ids])
    scaler = Scaler.fit(real_raw, log1p=transform == "log1p", quantile=transform == "quantile")
    real_z = scaler.transform(real_raw)
    genes = most_variable_genes(scaler.spread(real_z), max_genes)
    real = real_z[:, genes]
    held_out = [len(ids) for ids in held_out_ids]
    rows, curves = [], {}
    half = np.random.default_rng(seed).permutation(len(real))
    a, b = real[half[: len(real) // 2]], real[half[len(real) // 2 :]]
    rows.append(_row("real", a, b, b, len(held_out), seed))
    for model, sets in samples.items():
        pooled = pooled_synthetic(
            [scaler.transform(s)[:, genes] for s in sets], held_out, seed=seed
        )
        if pooled is None:
            rows.append({"model": model, "folds": len(held_out), "n_real": len(real)})
            continue
        row = _row(model, real, *pooled, len(held_out), seed)
        curves[model] = row.pop("curve")
        rows.append(row)
    rows[0].pop("curve")
    table = pd.DataFrame(rows)
    return table, _pairs(curves)


def _row(model, real, synth, synth_knn, folds, seed) -> dict:
    auroc, truth, scores = M.c2st_auroc(real, synth, classifier="gbt", seed=seed)
    curve = delong(scores[truth == 0], scores[truth == 1])
    half = 1.959964 * np.sqrt(delong_variance(curve[1], curve[2]))
    precision, recall, coverage = M.knn_precision_recall_coverage(real, synth_knn, seed=seed)
    z = (auroc - 0.5) / max(half / 1.959964, 1e-12)
    return {
        "model": model,
        "folds": folds,
        "n_real": len(real),
        "n_synthetic": len(synth),
        "c2st_gbt": auroc,
        "ci_low": max(0.0, auroc - half),
        "ci_high": min(1.0, auroc + half),
        "p_vs_chance": float(ndtr(-z)),  # one-sided: the detector tells the sets apart
        "precision": precision,
        "recall": recall,
        "coverage": coverage,
        "curve": curve,
    }


def _pairs(curves: dict) -> pd.DataFrame:
    models = list(curves)
    rows = [
        {
            "metric": "c2st_gbt",
            "model_a": x,
            "model_b": y,
            "auroc_a": curves[x][0],
            "auroc_b": curves[y][0],
            "leader": x
            if curves[x][0] < curves[y][0]
            else y
            if curves[y][0] < curves[x][0]
            else "tie",
            "p_value": paired_delong_p(curves[x], curves[y]),
        }
        for i, x in enumerate(models)
        for y in models[i + 1 :]
    ]
    pairs = pd.DataFrame(
        rows, columns=["metric", "model_a", "model_b", "auroc_a", "auroc_b", "leader", "p_value"]
    )
    pairs["p_adjusted"] = adjust_p_values(pairs["p_value"].to_numpy(dtype=float))
    significant = (pairs["p_adjusted"] < ALPHA) & (pairs["leader"] != "tie")
    pairs["winner"] = np.where(significant, pairs["leader"], "no clear winner")
    return pairs
