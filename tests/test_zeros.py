"""Exact zeros at realistic rates (single-cell-like data), the zero-fraction metrics, .h5ad output.

The matrix is made here: 200 cells x 40 genes of counts, about 70% exact zeros (per-gene
detection rates, two cell types). Each model is trained briefly with zero inflation on
and off, and its samples are read in expression units, as the workflow writes them.
"""

import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from exprsynth import load_generator
from exprsynth.evaluation import metrics as M
from exprsynth.evaluation.evaluate import evaluate
from conftest import fit_generator, fit_model
from exprsynth.io.checkpoint import save_checkpoint
from exprsynth.models.base import ZERO_INFLATION_THRESHOLD, resolve_zero_inflation, zero_fraction
from exprsynth.models.trained import TrainedGenerator
from exprsynth.io.h5ad import read_h5ad, write_h5ad
from exprsynth.data.preprocess import Scaler, zero_values

# Small networks, few epochs: the whole file trains in a few seconds on 2 cores.
# The zero-inflation mechanism alone: marginals: training would bring each gene's zeros
# back anyway (tests/test_marginals.py).
HPARAMS = {
    "vae": {
        "marginals": "model",
        "epochs": 10,
        "batch_size": 32,
        "lr": 1e-3,
        "latent_dim": 4,
        "hidden": [32, 32],
        "beta": 1.0,
    },
    "gan": {
        "marginals": "model",
        "epochs": 150,
        "batch_size": 32,
        "lr": 5e-4,
        "lr_discriminator": 5e-4,
        "betas": [0.5, 0.9],
        "latent_dim": 8,
        "generator_hidden": [32, 32],
        "discriminator_hidden": [32, 32],
        "dropout": 0.0,
        "loss": "wgan-gp",
        "critic_steps": 2,
        "clip_norm": None,
        "output_noise": True,
    },
    "diffusion": {
        "epochs": 30,
        "batch_size": 32,
        "hidden": [32, 32],
        "sampling_steps": 10,
        "ema": 0.99,
    },
}


def zero_inflated_counts(n=200, g=40, seed=0):
    """Poisson counts on a log-normal rate, two cell types, dropped with a per-gene rate."""
    rng = np.random.default_rng(seed)
    cell_type = rng.integers(0, 2, n)
    log_rate = (
        rng.normal(1.5, 0.7, g)[None]
        + rng.normal(0, 0.8, g)[None] * cell_type[:, None]
        + rng.normal(0, 0.4, (n, g))
    )
    detected = rng.random((n, g)) < rng.uniform(0.1, 0.55, g)[None] * np.where(
        cell_type[:, None], 1.2, 0.8
    )
    return (rng.poisson(np.exp(log_rate)) * detected).astype(float), cell_type


@pytest.fixture(scope="module")
def cohort():
    x, y = zero_inflated_counts()
    train, test = np.arange(150), np.arange(150, 200)
    scaler = Scaler.fit(x[train], log1p=True)
    return {
        "x": x,
        "y": y,
        "train": train,
        "test": test,
        "scaler": scaler,
        "zero_value": zero_values(scaler, x.shape[1]),
        "rate": float((x == 0).mean()),
    }


def trained(kind, cohort, zero_inflation, *, scaler=None):
    scaler = scaler or cohort["scaler"]
    x, y = cohort["x"], cohort["y"]
    z = scaler.transform(x)
    zv = zero_values(scaler, x.shape[1])
    hparams = {**HPARAMS[kind], "zero_inflation": zero_inflation}
    model, hist = fit_generator(kind, z, y, 2, hparams, seed=0, zero_value=zv)
    return TrainedGenerator(
        kind=kind,
        generator=model,
        scaler=scaler,
        genes=[f"G{j}" for j in range(x.shape[1])],
        label_column="cell_type",
        label_levels=["0", "1"],
        label_counts=[int((y == 0).sum()), int((y == 1).sum())],
        history=hist,
    )


def test_the_test_matrix_is_zero_inflated(cohort):
    assert 0.6 < cohort["rate"] < 0.8
    z = cohort["scaler"].transform(cohort["x"])
    assert zero_fraction(z, cohort["zero_value"]) == pytest.approx(cohort["rate"])


def test_auto_turns_zero_inflation_on_only_for_many_zeros(cohort):
    z, zv = cohort["scaler"].transform(cohort["x"]), cohort["zero_value"]
    assert resolve_zero_inflation("auto", z, zv)
    dense = cohort["x"] + 1  # no zeros at all, like the simulated cohort
    scaler = Scaler.fit(dense, log1p=True)
    assert not resolve_zero_inflation(
        "auto", scaler.transform(dense), zero_values(scaler, dense.shape[1])
    )
    assert not resolve_zero_inflation("auto", z, None)  # no zero value given: off
    assert not resolve_zero_inflation(False, z, zv) and resolve_zero_inflation(True, z, zv)
    with pytest.raises(ValueError, match="zero_value"):
        resolve_zero_inflation(True, z, None)
    # the threshold is on the share of exact zeros in the training values
    some = cohort["x"].copy()
    some[some == 0] = 1
    some[:, : int(0.25 * some.shape[1])] = 0  # 25% zeros: below the threshold
    scaler = Scaler.fit(some, log1p=True)
    assert ZERO_INFLATION_THRESHOLD == 0.30
    assert not resolve_zero_inflation(
        "auto", scaler.transform(some), zero_values(scaler, some.shape[1])
    )


@pytest.mark.parametrize("kind", ["vae", "gan", "diffusion"])
def test_zero_inflation_produces_zeros_at_the_real_rate(kind, cohort):
    on = trained(kind, cohort, True).sample(2000, seed=1).to_numpy()
    off = trained(kind, cohort, False).sample(2000, seed=1).to_numpy()
    real = cohort["x"]
    # Exact zeros, at the real rate overall and gene by gene.
    assert abs((on == 0).mean() - cohort["rate"]) < 0.15
    assert np.abs((on == 0).mean(0) - (real == 0).mean(0)).mean() < 0.15
    # Off, the only zeros are Gaussian mass below log1p's zero and values that round to 0
    # (the data are counts, so the samples are too): far from the real rate.
    assert (off == 0).mean() < cohort["rate"] - 0.2
    assert (on > 0).any() and (on >= 0).all()


@pytest.mark.parametrize("kind", ["vae", "gan", "diffusion"])
def test_without_log1p_zeros_come_only_from_zero_inflation(kind, cohort):
    """With scaler.transform: none, off, a model's zeros are only its values that clip at 0
    or round to it (counts): it misses the real rate by far; on, it reaches it."""
    scaler = Scaler.fit(cohort["x"][cohort["train"]], log1p=False)
    on = trained(kind, cohort, True, scaler=scaler).sample(2000, seed=1).to_numpy()
    off = trained(kind, cohort, False, scaler=scaler).sample(2000, seed=1).to_numpy()
    assert abs((on == 0).mean() - cohort["rate"]) < 0.15
    assert abs((off == 0).mean() - cohort["rate"]) > abs((on == 0).mean() - cohort["rate"]) + 0.1


@pytest.mark.parametrize("kind", ["vae", "gan", "diffusion"])
def test_zero_inflated_checkpoint_round_trip(kind, cohort, tmp_path):
    gen = trained(kind, cohort, True)
    arch = gen.generator.fitted
    assert arch["zero_inflation"] is True
    assert len(arch["zero_value"]) == 40 and all(type(v) is float for v in arch["zero_value"])
    save_checkpoint(gen, tmp_path / "checkpoint.pt")
    raw = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert raw["fitted"]["zero_value"] == arch["zero_value"]
    loaded = load_generator(tmp_path / "checkpoint.pt")
    pd.testing.assert_frame_equal(gen.sample(50, seed=3), loaded.sample(50, seed=3))


def test_off_leaves_the_plain_models_untouched(cohort):
    """zero_inflation false builds exactly the plain networks: same weights as no setting."""
    for kind in ("vae", "gan"):
        z = cohort["scaler"].transform(cohort["x"])
        hp = {**HPARAMS[kind], "epochs": 1}
        a, arch, _ = fit_model(
            kind,
            z,
            cohort["y"],
            2,
            {**hp, "zero_inflation": False},
            seed=0,
            device="cpu",
            progress=False,
            zero_value=cohort["zero_value"],
        )
        b, _, _ = fit_model(kind, z, cohort["y"], 2, hp, seed=0, device="cpu", progress=False)
        assert arch["zero_inflation"] is False and arch["zero_value"] is None
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- metrics -------------------------------------------------------------------------------


def _scores(cohort, synth):
    z = cohort["scaler"].transform(cohort["x"])
    y = cohort["y"]
    return evaluate(
        z[cohort["train"]],
        z[cohort["test"]],
        synth,
        y_train=y[cohort["train"]],
        y_test=y[cohort["test"]],
        y_synth=None if synth is None else y[cohort["train"]],
        zero_value=cohort["zero_value"],
        max_genes=2000,
    ).values


def test_zero_metrics_are_in_every_table():
    names = [m.name for m in M.METRICS]
    for name in ("zero_fraction_gene", "zero_fraction_sample_ks"):
        assert name in names
        metric = M.METRIC_BY_NAME[name]
        assert metric.better == "lower" and metric.group == "fidelity" and metric.description


def test_a_generator_without_zeros_is_caught(cohort):
    floor = _scores(cohort, None)
    assert floor["zero_fraction_gene"] < 0.06
    assert floor["zero_fraction_sample_ks"] < 0.25
    # The planted defect: the training samples with every zero replaced by a value drawn
    # from that gene's non-zero values. Everything else about the marginals is close.
    rng = np.random.default_rng(0)
    x = cohort["x"][cohort["train"]].copy()
    for j in range(x.shape[1]):
        zero = x[:, j] == 0
        x[zero, j] = rng.choice(x[~zero, j], zero.sum())
    v = _scores(cohort, cohort["scaler"].transform(x))
    assert v["zero_fraction_gene"] > 0.6 > 10 * floor["zero_fraction_gene"]
    assert v["zero_fraction_sample_ks"] > 0.95


def test_zero_metrics_read_clipped_values_as_zeros():
    """log1p: anything at or below the zero value is 0 once transformed back."""
    zv = np.array([-1.0, 0.5])
    real = np.array([[-1.0, 0.5], [0.2, 1.0]])
    synth = np.array([[-3.0, 0.4], [0.2, 1.0]])
    assert M.zero_fraction_gene(real, synth, zv) == 0.0
    assert M.zero_fraction_gene(real, synth, zv, clipped=False) == 0.5
    x = np.random.default_rng(0).normal(size=(40, 3))
    assert np.isnan(
        evaluate(x, x, None, max_genes=2000).values["zero_fraction_gene"]
    )  # no zero value given


# --- .h5ad output ----------------------------------------------------------------------------


def _written(tmp_path):
    expr = pd.DataFrame(
        [[0.0, 1.5, 2.0], [3.25, 0.0, 0.0]],
        index=pd.Index(["GAN_00001", "GAN_00002"], name="sample_id"),
        columns=["GENE_A", "GENE_B", "GENE_C"],
    )
    obs = pd.DataFrame({"condition": ["healthy", "disease"], "source": "gan"}, index=expr.index)
    path = tmp_path / "samples.h5ad"
    write_h5ad(path, expr, obs)
    return path, expr, obs


def test_h5ad_output_round_trips_through_the_reader(tmp_path):
    path, expr, obs = _written(tmp_path)
    values, read_obs = read_h5ad(path, transform="none", label_column="condition")
    np.testing.assert_array_equal(values.to_numpy(), expr.to_numpy())
    assert list(values.index) == list(expr.index) and list(values.columns) == list(expr.columns)
    assert list(read_obs["condition"]) == ["healthy", "disease"]
    assert list(read_obs.columns) == ["condition", "source"]
    with h5py.File(path) as f:
        assert f["X"].dtype == np.float32 and f.attrs["encoding-type"] == "anndata"
        assert f["obs"].attrs["encoding-type"] == "dataframe"
        assert f["obs/source"].attrs["encoding-type"] == "categorical"
        assert f["var/_index"].attrs["encoding-type"] == "string-array"


def test_h5ad_output_opens_with_anndata(tmp_path):
    ad = pytest.importorskip("anndata")
    path, expr, obs = _written(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. anndata's OldFormatWarning for missing metadata
        adata = ad.read_h5ad(path)
    assert list(adata.obs_names) == list(expr.index) and list(adata.var_names) == list(expr.columns)
    np.testing.assert_array_equal(np.asarray(adata.X), expr.to_numpy(dtype=np.float32))
    assert list(adata.obs["condition"].astype(str)) == ["healthy", "disease"]
    assert set(adata.obs["source"].astype(str)) == {"gan"}
