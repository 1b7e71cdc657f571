"""The figures' numerical helpers, against scikit-learn where it has them (the figure jobs do
not import it)."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from exprsynth.reporting.plots import histogram_bins, principal_axes, roc_curve


@pytest.mark.parametrize("shape", [(300, 40), (60, 500)])  # more samples than genes, and fewer
def test_principal_axes_match_pca(shape):
    rng = np.random.default_rng(0)
    n, genes = shape
    # Two strong directions of different strength, then noise.
    x = rng.normal(size=(n, 2)) * [5.0, 3.0] @ rng.normal(size=(2, genes)) + rng.normal(
        size=(n, genes)
    )
    axes, share = principal_axes(x)
    pca = PCA(2, svd_solver="full").fit(x)
    assert axes.shape == (2, genes)
    # Same axes, same signs (scikit-learn also makes each axis's largest loading positive).
    np.testing.assert_allclose(np.sum(axes * pca.components_, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(share, pca.explained_variance_ratio_, rtol=1e-6)
    # Signs are fixed by the data, not by the random start.
    np.testing.assert_array_equal(np.sign(axes), np.sign(principal_axes(x, seed=1)[0]))


def test_roc_curve_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 400)
    scores = np.round(truth * 0.5 + rng.normal(size=400), 1)  # rounding makes many ties
    fpr, tpr, auc = roc_curve(truth, scores)
    assert auc == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert 0.5 < auc < 1
    sk_fpr, sk_tpr, _ = sk_roc_curve(truth, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)


def test_roc_curve_without_both_classes_or_with_nan_scores_is_nan():
    for truth, scores in [([1, 1, 1], [0.2, 0.5, 0.9]), ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.8])]:
        fpr, tpr, auc = roc_curve(np.array(truth), np.array(scores))
        assert np.isnan(auc) and np.isnan(tpr).all()


def test_histogram_bins_resolve_the_populated_range():
    rng = np.random.default_rng(0)
    held_out = rng.normal(23.0, 1.0, 200)  # distances to the closest training record
    edges = histogram_bins(held_out, held_out.size)
    inside = np.sum(
        (edges > np.percentile(held_out, 0.5)) & (edges < np.percentile(held_out, 99.5))
    )
    assert 12 <= inside <= 15  # about sqrt(200), not 40 bins for 200 samples
    from_zero = histogram_bins(held_out, held_out.size, start=0.0)
    assert from_zero[0] == 0.0 and from_zero[-1] >= np.percentile(held_out, 99.5)
    assert np.allclose(np.diff(from_zero), np.diff(edges)[0])  # same resolution, longer axis
    tight = histogram_bins(np.random.default_rng(1).normal(60.0, 0.001, 200), 200, start=0.0)
    assert len(tight) <= 202  # far from 0 and tightly clustered: capped, not 160,000 bins
    # A memorising generator's distances are all 0: its mass must land in the first bin.
    copies = histogram_bins(np.zeros(50), 50, start=0.0)
    assert np.histogram(np.zeros(50), copies)[0][0] == 50


def test_summary_figures_say_what_was_scored_and_what_is_not_ranked():
    import pandas as pd

    from exprsynth.reporting import plots

    summary = pd.DataFrame(
        [
            {
                "metric": m,
                "model": model,
                "mean": 0.5,
                "ci_low": 0.4,
                "ci_high": 0.6,
                "n_replicates": 3,
                "floor": 0.45,
                "better": "lower",
            }
            for m in ["c2st_gbt", "training_stability"]
            for model in ["vae", "gan"]
        ]
    )
    for against, scored in [("test", "real train vs real test"), ("train", "real train vs itself")]:
        fig = plots.forest_plot(summary, ["vae", "gan"], against)
        titles = [ax.get_title() for ax in fig.axes]
        assert "c2st_gbt (lower is better)" in titles
        assert "training_stability (not ranked: each model's own scale)" in titles
        assert scored in fig._suptitle.get_text()
    bars = plots.comparison_summary(summary, ["vae", "gan"], "train")
    assert "held-out" not in bars._suptitle.get_text()


def test_training_curves_draw_sparse_generator_losses_and_put_other_scales_aside():
    import pandas as pd

    from exprsynth.reporting import plots

    # A small data set: the generator steps every other epoch, the epochs between log NaN.
    gan = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "discriminator_loss": [1.0, 2, 3, 4],
            "generator_loss": [np.nan, 1.0, np.nan, 2.0],
            "wasserstein": [9.0, 8, 7, 6],
        }
    )
    fig = plots.training_curves({"gan": gan, "gaussian": pd.DataFrame({"epoch": [0]})})
    main, right = fig.axes[0], fig.axes[-1]
    drawn = {line.get_label(): line.get_xdata().tolist() for line in main.get_lines()}
    assert drawn == {
        "discriminator loss": [1, 2, 3, 4],
        "generator loss": [2, 4],
    }  # a line, not gaps
    assert [line.get_label() for line in right.get_lines()] == ["wasserstein"]
    assert "Gaussian reference" in fig._suptitle.get_text()  # named as untrained, no empty panel
