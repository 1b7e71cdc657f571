"""Each metric is run on a case built to fail it, and on real-vs-real data where it must sit at the floor."""

import numpy as np
import pytest

from exprsynth.evaluation import metrics as M
from exprsynth.evaluation.evaluate import evaluate
from exprsynth.data.preprocess import Scaler
from conftest import simulate


@pytest.fixture(scope="module")
def cohort():
    c = simulate(
        n_samples=400, n_genes=60, n_modules=4, module_size=8, disease_modules=2, random_state=1
    )
    x = c.expression.to_numpy()
    y = c.metadata["disease_status"].to_numpy()
    train, test = np.arange(300), np.arange(300, 400)
    scaler = Scaler.fit(x[train], log1p=True)
    z = scaler.transform(x)
    return {
        "train": z[train],
        "test": z[test],
        "y_train": y[train],
        "y_test": y[test],
        "modules": c.modules["module"].to_numpy(),
    }


def run(cohort, synth, y_synth=None):
    return evaluate(
        cohort["train"],
        cohort["test"],
        synth,
        y_train=cohort["y_train"],
        y_test=cohort["y_test"],
        y_synth=cohort["y_train"] if y_synth is None and synth is not None else y_synth,
        modules=cohort["modules"],
        max_genes=2000,
    ).values


@pytest.fixture(scope="module")
def floor(cohort):
    return run(cohort, None)


def test_floor_is_where_real_data_sits(floor):
    assert 0.35 <= floor["c2st_gbt"] <= 0.65
    assert floor["log2_var_ratio"] < 0.2
    assert floor["gamma"] > 0.7
    assert floor["recall"] > 0.7
    assert floor["near_copy_rate"] < 0.05
    assert 0.35 <= floor["mia_auroc"] <= 0.65
    assert 0.35 <= floor["domias_auroc"] <= 0.65
    assert floor["domias_tpr_1fpr"] < 0.1
    assert floor["module_ari"] > 0.9
    # what real training samples add to 50 of their own: measured, not assumed to be 0
    assert np.isfinite(floor["augmentation_gain"]) and floor["augmentation_gain"] != 0.0


def test_fresh_real_samples_score_like_the_floor(floor):
    """A perfect generator: further samples of the same simulated cohort."""
    c = simulate(
        n_samples=700, n_genes=60, n_modules=4, module_size=8, disease_modules=2, random_state=1
    )
    x = c.expression.to_numpy()
    scaler = Scaler.fit(x[:300], log1p=True)
    z = scaler.transform(x)
    y = c.metadata["disease_status"].to_numpy()
    cohort = {
        "train": z[:300],
        "test": z[300:400],
        "y_train": y[:300],
        "y_test": y[300:400],
        "modules": c.modules["module"].to_numpy(),
    }
    v = run(cohort, z[400:700], y[400:700])
    assert v["c2st_gbt"] < 0.65
    assert v["gamma"] > floor["gamma"] - 0.1
    assert v["dcr_ratio"] > 0.8 * floor["dcr_ratio"]
    assert v["near_copy_rate"] < 0.05
    assert v["domias_auroc"] < 0.65


def test_density_attack_finds_a_generator_that_favours_its_training_records(cohort, floor):
    """No sample copies a record, yet the release is densest around the training records:
    each training sample plus noise of sd 0.7 per gene."""
    rng = np.random.default_rng(0)
    train = cohort["train"]
    synth = train + rng.normal(0, 0.7, train.shape)
    v = run(cohort, synth)
    assert v["near_copy_rate"] == 0  # no near copy ...
    assert v["domias_auroc"] > floor["domias_auroc"] + 0.15  # ... but members stand out


def test_mean_only_generator_is_caught(cohort, floor):
    synth = np.repeat(cohort["train"].mean(0, keepdims=True), 300, axis=0)
    synth = synth + np.random.default_rng(0).normal(0, 1e-3, synth.shape)  # avoid exact ties
    v = run(cohort, synth)
    assert v["c2st_gbt"] > 0.95
    assert v["log2_var_ratio"] > 5
    assert v["std_mse"] > 0.8
    assert v["diversity"] < 0.05 * floor["diversity"]
    assert v["recall"] < 0.05
    assert v["mean_mse"] < 0.05  # the original five alone would call this a good generator


def test_copying_generator_is_caught_by_privacy_metrics(cohort, floor):
    synth = cohort["train"].copy()
    v = run(cohort, synth)
    assert v["dcr_ratio"] < 0.05
    assert v["near_copy_rate"] > 0.95
    assert v["dcr_share_train"] > 0.95
    assert v["mia_auroc"] > 0.9
    assert v["domias_auroc"] > 0.75 and v["domias_tpr_1fpr"] > floor["domias_tpr_1fpr"]
    # while fidelity looks perfect: that is why privacy is measured
    assert v["c2st_gbt"] < 0.7 and v["gamma"] > floor["gamma"] - 0.05


def test_shuffled_genes_destroy_structure(cohort, floor):
    rng = np.random.default_rng(0)
    synth = cohort["train"].copy()
    for j in range(synth.shape[1]):
        synth[:, j] = rng.permutation(synth[:, j])
    v = run(cohort, synth)
    assert abs(v["gamma"]) < 0.2
    assert v["module_ari"] < 0.3
    assert v["corr_frobenius"] > 2 * floor["corr_frobenius"]
    assert v["ks_mean"] < 0.2  # marginals untouched


def test_flipped_labels_ruin_utility(cohort, floor):
    v = run(cohort, cohort["train"].copy(), 1 - cohort["y_train"])
    assert v["tstr_auroc"] <= 0.5
    assert floor["tstr_auroc"] > 0.6
    assert v["de_spearman"] < 0
    assert v["de_slope"] < 0 < floor["de_slope"]
    assert v["augmentation_gain"] < -0.3  # wrongly labelled extra samples hurt


def test_shifted_generator_is_caught_by_whole_distribution_metrics(cohort, floor):
    """Every gene one standard deviation off, every correlation intact."""
    v = run(cohort, cohort["train"] + 1.0)
    assert v["mmd"] > 10 * floor["mmd"]
    assert v["c2st_logistic"] > 0.95 and floor["c2st_logistic"] < 0.65
    assert v["precision"] < 0.5 and v["coverage"] < 0.5
    assert floor["precision"] > 0.8 and floor["coverage"] > 0.8
    assert v["gamma"] > floor["gamma"] - 0.05  # structure alone would not see it


def test_overdispersed_generator_is_caught_by_precision_and_coverage(cohort, floor):
    """Three times too wide: it covers the real data (recall) but lands mostly off it."""
    v = run(cohort, cohort["train"] * 3)
    assert v["recall"] > 0.9
    assert v["precision"] < 0.1 and v["coverage"] < 0.1
    assert v["mmd"] > 10 * floor["mmd"]
    assert v["de_slope"] > 2 * floor["de_slope"]  # fold changes inflated with the spread


def test_training_stability_is_the_variance_of_the_last_ten_losses(cohort):
    losses = np.r_[np.linspace(5, 1, 20), [1.0, 1.2] * 5]
    synth = cohort["train"].copy()
    common = dict(y_train=cohort["y_train"], y_test=cohort["y_test"], y_synth=cohort["y_train"])
    with_history = evaluate(
        cohort["train"], cohort["test"], synth, loss_history=losses, **common, max_genes=2000
    )
    assert with_history.values["training_stability"] == pytest.approx(0.01)
    without = evaluate(cohort["train"], cohort["test"], synth, **common, max_genes=2000)
    assert np.isnan(without.values["training_stability"])
    # A GAN epoch without a generator step logs no loss (NaN): the last ten logged ones.
    gaps = np.r_[np.linspace(5, 1, 20), np.ravel([[1.0, np.nan, 1.2, np.nan]] * 5)]
    with_gaps = evaluate(
        cohort["train"], cohort["test"], synth, loss_history=gaps, **common, max_genes=2000
    )
    assert with_gaps.values["training_stability"] == pytest.approx(0.01)


@pytest.mark.parametrize("n_real, n_synth", [(300, 300), (300, 170), (200, 1000), (7, 3)])
def test_marginal_distances_equal_scipys_wasserstein_and_ks(monkeypatch, n_real, n_synth):
    """Sorted once per gene, in blocks of genes, with sample sizes that do and do not divide
    each other, and ties: scipy's exact W1 and KS statistic."""
    from scipy import stats

    monkeypatch.setattr(M, "GENE_BLOCK", 16)  # 40 genes: three blocks, the last partial
    rng = np.random.default_rng(n_real + n_synth)
    a = rng.normal(size=(n_real, 40))
    b = np.round(rng.gamma(2, size=(n_synth, 40)), 1)  # ties
    w1 = np.mean([stats.wasserstein_distance(a[:, j], b[:, j]) for j in range(40)])
    ks = np.mean(stats.ks_2samp(a, b, axis=0, method="asymp").statistic)
    ours = M.marginal_distances(a, b)
    assert ours[0] == pytest.approx(w1, rel=1e-12)
    assert ours[1] == ks


def test_pair_metrics_use_the_genes_that_vary_most_before_standardisation():
    """Standardised, every gene has variance 1: ranking them there picks genes by rounding
    noise. The scaler's spread ranks them as they vary in (log) expression."""
    from exprsynth.data.preprocess import most_variable_genes

    x = np.random.default_rng(0).normal(size=(200, 50)) * np.geomspace(0.1, 100, 50)
    x[:, 7] = 5.0  # constant in training
    scaler = Scaler.fit(x, log1p=False)
    z = scaler.transform(x)
    spread = scaler.spread(z)
    np.testing.assert_allclose(spread, x.std(axis=0), rtol=1e-12)
    assert spread[7] == 0
    assert list(most_variable_genes(spread, 10)) == list(range(40, 50))
    assert list(most_variable_genes(spread, 100)) == list(range(50))
    assert list(most_variable_genes(z.std(axis=0), 10)) != list(
        range(40, 50)
    )  # what standardised data give


def test_privacy_distances_are_best_at_the_floor_not_beyond(cohort, floor):
    """Noise far from every record must not look 'more private' than real held-out data."""
    from exprsynth.evaluation.compare import summarise
    import pandas as pd

    noise = np.random.default_rng(0).normal(0, 3, cohort["train"].shape)
    v = run(cohort, noise)
    assert v["dcr_ratio"] > floor["dcr_ratio"]  # farther from train than held-out data is
    rows = [
        {
            "replicate": r,
            "model": m,
            "metric": "dcr_ratio",
            "value": val,
            "floor": floor["dcr_ratio"],
        }
        for r in range(3)
        for m, val in (
            ("vae", floor["dcr_ratio"] - 0.002 * (r + 1)),
            ("gan", v["dcr_ratio"] + 0.001 * r),
        )
    ]
    assert summarise(pd.DataFrame(rows), test_train_ratio=0.25)[0]["winner"].iloc[0] == "vae"


def test_tiny_cohorts_give_nan_or_fewer_folds_instead_of_crashing():
    rng = np.random.default_rng(0)
    real, synth = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    auc, _, _ = M.c2st_auroc(real, synth)
    assert 0 <= auc <= 1
    assert all(0 <= x <= 1 for x in M.knn_precision_recall_coverage(real, synth))
    assert np.isnan(M.knn_precision_recall_coverage(real[:1], synth[:1])[0])


def test_ks_statistic_equals_scipys_with_ties_and_disjoint_samples():
    from scipy import stats

    rng = np.random.default_rng(0)
    cases = [
        (rng.normal(size=(200, 40)), rng.normal(0.3, size=(150, 40))),
        (
            np.round(rng.normal(size=(80, 20)), 1),
            np.round(rng.normal(size=(60, 20)), 1),
        ),  # many ties
        (np.zeros((30, 3)), np.ones((10, 3))),  # disjoint: D = 1
    ]
    for a, b in cases:
        expected = stats.ks_2samp(a, b, axis=0, method="asymp").statistic
        np.testing.assert_array_equal(M.ks_statistic(a, b), expected)
    assert (M.ks_statistic(*cases[2]) == 1.0).all()


def test_de_effects_do_not_grow_with_sample_size(cohort):
    """The DE figure plots effects against the real ones: a five times larger synthetic
    copy must show the same effects (its t-statistics are sqrt(5) times larger)."""
    x, y = cohort["train"], cohort["y_train"]
    big_x, big_y = np.tile(x, (5, 1)), np.tile(y, 5)
    np.testing.assert_allclose(M.de_effects(big_x, big_y, 1), M.de_effects(x, y, 1), atol=1e-12)
    t_ratio = M.de_tstats(big_x, big_y, 1) / M.de_tstats(x, y, 1)
    assert np.nanmedian(t_ratio) > 2.2
    assert not M.de_effects(x, np.zeros_like(y), 1).any()  # one group only: no effect


def test_de_metrics_are_nan_without_the_contrasted_label_in_the_synthetic_set(cohort):
    """Three labels in the test split, the synthetic set without the last: no contrast to
    compare (a slope of 0 would enter the means as a real score), and no DE figure panel."""
    y_test = cohort["y_test"] + (np.arange(len(cohort["y_test"])) % 5 == 0)  # labels 0, 1, 2
    result = evaluate(
        cohort["train"],
        cohort["test"],
        cohort["train"].copy(),
        y_train=cohort["y_train"],
        y_test=y_test,
        y_synth=cohort["y_train"],
        max_genes=2000,
    )
    assert np.isnan(result.values["de_slope"]) and np.isnan(result.values["de_spearman"])
    assert "de_effect_synth" not in result.details


@pytest.mark.parametrize("n", [12, 24])
def test_two_sample_trees_work_on_small_held_out_sets(n):
    """With sklearn's 20-row leaves no tree could split below 40 rows: every generator,
    a copy of the real data and one shifted by five sd alike, scored one constant AUROC."""
    real = np.random.default_rng(0).normal(size=(n, 30))
    shifted, _, _ = M.c2st_auroc(real, real + 5.0, classifier="gbt")
    copy, _, _ = M.c2st_auroc(real, real.copy(), classifier="gbt")
    assert shifted > 0.9
    assert copy < 0.7


def test_tstr_with_three_labels_scores_every_label():
    """Three labels: the mean one-vs-rest AUROC, so a generator that gets only the last
    label right (which a last-label-vs-rest AUROC would reward fully) scores lower."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 20) * 3.0
    y_train, y_test = rng.integers(0, 3, 600), rng.integers(0, 3, 300)
    train = centres[y_train] + rng.normal(size=(600, 20))
    test = centres[y_test] + rng.normal(size=(300, 20))
    faithful = M.tstr_auroc(train, y_train, test, y_test)
    assert faithful > 0.9
    # Labels 0 and 1 swapped in the synthetic set: label 2 (the last) is still right.
    swapped = M.tstr_auroc(train, np.choose(y_train, [1, 0, 2]), test, y_test)
    assert swapped < 0.75
    binary = y_test == 2
    assert M.tstr_auroc(train, y_train == 2, test, binary) > 0.9  # two labels: as before


def test_de_details_name_the_contrasted_label(cohort):
    levels = ["control", "disease"]
    result = evaluate(
        cohort["train"],
        cohort["test"],
        cohort["train"].copy(),
        y_train=cohort["y_train"],
        y_test=cohort["y_test"],
        y_synth=cohort["y_train"],
        label_levels=levels,
        max_genes=2000,
    )
    assert str(result.details["de_label"]) == "disease"


def test_synthetic_sets_are_scored_at_the_floors_size(cohort):
    """The floor scores the training split; a larger synthetic set is scored on a random
    subset of that size (more samples alone improve W1, KS, Γ, TSTR...), and a smaller one
    gets no two-sample or k-NN scores (they would shrink the real set and flatter it)."""
    train, n = cohort["train"], len(cohort["train"])
    common = dict(y_train=cohort["y_train"], y_test=cohort["y_test"])
    big = evaluate(
        train,
        cohort["test"],
        np.tile(train, (3, 1)),
        y_synth=np.tile(cohort["y_train"], 3),
        **common,
        max_genes=2000,
    )
    assert len(big.details["dcr_train"]) == n  # one distance per scored synthetic sample
    assert np.isfinite(big.values["precision"]) and np.isfinite(big.values["c2st_gbt"])
    with pytest.warns(UserWarning, match="fewer than the 300 of the training split"):
        small = evaluate(
            train,
            cohort["test"],
            train[:50],
            y_synth=cohort["y_train"][:50],
            **common,
            max_genes=2000,
        )
    for name in ("c2st_gbt", "c2st_logistic", "precision", "recall", "coverage"):
        assert np.isnan(small.values[name]), name
    assert np.isfinite(small.values["gamma"]) and len(small.details["c2st_scores"]) == 0


def _counts(n, rng, genes=40):
    """UMI-like counts: each sample's library size (log-normal, a twofold spread) shared by
    all its genes, fixed gene proportions, Poisson noise."""
    share = np.random.default_rng(0).dirichlet(np.full(genes, 2.0))
    library = rng.lognormal(np.log(2000), 0.5, n)
    return rng.poisson(library[:, None] * share[None, :]).astype(float)


def test_library_sizes_catch_a_generator_with_right_gene_means_and_wrong_totals():
    from exprsynth.evaluation.evaluate import evaluate_scaled

    rng = np.random.default_rng(1)
    train, test, fresh = _counts(300, rng), _counts(100, rng), _counts(300, rng)
    # Each gene resampled on its own: every gene's counts (and mean) right, but a sample's
    # genes no longer share its depth, so the totals bunch around the average.
    independent = np.column_stack([rng.choice(g, len(g)) for g in train.T])
    scaler = Scaler.fit(train, log1p=True)

    def scores(synth, scaler=scaler, data=(train, test)):
        z = [scaler.transform(x) for x in (*data, *([] if synth is None else [synth]))]
        return evaluate_scaled(
            z[0], z[1], z[2] if synth is not None else None, scaler, max_genes=2000
        ).values

    floor, good, bad = scores(None), scores(fresh), scores(independent)
    assert floor["library_size_ks"] < 0.2 and good["library_size_ks"] < 0.2
    assert bad["library_size_ks"] > 0.35 > good["library_size_ks"] + 0.15
    # The per-gene marginals do not see it: the defect's means are as close as fresh samples'.
    assert bad["mean_mse"] < 2 * good["mean_mse"] + 1e-3
    assert bad["ks_mean"] < good["ks_mean"] + 0.05
    # Not count data (no whole numbers): not applicable, NaN, as the zero metrics without zeros.
    frac = Scaler.fit(train / 3, log1p=True)
    assert np.isnan(scores(fresh / 3, frac, (train / 3, test / 3))["library_size_ks"])
    assert M.METRIC_BY_NAME["library_size_ks"].better == "lower"
