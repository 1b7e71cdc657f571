"""The VAE's count likelihoods (vae.likelihood: nb, zinb) on counts simulated here.

300 cells x 40 genes of negative binomial counts: three cell types with their own gene
profiles and sequencing depths (type 2 about four times type 0), and dropouts planted on
top (each count set to 0 with probability 0.4). The models are small and briefly trained;
samples are read as the workflow writes them, in expression units.
"""

import numpy as np
import pytest
import torch

from conftest import DESCRIBED
from exprsynth import load_generator
from exprsynth.config import model_settings
from exprsynth.data.preprocess import Scaler, zero_values
from exprsynth.io.checkpoint import save_checkpoint
from exprsynth.models.base import TrainingError
from exprsynth.models.build import build_generator
from exprsynth.models.trained import TrainedGenerator
from exprsynth.models.vae import VAE

N_CELLS, N_GENES, DEPTH = 300, 40, (500.0, 1000.0, 2000.0)
DROPOUT = 0.4
SMALL = {"epochs": 40, "batch_size": 32, "latent_dim": 4, "hidden": [32, 32]}


def simulate_counts(seed=0, dropout=DROPOUT):
    """(counts, labels): NB counts (inverse dispersion 3) around per-type profiles times a
    log-normal library size of the type's depth, then planted dropouts."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), N_CELLS // 3)
    profiles = rng.gamma(0.6, 1.0, (3, N_GENES))
    profiles /= profiles.sum(axis=1, keepdims=True)
    size = np.exp(np.log(np.asarray(DEPTH)[y]) + 0.3 * rng.standard_normal(N_CELLS))
    mu = profiles[y] * size[:, None]
    counts = rng.poisson(rng.gamma(3.0, mu / 3.0)).astype(float)
    counts[rng.random(counts.shape) < dropout] = 0.0
    return counts, y


def fit_counts(likelihood, counts, y, **settings):
    """A TrainedGenerator of the VAE with `likelihood`, fitted as train_model.py fits it."""
    scaler = Scaler.fit(counts, log1p=True)
    x = scaler.transform(counts)
    hp = model_settings("vae", {**DESCRIBED["vae"], **SMALL, "likelihood": likelihood, **settings})
    generator = build_generator("vae", N_GENES, 3, hp)
    generator.fit(x, y, seed=0, zero_value=zero_values(scaler, N_GENES), scaler=scaler)
    return TrainedGenerator(
        kind="vae",
        generator=generator,
        scaler=scaler,
        genes=[f"g{j}" for j in range(N_GENES)],
        label_column="cell_type",
        label_levels=["0", "1", "2"],
        label_counts=[int((y == k).sum()) for k in range(3)],
    )


@pytest.fixture(scope="module")
def data():
    return simulate_counts()


@pytest.fixture(scope="module")
def fitted(data):
    counts, y = data
    return {lik: fit_counts(lik, counts, y) for lik in ("nb", "zinb")}


def library_medians(trained, n=300, seed=1):
    """Median total count of n samples drawn with each label."""
    return np.array(
        [np.median(trained.sample(n, label=k, seed=seed).sum(axis=1)) for k in ("0", "1", "2")]
    )


@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_samples_are_whole_counts_with_each_label_and_its_depth(fitted, data, likelihood):
    counts, y = data
    trained = fitted[likelihood]
    expr, meta = trained.generate(300, seed=3)
    values = expr.to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (values == np.round(values)).all()
    assert set(meta["cell_type"]) == {"0", "1", "2"}
    # Each label's cells have that label's sequencing depth: within 30% of the training
    # cells' median total, and the types in their planted order (depth 500, 1000, 2000).
    real = np.array([np.median(counts[y == k].sum(axis=1)) for k in range(3)])
    drawn = library_medians(trained)
    assert np.all(np.abs(drawn / real - 1) < 0.3), (drawn, real)
    assert drawn[0] < drawn[1] < drawn[2]


def test_zinb_tracks_the_planted_zeros_better_than_nb(fitted, data):
    counts, _ = data
    real = (counts == 0).mean()
    gap = {
        lik: abs((fitted[lik].sample(N_CELLS, seed=2).to_numpy() == 0).mean() - real)
        for lik in ("nb", "zinb")
    }
    assert gap["zinb"] < 0.05, gap
    assert gap["zinb"] < gap["nb"], gap


def test_a_library_prior_that_ignores_the_label_is_caught(data, monkeypatch):
    """Planted defect: every label draws from the pooled library sizes. The depth check of
    the test above must fail on it (each type's median off by far more than 30%)."""
    counts, y = data

    original = VAE.fit_library
    monkeypatch.setattr(VAE, "fit_library", lambda self, c, labels: original(self, c, None))
    trained = fit_counts("nb", counts, y, epochs=5)
    real = np.array([np.median(counts[y == k].sum(axis=1)) for k in range(3)])
    drawn = library_medians(trained)
    assert not np.all(np.abs(drawn / real - 1) < 0.3), (drawn, real)


def test_count_log_likelihood_is_torch_negative_binomial():
    vae = VAE(5, likelihood="zinb", hidden=(8,), latent_dim=2)
    with torch.no_grad():
        vae.log_theta.copy_(torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0]))
    counts = torch.tensor([[0.0, 1.0, 7.0, 30.0, 0.0], [2.0, 0.0, 0.0, 5.0, 100.0]])
    log_mu = torch.log(torch.tensor([[0.5, 2.0, 6.0, 40.0, 3.0], [1.0, 0.2, 4.0, 5.0, 80.0]]))
    theta = vae.log_theta.exp()
    reference = torch.distributions.NegativeBinomial(theta, logits=log_mu - vae.log_theta)
    ours = vae.count_log_likelihood(counts, log_mu, None)
    assert torch.allclose(ours, reference.log_prob(counts), atol=1e-4)
    # ZINB with dropout probability pi: pi + (1 - pi) NB(0) at 0, (1 - pi) NB(k) above.
    dropout = torch.full_like(log_mu, 0.3)
    pi = torch.sigmoid(dropout)
    nb = reference.log_prob(counts).exp()
    expected = torch.where(counts == 0, pi + (1 - pi) * nb, (1 - pi) * nb).log()
    assert torch.allclose(vae.count_log_likelihood(counts, log_mu, dropout), expected, atol=1e-4)


def test_checkpoint_round_trip_samples_identically(fitted, tmp_path):
    trained = fitted["zinb"]
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained, path)
    state = torch.load(path, weights_only=True)["state_dict"]
    assert {"log_theta", "library_loc", "library_scale"} <= set(state)
    loaded = load_generator(path)
    before = trained.sample(50, label="2", seed=5)
    after = loaded.sample(50, label="2", seed=5)
    assert (before.to_numpy() == after.to_numpy()).all()
    assert before.to_numpy().sum() > 0


def one_line_refusal(likelihood, counts, y, scaler_kind="log1p", **settings):
    scaler = Scaler.fit(counts, log1p=scaler_kind == "log1p", quantile=scaler_kind == "quantile")
    hp = model_settings("vae", {**SMALL, "epochs": 1, "likelihood": likelihood, **settings})
    generator = build_generator("vae", N_GENES, 3, hp)
    with pytest.raises(TrainingError) as refused:
        generator.fit(scaler.transform(counts), y, seed=0, scaler=scaler)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_refusals_name_the_setting_and_the_value(data):
    counts, y = data
    message = one_line_refusal("nb", counts + 0.5, y)
    assert "vae.likelihood: nb" in message and "whole non-negative counts" in message
    message = one_line_refusal("zinb", counts, y, scaler_kind="quantile")
    assert "vae.likelihood: zinb" in message and "not quantile" in message
    message = one_line_refusal("nb", counts, y, scaler_kind="none")
    assert "not none" in message
    message = one_line_refusal("zinb", counts, y, zero_inflation=True)
    assert "vae.zero_inflation: true" in message and "zinb" in message
    message = one_line_refusal("nb", counts, y, privacy={"epsilon": 4.0})
    assert "vae.privacy: epsilon 4.0" in message
