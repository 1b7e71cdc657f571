"""split.scheme: kfold: the replicates are the folds of one stratified partition."""

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CONFIG, run_snakemake, write_config
from exprsynth.config import ConfigError, validate_config
from exprsynth.data.preprocess import kfold_split
from exprsynth.evaluation.compare import split_ratio
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
    assert validate_config({})["split"]["scheme"] == "random"


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
