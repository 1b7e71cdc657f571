"""Variants and the tuning stage: equal budgets, a validation split from the training
split only, no memorising winner, and a search that resumes as it would have gone on."""

import copy

import numpy as np
import optuna
import pytest
import yaml

from conftest import TINY_CONFIG, planned_jobs, run_snakemake, write_config
from exprsynth import load_generator
from exprsynth.config import ConfigError, model_settings, run_settings, runs, validate_config
from exprsynth.io.files import read_expression, read_table, write_expression
from exprsynth.models import display_name, kind_of
from exprsynth.models.base import Generator
from exprsynth.tuning import search
from exprsynth.tuning.search import tune


def clusters(n=240, genes=20, seed=0):
    """Three well-separated clusters, one per label."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    centres = rng.standard_normal((3, genes)) * 2
    return centres[y] + rng.standard_normal((n, genes)), y


def run_search(kind, journal, x, y, trials=4, cpu_seconds=60.0, overrides=None, seed=1):
    return tune(
        kind,
        x,
        y,
        3,
        model_settings(kind, overrides),
        trials=trials,
        cpu_seconds=cpu_seconds,
        validation_fraction=0.25,
        seed=seed,
        zero_value=None,
        journal=journal,
    )


def without_timing(table):
    return table.drop(columns=["cpu_seconds"]).reset_index(drop=True)


def test_variants_are_runs_of_their_generator_with_changed_settings():
    config = validate_config(
        {"variants": {"vae-small": {"latent_dim": 2, "privacy": {"max_grad_norm": 0.5}}}}
    )
    assert runs(config)[-1] == "vae-small" and kind_of("vae-small") == "vae"
    settings = run_settings(config, "vae-small")
    assert settings["latent_dim"] == 2 and settings["epochs"] == config["vae"]["epochs"]
    assert settings["privacy"] == {"epsilon": None, "delta": None, "max_grad_norm": 0.5}
    assert display_name("vae-small") == "VAE (small)"
    tuned = validate_config(
        {"tune": {"trials": 3, "models": ["vae", "mixture"]}, "models": ["vae"]}
    )
    assert runs(tuned)[-1] == "vae-tuned"  # mixture is not in models: not tuned


@pytest.mark.parametrize(
    "variants, message",
    [
        ({"flow-a": {}}, "variants.flow-a: 'flow' is no generator"),
        ({"vae-a": {"latent_dim": 0}}, "variants.vae-a: vae.latent_dim = 0 must be >= 1"),
        ({"vae-a": {"depth": 3}}, "variants.vae-a: unknown key 'depth' under vae"),
        ({"vae-tuned": {}}, "names ending in -tuned are the tuner's"),
    ],
)
def test_a_bad_variant_is_one_line_naming_it(variants, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({"variants": variants})


def test_the_search_is_deterministic_and_resumes_as_if_never_stopped(tmp_path):
    """Raising the number of trials resumes the stored search; a trial left running by a
    killed job is skipped; the result is the uninterrupted search's, trial for trial."""
    x, y = clusters()
    whole = run_search("mixture", tmp_path / "a.log", x, y, trials=6)
    again = run_search("mixture", tmp_path / "b.log", x, y, trials=6)
    assert without_timing(whole.trials).equals(without_timing(again.trials))

    run_search("mixture", tmp_path / "c.log", x, y, trials=3)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "c.log"))
    )
    (name,) = optuna.get_all_study_names(storage)
    optuna.load_study(study_name=name, storage=storage).ask()  # killed mid-trial
    resumed = run_search("mixture", tmp_path / "c.log", x, y, trials=6)
    assert (
        without_timing(resumed.trials)
        .drop(columns="trial")
        .equals(without_timing(whole.trials).drop(columns="trial"))
    )
    assert resumed.chosen == whole.chosen
    # Trial 0 is the config's own settings; the choice is never worse on validation.
    first = whole.trials.iloc[0]
    assert (first["rank"], first["max_components"]) == (10, 5)
    assert whole.chosen_value <= whole.default_value
    assert whole.chosen_value < whole.default_value  # on clusters, rank 10 is not the best


def test_a_network_search_prunes_and_keeps_its_budget(tmp_path):
    x, y = clusters()
    # A budget no machine reaches: here the six trials must all run (on a loaded CI machine
    # 60 CPU-seconds ended the search after four).
    found = run_search(
        "vae", tmp_path / "v.log", x, y, trials=6, cpu_seconds=600.0, overrides={"epochs": 10}
    )
    assert len(found.trials) == 6 and not found.exhausted
    assert found.trials.half_trained_auroc.notna().all()  # every trial looked at halfway
    assert set(found.chosen) == set(search.search_space("vae"))

    short = run_search("vae", tmp_path / "s.log", x, y, trials=50, cpu_seconds=1.0)
    assert short.exhausted and len(short.trials) < 50
    assert (short.trials.stopped == "CPU budget").any()
    assert short.cpu_seconds >= 1.0


class Copier(Generator):
    """A planted generator: its samples are training rows plus `noise` sd of noise; at
    small noise they are near copies, and near copies are as close to the data as it gets."""

    def fit(self, x, y, *, seed, zero_value=None, device="cpu", cuda_graphs=False, progress=False):
        self.x = x
        return None

    def sample(self, n, y, rng):
        rows = self.x[rng.integers(len(self.x), size=n)]
        return rows + self.settings["noise"] * rng.standard_normal(rows.shape)


def test_a_trial_that_copies_training_rows_is_rejected(tmp_path, monkeypatch):
    import sys
    import types

    from exprsynth.models import GENERATORS, GeneratorEntry

    module = types.ModuleType("exprsynth.models.copier")
    module.Copier = Copier
    monkeypatch.setitem(sys.modules, "exprsynth.models.copier", module)
    entry = GeneratorEntry("copier", "copier", "tab:gray", "copier", "Copier", network=False)
    monkeypatch.setitem(GENERATORS, "copier", entry)
    (tmp_path / "copier.search.yaml").write_text("noise: {low: 0.0, high: 1.5}\n")
    monkeypatch.setattr(search, "MODELS_DIR", tmp_path)
    x, y = clusters()
    found = tune(
        "copier",
        x,
        y,
        3,
        {"noise": 0.0},
        trials=10,
        cpu_seconds=60,
        validation_fraction=0.25,
        seed=0,
        zero_value=None,
        journal=tmp_path / "j.log",
    )
    copying = found.trials[found.trials.stopped.str.startswith("near copies")]
    assert 0 in set(copying.trial)  # noise 0: every sample a training row
    accepted = found.trials[found.trials.state == "complete"]
    assert (copying.state == "pruned").all() and len(accepted)
    # Rejected for the little noise that makes copies, whichever AUROC they reached.
    assert copying.noise.max() < accepted.noise.min()
    assert found.chosen["noise"] in set(accepted.noise)


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tuned")
    config = copy.deepcopy(TINY_CONFIG)
    config.update(
        models=["gaussian", "mixture"],
        replicates=[0],
        tune={"trials": 3, "models": ["mixture"]},
    )
    write_config(workdir, config)
    run_snakemake(workdir, "--cores", "2", "results/models/mixture-tuned/rep0/checkpoint.npz")
    return workdir


def test_the_tuned_run_trains_with_the_choice(tuned_run):
    chosen = yaml.safe_load((tuned_run / "results/tuning/mixture/rep0/chosen.yaml").read_text())
    trained = load_generator(tuned_run / "results/models/mixture-tuned/rep0/checkpoint.npz")
    assert trained.kind == "mixture"
    for key, value in chosen["settings"].items():
        assert trained.generator.settings[key] == value
    assert chosen["budget"]["trials_run"] == 3
    # Nothing changed: nothing to rerun, the search included.
    dry = run_snakemake(tuned_run, "-n", "results/models/mixture-tuned/rep0/checkpoint.npz")
    assert not planned_jobs(dry.stdout)


def test_the_test_split_never_reaches_the_search(tuned_run):
    """Planted: every held-out row of the expression matrix replaced by wild values. The
    search, rerun from the data on, chooses the same settings by the same trials."""
    chosen = tuned_run / "results/tuning/mixture/rep0/chosen.yaml"
    before = yaml.safe_load(chosen.read_text())
    trials_before = read_table(tuned_run / "results/tuning/mixture/rep0/trials.csv")
    matrix = tuned_run / "results/data/gene_expression_data.npz"
    expression = read_expression(matrix)
    split = read_table(tuned_run / "results/split/rep0.tsv", sep="\t")
    test_ids = split.loc[split.split == "test", "sample_id"].astype(str)
    rng = np.random.default_rng(0)
    expression.loc[test_ids] = rng.uniform(0, 1e6, (len(test_ids), expression.shape[1]))
    write_expression(expression, tuned_run / "results/data/gene_expression_data.csv", matrix=matrix)
    # The stored search would be resumed, not rerun: its journal goes too.
    (tuned_run / "results/tuning/mixture/rep0/journal.log").unlink()
    run_snakemake(
        tuned_run,
        "--cores",
        "2",
        "--forcerun",
        "tune_model",
        "results/tuning/mixture/rep0/chosen.yaml",
    )
    after = read_table(tuned_run / "results/tuning/mixture/rep0/trials.csv")
    after_chosen = yaml.safe_load(chosen.read_text())
    for summary in (before, after_chosen):
        del summary["budget"]["cpu_seconds_spent"]  # time, the one thing allowed to differ
    assert after_chosen == before
    assert without_timing(after).equals(without_timing(trials_before))
    # The poison did reach the file the search read.
    assert read_expression(matrix).loc[test_ids].to_numpy().max() > 1000


def test_trials_are_scored_on_their_samples_as_written(tmp_path, monkeypatch):
    """Planted: data with 40% exact zeros, and a generator whose samples spill below each
    gene's smallest value. Written, they are clipped to the data's support and the zeros
    come back exact: the search scores that, as the evaluation does, not the raw draws."""
    import sys
    import types

    from exprsynth.data.preprocess import Scaler
    from exprsynth.models import GENERATORS, GeneratorEntry

    module = types.ModuleType("exprsynth.models.copier")
    module.Copier = Copier
    monkeypatch.setitem(sys.modules, "exprsynth.models.copier", module)
    entry = GeneratorEntry("copier", "copier", "tab:gray", "copier", "Copier", network=False)
    monkeypatch.setitem(GENERATORS, "copier", entry)
    (tmp_path / "copier.search.yaml").write_text("noise: {choices: [0.6]}\n")
    monkeypatch.setattr(search, "MODELS_DIR", tmp_path)
    raw, y = clusters()
    counts = np.maximum(raw - np.quantile(raw, 0.4), 0)  # 40% exact zeros
    scaler = Scaler.fit(counts, log1p=False)
    x = scaler.transform(counts)

    def first_trial(with_scaler, journal):
        found = tune(
            "copier",
            x,
            y,
            3,
            {"noise": 0.6},
            trials=1,
            cpu_seconds=60,
            validation_fraction=0.25,
            seed=0,
            zero_value=None,
            journal=tmp_path / journal,
            scaler=scaler if with_scaler else None,
        )
        return found.trials.auroc.iloc[0]

    assert first_trial(True, "written.log") < first_trial(False, "raw.log") - 0.1
