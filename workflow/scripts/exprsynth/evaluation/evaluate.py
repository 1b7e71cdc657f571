"""The whole metric suite for one synthetic set, and the real-vs-real floor (docs/design.md, "Metrics")."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import metrics as M
from ..data.preprocess import Scaler, most_variable_genes, zero_values


@dataclass
class Evaluation:
    values: dict[str, float]
    details: dict[str, np.ndarray] = field(default_factory=dict)  # for ROC / DCR figures

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"metric": list(self.values), "value": list(self.values.values())})


def copy_threshold(train: np.ndarray, test: np.ndarray) -> float:
    """Half the median distance from a held-out sample to its closest training sample."""
    return 0.5 * float(np.median(M.distance_to_closest(test, train)))


def evaluate(
    train: np.ndarray,
    test: np.ndarray,
    synth: np.ndarray | None,
    *,
    y_train: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    y_synth: np.ndarray | None = None,
    modules: np.ndarray | None = None,
    loss_history: np.ndarray | None = None,
    zero_value: np.ndarray | None = None,
    zero_clipped: bool = True,
    library_size: Callable[[np.ndarray], np.ndarray] | None = None,
    max_genes: int,
    gene_spread: np.ndarray | None = None,
    label_levels: list[str] | None = None,
    seed: int = 0,
) -> Evaluation:
    """Score `synth` against the held-out `test` split; synth=None scores the floor.

    The floor puts the training split where the synthetic set goes (and, for privacy,
    the test samples themselves, each compared with the other test samples).
    library_size: per-sample totals in expression units of scaled rows (count data only;
    None: library_size_ks is NaN).
    zero_value: each gene's zero in the scaled space (the zero-fraction metrics are NaN
    without it); zero_clipped: the scaler's inverse clips at zero (log1p), so values below
    the zero value are zeros too. Pair and neighbour metrics use the max_genes genes of
    largest gene_spread (Scaler.spread: standardised data cannot rank genes; None: the
    spread of `train` as given), which keeps gene x gene and sample x sample work bounded.
    label_levels: the labels' names by code, to name the DE contrast's class in the details.
    """
    floor = synth is None
    if floor:
        synth, y_synth = train, y_train
    elif len(synth) > len(train):
        # Scored at the floor's size (the training split's): more samples alone improve the
        # metrics that compare whole sets (W1, KS, Γ, TSTR, ...), so that a perfect
        # generator of 1,000 samples would beat a floor of 800.
        keep = np.sort(np.random.default_rng(seed).choice(len(synth), len(train), replace=False))
        synth, y_synth = synth[keep], None if y_synth is None else y_synth[keep]
    # Fewer: the balanced metrics would shrink the real set to the synthetic one's size,
    # which widens the k-NN radii and weakens the classifier, flattering a small set.
    too_few = len(synth) < len(train)
    if too_few:
        warnings.warn(
            f"{len(synth)} synthetic samples, fewer than the {len(train)} of the training split "
            "(the floor's size): the two-sample tests and k-NN precision, recall and coverage are "
            "not computed, and the other metrics are at a disadvantage; raise generate.n_samples"
        )
    v: dict[str, float] = {}
    v["mean_mse"] = M.mean_mse(test, synth)
    v["std_mse"] = M.std_mse(test, synth)
    v["wasserstein"], v["ks_mean"] = M.marginal_distances(test, synth)
    # Epochs without a generator step have no loss (NaN): the last ten that have one.
    losses = np.asarray(loss_history if loss_history is not None else [], dtype=float)
    tail = losses[np.isfinite(losses)][-10:]
    v["training_stability"] = float(np.var(tail)) if len(tail) > 1 else float("nan")
    v["diversity"] = M.diversity(synth, seed=seed)
    v["log2_var_ratio"] = M.log2_var_ratio(test, synth)
    if zero_value is None:
        v["zero_fraction_gene"] = v["zero_fraction_sample_ks"] = float("nan")
    else:
        v["zero_fraction_gene"] = M.zero_fraction_gene(
            test, synth, zero_value, clipped=zero_clipped
        )
        v["zero_fraction_sample_ks"] = M.zero_fraction_sample_ks(
            test, synth, zero_value, clipped=zero_clipped
        )
    v["library_size_ks"] = (
        M.library_size_ks(library_size(test), library_size(synth))
        if library_size is not None
        else float("nan")
    )

    genes = most_variable_genes(
        train.std(axis=0) if gene_spread is None else gene_spread, max_genes
    )
    tr, te, sy = train[:, genes], test[:, genes], synth[:, genes]
    v["gamma"] = M.gamma(te, sy)
    v["corr_frobenius"] = M.corr_frobenius(te, sy)
    v["module_ari"] = M.module_ari(sy, modules[genes]) if modules is not None else float("nan")
    v["mmd"] = M.mmd_rbf(te, sy, seed=seed)
    if too_few:
        v.update(
            c2st_gbt=np.nan, c2st_logistic=np.nan, precision=np.nan, recall=np.nan, coverage=np.nan
        )
        c2st_truth = c2st_scores = np.array([])
    else:
        v["c2st_gbt"], c2st_truth, c2st_scores = M.c2st_auroc(te, sy, classifier="gbt", seed=seed)
        v["c2st_logistic"], _, _ = M.c2st_auroc(te, sy, classifier="logistic", seed=seed)
        v["precision"], v["recall"], v["coverage"] = M.knn_precision_recall_coverage(
            te, sy, seed=seed
        )

    labelled = y_train is not None and y_synth is not None and len(np.unique(y_test)) > 1
    if labelled:
        positive = y_test.max()
        t_real, t_synth = M.de_tstats(test, y_test, positive), M.de_tstats(synth, y_synth, positive)
        v["de_spearman"], v["de_slope"] = M.de_recovery(
            test, y_test, synth, y_synth, t_real, t_synth
        )
        v["tstr_auroc"] = M.tstr_auroc(synth, y_synth, test, y_test)
        # The floor: what the real training split adds to 50 of its own samples.
        v["augmentation_gain"] = M.augmentation_gain(
            train, y_train, synth, y_synth, test, y_test, seed=seed
        )
    else:
        v.update(de_spearman=np.nan, de_slope=np.nan, tstr_auroc=np.nan, augmentation_gain=np.nan)

    p = M.privacy(
        te if floor else sy,
        tr,
        te,
        copy_threshold=copy_threshold(tr, te),
        candidates_are_test=floor,
        seed=seed,
    )
    # Members: as many training samples as there are held-out ones. The floor releases the
    # rest of the training split: real samples of the same population, independent of them.
    members = np.random.default_rng(seed).choice(len(tr), min(len(te), len(tr) // 2), replace=False)
    release = np.delete(tr, members, axis=0) if floor else sy
    v["domias_auroc"], v["domias_tpr_1fpr"] = M.density_membership_attack(
        release, tr[members], te, seed=seed
    )
    v.update(
        dcr_ratio=p.dcr_ratio,
        dcr_share_train=p.dcr_share_train,
        near_copy_rate=p.near_copy_rate,
        mia_auroc=p.mia_auroc,
    )
    details = {
        "c2st_truth": c2st_truth,
        "c2st_scores": c2st_scores,
        "dcr_train": p.d_train,
        "dcr_test": p.d_test,
    }
    if labelled:
        if np.isfinite(v["de_slope"]):  # the DE figure draws only a contrast that exists
            details["de_effect_real"] = M.de_effects(test, y_test, positive)
            details["de_effect_synth"] = M.de_effects(synth, y_synth, positive)
            details["de_label"] = np.array(
                str(label_levels[positive] if label_levels else positive)
            )
    return Evaluation({m.name: float(v[m.name]) for m in M.METRICS}, details)


def evaluate_scaled(
    train: np.ndarray, reference: np.ndarray, synth: np.ndarray | None, scaler: Scaler, **kwargs
) -> Evaluation:
    """`evaluate` with what the scaler knows: each gene's zero in the scaled space, whether
    its inverse clips at zero (log1p), the genes' spread before standardisation, and for
    count data (whole numbers in the training split) each sample's total in expression
    units. Only counts: a total of log-normalised or microarray values is fixed by the
    normalisation or means nothing, where a count total is the sequencing depth. The
    inverse puts held-out values into the training split's range, as written samples are."""
    return evaluate(
        train,
        reference,
        synth,
        zero_value=zero_values(scaler, train.shape[1]),
        zero_clipped=scaler.log1p,
        library_size=(lambda z: scaler.inverse_transform(z).sum(axis=1))
        if scaler.integer
        else None,
        gene_spread=scaler.spread(train),
        **kwargs,
    )
