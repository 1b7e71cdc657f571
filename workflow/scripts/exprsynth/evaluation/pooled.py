"""Pooled out-of-fold two-sample tests for split.scheme kfold (docs/design.md,
"Pooled out-of-fold tests").

Under kfold every real sample is held out exactly once, so the K held-out folds pool into
the whole cohort, and each fold's generator's samples into one synthetic set. One
two-sample test on the pooled sets sees K times the held-out samples a per-fold test sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics as M
from .compare import ALPHA, adjust_p_values, confidence_interval, resampled_t_test
from ..data.preprocess import fit_scaler, most_variable_genes

POOLED_METRICS = ("c2st_gbt", "precision", "recall", "coverage")


def fold_aurocs(real: np.ndarray, synth: np.ndarray, seed: int) -> np.ndarray:
    """The two-sample test's AUROC on each of its cross-validation folds, each fold scored by
    the one classifier that did not learn from it.

    Why per fold: the out-of-fold scores of all folds pooled into one AUROC mix classifiers
    trained on overlapping rows, and an interval that takes the scores as independent (DeLong's)
    was too narrow: on real samples against real samples (simulated cohort, 100 against 400,
    20 seeds) the AUROC's spread was 0.039 where DeLong's standard error is 0.032. The folds'
    AUROCs go through the corrected resampled t-test instead (`fold_test`)."""
    from sklearn.metrics import roc_auc_score

    _, truth, scores = M.c2st_auroc(real, synth, classifier="gbt", seed=seed)
    folds = M.c2st_folds(truth, seed=seed).split(np.zeros(len(truth)), truth)
    return np.array([roc_auc_score(truth[test], scores[test]) for _, test in folds])


def fold_test(a: np.ndarray, b: np.ndarray | float) -> float:
    """Two-sided p of the detector folds' AUROCs a against b (another model's, fold by fold,
    or a number): the corrected resampled t-test with n_test / n_train = 1 / (folds - 1),
    since the folds' classifiers learn from overlapping rows (Nadeau & Bengio, 2003)."""
    b = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
    return resampled_t_test(a, b, 1 / (len(a) - 1))


def fold_multiple(sets: list[np.ndarray], held_out: list[int]) -> int:
    """How many times its held-out size every fold's synthetic set holds (0: one is smaller)."""
    return min(len(s) // n for s, n in zip(sets, held_out))


def common_multiple(sets: list[list[np.ndarray]], held_out: list[int]) -> int:
    """c: what every model's every fold's set allows, at most K - 1 (the per-fold test's ratio
    of synthetic samples, the training split's size, to held-out ones). One c for all models
    gives every model's test the same rows to tell apart and the same detector folds, so
    that two models' folds hold the same real samples and pair. A model with a set smaller
    than its fold is left out (not computed), not allowed to stop the others."""
    usable = [m for m in (fold_multiple(m, held_out) for m in sets) if m >= 1]
    return min([len(held_out) - 1, *usable]) if usable else 0


def pooled_synthetic(
    synth: list[np.ndarray], held_out: list[int], c: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(for the two-sample test, for the neighbour metrics): from fold r's synthetic set,
    c x (fold r's held-out size) random rows, and the first held-out size of them, so that
    each fold's generator counts as its fold counts in the pooled real set
    (`common_multiple`)."""
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

    Returns (per model, pairs). Per model: n_real, n_synthetic, c2st_gbt (the mean of the
    detector's fold AUROCs) with its 95% interval and one-sided p against 0.5 (corrected
    resampled t over the folds), k-NN precision, recall and coverage; the row "real" is the
    floor: two random halves of the real samples. Pairs: every pair of models on c2st_gbt,
    fold by fold (the same real samples in each), p adjusted over the pairs
    (Benjamini-Hochberg), and the winner (lower AUROC) where adjusted p < ALPHA. All NaN
    when a fold's synthetic set is smaller than the fold.
    """
    real_raw = np.vstack([expression.loc[ids].to_numpy() for ids in held_out_ids])
    scaler = fit_scaler(real_raw, transform)
    real_z = scaler.transform(real_raw)
    genes = most_variable_genes(scaler.spread(real_z), max_genes)
    real = real_z[:, genes]
    held_out = [len(ids) for ids in held_out_ids]
    c = common_multiple(list(samples.values()), held_out)
    half = np.random.default_rng(seed).permutation(len(real))
    a, b = real[half[: len(real) // 2]], real[half[len(real) // 2 :]]
    rows, folds = [_row("real", a, b, b, seed)], {}
    for model, sets in samples.items():
        if fold_multiple(sets, held_out) < 1:
            rows.append({"model": model, "n_real": len(real)})
            continue
        synth = pooled_synthetic(
            [scaler.transform(s)[:, genes] for s in sets], held_out, c, seed=seed
        )
        rows.append(_row(model, real, *synth, seed))
        folds[model] = rows[-1].pop("folds")
    rows[0].pop("folds")
    table = pd.DataFrame(rows)
    table.insert(1, "k", len(held_out))
    return table, _pairs(folds)


def _row(model, real, synth, synth_knn, seed) -> dict:
    folds = fold_aurocs(real, synth, seed)
    low, high = np.clip(confidence_interval(folds, test_train_ratio=1 / (len(folds) - 1)), 0, 1)
    p = fold_test(folds, 0.5)
    precision, recall, coverage = M.knn_precision_recall_coverage(real, synth_knn, seed=seed)
    return {
        "model": model,
        "n_real": len(real),
        "n_synthetic": len(synth),
        "c2st_gbt": float(folds.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        # One-sided: the detector tells the sets apart (AUROC above 0.5).
        "p_vs_chance": p / 2 if folds.mean() > 0.5 else 1 - p / 2,
        "precision": precision,
        "recall": recall,
        "coverage": coverage,
        "folds": folds,
    }


def _pairs(folds: dict[str, np.ndarray]) -> pd.DataFrame:
    models = list(folds)
    rows = []
    for i, x in enumerate(models):
        for y in models[i + 1 :]:
            ax, ay = folds[x].mean(), folds[y].mean()
            leader = x if ax < ay else y if ay < ax else "tie"
            rows.append(
                {
                    "metric": "c2st_gbt",
                    "model_a": x,
                    "model_b": y,
                    "auroc_a": ax,
                    "auroc_b": ay,
                    "leader": leader,
                    "p_value": fold_test(folds[x], folds[y]),
                }
            )
    pairs = pd.DataFrame(
        rows, columns=["metric", "model_a", "model_b", "auroc_a", "auroc_b", "leader", "p_value"]
    )
    pairs["p_adjusted"] = adjust_p_values(pairs["p_value"].to_numpy(dtype=float))
    significant = (pairs["p_adjusted"] < ALPHA) & (pairs["leader"] != "tie")
    pairs["winner"] = np.where(significant, pairs["leader"], "no clear winner")
    return pairs
