"""Figures comparing real and synthetic samples (SPEC §7). Arrays in, matplotlib figures out."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {
    "real": "0.35",
    "vae": "tab:blue",
    "gan": "tab:orange",
    "gaussian": "tab:green",
    "independent": "tab:purple",
}
LABELS = {"real": "Real (test)", "vae": "VAE", "gan": "GAN", "gaussian": "Gaussian ref.", "independent": "Independent ref."}

# Metrics shown in the summary figure, with a readable title.
SUMMARY_METRICS = {
    "c2st_gbt": "Two-sample AUROC (trees)\n0.5 = indistinguishable",
    "gamma": "Γ correlation structure",
    "log2_var_ratio": "median |log2 variance ratio|",
    "ks_mean": "mean per-gene KS",
    "recall": "k-NN recall",
    "precision": "k-NN precision",
    "std_mse": "std MSE",
    "tstr_auroc": "TSTR AUROC",
    "dcr_ratio": "DCR ratio (train / test)",
    "near_copy_rate": "near-copy rate",
}


def _color(model: str) -> str:
    return COLORS.get(model, "tab:red")


def _label(model: str) -> str:
    return LABELS.get(model, model)


def training_curves(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """One panel per trained model: its per-epoch loss terms."""
    trained = {m: h for m, h in histories.items() if len(h) > 1}
    fig, axes = plt.subplots(1, max(len(trained), 1), figsize=(5.5 * max(len(trained), 1), 4), squeeze=False)
    for ax, (model, hist) in zip(axes[0], trained.items()):
        for column in hist.columns:
            if column in ("epoch", "beta", "active_units") or hist[column].isna().all():
                continue
            ax.plot(hist["epoch"], hist[column], label=column.replace("_", " "))
        ax.set(title=f"{_label(model)} training", xlabel="epoch", ylabel="loss (per sample)")
        ax.legend(frameon=False)
        ax.grid(alpha=0.3)
    if not trained:
        axes[0, 0].text(0.5, 0.5, "no trained models", ha="center")
        axes[0, 0].set_axis_off()
    untrained = [_label(m) for m in histories if m not in trained]
    note = f" (no training curve: {', '.join(untrained)})" if untrained else ""
    fig.suptitle("Training curves" + note)
    fig.tight_layout()
    return fig


def pca_comparison(train: np.ndarray, test: np.ndarray, synthetic: dict[str, np.ndarray], max_points: int = 500) -> plt.Figure:
    """Real test and each generator's samples on the first two PCs of the real training data."""
    from sklearn.decomposition import PCA

    pca = PCA(2, random_state=0).fit(train)
    real = pca.transform(test)
    panels = {m: pca.transform(_subsample(x, max_points)) for m, x in synthetic.items()}
    allpts = np.vstack([real, *panels.values()])
    lo, hi = np.percentile(allpts, [0.5, 99.5], axis=0)
    pad = 0.05 * (hi - lo)
    n = len(panels) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.8), sharex=True, sharey=True)
    ev = pca.explained_variance_ratio_ * 100
    for ax, (model, pts) in zip(axes, [("real", real), *panels.items()]):
        if model != "real":
            ax.scatter(real[:, 0], real[:, 1], s=6, c=COLORS["real"], alpha=0.25, label="real (test)")
        ax.scatter(pts[:, 0], pts[:, 1], s=6, c=_color(model), alpha=0.6, label=_label(model))
        ax.set(title=_label(model), xlabel=f"PC1 ({ev[0]:.0f}%)", xlim=(lo[0] - pad[0], hi[0] + pad[0]), ylim=(lo[1] - pad[1], hi[1] + pad[1]))
        ax.legend(loc="upper right", fontsize=7, frameon=False, markerscale=2)
    axes[0].set_ylabel(f"PC2 ({ev[1]:.0f}%)")
    fig.suptitle("PCA of real held-out vs synthetic samples (PCs fitted on real training data)")
    fig.tight_layout()
    return fig


def distribution_comparison(test: np.ndarray, synthetic: dict[str, np.ndarray]) -> plt.Figure:
    """Per model: per-gene mean and standard deviation against real, and all values' density."""
    n = len(synthetic)
    fig, axes = plt.subplots(3, n, figsize=(3.6 * n, 10), squeeze=False)
    stats_real = {"mean": test.mean(0), "standard deviation": test.std(0)}
    bins = np.linspace(*np.percentile(test, [0.5, 99.5]), 60)
    for j, (model, x) in enumerate(synthetic.items()):
        for i, (name, real_stat) in enumerate(stats_real.items()):
            ax = axes[i, j]
            synth_stat = x.mean(0) if name == "mean" else x.std(0)
            ax.scatter(real_stat, synth_stat, s=5, c=_color(model), alpha=0.6)
            lims = [min(real_stat.min(), synth_stat.min()), max(real_stat.max(), synth_stat.max())]
            ax.plot(lims, lims, "k--", lw=0.8, label="y = x")
            ax.set(title=f"{_label(model)}: per-gene {name}", xlabel=f"real {name}", ylabel=f"synthetic {name}")
            ax.legend(frameon=False, fontsize=7)
        ax = axes[2, j]
        ax.hist(test.ravel(), bins=bins, density=True, color=COLORS["real"], alpha=0.5, label="real (test)")
        ax.hist(x.ravel(), bins=bins, density=True, histtype="step", lw=1.5, color=_color(model), label=_label(model))
        ax.set(title=f"{_label(model)}: all values", xlabel="scaled expression", ylabel="density")
        ax.legend(frameon=False, fontsize=7)
    fig.suptitle("Marginal distributions, scaled space (log1p + standardised on train)")
    fig.tight_layout()
    return fig


def comparison_summary(summary: pd.DataFrame, models: list[str]) -> plt.Figure:
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
        ax.set_xticks(range(len(models)), [_label(m) for m in models], rotation=30, ha="right", fontsize=8)
        ax.set_title(SUMMARY_METRICS[metric], fontsize=9)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_axis_off()
    n = int(summary["n_replicates"].max()) if len(summary) else 0
    fig.suptitle(f"Generator comparison on held-out data ({n} replicate{'s' if n != 1 else ''}; bars: mean, whiskers: 95% CI)")
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, path: str) -> None:
    """Save via a temporary file so a killed job leaves no truncated PNG."""
    from .io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _subsample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    return x if len(x) <= n else x[np.random.default_rng(seed).choice(len(x), n, replace=False)]
