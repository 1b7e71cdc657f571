"""Written samples stay within the data's support, for every generator: no negative values
where the data have none, exact zeros (no float residue), whole numbers for counts, each gene
within its training range. Checked on the files as written, read back with pandas, with the
transform each kind of data is documented with and with scaler.transform: quantile."""

import numpy as np
import pandas as pd
import pytest

from conftest import fit_generator
from exprsynth.data.preprocess import fit_scaler, is_zero, zero_values
from exprsynth.evaluation.metrics import zero_mask
from exprsynth.io.files import round_significant, write_expression
from exprsynth.models import GENERATORS
from exprsynth.models.trained import TrainedGenerator

SMALL = {
    "vae": {"epochs": 2, "latent_dim": 3, "hidden": [16]},
    "gan": {
        "epochs": 2,
        "latent_dim": 3,
        "generator_hidden": [16],
        "discriminator_hidden": [16, 16],
    },
    "mixture": {"rank": 3},
}


def counts(n=120, g=15, seed=0):
    """UMI-like counts: 60% zeros, whole numbers."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(rng.gamma(2.0, 3.0, (n, g))) * (rng.random((n, g)) < 0.4)
    return x.astype(float), rng.integers(0, 2, n)


def log_normalised(n=120, g=15, seed=1):
    """Single-cell log-normalised values: zeros and positive non-integers, none negative."""
    x, y = counts(n, g, seed)
    return np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4), y


def log2_bulk(n=120, g=15, seed=2):
    """Microarray-like log2 intensities: all positive, no zeros."""
    rng = np.random.default_rng(seed)
    return rng.normal(8, 1.5, (n, g)).clip(2, None), rng.integers(0, 2, n)


DATA = {
    "counts": (counts, "log1p"),
    "log-normalised": (log_normalised, "none"),
    "log2 bulk": (log2_bulk, "none"),
}
TRANSFORMS = ["log1p", "none", "quantile"]


def written(kind, data, tmp_path, transform=None):
    make, documented = DATA[data]
    x, y = make()
    x = round_significant(x)  # as the workflow's data files hold them
    scaler = fit_scaler(x, transform or documented)
    z = scaler.transform(x)
    zero_value = zero_values(scaler, x.shape[1])
    generator, _ = fit_generator(kind, z, y, 2, SMALL.get(kind, {}), seed=0, zero_value=zero_value)
    trained = TrainedGenerator(
        kind,
        generator,
        scaler,
        [f"g{j}" for j in range(x.shape[1])],
        "label",
        ["0", "1"],
        [int((y == 0).sum()), int((y == 1).sum())],
    )
    expr, _ = trained.generate(400, seed=3)
    path = tmp_path / "samples.csv"
    write_expression(expr, path)
    return x, pd.read_csv(path, index_col=0).to_numpy()


# Quantile on the two kinds of data with zeros (the inverse keeps the support whatever the
# generator: test_any_scaled_values_come_back_within_the_support covers all three).
CASES = [(data, None) for data in DATA] + [("counts", "quantile"), ("log-normalised", "quantile")]


@pytest.mark.parametrize("data, transform", CASES)
@pytest.mark.parametrize("kind", list(GENERATORS))
def test_written_samples_stay_within_the_support(kind, data, transform, tmp_path):
    x, s = written(kind, data, tmp_path, transform)
    assert np.isfinite(s).all()
    assert (s >= x.min(axis=0)).all() and (
        s <= x.max(axis=0)
    ).all()  # each gene in its training range
    if (x >= 0).all():
        assert (s >= 0).all()
    tiny = (np.abs(s) > 0) & (np.abs(s) < 1e-6)
    assert not tiny.any(), f"float residue instead of exact zeros: {s[tiny][:3]}"
    if data == "counts":
        assert (s == np.round(s)).all()
    if data == "log2 bulk":
        assert (s > 0).all()  # no zeros where the data have none


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("data", list(DATA))
def test_the_round_trip_gives_the_data_back_exactly(data, transform):
    x, _ = DATA[data][0]()
    if transform == "log1p" and data == "log2 bulk":
        x = 2**x  # log1p's data: linear, non-negative
    scaler = fit_scaler(x, transform)
    back = scaler.inverse_transform(scaler.transform(x))
    assert ((back == 0) == (x == 0)).all()
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=0)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("data", list(DATA))
def test_any_scaled_values_come_back_within_the_support(data, transform):
    """What any generator could output: wide draws, each gene's zero value, far extremes."""
    x, _ = DATA[data][0]()
    scaler = fit_scaler(x, transform)
    rng = np.random.default_rng(0)
    z = np.vstack(
        [
            rng.normal(0, 3, (500, x.shape[1])),
            zero_values(scaler, x.shape[1]),
            np.full((2, x.shape[1]), [[-50.0], [50.0]]),
        ]
    )
    s = scaler.inverse_transform(z)
    assert np.isfinite(s).all()
    assert (s >= x.min(axis=0)).all() and (s <= x.max(axis=0)).all()
    tiny = (np.abs(s) > 0) & (np.abs(s) < 1e-6)
    assert not tiny.any(), f"float residue instead of exact zeros: {s[tiny][:3]}"
    if data == "counts":
        assert (s == np.round(s)).all()
    if data == "log2 bulk":
        assert (s > 0).all()
    else:
        assert (s[-3] == 0).all()  # each gene's zero value is an exact zero


@pytest.mark.parametrize("data", ["counts", "log-normalised"])
def test_under_quantile_zeros_sit_on_one_value_and_everything_below_is_zero(data):
    """Ties land on one value per gene, the zero value; the inverse gives 0 for all below it
    (and up to the top of the gene's zero share), so the evaluation, which transforms the
    written samples again, finds their zeros exactly at the zero value."""
    x, _ = DATA[data][0]()
    scaler = fit_scaler(x, "quantile")
    z, zero = scaler.transform(x), zero_values(scaler, x.shape[1])
    for j in range(x.shape[1]):
        assert (z[x[:, j] == 0, j] == zero[j]).all()
        assert (z[x[:, j] > 0, j] > zero[j]).all()
    rng = np.random.default_rng(1)
    below = zero - rng.exponential(1.0, (200, x.shape[1]))
    assert (scaler.inverse_transform(below) == 0).all()
    s = scaler.inverse_transform(rng.normal(0, 1.5, (500, x.shape[1])))
    rescaled = scaler.transform(s)
    for clipped in (False, True):  # the evaluation passes clipped=scaler.log1p: False here
        assert (zero_mask(rescaled, zero, clipped=clipped) == (s == 0)).all()


def test_under_quantile_genes_without_zeros_have_their_zero_beyond_every_value():
    x, _ = log2_bulk()
    scaler = fit_scaler(x, "quantile")
    zero = zero_values(scaler, x.shape[1])
    assert (zero < scaler.transform(x).min(axis=0) - 1).all()
    assert not is_zero(scaler.transform(x), zero).any()


def test_the_independent_reference_writes_exact_zeros(tmp_path):
    """It resamples training values: before the support, zeros came back as +-5.6e-17."""
    x, s = written("independent", "log-normalised", tmp_path)
    assert (s == 0).mean() == pytest.approx((x == 0).mean(), abs=0.05)
