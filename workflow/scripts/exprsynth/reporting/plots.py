"""Figures comparing real and synthetic samples. Arrays in, matplotlib figures out."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..data.preprocess import most_variable_genes  # noqa: E402
from ..evaluation.metrics import METRIC_BY_NAME, subsample  # noqa: E402
from ..models import GENERATORS, display_name, kind_of  # noqa: E402

REAL_COLOR = "0.35"
REAL_LABEL = "Real (test)"

# Metrics shown in the summary figure, with a readable title.
SUMMARY_METRICS = {
    "c2st_gbt": "Two-sample AUROC (trees)\n0.5 = indistinguishable",
    "gamma": "Γ correlation structure",
    "log2_var_ratio": "median |log2 variance ratio|",
    "ks_mean": "mean per-gene KS",
    "recall": "k-NN recall",
    "precision": "k-NN precision",
    "domias_auroc": "membership AUROC (DOMIAS)",
    "tstr_auroc": "TSTR AUROC",
    "dcr_ratio": "DCR ratio (train / test)",
    "near_copy_rate": "near-copy rate",
}


def _color(model: str):
    """The registry's colour, a variant's paler; a name it does not know (an external
    generator) gets red."""
    from matplotlib.colors import to_rgb

    kind = kind_of(model)
    if kind not in GENERATORS:
        return "tab:red"
    if model == kind:
        return GENERATORS[kind].color
    return tuple(0.55 * c + 0.45 for c in to_rgb(GENERATORS[kind].color))


# Two small numerical helpers, in numpy: the figure jobs would otherwise import
# scikit-learn (about 1 s, at every run's end) for these alone.
def principal_axes(x: np.ndarray, k: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The top k principal axes of x's rows (k × genes, unit length) and the share of the
    total variance along each, by randomized subspace iteration (Halko et al., 2011):
    no genes × genes matrix, so it stays cheap at 20,000 genes. Each axis's sign puts its
    largest loading positive, so that a figure does not flip between runs."""
    centred = x - x.mean(axis=0)
    q = np.random.default_rng(seed).standard_normal((x.shape[1], k + 10))
    for _ in range(6):
        q, _ = np.linalg.qr(centred.T @ (centred @ q))
    _, s, vt = np.linalg.svd(centred @ q, full_matrices=False)
    axes = vt[:k] @ q.T
    axes *= np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])[:, None]
    return axes, s[:k] ** 2 / np.square(centred).sum()


def roc_curve(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False and true positive rates at every distinct score threshold, and the area under
    them (AUROC, ties counted as half). truth: 1 positive, 0 negative. Without scores for
    both classes (the two-sample test's are NaN on a cohort too small for it) the curve
    and its area are NaN, so the figure says so instead of failing."""
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth) == 1
    if not (np.isfinite(scores).all() and 0 < truth.sum() < len(truth)):
        return np.array([0.0, 1.0]), np.full(2, np.nan), float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    last = np.r_[
        np.flatnonzero(np.diff(scores)), len(scores) - 1
    ]  # last row of each distinct score
    tp = np.cumsum(truth)[last]
    fp = last + 1 - tp
    tpr, fpr = np.r_[0, tp] / tp[-1], np.r_[0, fp] / fp[-1]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids


def histogram_bins(values: np.ndarray, n_real: int, start: float | None = None) -> np.ndarray:
    """Bin edges over the central 99% of `values`, about sqrt(n_real) of them across it
    (10 to 40): a histogram of the 200 held-out samples in 40 bins is mostly chance.
    With `start`, the same-width bins reach down to it (at most 200 bins: distances far
    from 0 and tightly clustered would otherwise ask for thousands)."""
    lo, hi = np.percentile(values, [0.5, 99.5])
    width = (hi - lo) / np.clip(np.sqrt(n_real), 10, 40) or 1.0
    if start is not None:
        lo = min(lo, start)
        width = max(width, (hi - lo) / 200)
    return lo + width * np.arange(max(1, int(np.ceil((hi - lo) / width - 1e-9))) + 1)


def training_curves(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """One panel per trained model: its per-epoch loss terms."""
    from matplotlib.ticker import MaxNLocator

    trained = {m: h for m, h in histories.items() if len(h) > 1}
    fig, axes = plt.subplots(
        1, max(len(trained), 1), figsize=(5.5 * max(len(trained), 1), 4.3), squeeze=False
    )
    # Terms on another scale than the losses get their own axis: the VAE's KL (a few units
    # beside a reconstruction of hundreds) and the critic's Wasserstein estimate.
    own_axis = {"kl": "KL (per sample)", "wasserstein": "Wasserstein estimate"}
    for ax, (model, hist) in zip(axes[0], trained.items()):
        lines, right = [], None
        for i, column in enumerate(
            c
            for c in hist.columns
            if c not in ("epoch", "beta", "active_units", "epsilon", "delta")
        ):
            logged = hist[column].notna()  # a GAN epoch without a generator step logs none
            if not logged.any():
                continue
            target = ax
            if column in own_axis:
                right = right or ax.twinx()
                right.set_ylabel(own_axis[column])
                target = right
            lines += target.plot(
                hist["epoch"][logged],
                hist[column][logged],
                color=f"C{i}",
                label=column.replace("_", " "),
            )
        ax.set(title=f"{display_name(model)} training", xlabel="epoch", ylabel="loss (per sample)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # Below the panel: inside, it would cover one axis's lines or the other's.
        labels = [line.get_label() for line in lines]
        ax.legend(
            lines,
            labels,
            frameon=False,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=len(lines),
        )
        ax.grid(alpha=0.3)
    if not trained:
        axes[0, 0].text(0.5, 0.5, "no trained models", ha="center")
        axes[0, 0].set_axis_off()
    untrained = [display_name(m) for m in histories if m not in trained]
    note = f" (no training curve: {', '.join(untrained)})" if untrained else ""
    fig.suptitle("Training curves" + note)
    fig.tight_layout()
    return fig


def pca_comparison(
    train: np.ndarray, test: np.ndarray, synthetic: dict[str, np.ndarray], max_points: int = 500
) -> plt.Figure:
    """Real test and each generator's samples on the first two PCs of the real training data."""
    mean = train.mean(axis=0)
    pcs, share = principal_axes(train)
    real = (test - mean) @ pcs.T
    panels = {m: (subsample(x, max_points) - mean) @ pcs.T for m, x in synthetic.items()}
    allpts = np.vstack([real, *panels.values()])
    lo, hi = np.percentile(allpts, [0.5, 99.5], axis=0)
    pad = 0.05 * (hi - lo)
    n = len(panels) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.8), sharex=True, sharey=True)
    ev = share * 100
    for ax, (model, pts) in zip(axes, [("real", real), *panels.items()]):
        if model != "real":
            ax.scatter(real[:, 0], real[:, 1], s=6, c=REAL_COLOR, alpha=0.25, label="real (test)")
        ax.scatter(pts[:, 0], pts[:, 1], s=6, c=_color(model), alpha=0.6, label=display_name(model))
        ax.set(
            title=display_name(model),
            xlabel=f"PC1 ({ev[0]:.0f}%)",
            xlim=(lo[0] - pad[0], hi[0] + pad[0]),
            ylim=(lo[1] - pad[1], hi[1] + pad[1]),
        )
        ax.legend(loc="upper right", fontsize=7, frameon=False, markerscale=2)
    axes[0].set_ylabel(f"PC2 ({ev[1]:.0f}%)")
    fig.suptitle("PCA of real held-out vs synthetic samples (PCs fitted on real training data)")
    fig.tight_layout()
    return fig


def distribution_comparison(
    test: np.ndarray, synthetic: dict[str, np.ndarray], genes: list[str], spread: np.ndarray
) -> plt.Figure:
    """Histograms of the six genes of largest training spread (Scaler.spread) and of all
    values, real vs each model."""
    picks = most_variable_genes(spread, 6)
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
    panels = [(genes[j], test[:, j], {m: x[:, j] for m, x in synthetic.items()}) for j in picks]
    panels.append(("all genes", test.ravel(), {m: x.ravel() for m, x in synthetic.items()}))
    for ax, (title, real, synth) in zip(axes.ravel(), panels):
        bins = histogram_bins(real, real.size)
        ax.hist(real, bins=bins, density=True, color=REAL_COLOR, alpha=0.45, label=REAL_LABEL)
        for model, values in synth.items():
            ax.hist(
                values,
                bins=bins,
                density=True,
                histtype="step",
                lw=1.4,
                color=_color(model),
                label=display_name(model),
            )
        ax.set(title=title, xlabel="scaled expression", ylabel="density")
    for ax in axes.ravel()[len(panels) :]:  # fewer than six genes leave more panels empty
        ax.set_axis_off()
    # The legend gets the last panel, not a corner of the first.
    axes.ravel()[-1].legend(
        *axes.ravel()[0].get_legend_handles_labels(), frameon=False, loc="center left"
    )
    fig.suptitle(
        "Marginal distributions of the most variable genes (scaled: log1p, standardised on train)"
    )
    fig.tight_layout()
    return fig


def gene_mean_variance(test: np.ndarray, synthetic: dict[str, np.ndarray]) -> plt.Figure:
    """Per model: each gene's synthetic mean and variance against the real held-out ones."""
    n = len(synthetic)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 7), squeeze=False)
    for j, (model, x) in enumerate(synthetic.items()):
        for i, (name, fn) in enumerate([("mean", np.mean), ("variance", np.var)]):
            ax = axes[i, j]
            real_stat, synth_stat = fn(test, axis=0), fn(x, axis=0)
            ax.scatter(real_stat, synth_stat, s=5, c=_color(model), alpha=0.6)
            lims = [min(real_stat.min(), synth_stat.min()), max(real_stat.max(), synth_stat.max())]
            ax.plot(lims, lims, "k--", lw=0.8, label="y = x")
            ax.set(
                title=f"{display_name(model)}: per-gene {name}",
                xlabel=f"real {name}",
                ylabel=f"synthetic {name}",
            )
            ax.legend(frameon=False, fontsize=7)
    fig.suptitle("Per-gene mean and variance, synthetic vs real held-out (scaled space)")
    fig.tight_layout()
    return fig


def correlation_heatmaps(
    test: np.ndarray, synthetic: dict[str, np.ndarray], spread: np.ndarray, max_genes: int
) -> plt.Figure:
    """Gene-gene correlations of real and each model, for the max_genes genes of largest
    training spread (Scaler.spread), ordered by clustering the real ones."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    genes = most_variable_genes(spread, max_genes)
    real = np.nan_to_num(np.corrcoef(test[:, genes], rowvar=False))
    order = leaves_list(linkage(real, method="average"))
    mats = {
        "real": real,
        **{m: np.nan_to_num(np.corrcoef(x[:, genes], rowvar=False)) for m, x in synthetic.items()},
    }
    n = len(mats)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1, 3.7), layout="constrained")
    for ax, (model, c) in zip(axes, mats.items()):
        im = ax.imshow(
            c[np.ix_(order, order)], vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest"
        )
        ax.set(title=display_name(model), xticks=[], yticks=[], xlabel=f"{len(genes)} genes")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="Pearson correlation")
    fig.suptitle("Gene-gene correlation, ordered by hierarchical clustering of the real data")
    return fig


def c2st_roc(details: dict[str, dict[str, np.ndarray]]) -> plt.Figure:
    """ROC curves of the tree classifier telling real held-out from each model's samples."""
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for model, d in details.items():
        fpr, tpr, auc = roc_curve(d["c2st_truth"], d["c2st_scores"])
        name = "real train vs test (floor)" if model == "real" else display_name(model)
        ax.plot(fpr, tpr, color=_color(model), lw=1.6, label=f"{name}: AUROC {auc:.2f}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="Classifier two-sample test (boosted trees)",
    )
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def dcr_histograms(details: dict[str, dict[str, np.ndarray]], against: str = "test") -> plt.Figure:
    """Distance from each sample to its closest training record, beside real held-out samples."""
    real = details["real"]["dcr_train"]
    models = [m for m in details if m != "real"]
    fig, axes = plt.subplots(
        1, len(models), figsize=(3.6 * len(models), 3.6), sharey=True, squeeze=False
    )
    # From 0, where copies would show, though the distances start far above it.
    bins = histogram_bins(
        np.concatenate([d["dcr_train"] for d in details.values()]), real.size, start=0.0
    )
    for ax, model in zip(axes[0], models):
        ax.hist(real, bins=bins, density=True, color=REAL_COLOR, alpha=0.45, label="real held-out")
        ax.hist(
            details[model]["dcr_train"],
            bins=bins,
            density=True,
            histtype="step",
            lw=1.6,
            color=_color(model),
            label=display_name(model),
        )
        ax.set(title=display_name(model), xlabel="distance to closest training sample")
        ax.legend(frameon=False, fontsize=7)
    axes[0, 0].set_ylabel("density")
    title = "Distance to closest record: mass near 0 means copies of training samples"
    if against == "train":  # the real samples are then the training records themselves
        title += "\n(evaluation.against: train: the held-out samples are training samples, so this means nothing)"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def de_scatter(details: dict[str, dict[str, np.ndarray]], against: str = "test") -> plt.Figure:
    """Per-gene disease effect (mean difference in the scaled space, what de_slope fits),
    synthetic against real held-out. Effects, not t-statistics: a t-statistic grows with the
    sample size, and the synthetic sets are larger than the held-out one."""
    models = [m for m in details if m != "real" and "de_effect_synth" in details[m]]
    fig, axes = plt.subplots(
        1, max(len(models), 1), figsize=(3.6 * max(len(models), 1), 3.8), squeeze=False
    )
    for ax, model in zip(axes[0], models):
        real, synth = details[model]["de_effect_real"], details[model]["de_effect_synth"]
        ax.scatter(real, synth, s=5, c=_color(model), alpha=0.6)
        lim = np.abs(np.r_[real, synth]).max()
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="y = x")
        slope, intercept = np.polyfit(real, synth, 1)
        ax.plot(
            [-lim, lim],
            [intercept - slope * lim, intercept + slope * lim],
            color=_color(model),
            lw=1,
            label=f"fit: slope {slope:.2f}",
        )
        real_set = "real training" if against == "train" else "real held-out"
        ax.set(
            title=display_name(model),
            xlabel=f"effect, {real_set} (sd units)",
            ylabel="effect, synthetic (sd units)",
        )
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    if not models:
        axes[0, 0].text(0.5, 0.5, "no labels: differential expression not assessed", ha="center")
        axes[0, 0].set_axis_off()
    contrast = f"{details[models[0]]['de_label']} vs the rest" if models else "by label"
    fig.suptitle(
        f"Differential expression ({contrast}): per-gene mean difference recovered by each generator"
    )
    fig.tight_layout()
    return fig


def _floor_text(against: str) -> str:
    return "real train vs itself" if against == "train" else "real train vs real test"


def forest_plot(summary: pd.DataFrame, models: list[str], against: str = "test") -> plt.Figure:
    """Every metric: mean and 95% CI per model, with the real-vs-real floor as a dashed line.
    against: the split the samples were scored against (config evaluation.against)."""
    metrics = list(dict.fromkeys(summary.metric))
    ncol = 4
    nrow = int(np.ceil(len(metrics) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4.2 * ncol, 1.5 + 0.35 * len(models) * nrow), squeeze=False
    )
    for ax, metric in zip(axes.ravel(), metrics):
        rows = summary[summary.metric == metric].set_index("model").reindex(models)
        for i, model in enumerate(models):
            mean, lo, hi = rows.loc[model, ["mean", "ci_low", "ci_high"]].astype(float)
            if np.isfinite(lo):
                ax.plot([lo, hi], [i, i], color=_color(model), lw=2)
            ax.plot(mean, i, "o", color=_color(model), ms=5)
        floor = rows["floor"].dropna()
        if len(floor):
            ax.axvline(floor.iloc[0], color="k", ls="--", lw=0.8)
        known = METRIC_BY_NAME.get(metric)
        if known is not None and not known.ranked:
            ax.set_title(f"{metric} (not ranked: each model's own scale)", fontsize=8)
        else:
            better = rows["better"].dropna().iloc[0] if rows["better"].notna().any() else ""
            ax.set_title(f"{metric} ({better} is better)", fontsize=8)
        ax.set_yticks(range(len(models)), [display_name(m) for m in models], fontsize=7)
        ax.set_ylim(-0.6, len(models) - 0.4)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_axis_off()
    n = int(summary["n_replicates"].max()) if len(summary) else 0
    fig.suptitle(
        f"All metrics: mean and 95% CI over {n} replicate(s); dashed: {_floor_text(against)}"
    )
    fig.tight_layout()
    return fig


def comparison_summary(
    summary: pd.DataFrame, models: list[str], against: str = "test"
) -> plt.Figure:
    """Bar per model (mean, with 95% CI when replicated) and the real-vs-real floor dashed."""
    metrics = [m for m in SUMMARY_METRICS if m in set(summary.metric)]
    ncol = 5
    nrow = int(np.ceil(len(metrics) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 3.2 * nrow), squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics):
        rows = summary[summary.metric == metric].set_index("model").reindex(models)
        means = rows["mean"].to_numpy(dtype=float)
        err = np.vstack([means - rows["ci_low"], rows["ci_high"] - means])
        err = np.where(np.isfinite(err), err, 0)
        ax.bar(range(len(models)), means, yerr=err, color=[_color(m) for m in models], capsize=3)
        floor = rows["floor"].dropna()
        if len(floor):
            ax.axhline(floor.iloc[0], color="k", ls="--", lw=1, label="real vs real")
            ax.legend(frameon=False, fontsize=7)
        ax.set_xticks(
            range(len(models)),
            [display_name(m) for m in models],
            rotation=30,
            ha="right",
            fontsize=8,
        )
        ax.set_title(SUMMARY_METRICS[metric], fontsize=9)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_axis_off()
    n = int(summary["n_replicates"].max()) if len(summary) else 0
    data = (
        "the training data (evaluation.against: train)" if against == "train" else "held-out data"
    )
    fig.suptitle(
        f"Generator comparison on {data} ({n} replicate{'s' if n != 1 else ''}; bars: mean, whiskers: 95% CI)"
    )
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, path) -> None:
    """Write the PNG to `path` (the caller's temporary file, see io.files.atomic_path)."""
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def tuning_trials(trials: dict[str, list[pd.DataFrame]]) -> plt.Figure:
    """One panel per tuned generator: each trial's validation AUROC in the order run (one
    colour per replicate), pruned and rejected trials at their half-trained AUROC as
    crosses, and the best so far as a line."""
    fig, axes = plt.subplots(
        1, len(trials), figsize=(5 * len(trials), 3.8), squeeze=False, sharey=True
    )
    for ax, (kind, tables) in zip(axes[0], trials.items()):
        for rep, table in enumerate(tables):
            color = f"C{rep}"
            done = table[table.state == "complete"]
            ax.scatter(done.trial, done.auroc, s=14, color=color, label=f"replicate {rep + 1}")
            stopped = table[table.state != "complete"]
            ax.scatter(stopped.trial, stopped.half_trained_auroc, s=14, marker="x", color=color)
            best = table.auroc.where(table.state == "complete").cummin().ffill()
            ax.step(table.trial, best, where="post", color=color, alpha=0.6)
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(
            title=f"{display_name(kind)}: search",
            xlabel="trial (0: the config's settings)",
            ylabel="validation two-sample AUROC",
        )
        ax.grid(alpha=0.3)
    axes[0, 0].legend(frameon=False, fontsize=7)
    fig.suptitle("Tuning: lower is better; x = stopped (pruned, over budget or rejected)")
    fig.tight_layout()
    return fig


# Utility and leakage against epsilon (privacy_tradeoff), with readable titles.
PRIVACY_METRICS = {
    "tstr_auroc": "utility: TSTR AUROC (higher is better)",
    "c2st_gbt": "two-sample AUROC (0.5 = indistinguishable)",
    "domias_auroc": "leakage: membership AUROC (DOMIAS)",
    "domias_tpr_1fpr": "leakage: DOMIAS TPR at 1% FPR",
}


def privacy_tradeoff(
    summary: pd.DataFrame, epsilon: dict[str, float], baselines: dict[str, str]
) -> plt.Figure:
    """Utility and leakage against the epsilon spent, one line per generator: its private
    runs at their epsilon (log axis) and, at "∞", its run with the same settings and no
    privacy (baselines: generator -> run), when there is one; mean and 95% CI over the
    replicates, the real-vs-real floor dashed."""
    fig, axes = plt.subplots(1, len(PRIVACY_METRICS), figsize=(4.2 * len(PRIVACY_METRICS), 3.8))
    if not epsilon:
        fig.text(0.5, 0.5, "no differentially private run", ha="center")
        return fig
    # Ticks at two digits: the networks spend just under their target (3.99 for 4).
    finite = sorted({float(f"{e:.2g}") for e in epsilon.values()})
    infinity = finite[-1] * 4  # where "∞" sits on the log axis
    for ax, (metric, title) in zip(axes, PRIVACY_METRICS.items()):
        rows = summary[summary.metric == metric].set_index("model")
        for kind in dict.fromkeys(map(kind_of, epsilon)):
            runs = sorted((m for m in epsilon if kind_of(m) == kind), key=epsilon.get)
            x = [epsilon[m] for m in runs]
            if kind in baselines:
                runs, x = [*runs, baselines[kind]], [*x, infinity]
            got = rows.reindex(runs)[["mean", "ci_low", "ci_high"]].astype(float)
            err = np.vstack([got["mean"] - got["ci_low"], got["ci_high"] - got["mean"]])
            ax.errorbar(
                x,
                got["mean"],
                yerr=np.where(np.isfinite(err), err, 0),
                marker="o",
                capsize=3,
                color=_color(kind),
                label=display_name(kind),
            )
        floor = rows["floor"].dropna() if "floor" in rows else []
        if len(floor):
            ax.axhline(floor.iloc[0], color="k", ls="--", lw=0.8, label="real vs real")
        ax.set_xscale("log")
        ax.set_xticks([*finite, infinity], [*(f"{e:g}" for e in finite), "∞"], fontsize=7)
        ax.minorticks_off()
        ax.set(title=title, xlabel="ε spent (mean over replicates)")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=7)
    n = int(summary["n_replicates"].max()) if len(summary) else 0
    fig.suptitle(
        f"Differential privacy: utility and leakage against ε ({n} replicate"
        f"{'s' if n != 1 else ''}; mean, 95% CI; ∞: the same settings without privacy)"
    )
    fig.tight_layout()
    return fig
