"""Power of the two-sample tests against planted defects of graded size, old design and new.

    python workflow/bench/power_curves.py [--seeds 3] [--defects mean_shift,...]
        [--sizes 0,0.1,...] [--designs old_trees,new_trees,...] [--out power.csv]

The "synthetic" set is the default cohort's own training split with one defect planted in
it, so a perfect detector reads 0.5 at size 0 and rises with the size. Each seed re-splits
the cohort (seed 42 + s). A defect counts as detected at a seed when the AUROC's one-sided
p-value is below 0.05 (`auroc_p_value`); the detection rate is the share of seeds where it
is. Defects, on the scaled data (sd 1 per gene):
- mean_shift: one gene in ten shifted by `size` sd;
- variance_shrink: every gene pulled towards its mean by the share `size`;
- dropped_correlation: the share `size` of genes permuted across samples within each label
  (each gene's distribution kept, its correlations with the others gone);
- bridging: the share `size` of samples replaced by midpoints of two samples of different
  cell types, where no real sample lies (a perfect detector reaches only 0.5 + size / 2).
Designs: old_trees / old_logistic = 200 synthetic against the 200 held-out samples, on the
genes, the workflow's design before 2026-12-03; new_trees / new_logistic = the workflow's
c2st_gbt / c2st_logistic now (every synthetic sample; the trees, the same 50 rounds of 8
leaves on 32 bins, also see 20 principal components); default_trees = every synthetic
sample, scikit-learn's default trees on the genes alone (about 10x slower). Numbers depend
on the machine (CPU determinism holds per machine).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
from exprsynth.config import validate_config  # noqa: E402
from exprsynth.data.preprocess import Scaler, split_data, split_samples  # noqa: E402
from exprsynth.data.simulate import simulate_cohort  # noqa: E402
from exprsynth.evaluation import metrics as M  # noqa: E402

DEFECTS = ("mean_shift", "variance_shrink", "dropped_correlation", "bridging")
SIZES = {
    "mean_shift": (0.1, 0.2, 0.3, 0.5),
    "variance_shrink": (0.05, 0.1, 0.2, 0.3),
    "dropped_correlation": (0.1, 0.25, 0.5, 1.0),
    "bridging": (0.05, 0.1, 0.2, 0.4),
}


def plant(defect: str, size: float, x, y, cell_type, rng) -> np.ndarray:
    x = x.copy()
    if size == 0:
        return x
    n, g = x.shape
    if defect == "mean_shift":
        x[:, rng.choice(g, max(1, g // 10), replace=False)] += size
    elif defect == "variance_shrink":
        x = x.mean(0) + (1 - size) * (x - x.mean(0))
    elif defect == "dropped_correlation":
        genes = rng.choice(g, int(round(size * g)), replace=False)
        for label in np.unique(y):
            rows = np.flatnonzero(y == label)
            for gene in genes:
                x[rows, gene] = x[rng.permutation(rows), gene]
    elif defect == "bridging":
        rows = rng.choice(n, int(round(size * n)), replace=False)
        for row in rows:
            other = rng.choice(np.flatnonzero(cell_type != cell_type[row]))
            x[row] = 0.5 * (x[row] + x[other])
    else:
        raise ValueError(f"unknown defect {defect!r}")
    return x


def old_c2st(real: np.ndarray, synth: np.ndarray, seed: int, classifier: str = "gbt") -> float:
    """The design before 2026-12-03: balanced subsamples of the two sets, genes only."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n = min(len(real), len(synth))
    x = np.vstack([M.subsample(real, n, seed), M.subsample(synth, n, seed + 1)])
    t = np.r_[np.zeros(n), np.ones(n)]
    if classifier == "gbt":
        model = HistGradientBoostingClassifier(
            max_iter=50,
            max_leaf_nodes=8,
            max_bins=32,
            min_samples_leaf=20,
            early_stopping=False,
            random_state=seed,
        )
    else:
        model = LogisticRegression(C=0.1, max_iter=M.LOGISTIC_MAX_ITER)
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, x, t, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(t, scores))


def default_trees(real: np.ndarray, synth: np.ndarray, seed: int) -> float:
    """Every synthetic sample against the held-out ones, scikit-learn's default trees on
    the genes alone: the strength the new design's cheaper trees are measured against."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.vstack([real, synth])
    t = np.r_[np.zeros(len(real)), np.ones(len(synth))]
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    trees = HistGradientBoostingClassifier(random_state=seed)
    scores = cross_val_predict(trees, x, t, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(t, scores))


# name: (AUROC of real vs synthetic, whether its classes are balanced)
DESIGNS = {
    "old_trees": (old_c2st, True),
    "new_trees": (lambda real, synth, seed: M.c2st_auroc(real, synth, seed=seed)[0], False),
    "old_logistic": (lambda real, synth, seed: old_c2st(real, synth, seed, "logistic"), True),
    "new_logistic": (
        lambda real, synth, seed: M.c2st_auroc(real, synth, classifier="logistic", seed=seed)[0],
        False,
    ),
    "default_trees": (default_trees, False),
}


def auroc_p_value(auroc: float, n_real: int, n_synth: int) -> float:
    """One-sided p of an AUROC above 0.5 by the Mann-Whitney normal approximation, as if
    the out-of-fold scores were independent. Cross-validated AUROCs of identical sets sit
    a little below 0.5 (each fold's classifier is fitted on the rest), so it errs on the
    side of "not detected"."""
    from scipy.stats import norm

    sd = np.sqrt((n_real + n_synth + 1) / (12 * n_real * n_synth))
    return float(norm.sf((auroc - 0.5) / sd))


def cohort_split(seed: int):
    config = validate_config({})
    sim = {k: tuple(v) if isinstance(v, list) else v for k, v in config["simulate"].items()}
    cohort = simulate_cohort(**sim)
    labels = cohort.metadata.set_index("sample_id")[config["label_column"]]
    split = split_samples(
        cohort.expression.index, labels, test_fraction=config["split"]["test_fraction"], seed=seed
    )
    train_ids = split.loc[split.split == "train", "sample_id"]
    scaler = Scaler.fit(cohort.expression.loc[train_ids].to_numpy(), log1p=True)
    data = split_data(cohort.expression, cohort.metadata, split, scaler, config["label_column"])
    cell_type = cohort.metadata.set_index("sample_id").loc[train_ids, "cell_type"].to_numpy()
    return data, cell_type


def power(seeds, defects, sizes, designs) -> pd.DataFrame:
    rows = []
    for s in seeds:
        data, cell_type = cohort_split(42 + s)
        for defect in defects:
            for size in sorted({0.0, *sizes.get(defect, SIZES[defect])}):
                if size == 0 and defect != defects[0]:
                    continue  # the null is the same for every defect
                rng = np.random.default_rng(1000 * s + 1)
                synth = plant(defect, size, data.x_train, data.y_train, cell_type, rng)
                for design in designs:
                    detector, balanced = DESIGNS[design]
                    auroc = detector(data.x_test, synth, s)
                    n_real = len(data.x_test)
                    n_synth = n_real if balanced else len(synth)
                    p = auroc_p_value(auroc, n_real, n_synth)
                    rows.append(
                        dict(seed=s, defect=defect, size=size, design=design, auroc=auroc, p=p)
                    )
                    print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    raw = raw.assign(detected=raw["p"] < 0.05)
    table = raw.groupby(["defect", "size", "design"]).agg(
        mean_auroc=("auroc", "mean"), detection_rate=("detected", "mean")
    )
    return table.unstack("design").round(3)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--defects", default=",".join(DEFECTS))
    parser.add_argument("--sizes", default=None, help="comma-separated, for every defect")
    parser.add_argument("--designs", default="old_trees,new_trees,old_logistic,new_logistic")
    parser.add_argument("--out", default=None, help="CSV of every AUROC")
    args = parser.parse_args(argv)
    defects = args.defects.split(",")
    sizes = {d: tuple(map(float, args.sizes.split(","))) for d in defects} if args.sizes else {}
    raw = power(range(args.seeds), defects, sizes, args.designs.split(","))
    if args.out:
        raw.to_csv(args.out, index=False)
    print(summarise(raw).to_string())


if __name__ == "__main__":
    main()
