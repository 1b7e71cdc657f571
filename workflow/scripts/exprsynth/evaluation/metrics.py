"""Metrics that judge synthetic samples against held-out real samples (docs/design.md, "Metrics").

Metrics see arrays, never a model: every generator is judged by the same code. All arrays
are in the scaled space fitted on the training split. `evaluate` runs the whole suite for
one synthetic set and, with the training split standing in for the synthetic set, for the
real-vs-real floor a perfect generator would reach.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..data.preprocess import ZERO_TOLERANCE, is_zero


@dataclass(frozen=True)
class Metric:
    name: str
    better: str  # "higher", "lower" or "closer-to-floor"
    group: str  # fidelity, structure, biology, utility, privacy, training
    description: str
    ranked: bool = True  # False: values are not comparable across models (no winner named)
    # The values the metric can take: confidence intervals are clipped to them (a t-interval
    # over 3 replicates of an AUROC near 1 would otherwise reach past 1).
    bounds: tuple[float, float] = (-math.inf, math.inf)


POSITIVE = (0.0, math.inf)
SHARE = (0.0, 1.0)  # shares, AUROCs, KS statistics
PLUS_MINUS_ONE = (-1.0, 1.0)  # correlations, ARI, differences of AUROCs


METRICS = [
    Metric("mean_mse", "lower", "fidelity", "MSE between per-gene means", bounds=POSITIVE),
    Metric(
        "std_mse", "lower", "fidelity", "MSE between per-gene standard deviations", bounds=POSITIVE
    ),
    Metric(
        "wasserstein", "lower", "fidelity", "mean per-gene 1-Wasserstein distance", bounds=POSITIVE
    ),
    # Each model's own loss, on its own scale: reported, never ranked across models.
    Metric(
        "training_stability",
        "lower",
        "training",
        "variance of the loss over the last 10 epochs",
        ranked=False,
        bounds=POSITIVE,
    ),
    Metric(
        "diversity",
        "closer-to-floor",
        "fidelity",
        "mean pairwise distance between samples",
        bounds=POSITIVE,
    ),
    Metric(
        "ks_mean", "lower", "fidelity", "mean per-gene Kolmogorov-Smirnov statistic", bounds=SHARE
    ),
    Metric(
        "log2_var_ratio",
        "lower",
        "fidelity",
        "median |log2| per-gene variance ratio",
        bounds=POSITIVE,
    ),
    Metric(
        "zero_fraction_gene",
        "lower",
        "fidelity",
        "mean |difference| of per-gene zero fractions",
        bounds=SHARE,
    ),
    Metric(
        "zero_fraction_sample_ks",
        "lower",
        "fidelity",
        "KS statistic of per-sample zero fractions",
        bounds=SHARE,
    ),
    # Count data only: a cell's total (its sequencing depth) drives its zeros and every
    # gene's level at once, which per-gene marginals cannot show (resampling each gene on
    # its own keeps them exact and shrinks the totals' spread).
    Metric(
        "library_size_ks",
        "lower",
        "fidelity",
        "KS statistic of per-sample totals in expression units (counts only)",
        bounds=SHARE,
    ),
    Metric(
        "gamma",
        "higher",
        "structure",
        "agreement of gene-gene correlation distances",
        bounds=PLUS_MINUS_ONE,
    ),
    Metric(
        "corr_frobenius",
        "lower",
        "structure",
        "relative Frobenius error of the correlation matrix",
        bounds=POSITIVE,
    ),
    Metric(
        "module_ari",
        "higher",
        "structure",
        "recovery of planted co-expression modules (ARI)",
        bounds=PLUS_MINUS_ONE,
    ),
    Metric(
        "mmd",
        "lower",
        "fidelity",
        "maximum mean discrepancy, RBF kernel, median bandwidth",
        bounds=POSITIVE,
    ),
    Metric(
        "c2st_gbt",
        "lower",
        "fidelity",
        "AUROC of boosted trees telling synthetic from real",
        bounds=SHARE,
    ),
    Metric(
        "c2st_logistic",
        "lower",
        "fidelity",
        "AUROC of logistic regression telling synthetic from real",
        bounds=SHARE,
    ),
    # Best at the floor, not at 1: samples bunched where real ones are densest (a collapsed
    # generator) all lie "inside" the real manifold, precision 1 with recall near 0.
    Metric(
        "precision",
        "closer-to-floor",
        "fidelity",
        "k-NN precision: synthetic inside the real manifold",
        bounds=SHARE,
    ),
    Metric(
        "recall",
        "higher",
        "fidelity",
        "k-NN recall: real inside the synthetic manifold",
        bounds=SHARE,
    ),
    Metric(
        "coverage",
        "higher",
        "fidelity",
        "k-NN coverage of real samples by synthetic ones",
        bounds=SHARE,
    ),
    Metric(
        "de_spearman",
        "higher",
        "biology",
        "Spearman of per-gene disease t-statistics",
        bounds=PLUS_MINUS_ONE,
    ),
    Metric("de_slope", "closer-to-floor", "biology", "slope of synthetic vs real disease effect"),
    Metric(
        "tstr_auroc",
        "higher",
        "utility",
        "AUROC on real test of a classifier trained on synthetic",
        bounds=SHARE,
    ),
    Metric(
        "augmentation_gain",
        "higher",
        "utility",
        "AUROC gain from adding synthetic to 50 real samples",
        bounds=PLUS_MINUS_ONE,
    ),
    # Privacy distances are best at the floor: a generator whose samples sit farther from
    # real records than held-out samples do is off the data, not more private.
    Metric(
        "dcr_ratio",
        "closer-to-floor",
        "privacy",
        "median distance to closest train / to closest test",
        bounds=POSITIVE,
    ),
    Metric(
        "dcr_share_train",
        "closer-to-floor",
        "privacy",
        "share of samples closer to train than test",
        bounds=SHARE,
    ),
    Metric(
        "near_copy_rate",
        "lower",
        "privacy",
        "share of samples nearly identical to a training sample",
        bounds=SHARE,
    ),
    Metric(
        "mia_auroc",
        "closer-to-floor",
        "privacy",
        "AUROC of a distance-based membership-inference attack",
        bounds=SHARE,
    ),
    # A density attack sees leakage a distance cannot: a generator that over-weights the
    # regions of its training samples without copying them (van Breugel et al., 2023).
    Metric(
        "domias_auroc",
        "closer-to-floor",
        "privacy",
        "AUROC of a density-based membership-inference attack (DOMIAS)",
        bounds=SHARE,
    ),
    # Average-case AUROC hides an attack that is sure of a few records: the share of
    # training samples it finds while wrongly accusing at most 1% of non-members.
    Metric(
        "domias_tpr_1fpr",
        "closer-to-floor",
        "privacy",
        "true-positive rate of that attack at 1% false positives",
        bounds=SHARE,
    ),
]
METRIC_BY_NAME = {m.name: m for m in METRICS}


# --- marginals -------------------------------------------------------------------------


def mean_mse(real: np.ndarray, synth: np.ndarray) -> float:
    return float(np.mean((real.mean(0) - synth.mean(0)) ** 2))


def std_mse(real: np.ndarray, synth: np.ndarray) -> float:
    return float(np.mean((real.std(0) - synth.std(0)) ** 2))


# Per-gene statistics run over blocks of this many genes: their copies of the data then
# stay small (whole matrices at 20,000 genes took gigabytes more than the data).
GENE_BLOCK = 256


def _per_gene(fn, *arrays: np.ndarray) -> np.ndarray:
    """fn(*column blocks) for consecutive blocks of genes, concatenated."""
    n_genes = arrays[0].shape[1]
    return np.concatenate(
        [
            fn(*(a[:, start : start + GENE_BLOCK] for a in arrays))
            for start in range(0, n_genes, GENE_BLOCK)
        ]
    )


def _sorted_genes(x: np.ndarray) -> np.ndarray:
    """Genes x samples, each gene's values sorted in a contiguous row (sorting rows is
    several times faster than sorting the columns of the samples x genes layout)."""
    return np.sort(x.T, axis=1)


def _ks_of_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KS statistic of each row of two row-sorted genes x samples matrices."""
    n1, n2 = a.shape[1], b.shape[1]
    both = np.concatenate([a, b], axis=1)
    # Two sorted runs per row: a stable (merge) sort joins them in linear time.
    order = np.argsort(both, axis=1, kind="stable")
    values = np.take_along_axis(both, order, axis=1)
    count_a = np.cumsum(order < n1, axis=1)
    count_b = np.arange(1, n1 + n2 + 1)[None, :] - count_a
    diff = np.abs(count_a / n1 - count_b / n2)
    diff[:, :-1][values[:, 1:] == values[:, :-1]] = 0.0  # only after the last of tied values
    return diff.max(axis=1)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov statistic of each column, equal to scipy's ks_2samp's.

    Both samples merged per column; after the last of each run of tied values, the counts
    so far give the two empirical CDFs, as scipy's searchsorted(side="right") does,
    without its per-column p-value (scipy's per-column work took longer than the
    statistic itself).
    """
    return _ks_of_sorted(_sorted_genes(a), _sorted_genes(b))


def _w1_of_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact W1 of each row of two row-sorted genes x samples matrices: the integral over
    u in (0, 1] of |F_a^-1(u) - F_b^-1(u)|, both step functions. Their steps sit at i/n1 and
    j/n2, the same for every gene: counted in units of 1/(n1 n2), integers, so exact."""
    n1, n2 = a.shape[1], b.shape[1]
    steps = np.union1d(np.arange(1, n1 + 1) * n2, np.arange(1, n2 + 1) * n1)
    width = np.diff(steps, prepend=0) / (n1 * n2)
    # On (previous step, step], F_a^-1 is a's value number ceil(step / n2), counted from 1.
    ia, ib = (steps + n2 - 1) // n2 - 1, (steps + n1 - 1) // n1 - 1
    return np.abs(a[:, ia] - b[:, ib]) @ width


def marginal_distances(real: np.ndarray, synth: np.ndarray) -> tuple[float, float]:
    """(wasserstein, ks_mean): the means over genes of the exact W1 and of the KS
    statistic. One sort of each gene's values serves both; genes go in blocks, so the
    sorted copies stay small."""
    w1, ks = [], []
    for start in range(0, real.shape[1], GENE_BLOCK):
        r = _sorted_genes(real[:, start : start + GENE_BLOCK])
        s = _sorted_genes(synth[:, start : start + GENE_BLOCK])
        w1.append(_w1_of_sorted(r, s))
        ks.append(_ks_of_sorted(r, s))
    return float(np.mean(np.concatenate(w1))), float(np.mean(np.concatenate(ks)))


def log2_var_ratio(real: np.ndarray, synth: np.ndarray) -> float:
    eps = 1e-12
    return float(np.median(np.abs(np.log2((synth.var(0) + eps) / (real.var(0) + eps)))))


# --- zeros ----------------------------------------------------------------------------
#
# A zero is an entry that is exactly 0 in expression units. In the scaled space it sits at
# its gene's zero value, (transform(0) - mean) / scale. With a log1p scaler the inverse
# transform clips at 0, so anything at or below the zero value is a zero ("clipped"); with
# no transform only the zero value itself is.


def zero_mask(x: np.ndarray, zero_value: np.ndarray, *, clipped: bool = True) -> np.ndarray:
    """Entries of scaled data that are zeros in expression units."""
    if not clipped:
        return is_zero(x, zero_value)
    return x <= np.asarray(zero_value, dtype=float)[None, :] + ZERO_TOLERANCE


def zero_fraction_gene(real, synth, zero_value, *, clipped: bool = True) -> float:
    """Mean over genes of |zero fraction in synth - zero fraction in real|, in [0, 1]."""
    a = zero_mask(real, zero_value, clipped=clipped).mean(axis=0)
    b = zero_mask(synth, zero_value, clipped=clipped).mean(axis=0)
    return float(np.mean(np.abs(a - b)))


def zero_fraction_sample_ks(real, synth, zero_value, *, clipped: bool = True) -> float:
    """KS statistic between the per-sample zero fractions of real and synthetic samples."""
    a = zero_mask(real, zero_value, clipped=clipped).mean(axis=1)
    b = zero_mask(synth, zero_value, clipped=clipped).mean(axis=1)
    return _ks_of_values(a, b)


def library_size_ks(real_totals: np.ndarray, synth_totals: np.ndarray) -> float:
    """KS statistic between the per-sample totals (library sizes) of real and synthetic
    samples, both in expression units."""
    return _ks_of_values(real_totals, synth_totals)


def _ks_of_values(a, b) -> float:
    """KS statistic of two sets of numbers (one value per sample)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(ks_statistic(a[:, None], b[:, None])[0])


def diversity(x: np.ndarray, max_n: int = 500, seed: int = 0) -> float:
    """Mean pairwise Euclidean distance (on at most max_n rows, for bounded cost)."""
    from scipy.spatial.distance import pdist

    x = subsample(x, max_n, seed)
    return float(pdist(x).mean())


# --- structure -------------------------------------------------------------------------


def _corr(x: np.ndarray) -> np.ndarray:
    c = np.corrcoef(x, rowvar=False)
    return np.nan_to_num(c)  # a constant synthetic gene has no correlation: count it as 0


def gamma(real: np.ndarray, synth: np.ndarray) -> float:
    """Pearson correlation of the upper triangles of the correlation-distance matrices."""
    iu = np.triu_indices(real.shape[1], 1)
    a, b = 1 - _corr(real)[iu], 1 - _corr(synth)[iu]
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def corr_frobenius(real: np.ndarray, synth: np.ndarray) -> float:
    cr, cs = _corr(real), _corr(synth)
    return float(np.linalg.norm(cr - cs) / np.linalg.norm(cr))


def module_ari(x: np.ndarray, modules: np.ndarray) -> float:
    """Cluster the module genes by correlation distance; ARI against the planted modules.

    modules: one label per gene, with "background" for genes outside modules.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import adjusted_rand_score

    in_module = modules != "background"
    truth = modules[in_module]
    k = len(np.unique(truth))
    if k < 2:
        return float("nan")
    dist = 1 - _corr(x[:, in_module])
    iu = np.triu_indices(len(truth), 1)
    found = fcluster(linkage(dist[iu], method="average"), k, criterion="maxclust")
    return float(adjusted_rand_score(truth, found))


# --- whole distribution ----------------------------------------------------------------


def mmd_rbf(real: np.ndarray, synth: np.ndarray, max_n: int = 500, seed: int = 0) -> float:
    """Biased MMD^2 (the V-statistic, diagonal terms kept) with the kernel
    exp(-d^2 / median d^2), the median over all pairs of the pooled sample: sigma = median
    distance / sqrt(2) in exp(-d^2 / 2 sigma^2). The bias adds about (1/m + 1/n)(1 - mean
    kernel) to every value, the floor's too, so read it against the floor."""
    a, b = subsample(real, max_n, seed), subsample(synth, max_n, seed)
    both = np.vstack([a, b])
    d2 = cdist(both, both, "sqeuclidean")
    bandwidth2 = np.median(d2[np.triu_indices(len(both), 1)])
    k = np.exp(-d2 / max(bandwidth2, 1e-12))
    n = len(a)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def c2st_auroc(
    real: np.ndarray, synth: np.ndarray, *, classifier: str = "gbt", folds: int = 5, seed: int = 0
) -> tuple[float, np.ndarray, np.ndarray]:
    """Classifier two-sample test: cross-validated AUROC of real vs synthetic (0.5 = same).

    Every synthetic sample against every real one, as the floor puts the whole training
    split against the held-out one: subsampling to balanced classes threw away three
    quarters of the synthetic set, and with it most of the test's power (docs/design.md,
    "Metrics"; AUROC needs no balance). The trees also see the pooled set's top principal
    components (`detector_features`). Returns (auroc, is_synthetic, out-of-fold scores) so
    callers can draw ROC curves.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    x = np.vstack([real, synth])
    t = np.r_[np.zeros(len(real)), np.ones(len(synth))]
    smaller = min(len(real), len(synth))
    if smaller < 2:
        return float("nan"), t, np.full(len(t), np.nan)
    if classifier == "gbt":
        x = detector_features(x, seed=seed)
    cv = c2st_folds(t, folds, seed)
    n_fit = len(t) - len(t) // cv.get_n_splits()  # rows a fold's classifier learns from
    with _unconverged_logistic_ok():
        scores = cross_val_predict(
            _classifier(classifier, seed, n_fit), x, t, cv=cv, method="predict_proba"
        )
    return float(roc_auc_score(t, scores[:, 1])), t, scores[:, 1]


def c2st_folds(is_synthetic: np.ndarray, folds: int = 5, seed: int = 0):
    """The detector's cross-validation folds for `c2st_auroc`'s labels: the same rows for the
    same labels and seed, so callers can score each fold's classifier on its own."""
    from sklearn.model_selection import StratifiedKFold

    smaller = int(min(np.sum(is_synthetic == 0), np.sum(is_synthetic == 1)))
    return StratifiedKFold(min(folds, smaller), shuffle=True, random_state=seed)


# Principal components the trees see beside the genes.
DETECTOR_COMPONENTS = 20


def detector_features(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The genes and the top principal components of the pooled real and synthetic set.

    Trees split one gene at a time; a defect spread thinly over many correlated genes (lost
    correlation, samples between clusters) shows in a component where no single gene shows
    it. The components are fitted on both sets without their labels, so no fold learns
    which set a sample came from (fitted on the real set alone, they read real samples as
    more spread than synthetic ones and the floor rose to 0.9).
    """
    k = min(DETECTOR_COMPONENTS, x.shape[1] - 1, len(x) - 1)
    if k < 1:
        return x
    from sklearn.decomposition import PCA

    return np.hstack([x, PCA(k, random_state=seed).fit_transform(x)])


def _classifier(kind: str, seed: int, n_fit: int = 200):
    """n_fit: the rows it learns from (below 200 the trees' leaves shrink)."""
    if kind == "gbt":
        from sklearn.ensemble import HistGradientBoostingClassifier

        # Small trees, 50 rounds, 32 bins: ~10x faster than sklearn's defaults, and with
        # the principal components at least their power on planted defects (docs/design.md,
        # "Metrics"), so evaluation stays a few seconds. Leaves of sklearn's 20 rows,
        # fewer on small sets: below 40 rows no tree could split, and every model scored
        # the same constant AUROC.
        return HistGradientBoostingClassifier(
            max_iter=50,
            max_leaf_nodes=8,
            max_bins=32,
            min_samples_leaf=int(np.clip(n_fit // 10, 1, 20)),
            early_stopping=False,
            random_state=seed,
        )
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=0.1, max_iter=LOGISTIC_MAX_ITER)
    raise ValueError(f"unknown classifier {kind!r}")


# On the default cohort every logistic fit converges within 50 iterations. Telling apart
# samples that are far from the real ones (the GAN's) is separable and creeps on towards
# the optimum: at 5,000 genes 2,000 iterations took 30 s. The scores rank as well long
# before, so the fits stop here.
LOGISTIC_MAX_ITER = 200


@contextmanager
def _unconverged_logistic_ok():
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def knn_precision_recall_coverage(
    real: np.ndarray, synth: np.ndarray, k: int = 5, max_n: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Precision/recall (Kynkäänniemi et al. 2019) and coverage (Naeem et al. 2020)."""
    n = min(len(real), len(synth), max_n)
    if n < 2:
        return float("nan"), float("nan"), float("nan")
    k = min(k, n - 1)  # small cohorts: the k-th neighbour must exist
    r, s = subsample(real, n, seed), subsample(synth, n, seed + 1)
    r_radius = np.sort(cdist(r, r), axis=1)[:, k]  # column 0 is the point itself
    s_radius = np.sort(cdist(s, s), axis=1)[:, k]
    d_rs = cdist(r, s)
    precision = np.mean((d_rs <= r_radius[:, None]).any(axis=0))
    recall = np.mean((d_rs <= s_radius[None, :]).any(axis=1))
    coverage = np.mean(d_rs.min(axis=1) <= r_radius)
    return float(precision), float(recall), float(coverage)


# --- biology and utility ---------------------------------------------------------------


def de_tstats(x: np.ndarray, y: np.ndarray, positive: int) -> np.ndarray:
    """Per-gene Welch t-statistic of label `positive` against the rest (NaN-free)."""
    from scipy import stats

    hi = y == positive
    if hi.sum() < 2 or (~hi).sum() < 2:
        return np.zeros(x.shape[1])

    def welch(block):
        return stats.ttest_ind(block[hi], block[~hi], equal_var=False).statistic

    return np.nan_to_num(_per_gene(welch, x))


def de_recovery(
    real: np.ndarray,
    y_real: np.ndarray,
    synth: np.ndarray,
    y_synth: np.ndarray,
    t_real: np.ndarray,
    t_synth: np.ndarray,
) -> tuple[float, float]:
    """(Spearman of per-gene Welch t-statistics, slope of synthetic on real de_effects).

    t_real, t_synth: de_tstats of real and of synth, which the caller also keeps for the
    DE figure (seconds each at 20,000 genes).
    """
    from scipy import stats

    positive = y_real.max()
    # Both sets need the contrasted label and another one, or there is no contrast.
    if not all(0 < np.sum(y == positive) < len(y) for y in (y_real, y_synth)):
        return float("nan"), float("nan")
    rho = stats.spearmanr(t_real, t_synth).statistic
    slope = np.polyfit(de_effects(real, y_real, positive), de_effects(synth, y_synth, positive), 1)[
        0
    ]
    return float(rho), float(slope)


def de_effects(x: np.ndarray, y: np.ndarray, positive: int) -> np.ndarray:
    """Per-gene mean of label `positive` minus that of the rest: in the scaled space, an
    effect size in units of each gene's training sd. Unlike a t-statistic it does not grow
    with the number of samples, so real and synthetic sets of any sizes compare."""
    hi = y == positive
    if hi.all() or not hi.any():
        return np.zeros(x.shape[1])
    return x[hi].mean(0) - x[~hi].mean(0)


def _auroc_trained_on(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return 0.5  # a one-class training set carries no signal: chance
    with _unconverged_logistic_ok():
        clf = _classifier("logistic", seed=0).fit(x, y)  # deterministic: lbfgs draws nothing
    p = clf.predict_proba(x_test)
    classes = np.unique(y_test)
    # Two labels: the higher one is the positive class. More: the mean of one-vs-rest
    # AUROCs over the test set's labels (a label the classifier never saw scores chance).
    positives = classes[-1:] if len(classes) == 2 else classes
    learned = list(clf.classes_)
    aucs = [
        roc_auc_score(y_test == c, p[:, learned.index(c)]) if c in learned else 0.5
        for c in positives
    ]
    return float(np.mean(aucs))


def tstr_auroc(synth, y_synth, test, y_test) -> float:
    """Train on synthetic, test on real (two labels: the higher one is the positive class;
    more: the mean one-vs-rest AUROC)."""
    return _auroc_trained_on(synth, y_synth, test, y_test)


def augmentation_gain(
    train, y_train, synth, y_synth, test, y_test, *, n_real: int = 50, seed: int = 0
) -> float:
    """AUROC(n_real real + synthetic) - AUROC(n_real real alone), both tested on real test."""
    from sklearn.model_selection import train_test_split

    if n_real >= len(train):
        return float("nan")
    small, _, y_small, _ = train_test_split(
        train, y_train, train_size=n_real, stratify=y_train, random_state=seed
    )
    base = _auroc_trained_on(small, y_small, test, y_test)
    augmented = _auroc_trained_on(np.vstack([small, synth]), np.r_[y_small, y_synth], test, y_test)
    return augmented - base


# --- privacy ---------------------------------------------------------------------------


def cdist(a: np.ndarray, b: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Pairwise distances through one matrix product (BLAS): scipy's cdist loops in C
    without it and took 20 s of a 23 s evaluation at 2,000 genes."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    np.maximum(d2, 0.0, out=d2)
    return d2 if metric == "sqeuclidean" else np.sqrt(d2, out=d2)


def distance_to_closest(
    candidates: np.ndarray, reference: np.ndarray, exclude_self: bool = False, chunk: int = 1024
) -> np.ndarray:
    """Per candidate, the distance to its closest reference row (in chunks: bounded memory)."""
    out = np.empty(len(candidates))
    for start in range(0, len(candidates), chunk):
        d = cdist(candidates[start : start + chunk], reference)
        if exclude_self:  # candidates are the reference rows themselves
            rows = np.arange(len(d))
            d[rows, start + rows] = np.inf
        out[start : start + chunk] = d.min(axis=1)
    return out


@dataclass
class PrivacyScores:
    dcr_ratio: float
    dcr_share_train: float
    near_copy_rate: float
    mia_auroc: float
    d_train: np.ndarray  # per candidate: distance to its closest training sample
    d_test: np.ndarray  # per candidate: distance to its closest test sample


def privacy(
    candidates: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    copy_threshold: float,
    candidates_are_test: bool = False,
    seed: int = 0,
) -> PrivacyScores:
    """Distance-to-closest-record scores of candidates against the train and test splits.

    For the real-vs-real floor the candidates are the test samples themselves, each
    compared with the *other* test samples. The membership-inference attack scores each
    real sample by its distance to the closest candidate: if training samples sit closer
    to the synthetic data than test samples do, the attacker wins (AUROC > 0.5).
    """
    from sklearn.metrics import roc_auc_score

    d_train = distance_to_closest(candidates, train)
    d_test = distance_to_closest(candidates, test, exclude_self=candidates_are_test)
    n = min(len(train), len(test))
    rng = np.random.default_rng(seed)
    members = train[rng.choice(len(train), n, replace=False)]
    s_members = distance_to_closest(members, candidates)
    non_idx = rng.choice(len(test), n, replace=False)
    # In the floor the test samples are the candidates: leave each one out of its own score.
    s_non = (d_test if candidates_are_test else distance_to_closest(test, candidates))[non_idx]
    mia = roc_auc_score(np.r_[np.ones(n), np.zeros(n)], -np.r_[s_members, s_non])
    return PrivacyScores(
        dcr_ratio=float(np.median(d_train) / max(np.median(d_test), 1e-12)),
        dcr_share_train=float(np.mean(d_train < d_test)),
        near_copy_rate=float(np.mean(d_train < copy_threshold)),
        mia_auroc=float(mia),
        d_train=d_train,
        d_test=d_test,
    )


def tpr_at_fpr(is_member: np.ndarray, scores: np.ndarray, fpr: float = 0.01) -> float:
    """The largest true-positive rate whose false-positive rate is at most `fpr`."""
    from sklearn.metrics import roc_curve

    false_pos, true_pos, _ = roc_curve(is_member, scores)
    return float(true_pos[false_pos <= fpr].max())


def density_membership_attack(
    release: np.ndarray,
    members: np.ndarray,
    non_members: np.ndarray,
    *,
    dims: int = 10,
    seed: int = 0,
) -> tuple[float, float]:
    """DOMIAS (van Breugel et al., 2023): score each record by log p_release(x) - log
    p_reference(x), the density of the released samples over that of the population, both
    Gaussian kernel densities in the release's top `dims` principal components. A generator
    that over-fits puts density on its training records beyond what the population has.

    The attacker's reference sample is held-out real data it never scores: the non-members
    are split in halves, each half scored against a density of the other (and half of the
    members against each), so every non-member is scored once. Returns (AUROC, TPR at 1%
    FPR) of members against non-members; NaN when the halves are too small for a density.
    """
    from scipy.stats import gaussian_kde
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    halves = np.array_split(rng.permutation(len(non_members)), 2)
    member_halves = np.array_split(rng.permutation(len(members)), 2)
    # A kernel density needs more points than dimensions for its covariance.
    dims = min(dims, release.shape[1], min(len(h) for h in halves) - 2)
    if dims < 1:
        return float("nan"), float("nan")
    centre = release.mean(axis=0)
    axes = np.linalg.svd(release - centre, full_matrices=False)[2][:dims]

    def project(x):
        return (x - centre) @ axes.T

    release_density = gaussian_kde(project(release).T)
    scores, is_member = [], []
    for scored, reference, member_rows in (
        (halves[0], halves[1], member_halves[0]),
        (halves[1], halves[0], member_halves[1]),
    ):
        reference_density = gaussian_kde(project(non_members[reference]).T)
        for x, label in ((members[member_rows], 1), (non_members[scored], 0)):
            z = project(x).T
            scores.append(release_density.logpdf(z) - reference_density.logpdf(z))
            is_member.append(np.full(len(x), label))
    scores, is_member = np.concatenate(scores), np.concatenate(is_member)
    return float(roc_auc_score(is_member, scores)), tpr_at_fpr(is_member, scores)


def subsample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most n rows, drawn without replacement with the given seed."""
    if len(x) <= n:
        return x
    return x[np.random.default_rng(seed).choice(len(x), n, replace=False)]
