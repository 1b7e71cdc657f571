"""Differentially private generators (vae.privacy, gan.privacy, independent.privacy): the
budget spent, the untouched non-private path, the refusals and the checkpoint."""

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
from exprsynth.models.gan import GAN
from exprsynth.models.independent import gaussian_sigma
from exprsynth.models.private import Critic, _by_label, critic_row_loss
from exprsynth.models.training import train_gan, train_vae
from exprsynth.models.vae import VAE

SMALL = {"epochs": 4, "batch_size": 16, "latent_dim": 3, "hidden": [16, 16], "marginals": "model"}


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
            {"marginals": "training", "privacy": private(4.0)},
            "vae.privacy: marginals: training is not supported with DP-SGD",
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


# --- the GAN: DP-SGD on the critic ---------------------------------------------------

GAN_SMALL = {
    "epochs": 4,
    "batch_size": 16,
    "latent_dim": 3,
    "generator_hidden": [16, 16],
    "discriminator_hidden": [16, 16],
    "loss": "wgan-gp",
    "marginals": "model",
}


@pytest.fixture(scope="module")
def dp_gan(data):
    x, y = data
    return fit_generator("gan", x, y, 2, {**GAN_SMALL, "privacy": private(4.0)}, seed=3)


def test_the_gan_accountant_spends_close_to_and_no_more_than_the_target(dp_gan, data):
    generator, history = dp_gan
    spent = history["epsilon"].to_numpy()
    assert len(spent) == GAN_SMALL["epochs"] and np.all(np.diff(spent) > 0)
    assert 0.8 * 4.0 <= spent[-1] <= 4.0
    guarantee = generator.fitted["privacy"]
    assert guarantee["epsilon"] == spent[-1] and guarantee["accountant"] == "prv"
    assert guarantee["delta"] == pytest.approx(1 / len(data[0]))
    assert guarantee["sample_rate"] == pytest.approx(16 / 120, rel=0.1)
    assert np.isfinite(history[["discriminator_loss", "generator_loss", "wasserstein"]]).all().all()
    z = generator.sample(40, np.repeat([0, 1], 20), np.random.default_rng(0))
    assert z.shape == (40, 10) and np.isfinite(z).all()


@pytest.mark.parametrize("loss", ["wgan-gp", "bce"])
def test_the_critics_per_row_terms_make_its_loss(data, loss):
    """What is clipped per real row (critic_row_loss, the row paired with its generated
    row) averages to the critic's loss, gradient for gradient, with the same draws: a
    gradient penalty paired with another row's generated sample, or a term left out,
    fails."""
    x, y = (torch.as_tensor(a[:32]) for a in data)
    torch.manual_seed(0)
    gan = GAN(
        10,
        n_labels=2,
        latent_dim=3,
        generator_hidden=(16,),
        dropout=0.0,
        loss=loss,
        critic_conditioning="projection",
    )
    with torch.no_grad():
        fake = gan.generate(32, y)
    critic = Critic(gan)
    params = dict(critic.named_parameters())
    torch.manual_seed(1)
    expected = torch.autograd.grad(gan.discriminator_loss(x, fake, y)[0], list(params.values()))
    torch.manual_seed(1)  # the gradient penalty's mixing weights, as discriminator_loss drew them
    mix = torch.rand(32, 1)[:, 0]

    def one_row(weights, *rows):
        return critic_row_loss(critic, gan, {**params, **weights}, *rows)

    per_row = torch.func.vmap(torch.func.grad(one_row, has_aux=True), (None, 0, 0, 0, None))
    weights = {k: p.detach() for k, p in params.items()}
    grads, _ = _by_label(lambda *r: per_row(weights, *r), y, torch.arange(32), x, fake, mix)
    assert "label_embedding.weight" in params
    for k, want in zip(params, expected):
        assert grads[k].shape[0] == 32
        torch.testing.assert_close(grads[k].sum(dim=0) / 32, want, msg=k)


def test_gan_epsilon_null_is_the_ordinary_training_bit_for_bit(data):
    x, y = data
    generator, history = fit_generator(
        "gan", x, y, 2, {**GAN_SMALL, "privacy": private(None, max_grad_norm=3.0)}, seed=5
    )
    assert "privacy" not in generator.fitted and "epsilon" not in history.columns
    torch.manual_seed(5)
    module = GAN(
        10,
        n_labels=2,
        latent_dim=3,
        generator_hidden=(16, 16),
        discriminator_hidden=(16, 16),
        dropout=0.3,
        loss="wgan-gp",
    )
    plain = train_gan(
        module,
        torch.as_tensor(x),
        torch.as_tensor(y),
        epochs=4,
        batch_size=16,
        lr=0.0015,
        lr_discriminator=0.0015,
        betas=(0.5, 0.999),
        critic_steps=1,
        clip_norm=1.0,
        progress=False,
    )
    pd.testing.assert_frame_equal(history, plain)
    for k, v in module.state_dict().items():
        assert torch.equal(v, generator.module.state_dict()[k]), k


@pytest.mark.parametrize(
    "settings, says",
    [
        (
            {"minibatch_std": True},
            "gan.privacy: minibatch_std: true is not supported with DP-SGD",
        ),
        ({"pack": 2}, "gan.privacy: pack: 2 is not supported with DP-SGD"),
        (
            {"marginals": "training"},
            "gan.privacy: marginals: training is not supported with DP-SGD",
        ),
        (
            {"output_noise": True, "fit_output_noise": True},
            "gan.privacy: fit_output_noise: true is not supported with DP-SGD",
        ),
        (
            {"epsilon": 1e-3},
            "gan.privacy: not supported with DP-SGD: The privacy budget is too low.",
        ),
    ],
)
def test_gan_settings_that_break_the_guarantee_stop_with_one_line(settings, says, data):
    x, y = data
    budget = {"epsilon": settings.pop("epsilon", 4.0)}
    with pytest.raises(TrainingError) as caught:
        fit_generator(
            "gan", x, y, 2, {**GAN_SMALL, **settings, "privacy": private(**budget)}, seed=0
        )
    assert str(caught.value).startswith(says) and "\n" not in str(caught.value)


def test_gan_checkpoint_keeps_the_epsilon_spent(dp_gan, data, tmp_path):
    trained = as_trained("gan", *dp_gan, *data)
    save_checkpoint(trained, tmp_path / "checkpoint.pt")
    loaded = load_generator(tmp_path / "checkpoint.pt")
    assert loaded.generator.fitted["privacy"] == dp_gan[0].fitted["privacy"]
    pd.testing.assert_frame_equal(loaded.sample(30, seed=2), trained.sample(30, seed=2))


# --- the independent reference: noisy histograms ------------------------------------


def test_the_analytic_gaussian_sigma_meets_delta_exactly():
    """Against the Gaussian mechanism's privacy loss, N(mu, 2 mu) with mu = D^2 / (2 s^2):
    delta(eps) = P[L > eps] - e^eps P[L < -eps], and below the classical bound."""
    from scipy.stats import norm

    for epsilon, delta, sensitivity in [(1.0, 1e-5, 1.0), (4.0, 1e-3, 20.0), (0.1, 1e-6, 3.0)]:
        s = gaussian_sigma(epsilon, delta, sensitivity)
        mu = sensitivity**2 / (2 * s**2)
        got = norm.sf((epsilon - mu) / np.sqrt(2 * mu)) - np.exp(epsilon) * norm.sf(
            (epsilon + mu) / np.sqrt(2 * mu)
        )
        assert got == pytest.approx(delta, rel=1e-6)
        if epsilon < 1:  # where the classical bound holds
            assert s < sensitivity * np.sqrt(2 * np.log(1.25 / delta)) / epsilon


@pytest.fixture(scope="module")
def shifted():
    """400 rows, 30 genes; label 1 shifts genes 1-10 by 2 sd."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 30))
    y = rng.integers(0, 2, 400)
    x[y == 1, 1:11] += 2.0
    return x, y


def label_shift_and_spread(generator):
    z = generator.sample(4000, np.repeat([0, 1], 2000), np.random.default_rng(0))
    shift = z[2000:, 1:11].mean() - z[:2000, 1:11].mean()
    return shift, z[:2000, 11:].std(axis=0).mean()


def test_the_private_independent_reference_keeps_structure_only_with_budget(shifted, tmp_path):
    x, y = shifted
    plain, _ = fit_generator("independent", x, y, 2, {}, seed=0)
    loose, history = fit_generator("independent", x, y, 2, {"privacy": {"epsilon": 1e5}}, seed=0)
    tight, _ = fit_generator("independent", x, y, 2, {"privacy": {"epsilon": 0.05}}, seed=0)
    assert history["epsilon"].tolist() == [1e5] and loose.fitted["privacy"]["epsilon"] == 1e5
    guarantee = tight.fitted["privacy"]
    assert guarantee["delta"] == 1 / 400 and guarantee["sensitivity"] == pytest.approx(np.sqrt(30))
    assert guarantee["noise_sd"] == pytest.approx(gaussian_sigma(0.05, 1 / 400, np.sqrt(30)))
    plain_shift, plain_spread = label_shift_and_spread(plain)
    shift, spread = label_shift_and_spread(loose)
    assert abs(shift - plain_shift) < 0.1 and abs(spread - plain_spread) < 0.1
    shift, spread = label_shift_and_spread(tight)
    # Noise swamps the counts: the label's effect is gone, every gene spreads over the bins.
    assert abs(shift) < 0.5 and spread > 1.5
    # No training row is kept, and the checkpoint says what was spent.
    trained = as_trained("independent", loose, history, x, y)
    save_checkpoint(trained, tmp_path / "checkpoint.npz")
    loaded = load_generator(tmp_path / "checkpoint.npz")
    assert "data" not in loaded.generator.numbers()
    assert loaded.generator.fitted["privacy"] == loose.fitted["privacy"]
    pd.testing.assert_frame_equal(loaded.sample(30, seed=2), trained.sample(30, seed=2))


def test_the_private_independent_reference_keeps_exact_zeros(shifted):
    x, y = shifted
    x = x.copy()
    zero_value = np.full(x.shape[1], -1.0)
    x[x < -1.0] = -1.0  # about 16% exact zeros per gene
    generator, _ = fit_generator(
        "independent", x, y, 2, {"privacy": {"epsilon": 1e5}}, seed=0, zero_value=zero_value
    )
    z = generator.sample(4000, np.repeat([0, 1], 2000), np.random.default_rng(0))
    assert np.mean(z == -1.0) == pytest.approx(np.mean(x == -1.0), abs=0.02)
