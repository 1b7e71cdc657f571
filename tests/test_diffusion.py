"""The diffusion generator: it learns planted data, honours labels, checkpoints, and its
settings are checked by its schema."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import as_trained, fit_generator
from exprsynth import load_generator
from exprsynth.config import ConfigError, model_settings
from exprsynth.io.checkpoint import save_checkpoint
from exprsynth.models.diffusion import Diffusion, alpha_bars, timestep_embedding

SMALL = {
    "epochs": 60,
    "batch_size": 64,
    "lr": 2e-3,
    "hidden": [64, 64],
    "sampling_steps": 20,
    "eta": 1.0,
    "ema": 0.99,
}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def planted():
    """Two labels in 8 genes: label 1 shifts gene 0 up by 3; genes 1 and 2 move together;
    the genes' spreads differ (0.6 to 1.4)."""
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 8)) * np.linspace(0.6, 1.4, 8)
    x[:, 2] = x[:, 1] + 0.2 * rng.normal(size=n)
    x[:, 0] += 3.0 * y
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(planted):
    x, y = planted
    return fit_generator("diffusion", x, y, 2, SMALL, seed=0)


def test_diffusion_samples_follow_the_planted_data(planted, fitted):
    """Per label, each gene's mean and spread, and the planted correlation, come back."""
    x, y = planted
    generator, history = fitted
    assert len(history) == SMALL["epochs"] and np.isfinite(history["loss"]).all()
    assert history["loss"].iloc[-5:].mean() < history["loss"].iloc[:5].mean()
    labels = np.repeat([0, 1], 500)
    z = generator.sample(len(labels), labels, np.random.default_rng(1))
    for k in (0, 1):
        real, synth = x[y == k], z[labels == k]
        np.testing.assert_allclose(synth.mean(axis=0), real.mean(axis=0), atol=0.3)
        np.testing.assert_allclose(synth.std(axis=0) / real.std(axis=0), 1.0, atol=0.3)
    assert z[labels == 1, 0].mean() - z[labels == 0, 0].mean() > 2.4  # planted: 3
    assert np.corrcoef(z[:, 1], z[:, 2])[0, 1] > 0.9  # planted: 0.99


def test_diffusion_checkpoint_round_trip_gives_identical_samples(planted, fitted, tmp_path):
    x, y = planted
    gen = as_trained("diffusion", *fitted, x, y)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(gen, path)
    loaded = load_generator(path)  # weights_only=True
    pd.testing.assert_frame_equal(gen.sample(30, seed=5), loaded.sample(30, seed=5))
    assert loaded.kind == "diffusion" and len(loaded.history) == SMALL["epochs"]
    out = tmp_path / "drawn.csv"
    cli = [sys.executable, "-m", "exprsynth", "sample", str(path), "--n", "12", "--label", "1"]
    proc = subprocess.run([*cli, "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    drawn = pd.read_csv(out, index_col=0)
    assert drawn.shape == (12, 8) and drawn["g0"].mean() > 1.5  # label 1's shifted gene


def test_unconditional_diffusion_with_zero_inflation_draws_exact_zeros():
    """Without labels; half of genes 0-3 are exact zeros (the zero value -1.5), the other
    genes have none: the thresholds set after training give each gene its rate."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    x[:, :4][rng.random((200, 4)) < 0.5] = -1.5
    zero_value = np.full(8, -1.5, dtype=np.float32)
    generator, _ = fit_generator(
        "diffusion",
        x,
        None,
        0,
        {**SMALL, "epochs": 10, "zero_inflation": True},
        seed=0,
        zero_value=zero_value,
    )
    assert generator.fitted["zero_inflation"]
    z = generator.sample(1000, None, np.random.default_rng(0))
    rate = np.mean(z == -1.5, axis=0)
    np.testing.assert_allclose(rate[:4], np.mean(x[:, :4] == -1.5, axis=0), atol=0.08)
    assert (rate[4:] == 0).all()


def test_diffusion_settings_are_checked():
    assert model_settings("diffusion")["sampling_steps"] == 10
    for bad, message in [
        ({"schedule": "quadratic"}, "diffusion.schedule"),
        ({"sampling_steps": 0}, "diffusion.sampling_steps = 0 must be >= 1"),
        ({"eta": 2}, "diffusion.eta"),
        ({"width": 64}, "width"),
    ]:
        with pytest.raises(ConfigError, match=message):
            model_settings("diffusion", bad)
    with pytest.raises(ValueError, match="sampling_steps must be between 1 and timesteps"):
        Diffusion(4, timesteps=10, sampling_steps=20)


def test_schedules_and_step_embedding():
    for schedule in ("cosine", "linear"):
        a = alpha_bars(schedule, 100)
        assert a.shape == (100,) and (a.diff() < 0).all() and a[0] > 0.99 and a[-1] < 0.01
    emb = timestep_embedding(torch.tensor([0, 5, 999]), 7)
    assert emb.shape == (3, 7) and not torch.equal(emb[1], emb[2])


@needs_cuda
def test_diffusion_trains_on_a_gpu_with_cuda_graphs(planted):
    x, y = planted
    generator, history = fit_generator(
        "diffusion", x, y, 2, {**SMALL, "epochs": 8}, seed=0, device="cuda"
    )
    assert np.isfinite(history["loss"]).all()
    z = generator.sample(10, np.array([0, 1] * 5), np.random.default_rng(0))
    assert np.isfinite(z).all()
