"""Written samples stay within the data's support, for every generator: no negative values
where the data have none, exact zeros (no float residue), whole numbers for counts, each gene
within its training range. Checked on the files as written, read back with pandas."""

import numpy as np
import pandas as pd
import pytest

from conftest import fit_generator
from exprsynth.data.preprocess import Scaler
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
    "counts": (counts, True),
    "log-normalised": (log_normalised, False),
    "log2 bulk": (log2_bulk, False),
}


def written(kind, data, tmp_path):
    make, log1p = DATA[data]
    x, y = make()
    x = round_significant(x)  # as the workflow's data files hold them
    scaler = Scaler.fit(x, log1p=log1p)
    z = scaler.transform(x)
    zero_value = scaler.transform(np.zeros((1, x.shape[1])))[0]
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


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("kind", list(GENERATORS))
def test_written_samples_stay_within_the_support(kind, data, tmp_path):
    x, s = written(kind, data, tmp_path)
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


def test_the_round_trip_gives_the_data_back_exactly():
    for make, log1p in DATA.values():
        x, _ = make()
        scaler = Scaler.fit(x, log1p=log1p)
        back = scaler.inverse_transform(scaler.transform(x))
        assert ((back == 0) == (x == 0)).all()
        np.testing.assert_allclose(back, x, rtol=1e-12, atol=0)


def test_the_independent_reference_writes_exact_zeros(tmp_path):
    """It resamples training values: before the support, zeros came back as +-5.6e-17."""
    x, s = written("independent", "log-normalised", tmp_path)
    assert (s == 0).mean() == pytest.approx((x == 0).mean(), abs=0.05)
