"""Marginal calibration (`marginals: training`): each gene's samples, per label, on the
training split's distribution, the network's gene-gene structure kept."""

import numpy as np
import pytest
import torch

from conftest import as_trained, fit_generator
from exprsynth import load_generator
from exprsynth.io.checkpoint import save_checkpoint
from exprsynth.models.marginals import apply_maps
from exprsynth.evaluation.metrics import ks_statistic

SMALL = {
    "vae": {"epochs": 3, "batch_size": 32, "latent_dim": 3, "hidden": [16]},
    "gan": {"epochs": 3, "batch_size": 32, "latent_dim": 3, "generator_hidden": [16]},
}


@pytest.fixture(scope="module")
def data():
    """Skewed, label-dependent genes with a zero mass in gene 0: marginals that three epochs
    of any network get wrong."""
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=400) < 0.4).astype(np.int64)
    x = rng.gamma(2.0, 1.0, (400, 8)) + 3.0 * y[:, None] * (np.arange(8) % 2)
    x[:, 1] += x[:, 0]  # a correlated pair
    x[rng.uniform(size=400) < 0.3, 0] = 0.0
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32), y


def draw(generator, y, seed=1):
    return generator.sample(len(y), y, np.random.default_rng(seed))


# Not the diffusion model, where it is off: an undertrained one puts many samples on the
# edges of the training range, a tie that no monotone map can spread.
@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_calibrated_marginals_match_each_label_and_keep_the_ranks(data, kind):
    x, y = data
    calibrated, _ = fit_generator(kind, x, y, 2, {**SMALL[kind], "marginals": "training"}, seed=0)
    raw, _ = fit_generator(kind, x, y, 2, {**SMALL[kind], "marginals": "model"}, seed=0)
    yy = np.repeat([0, 1], 1000)
    s_cal, s_raw = draw(calibrated, yy), draw(raw, yy)
    for label in (0, 1):
        ks_cal = ks_statistic(x[y == label], s_cal[yy == label])
        ks_raw = ks_statistic(x[y == label], s_raw[yy == label])
        assert ks_cal.max() < 0.1, ks_cal
        assert ks_raw.max() > 0.15  # the planted defect: an undertrained network's marginals
    # Same weights, same draws: the calibrated samples are a monotone map of the raw ones,
    # gene by gene within each label, so the network's ranks (its copula) are kept.
    assert all(
        torch.equal(a, b)
        for a, b in zip(*(g.module.state_dict().values() for g in (calibrated, raw)))
    )
    for label in (0, 1):
        rows = yy == label
        for j in range(x.shape[1]):
            order = np.argsort(s_raw[rows, j], kind="stable")
            assert np.all(np.diff(s_cal[rows, j][order]) >= -1e-9)


def test_exact_zeros_come_back_at_the_training_share(data):
    x, y = data
    zero = float(x[x[:, 0] == x[:, 0].min(), 0][0])
    zero_value = np.full(x.shape[1], -10.0)
    zero_value[0] = zero
    settings = {**SMALL["vae"], "marginals": "training"}
    g, _ = fit_generator("vae", x, y, 2, settings, seed=0, zero_value=zero_value)
    s = draw(g, np.repeat([0, 1], 1000))
    assert abs(np.mean(s[:, 0] == zero) - np.mean(x[:, 0] == zero)) < 0.05
    assert s[:, 0].min() == zero  # nothing below the data's support


def test_the_maps_travel_in_the_checkpoint(data, tmp_path):
    x, y = data
    g, history = fit_generator("gan", x, y, 2, {**SMALL["gan"], "marginals": "training"}, seed=0)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(as_trained("gan", g, history, x, y), path)
    assert "marginal_map.training" in torch.load(path, weights_only=True)["state_dict"]
    loaded = load_generator(path)
    yy = np.repeat([0, 1], 50)
    assert np.allclose(draw(loaded.generator, yy), draw(g, yy))
    without, _ = fit_generator("gan", x, y, 2, {**SMALL["gan"], "marginals": "model"}, seed=0)
    assert not np.allclose(draw(without, yy), draw(g, yy))


def test_a_small_label_keeps_the_networks_values(data):
    """Below MIN_TRAINING_ROWS a label's samples would be assembled from a few rows' values."""
    x, y = data
    few = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:5]]
    settings = {**SMALL["vae"], "marginals": "training"}
    g, _ = fit_generator("vae", x[few], y[few], 2, settings, seed=0)
    model, training = g.maps
    assert np.array_equal(model[1], training[1]) and not np.array_equal(model[0], training[0])
    s = draw(g, np.ones(200, dtype=np.int64))
    assert len(np.unique(s[:, 2])) > 100  # not the 5 training values of gene 2


def test_apply_maps_puts_each_label_on_its_own_table():
    levels = np.linspace(0, 1, 5)
    model = np.stack([np.tile(levels, (2, 1)), np.tile(levels, (2, 1))])
    training = np.stack([np.tile(levels * 10, (2, 1)), np.tile(levels * 10 + 100, (2, 1))])
    out = apply_maps(np.full((2, 2), 0.5), np.array([0, 1]), model, training)
    assert np.allclose(out, [[5, 5], [105, 105]])


def test_count_likelihoods_are_calibrated_in_the_scaled_space():
    """The nb VAE draws counts; the maps act on them scaled, as they were fitted, and the
    samples written stay whole counts with each gene's zeros at the training share."""
    from test_counts import fit_counts, simulate_counts

    counts, y = simulate_counts()
    trained = fit_counts("nb", counts, y, marginals="training")
    written = np.vstack([trained.sample(400, label=k, seed=1).to_numpy() for k in "012"])
    assert np.all(written == np.round(written)) and written.min() >= 0
    real_zeros = np.vstack([(counts[y == k] == 0).mean(0) for k in range(3)])
    zeros = np.vstack([(written[400 * k : 400 * (k + 1)] == 0).mean(0) for k in range(3)])
    assert np.abs(zeros - real_zeros).mean() < 0.05
