"""Differentially private training (vae.privacy): the budget spent, the untouched
non-private path, the refusals and the checkpoint."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT, as_trained, fit_generator
from exprsynth import load_generator
from exprsynth.io.checkpoint import save_checkpoint
from exprsynth.models.base import TrainingError
from exprsynth.models.training import train_vae
from exprsynth.models.vae import VAE

SMALL = {"epochs": 4, "batch_size": 16, "latent_dim": 3, "hidden": [16, 16]}


@pytest.fixture(scope="module")
def data():
    """Two planted groups of rows, the label telling them apart."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    x[y == 1, 1] += 2.0
    return x, y


def private(epsilon, **more):
    return {"epsilon": epsilon, "delta": None, "max_grad_norm": 1.0, **more}


@pytest.fixture(scope="module")
def dp_model(data):
    x, y = data
    return fit_generator("vae", x, y, 2, {**SMALL, "privacy": private(4.0)}, seed=3)


def test_the_accountant_spends_close_to_and_no_more_than_the_target(dp_model, data):
    generator, history = dp_model
    spent = history["epsilon"].to_numpy()
    assert len(spent) == SMALL["epochs"] and np.all(np.diff(spent) > 0)  # it grows per epoch
    assert 0.8 * 4.0 <= spent[-1] <= 4.0
    guarantee = generator.fitted["privacy"]
    assert guarantee["epsilon"] == spent[-1] and guarantee["accountant"] == "prv"
    assert guarantee["delta"] == pytest.approx(1 / len(data[0]))  # delta null: 1 / n_train
    assert guarantee["noise_multiplier"] > 0.3
    assert np.isfinite(history[["loss", "reconstruction", "kl"]].to_numpy()).all()
    z = generator.sample(40, np.repeat([0, 1], 20), np.random.default_rng(0))
    assert z.shape == (40, 10) and np.isfinite(z).all()


def test_a_smaller_budget_takes_more_noise(data, dp_model):
    x, y = data
    tight, history = fit_generator("vae", x, y, 2, {**SMALL, "privacy": private(1.0)}, seed=3)
    assert 0.8 <= history["epsilon"].iloc[-1] <= 1.0
    assert (
        tight.fitted["privacy"]["noise_multiplier"]
        > dp_model[0].fitted["privacy"]["noise_multiplier"]
    )


def test_epsilon_null_is_the_ordinary_training_bit_for_bit(data):
    """The generator with privacy off gives what the plain training loop gives."""
    x, y = data
    settings = {**SMALL, "latent_sampling": "aggregate_posterior", "privacy": private(None)}
    generator, history = fit_generator("vae", x, y, 2, settings, seed=5)
    assert "privacy" not in generator.fitted and "epsilon" not in history.columns

    torch.manual_seed(5)
    module = VAE(
        10,
        n_labels=2,
        latent_dim=3,
        hidden=(16, 16),
        beta=1.0,
        latent_sampling="aggregate_posterior",
        latent_components=8,
    )
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    plain = train_vae(module, xt, yt, epochs=4, batch_size=16, lr=1e-3, progress=False)
    module.eval()
    module.fit_latent_sampler(xt, yt, seed=5)
    pd.testing.assert_frame_equal(history, plain)
    for k, v in module.state_dict().items():
        assert torch.equal(v, generator.module.state_dict()[k]), k
    labels = np.repeat([0, 1], 25)
    got = generator.sample(50, labels, np.random.default_rng(0))
    torch.manual_seed(int(np.random.default_rng(0).integers(2**63 - 1)))  # as sample() seeds
    np.testing.assert_array_equal(got, module.sample(50, torch.as_tensor(labels)).double().numpy())


def test_the_non_private_path_never_imports_opacus():
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, 'tests')\n"
        "from conftest import fit_generator\n"
        "x = np.random.default_rng(0).normal(size=(40, 5)).astype('float32')\n"
        "fit_generator('vae', x, None, 0, {'epochs': 1, 'hidden': [8]}, seed=0)\n"
        "assert 'opacus' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize(
    "settings, says",
    [
        (
            {"latent_sampling": "aggregate_posterior", "privacy": private(4.0)},
            "vae.privacy: latent_sampling: aggregate_posterior is not supported with DP-SGD",
        ),
        (
            {"latent_sampling": "mixture", "privacy": private(4.0)},
            "vae.privacy: latent_sampling: mixture is not supported with DP-SGD",
        ),
        (
            {"privacy": private(1e-3)},  # no noise reaches it: Opacus gives up
            "vae.privacy: not supported with DP-SGD: The privacy budget is too low.",
        ),
    ],
)
def test_unsupported_settings_stop_with_one_line(settings, says, data):
    x, y = data
    with pytest.raises(TrainingError) as caught:
        fit_generator("vae", x, y, 2, {**SMALL, **settings}, seed=0)
    assert str(caught.value).startswith(says) and "\n" not in str(caught.value)


def test_checkpoint_keeps_the_epsilon_spent(dp_model, data, tmp_path):
    trained = as_trained("vae", *dp_model, *data)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained, path)
    loaded = load_generator(path)  # weights_only=True inside
    assert loaded.generator.fitted["privacy"] == dp_model[0].fitted["privacy"]
    assert loaded.history["epsilon"].tolist() == dp_model[1]["epsilon"].tolist()
    pd.testing.assert_frame_equal(loaded.sample(30, seed=2), trained.sample(30, seed=2))
