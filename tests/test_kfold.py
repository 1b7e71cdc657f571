"""split.scheme: kfold: the replicates are the folds of one stratified partition."""

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CONFIG, planned_jobs, run_snakemake, simulate, write_config
from exprsynth.config import ConfigError, validate_config
from exprsynth.data.preprocess import kfold_split
from exprsynth.evaluation.compare import resampled_t_test, split_ratio
from exprsynth.evaluation.pooled import (
    common_multiple,
    fold_test,
    pooled_out_of_fold,
    pooled_synthetic,
)
from exprsynth.io.checks import InputError
from exprsynth.io.user_data import _check_sample_counts, smallest_splittable_class

IDS = pd.Index([f"s{i}" for i in range(37)])
LABELS = pd.Series(["a"] * 20 + ["b"] * 11 + ["c"] * 6, index=IDS)


def folds(labels, k=5, seed=3):
    return [kfold_split(IDS, labels, n_folds=k, fold=f, seed=seed) for f in range(k)]


@pytest.mark.parametrize("labels", [LABELS, None])
def test_every_sample_held_out_exactly_once(labels):
    held_out = np.sum([(t["split"] == "test").to_numpy() for t in folds(labels)], axis=0)
    assert (held_out == 1).all()
    assert all(list(t["sample_id"]) == list(IDS) for t in folds(labels))


def test_folds_are_stratified():
    for cls in LABELS.unique():
        per_fold = [(LABELS[t.sample_id[t.split == "test"]] == cls).sum() for t in folds(LABELS)]
        assert max(per_fold) - min(per_fold) <= 1, (cls, per_fold)


def test_deterministic_for_a_seed():
    a, b, c = folds(LABELS), folds(LABELS), folds(LABELS, seed=4)
    assert all(x.equals(y) for x, y in zip(a, b))
    assert not all(x.equals(y) for x, y in zip(a, c))


def test_class_smaller_than_k_refused_in_one_line():
    with pytest.raises(ValueError, match=r"class 'c' has 6 samples, fewer than the 7 folds") as e:
        folds(LABELS, k=7)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="class 'c' has 6 samples") as e:
        _check_sample_counts(pd.DataFrame(index=IDS), "x.csv", LABELS, "meta.csv", 0.2, 7)
    assert "\n" not in str(e.value)
    _check_sample_counts(pd.DataFrame(index=IDS), "x.csv", LABELS, "meta.csv", 0.2, 6)


def test_rare_class_floor_is_k_under_kfold():
    assert smallest_splittable_class(100, 0.2, n_folds=5) == 5
    assert smallest_splittable_class(100, 0.2) == 10  # random: 2 on each side, unchanged


def test_k_below_two_refused_at_validation():
    with pytest.raises(ConfigError, match="split.scheme = kfold needs at least 2 replicates") as e:
        validate_config({"split": {"scheme": "kfold"}, "replicates": [0]})
    assert "\n" not in str(e.value)
    assert validate_config({})["split"]["scheme"] == "auto"


def test_compare_ratio_matches_the_scheme():
    assert split_ratio(0.2) == pytest.approx(0.25)
    assert split_ratio(0.2, folds=3) == pytest.approx(0.5)
    assert split_ratio(0.2, folds=10) == pytest.approx(1 / 9)


def test_tiny_workflow_with_kfold(tmp_path):
    """Up to the verdict, with two generators: the splits partition the samples."""
    config = {**TINY_CONFIG, "replicates": [0, 2, 5], "models": ["vae", "gaussian"]}
    config["split"] = {"scheme": "kfold"}
    write_config(tmp_path, config)
    run_snakemake(tmp_path, "--cores", "2", "results/verdict.rst")
    r = tmp_path / "results"
    splits = [pd.read_csv(r / f"split/rep{rep}.tsv", sep="\t") for rep in config["replicates"]]
    held_out = np.sum([(s["split"] == "test").to_numpy() for s in splits], axis=0)
    assert (held_out == 1).all() and len(held_out) == TINY_CONFIG["simulate"]["n_samples"]
    verdict = (r / "verdict.rst").read_text()
    assert "Replicates are the 3 folds of one cross-fitting" in verdict
    assert "split.scheme: kfold" in verdict
    # The pooled stage: every sample once, each fold's generator at twice its fold's size
    # (96 synthetic per fold, 40 held out).
    pooled = pd.read_csv(r / "pooled_oof.csv").set_index("model")
    assert list(pooled.index) == ["real", "vae", "gaussian"]
    assert (pooled.loc[["vae", "gaussian"], "n_real"] == 120).all()
    assert (pooled.loc[["vae", "gaussian"], "n_synthetic"] == 240).all()
    assert pooled["c2st_gbt"].between(0, 1).all()
    assert (pooled.ci_low <= pooled.c2st_gbt).all() and (pooled.c2st_gbt <= pooled.ci_high).all()
    pairs = pd.read_csv(r / "pooled_oof_pairs.csv")
    assert pairs[["model_a", "model_b"]].values.tolist() == [["vae", "gaussian"]]
    assert "Pooled out-of-fold" in verdict and "K = 3: the 3 held-out folds" in verdict
    vae = pooled.loc["vae"]
    assert f"{vae.c2st_gbt:.3f} [{vae.ci_low:.3f}, {vae.ci_high:.3f}]" in verdict


def test_fold_test_is_the_corrected_t_test_over_the_detectors_folds():
    a = np.array([0.62, 0.58, 0.66, 0.6, 0.64])
    # n_test / n_train = 1/4 for five folds: as the replicates' test with K = 5.
    assert fold_test(a, 0.5) == pytest.approx(resampled_t_test(a, np.full(5, 0.5), 0.25))
    assert fold_test(a, a) == 1.0
    assert fold_test(a, 0.5) < 0.05 < fold_test(a, a - [0.1, -0.1, 0.05, -0.05, 0.0])


def test_each_fold_counts_as_its_held_out_share():
    sets = [np.full((n, 2), fold, dtype=float) for fold, n in enumerate([30, 45, 40])]
    assert common_multiple([sets], [10, 12, 9]) == 2  # K - 1
    assert common_multiple([sets, [s[:20] for s in sets]], [10, 12, 9]) == 1  # the smallest
    assert common_multiple([sets], [31, 12, 9]) == 0  # a set smaller than its fold
    # A model with a set smaller than its fold is left out, not allowed to stop the others.
    assert common_multiple([sets, [s[:5] for s in sets]], [10, 12, 9]) == 2
    test, knn = pooled_synthetic(sets, [10, 12, 9], 2, seed=0)
    assert np.bincount(test[:, 0].astype(int)).tolist() == [20, 24, 18]  # 2 x each fold
    assert np.bincount(knn[:, 0].astype(int)).tolist() == [10, 12, 9]


@pytest.fixture(scope="module")
def pooled_planted():
    """60 real samples in 5 folds; per fold, 'good' draws 48 other real samples of the same
    cohort, 'shrunk' the same with every gene's log-scale spread shrunk by 15%, 'flat' by
    40%."""
    cohort = simulate(n_samples=400, n_genes=60, n_modules=4, module_size=8, random_state=1)
    x = cohort.expression
    real, spare = x.iloc[:60], x.iloc[60:].to_numpy()
    splits = [kfold_split(real.index, None, n_folds=5, fold=f, seed=0) for f in range(5)]
    held = [s.sample_id[s.split == "test"] for s in splits]
    rng = np.random.default_rng(0)
    good = [spare[rng.choice(len(spare), 48, replace=False)] for _ in range(5)]
    centre = np.log1p(spare).mean(0)
    shrunk = [np.expm1(centre + 0.85 * (np.log1p(g) - centre)) for g in good]
    flat = [np.expm1(centre + 0.6 * (np.log1p(g) - centre)) for g in good]
    return pooled_out_of_fold(
        real,
        held,
        {"good": good, "shrunk": shrunk, "flat": flat},
        transform="log1p",
        max_genes=2000,
        seed=0,
    )


def test_pooled_test_finds_a_planted_defect_and_passes_real_samples(pooled_planted):
    table, pairs = pooled_planted
    rows = table.set_index("model")
    assert rows.loc["good", "n_real"] == 60 and rows.loc["good", "n_synthetic"] == 240
    assert rows.loc["good", "p_vs_chance"] > 0.05 and rows.loc["good", "ci_low"] < 0.5
    assert rows.loc["shrunk", "ci_low"] > 0.5 and rows.loc["shrunk", "p_vs_chance"] < 0.01
    pair = pairs.set_index(["model_a", "model_b"])
    assert pair.loc[("good", "flat"), "winner"] == "good"
    assert pair.loc[("good", "flat"), "p_adjusted"] < 0.05
    # 15% at 60 samples: the pair test over 5 detector folds leads the right way, but
    # names no winner (docs/design.md: it is the conservative half of the stage).
    assert pair.loc[("good", "shrunk"), "leader"] == "good"


def test_the_verdict_names_the_scheme_k_n_and_the_pooled_pairs(pooled_planted):
    from exprsynth.reporting.verdict import _pooled_lines

    text = "\n".join(_pooled_lines(*pooled_planted))
    assert "``split.scheme: kfold``, K = 5" in text and "all n = 60 real samples" in text
    assert "not told from real samples" in text  # the good one
    shrunk = pooled_planted[0].set_index("model").loc["shrunk"]
    assert f"{shrunk.c2st_gbt:.3f} [{shrunk.ci_low:.3f}, {shrunk.ci_high:.3f}]" in text
    assert "**good** better" in text and "no clear difference" in text


def test_auto_keeps_random_splits_from_1000_samples(tmp_path):
    """split.scheme auto (the default) at the default cohort's size: random, no pooled
    stage. Dry runs: nothing trains."""
    # Below 1000 samples, but K = 3 would hold out a third of them: random too.
    write_config(tmp_path, {**TINY_CONFIG, "replicates": [0, 1, 2]})
    rules = {rule for rule, _ in planned_jobs(run_snakemake(tmp_path, "-n").stdout)}
    assert "pool_out_of_fold" not in rules
    config = {**TINY_CONFIG, "replicates": list(range(5))}
    config["simulate"] = {**TINY_CONFIG["simulate"], "n_samples": 1000}
    write_config(tmp_path, config)
    rules = {rule for rule, _ in planned_jobs(run_snakemake(tmp_path, "-n").stdout)}
    assert "split_samples" in rules and "pool_out_of_fold" not in rules


def test_auto_cross_fits_a_users_small_csv(tmp_path):
    """60 samples counted in the user's CSV when the workflow is parsed: kfold, the pooled
    stage planned, and prepare_data told the folds (classes need K samples)."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(60)]
    pd.DataFrame(rng.poisson(5, (60, 8)), index=pd.Index(ids, name="sample_id")).add_prefix(
        "g"
    ).to_csv(tmp_path / "x.csv")
    pd.DataFrame({"sample_id": ids, "disease_status": ["a", "b"] * 30}).to_csv(
        tmp_path / "meta.csv", index=False
    )
    config = {**TINY_CONFIG, "replicates": list(range(5))}
    config["data"] = {"source": "x.csv", "metadata": "meta.csv"}
    write_config(tmp_path, config)
    dry = run_snakemake(tmp_path, "-n").stdout
    assert "pool_out_of_fold" in {rule for rule, _ in planned_jobs(dry)}
