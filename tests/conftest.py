"""Shared fixtures: a tiny config and a helper that runs the real workflow in a tmp dir."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

# Small enough that the whole workflow runs in well under a minute on 2 cores.
TINY_CONFIG = {
    "seed": 7,
    "replicates": [0, 1],  # two, so CIs, paired tests and replicate ids other than 0 are exercised
    "device": "cpu",
    "simulate": {
        "n_samples": 120,
        "n_genes": 40,
        "n_modules": 3,
        "module_size": 6,
        "disease_modules": 2,
        "random_state": 3,
    },
    "vae": {"epochs": 3, "latent_dim": 4, "hidden": [16, 16]},
    "gan": {
        "epochs": 3,
        "latent_dim": 4,
        "generator_hidden": [16, 16],
        "discriminator_hidden": [16, 16],
    },
    "diffusion": {"epochs": 3, "hidden": [16, 16], "timesteps": 50, "sampling_steps": 5},
    "generate": {"n_samples": 96},  # the training split's size: what evaluation scores
}


def write_config(workdir: Path, config: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 600, hash_seed: str = "0"
) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile with `workdir` as working directory (config.yaml there)."""
    cmd = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def planned_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a `snakemake -n` run would execute, `all` excluded."""
    jobs, rule = set(), None
    for line in dry_run_output.splitlines():
        m = re.match(r"^\s*(?:local)?rule (\w+):", line)
        if m:
            rule = m.group(1)
            if rule != "all":
                jobs.add((rule, ""))
            continue
        m = re.match(r"^\s*wildcards: (.*)$", line)
        if m and rule and rule != "all":
            jobs.discard((rule, ""))
            jobs.add((rule, m.group(1).strip()))
    return jobs


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow, run once on the tiny config; tests read its outputs."""
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, TINY_CONFIG)
    run_snakemake(workdir, "--cores", "2")
    return workdir


# The described hyperparameters (the published architecture's, before tuning): the unit
# tests' small models start from them, so a test that turns one option on compares it
# against the plain model. Everything else comes from the schema's defaults.
DESCRIBED = {
    "vae": {
        "likelihood": "gaussian_learned_var",
        "beta": 1.0,
        "latent_sampling": "prior",
        "noise_scale": 1.0,
        "marginals": "model",
    },
    "gan": {
        "marginals": "model",
        "dropout": 0.3,
        "loss": "bce",
        "betas": [0.5, 0.999],
        "critic_steps": 1,
        "clip_norm": 1.0,
        "output_noise": False,
        "output_noise_init": 1.0,
        "fit_output_noise": False,
        "ema": None,
        "minibatch_std": False,
        "critic_conditioning": "concat",
        "generator_conditioning": "input",
    },
}


def fit_generator(kind, x, y, n_labels, hparams, *, seed, device="cpu", zero_value=None):
    """(generator, history): a generator of `kind` built as the workflow builds it, from
    its described settings overridden by `hparams`, and fitted."""
    from exprsynth.config import model_settings
    from exprsynth.models.build import build_generator

    settings = model_settings(kind, {**DESCRIBED.get(kind, {}), **hparams})
    generator = build_generator(kind, x.shape[1], n_labels, settings)
    history = generator.fit(
        x, y if n_labels else None, seed=seed, device=device, zero_value=zero_value
    )
    return generator, history


def as_trained(kind, generator, history, x, y, labelled=True):
    """A fitted generator as `load_generator` returns it: genes g0.., labels "0"/"1" with
    y's counts, and a scaler that changes nothing (the data are already on its scale)."""
    import numpy as np

    from exprsynth.data.preprocess import Scaler
    from exprsynth.models.trained import TrainedGenerator

    n = x.shape[1]
    identity = Scaler(
        False, np.zeros(n), np.ones(n), np.full(n, -np.inf), np.full(n, np.inf), False
    )
    return TrainedGenerator(
        kind=kind,
        generator=generator,
        scaler=identity,
        genes=[f"g{i}" for i in range(n)],
        label_column="status" if labelled else None,
        label_levels=["0", "1"] if labelled else [],
        label_counts=[int((y == 0).sum()), int((y == 1).sum())] if labelled else [],
        history=history,
    )


def fit_model(
    kind, x, y, n_labels, hparams, *, seed, device="cpu", progress=False, zero_value=None
):
    """(the fitted model: a torch module for a network, (settings and what fitting learned), history)."""
    generator, history = fit_generator(
        kind, x, y, n_labels, hparams, seed=seed, device=device, zero_value=zero_value
    )
    model = getattr(generator, "module", generator)
    return model, {**generator.settings, **generator.fitted}, history


def simulate(**overrides):
    """A simulated cohort: the config schema's simulate section, with `overrides`."""
    from exprsynth.config import section_settings
    from exprsynth.data.simulate import simulate_cohort

    settings = {**section_settings("simulate"), **overrides}
    return simulate_cohort(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    )
