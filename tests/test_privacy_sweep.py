"""The epsilon sweep: the verdict's guarantee lines, the privacy_tradeoff figure, the
configs/privacy.yaml comparison and a tiny workflow run with private variants."""

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, TINY_CONFIG, run_snakemake, write_config
from exprsynth.config import run_settings, runs, validate_config
from exprsynth.evaluation.compare import summarise
from exprsynth.models import kind_of
from exprsynth.reporting import plots
from exprsynth.reporting.verdict import verdict_rst

RUNS = ["vae-eps1", "vae-eps4", "vae-inf", "gan-eps4", "independent"]


def per_replicate():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "replicate": r,
            "model": m,
            "metric": metric,
            "value": base + i / 10 + rng.normal(0, 0.01),
            "floor": 0.5,
        }
        for metric, base in [("tstr_auroc", 0.5), ("c2st_gbt", 0.6), ("domias_auroc", 0.5)]
        for i, m in enumerate(RUNS)
        for r in range(3)
    )


def test_the_verdict_names_epsilon_for_private_runs_and_no_guarantee_for_the_rest():
    result, pairs = summarise(per_replicate(), test_train_ratio=0.25)
    privacy = {"vae-eps1": (0.9973, 1.25e-3), "vae-eps4": (3.98, 1.25e-3)}
    text = verdict_rst(result, pairs, test_train_ratio=0.25, privacy=privacy)
    assert "**VAE (eps1)**: differentially private, ε = 0.9973 at δ = 0.0013" in text
    assert "**VAE (eps4)**: differentially private, ε = 3.98 at δ = 0.0013" in text
    assert "**No guarantee**: VAE (inf), GAN (eps4), independent reference." in text
    plain = verdict_rst(result, pairs, test_train_ratio=0.25)
    assert "differentially private" not in plain and "**No guarantee**: VAE (eps1)" in plain


def test_the_tradeoff_figure_draws_each_generator_against_epsilon_and_infinity():
    summary, _ = summarise(per_replicate(), test_train_ratio=0.25)
    epsilon = {"vae-eps1": 0.9973, "vae-eps4": 3.98, "gan-eps4": 3.99}
    fig = plots.privacy_tradeoff(summary, epsilon, {"vae": "vae-inf"})
    utility = fig.axes[0]
    lines = {c.get_label(): c.lines[0] for c in utility.containers}  # errorbar: data line
    vae, gan = lines["VAE"], lines["GAN"]
    # The VAE's runs by epsilon, then its run without privacy at "∞" (4 x the largest).
    assert vae.get_xdata().tolist() == pytest.approx([0.9973, 3.98, 16.0])
    means = summary[summary.metric == "tstr_auroc"].set_index("model")["mean"]
    assert vae.get_ydata().tolist() == pytest.approx(means[["vae-eps1", "vae-eps4", "vae-inf"]])
    assert gan.get_xdata().tolist() == [3.99]  # no run without privacy: no "∞" point
    assert [t.get_text() for t in utility.get_xticklabels()] == ["1", "4", "∞"]
    assert [ax.get_title() for ax in fig.axes][:2] == list(plots.PRIVACY_METRICS.values())[:2]
    # tstr_auroc's floor, dashed; a metric missing from the table leaves its panel empty.
    assert any(line.get_linestyle() == "--" for line in utility.get_lines())
    assert all(pd.isna(c.lines[0].get_ydata()).all() for c in fig.axes[3].containers)
    empty = plots.privacy_tradeoff(summary, {}, {})
    assert "no differentially private run" in empty.texts[0].get_text()


def test_the_privacy_config_compares_like_with_like():
    """Every private run of configs/privacy.yaml has a run of its generator with the same
    settings and no privacy (its "∞"), and the sweep covers 1, 4 and 10."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(yaml.safe_load((ROOT / "configs/privacy.yaml").read_text()))
    config = validate_config(config)

    def without_privacy(run):
        return {k: v for k, v in run_settings(config, run).items() if k != "privacy"}

    def epsilon(run):
        return (run_settings(config, run).get("privacy") or {}).get("epsilon")

    private = [m for m in runs(config) if epsilon(m) is not None]
    for kind in ("vae", "gan", "independent"):
        assert sorted(epsilon(m) for m in private if kind_of(m) == kind) == [1, 4, 10]
    for run in private:
        assert any(
            epsilon(m) is None
            and kind_of(m) == kind_of(run)
            and without_privacy(m) == without_privacy(run)
            for m in runs(config)
        ), run


def test_a_workflow_with_private_variants_reports_epsilon(tmp_path):
    config = {
        **TINY_CONFIG,
        "replicates": [0],
        "models": ["gaussian", "independent"],
        "variants": {
            "vae-eps4": {
                "latent_sampling": "prior",
                "marginals": "model",
                "privacy": {"epsilon": 4},
            },
            "vae-inf": {"latent_sampling": "prior", "marginals": "model"},
            "gan-eps4": {
                "marginals": "model",
                "minibatch_std": False,
                "fit_output_noise": False,
                "privacy": {"epsilon": 4},
            },
            "independent-eps4": {"privacy": {"epsilon": 4}},
        },
    }
    write_config(tmp_path, config)
    run_snakemake(tmp_path, "--cores", "2")
    r = tmp_path / "results"
    assert (r / "figures/privacy_tradeoff.png").stat().st_size > 0
    for run in ("vae-eps4", "gan-eps4", "independent-eps4"):
        spent = pd.read_csv(r / f"models/{run}/rep0/history.csv")["epsilon"].iloc[-1]
        assert 3.2 <= spent <= 4.0
    verdict = (r / "verdict.rst").read_text()
    assert "**VAE (eps4)**: differentially private, ε = 3." in verdict
    assert "**independent reference (eps4)**: differentially private, ε = 4 at δ = 0.01" in verdict
    assert "**No guarantee**: Gaussian reference, independent reference, VAE (inf)." in verdict
