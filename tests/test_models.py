import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from exprsynth import load_generator
from exprsynth.models.gan import GAN, MinibatchStd
from conftest import as_trained, fit_generator, fit_model
from exprsynth.io.checkpoint import save_checkpoint
from exprsynth.data.preprocess import Scaler
from exprsynth.models.training import TrainingDiverged, train_gan
from exprsynth.models.vae import VAE


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_described_architectures():
    vae = VAE(500, likelihood="gaussian")
    gan = GAN(500)
    assert abs(n_params(vae) - 174_000) < 1_000
    assert abs(n_params(gan.generator) - 102_000) < 1_000
    assert abs(n_params(gan.discriminator) - 89_000) < 1_000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    x[y == 1, 1] += 2.0
    return x, y


VAE_OPTIONS = [
    {"likelihood": "gaussian_learned_var"},
    {"likelihood": "gaussian"},
    {"reconstruction": "mse_mean"},
    {"kl_warmup_epochs": 2, "beta": 0.5},
    {"latent_sampling": "aggregate_posterior"},
    {"latent_sampling": "mixture", "latent_components": 3},
]
GAN_OPTIONS = [
    {"loss": "bce"},
    {"loss": "wgan-gp", "critic_steps": 2, "clip_norm": None},
    {"pack": 2},
    {"output_noise": True},
    {"output_noise": True, "output_noise_init": 0.1, "fit_output_noise": True},
    {"ema": 0.9},
    {"minibatch_std": True, "loss": "wgan-gp", "pack": 2},
    {"critic_conditioning": "projection"},
    {"critic_conditioning": "projection", "minibatch_std": True, "loss": "wgan-gp", "pack": 2},
    {"generator_conditioning": "every_layer", "output_noise": True, "fit_output_noise": True},
    {
        "critic_conditioning": "projection",
        "generator_conditioning": "every_layer",
        "loss": "wgan-gp",
    },
]
BASE = {
    "vae": {"epochs": 2, "batch_size": 32, "lr": 1e-3, "latent_dim": 3, "hidden": [8]},
    "gan": {
        "epochs": 2,
        "batch_size": 32,
        "lr": 2e-4,
        "latent_dim": 3,
        "generator_hidden": [8],
        "discriminator_hidden": [8, 8],
    },
}


def trained(kind, hparams, data, n_labels=2, seed=0):
    x, y = data
    model, hist = fit_generator(kind, x, y, n_labels, hparams, seed=seed)
    return as_trained(kind, model, hist, x, y, labelled=bool(n_labels))


def assert_vae_loss_adds_up(history):
    """Each epoch's loss is its reconstruction plus that epoch's beta times its KL term (a
    beta frozen at one value, e.g. in a captured CUDA graph, breaks it under KL warm-up)."""
    np.testing.assert_allclose(
        history["loss"] - history["reconstruction"], history["beta"] * history["kl"], atol=1e-3
    )


@pytest.mark.parametrize("options", VAE_OPTIONS)
def test_vae_options_train_with_finite_losses(options, data):
    gen = trained("vae", {**BASE["vae"], **options}, data)
    assert len(gen.history) == 2
    assert np.isfinite(gen.history[["loss", "reconstruction", "kl"]].to_numpy()).all()
    assert_vae_loss_adds_up(gen.history)
    assert {"active_units", "beta"} <= set(gen.history.columns)
    z, y = gen.sample_scaled(50)
    assert z.shape == (50, 12) and y.shape == (50,)


@pytest.mark.parametrize("options", GAN_OPTIONS)
def test_gan_options_train_with_finite_losses(options, data):
    gen = trained("gan", {**BASE["gan"], **options}, data)
    assert np.isfinite(gen.history[["discriminator_loss", "generator_loss"]].to_numpy()).all()
    if options.get("loss") == "wgan-gp":
        assert np.isfinite(gen.history["wasserstein"]).all()
    assert gen.sample_scaled(20)[0].shape == (20, 12)


@pytest.mark.parametrize(
    "kind, options",
    [
        ("vae", {}),
        ("vae", {"latent_sampling": "aggregate_posterior"}),
        ("vae", {"latent_sampling": "mixture", "latent_components": 3}),
        ("gan", {}),
        ("gan", {"minibatch_std": True, "ema": 0.9}),
        (
            "gan",
            {
                "critic_conditioning": "projection",
                "generator_conditioning": "every_layer",
                "minibatch_std": True,
            },
        ),
        ("gan", {"clusters": 3}),
        ("gaussian", {}),
        ("independent", {}),
        ("mixture", {"rank": 3}),
    ],
)
def test_checkpoint_round_trip_gives_identical_samples(kind, options, data, tmp_path):
    gen = trained(kind, {**BASE.get(kind, {}), **options}, data)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(gen, path)
    loaded = load_generator(path)
    a = gen.sample(30, seed=5)
    b = loaded.sample(30, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert loaded.label_levels == ["0", "1"] and loaded.kind == kind


def test_conditional_sampling_honours_requested_label(data):
    gen = trained("gaussian", {}, data)
    expr, meta = gen.generate(40, label=1)
    assert (meta["status"] == "1").all() and len(expr) == 40
    # label 1 was planted with gene 1 shifted up by 2
    assert expr["g1"].mean() > 1.0
    with pytest.raises(ValueError, match="not one of"):
        gen.generate(5, label=7)


def test_unconditional_model_has_no_label_column(data):
    gen = trained("vae", BASE["vae"], data, n_labels=0)
    expr, meta = gen.generate(10)
    assert list(meta.columns) == ["sample_id", "source"]


def test_loader_refuses_a_pickle_payload(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"format": "exprsynth-checkpoint/3", "x": Payload()}, fh)
    with pytest.raises(ValueError, match="not a loadable exprsynth checkpoint"):
        load_generator(path)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not an exprsynth checkpoint"):
        load_generator(other)


def test_a_last_batch_smaller_than_one_pack_is_skipped():
    """92 rows in batches of 30 (32 rounded down to packs of 3): the last 2 rows make no pack."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(92, 12)).astype(np.float32), rng.integers(0, 2, 92)
    hparams = {**BASE["gan"], "pack": 3, "critic_conditioning": "projection"}
    _, _, history = fit_model("gan", x, y, 2, hparams, seed=0, device="cpu", progress=False)
    assert np.isfinite(history[["discriminator_loss", "generator_loss"]].to_numpy()).all()


def test_diverging_training_fails_with_a_clear_message(data):
    with pytest.raises(TrainingDiverged, match="diverged"):
        trained("vae", {**BASE["vae"], "lr": 1e12, "epochs": 5}, data)


def test_cli_draws_per_label_samples(data, tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained("vae", BASE["vae"], data), path)
    out = tmp_path / "drawn.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "exprsynth",
            "sample",
            str(path),
            "--n",
            "25",
            "--label",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(out, index_col=0).shape == (25, 12)
    meta = pd.read_csv(tmp_path / "drawn_metadata.csv")
    assert (meta["status"] == 1).all()
    help_text = subprocess.run(
        [sys.executable, "-m", "exprsynth", "sample", "--help"], capture_output=True, text=True
    )
    assert "--label" in help_text.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "exprsynth",
            "sample",
            str(tmp_path / "missing.pt"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "no such checkpoint" in bad.stderr
    table = tmp_path / "split.tsv"  # not a checkpoint: torch's unpickler fails with IndexError
    table.write_text("sample_id\tsplit\nS1\ttrain\n")
    bad = subprocess.run(
        [sys.executable, "-m", "exprsynth", "sample", str(table), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith(
        f"error: {table}: not a loadable exprsynth checkpoint"
    )
    assert "Traceback" not in bad.stderr


def test_cli_writes_h5ad_and_refuses_what_it_cannot_write(data, tmp_path):
    anndata = pytest.importorskip("anndata")
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained("vae", BASE["vae"], data), path)

    def cli(*args):
        cmd = [sys.executable, "-m", "exprsynth", "sample", str(path), "--n", "6", *args]
        return subprocess.run(cmd, capture_output=True, text=True)

    assert cli("--out", str(tmp_path / "drawn.h5ad")).returncode == 0
    adata = anndata.read_h5ad(tmp_path / "drawn.h5ad")
    assert adata.shape == (6, 12) and "status" in adata.obs
    for out, message in [
        (tmp_path / "drawn.tsv", "--out must end in .csv or .h5ad"),  # was written as CSV text
        (tmp_path / "folder.csv", "error: cannot write"),  # a directory
        (tmp_path / "drawn.h5ad" / "drawn.csv", "error: cannot write"),  # a file as its folder
    ]:
        if out.name == "folder.csv":
            out.mkdir()
        proc = cli("--out", str(out))
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, (
            proc.stderr
        )
    proc = subprocess.run(
        [sys.executable, "-m", "exprsynth", "sample", str(tmp_path), "--out", "x.csv"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "a directory, not a checkpoint file" in proc.stderr


def test_mse_mean_reading_collapses_the_vae_and_the_elbo_does_not():
    """The original comparison's VAE: MSE averaged over genes lets KL win (std MSE ~ 1)."""
    from exprsynth.evaluation import metrics as M
    from conftest import simulate

    c = simulate(n_samples=400, n_genes=100, n_modules=4, module_size=10, disease_modules=1)
    x = c.expression.to_numpy()
    z = Scaler.fit(x, log1p=False).transform(x).astype(np.float32)
    common = {"epochs": 30, "batch_size": 64, "lr": 1e-3, "latent_dim": 32, "hidden": [128, 128]}
    results = {}
    for reading in ("mse_mean", "elbo"):
        hp = {**common, "reconstruction": reading, "likelihood": "gaussian_learned_var"}
        model, _, _ = fit_model("vae", z, None, 0, hp, seed=0, device="cpu", progress=False)
        torch.manual_seed(0)
        s = model.sample(400).numpy()
        results[reading] = (M.std_mse(z, s), M.diversity(s), M.diversity(z))
    std_mse, div, real_div = results["mse_mean"]
    assert std_mse > 0.9 and div < 0.1 * real_div
    std_mse, div, real_div = results["elbo"]
    assert std_mse < 0.2 and div > 0.7 * real_div


@pytest.mark.parametrize("generator_conditioning", ["input", "every_layer"])
def test_fitted_output_noise_gives_each_gene_its_training_variance(generator_conditioning):
    """After fit_output_noise, network output plus noise has each gene's variance in x."""
    torch.manual_seed(0)
    x = torch.randn(4000, 6) * torch.tensor([0.5, 1.0, 2.0, 3.0, 1.5, 0.8])
    y = torch.randint(0, 2, (4000,))
    gan = GAN(
        6,
        n_labels=2,
        latent_dim=3,
        generator_hidden=(8,),
        output_noise=True,
        output_noise_init=0.1,
        generator_conditioning=generator_conditioning,
    )
    gan.fit_output_noise(x, y)
    sigma = gan.generator[-1].log_sigma.exp()
    assert (sigma > 0.4).all()  # up from the 0.1 it started at
    generated = gan.sample(20000, torch.randint(0, 2, (20000,)))
    torch.testing.assert_close(generated.var(dim=0), x.var(dim=0), rtol=0.05, atol=0)
    # without learned noise, or with the zero gate, there is nothing to fit
    plain = GAN(6, n_labels=2, latent_dim=3, generator_hidden=(8,))
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    plain.fit_output_noise(x, y)
    assert all(torch.equal(before[k], v) for k, v in plain.state_dict().items())


def test_generator_ema_is_the_moving_average_of_its_weights(data):
    """One generator step (64 rows, batches of 32, 2 critic steps): the averaged weights are
    init + (1 - decay) * (step - init); a decay of ~1 keeps the initial generator."""
    x, y = data[0][:64], data[1][:64]
    hp = {**BASE["gan"], "epochs": 1, "loss": "wgan-gp", "critic_steps": 2}

    def generator_weights(**extra):
        model, _, _ = fit_model(
            "gan", x, y, 2, {**hp, **extra}, seed=3, device="cpu", progress=False
        )
        return torch.cat([p.detach().reshape(-1) for p in model.generator.parameters()])

    torch.manual_seed(3)  # fit_model's seed: the same initial weights
    untrained = GAN(
        12,
        n_labels=2,
        latent_dim=3,
        generator_hidden=(8,),
        discriminator_hidden=(8, 8),
        loss="wgan-gp",
    )
    initial = torch.cat([p.detach().reshape(-1) for p in untrained.generator.parameters()])
    stepped = generator_weights()
    assert not torch.equal(stepped, initial)
    torch.testing.assert_close(generator_weights(ema=0.75), initial.lerp(stepped, 0.25))
    torch.testing.assert_close(generator_weights(ema=1 - 1e-12), initial)


def test_minibatch_std_lets_the_critic_see_the_batch_spread():
    """With minibatch_std a row's logit depends on the rest of its batch: a collapsed batch
    (every row alike) is judged differently from a spread one; without it, it is not."""
    torch.manual_seed(0)
    spread = torch.randn(16, 10)
    collapsed = spread.clone()
    collapsed[1:] = spread[0]
    for on in (True, False):
        gan = GAN(
            10,
            latent_dim=3,
            discriminator_hidden=(8, 8),
            dropout=0.0,
            loss="wgan-gp",
            minibatch_std=on,
        )
        with torch.no_grad():
            a, b = gan.critic(spread, None)[0], gan.critic(collapsed, None)[0]
        assert torch.equal(a, b) is not on
    # the feature itself: the mean per-feature sd across the batch (1e-4, not 0, for
    # identical rows: the epsilon that keeps its gradient finite)
    feature = MinibatchStd()
    torch.testing.assert_close(
        feature(spread)[:, -1], spread.std(dim=0, unbiased=False).mean().expand(16)
    )
    torch.testing.assert_close(feature(collapsed[:1].expand(5, 10))[:, -1], torch.full((5,), 1e-4))


def test_projection_critic_adds_the_label_embeddings_inner_product_with_its_last_features():
    """logit = head(phi) + <embedding(label), phi>, phi the input of the critic's last Linear
    (MinibatchStd's output when on); the critic's input is the genes only; a pack adds the
    sum of its rows' embeddings."""
    torch.manual_seed(0)
    x = torch.randn(8, 10)
    y = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1])
    for pack, minibatch_std in ((1, False), (2, True)):
        gan = GAN(
            10,
            n_labels=3,
            latent_dim=3,
            discriminator_hidden=(8, 6),
            dropout=0.0,
            loss="wgan-gp",
            pack=pack,
            minibatch_std=minibatch_std,
            critic_conditioning="projection",
        )
        linears = [m for m in gan.discriminator if isinstance(m, nn.Linear)]
        assert linears[0].in_features == 10 * pack  # no one-hot label in the input
        assert gan.label_embedding.weight.shape == (3, 6 + minibatch_std)
        with torch.no_grad():
            h = x.reshape(8 // pack, -1)
            for linear in linears[:-1]:
                h = F.leaky_relu(linear(h), 0.2)
            if minibatch_std:
                h = torch.cat(
                    [h, (h.var(dim=0, unbiased=False) + 1e-8).sqrt().mean().expand(len(h), 1)], 1
                )
            embedding = gan.label_embedding.weight[y].reshape(8 // pack, pack, -1).sum(dim=1)
            expected = linears[-1](h).squeeze(1) + (embedding * h).sum(dim=1)
            torch.testing.assert_close(gan.critic(x, y), expected)
            # every row's label counts, the second of a pack's too
            other = y.clone()
            other[1::2] = (other[1::2] + 1) % 3
            assert not torch.equal(gan.critic(x, other), gan.critic(x, y))
    # registered as a module of its own, and trained with the critic
    keys = gan.state_dict().keys()
    assert "label_embedding.weight" in keys and not any(
        "embedding" in k for k in keys if k != "label_embedding.weight"
    )
    assert any(p is gan.label_embedding.weight for p in gan.critic_parameters())
    assert not any(p is gan.label_embedding.weight for p in gan.discriminator.parameters())
    # initialised N(0, 1/phi_dim)
    wide = GAN(10, n_labels=4, discriminator_hidden=(8, 400), critic_conditioning="projection")
    assert wide.label_embedding.weight.std().item() == pytest.approx(1 / 20, rel=0.1)


def test_projection_embedding_is_updated_by_training(data):
    x, y = data
    hp = {**BASE["gan"], "critic_conditioning": "projection"}
    model, arch, _ = fit_model("gan", x, y, 2, hp, seed=3, device="cpu", progress=False)
    assert arch["critic_conditioning"] == "projection"
    torch.manual_seed(3)  # fit_model's seed: the same initial weights
    untrained = GAN(
        12,
        n_labels=2,
        latent_dim=3,
        generator_hidden=(8,),
        discriminator_hidden=(8, 8),
        critic_conditioning="projection",
    )
    assert not torch.equal(model.label_embedding.weight, untrained.label_embedding.weight)


def test_every_layer_generator_appends_the_label_to_every_linears_input():
    """The Linears after the first are n_labels wider; a by-hand forward pass (one-hot
    appended before each Linear) gives what generate does, with and without the zero gate."""
    y = torch.tensor([0, 2, 1, 1, 0])
    onehot = F.one_hot(y, 3).float()
    for zero_inflation in (False, True):
        gan = GAN(
            12,
            n_labels=3,
            latent_dim=4,
            generator_hidden=(8, 6),
            output_noise=not zero_inflation,
            zero_inflation=zero_inflation,
            zero_value=[-0.5] * 12 if zero_inflation else None,
            generator_conditioning="every_layer",
        )
        linears = [m for m in gan.generator if isinstance(m, nn.Linear)]
        assert [m.in_features for m in linears] == [4 + 3, 8 + 3, 6 + 3]
        if zero_inflation:
            with torch.no_grad():
                gan.to_zero_logit.bias.fill_(-1e4)  # the gate never fires
        torch.manual_seed(7)
        out = gan.sample(5, y)
        torch.manual_seed(7)
        with torch.no_grad():
            h = torch.cat([torch.randn(5, 4), onehot], 1)
            h = torch.relu(linears[0](h))
            h = torch.relu(linears[1](torch.cat([h, onehot], 1)))
            h = linears[2](torch.cat([h, onehot], 1))
            if zero_inflation:
                h = h.clamp(min=-0.5)
            else:
                h = h + torch.randn_like(h) * gan.generator[-1].log_sigma.exp()
        torch.testing.assert_close(out, h)
    # the wider Linears are built after the other modules, which keep their initial weights
    weights = {}
    for option in ("input", "every_layer"):
        torch.manual_seed(3)
        gan = GAN(
            12,
            n_labels=3,
            latent_dim=4,
            generator_hidden=(8, 6),
            minibatch_std=True,
            generator_conditioning=option,
        )
        weights[option] = gan.state_dict()
    assert all(
        torch.equal(v, weights["every_layer"][k])
        for k, v in weights["input"].items()
        if k.startswith("discriminator.") or k.startswith("generator.0.")
    )


def test_conditioning_options_without_labels_change_nothing():
    """With n_labels == 0, projection is concat and every_layer is input: same modules,
    same weights, same samples."""
    torch.manual_seed(1)
    plain = GAN(10, latent_dim=3, dropout=0.0, minibatch_std=True)
    torch.manual_seed(1)
    both = GAN(
        10,
        latent_dim=3,
        dropout=0.0,
        minibatch_std=True,
        critic_conditioning="projection",
        generator_conditioning="every_layer",
    )
    assert plain.state_dict().keys() == both.state_dict().keys()
    assert all(torch.equal(v, both.state_dict()[k]) for k, v in plain.state_dict().items())
    x = torch.randn(6, 10)
    torch.testing.assert_close(plain.critic(x, None), both.critic(x, None))
    torch.manual_seed(2)
    a = plain.sample(4)
    torch.manual_seed(2)
    torch.testing.assert_close(a, both.sample(4))


@pytest.mark.parametrize("option", ["critic_conditioning", "generator_conditioning"])
def test_unknown_conditioning_is_refused_naming_the_option(option, data):
    with pytest.raises(ValueError, match=f"{option} must be one of .*'film'"):
        GAN(10, n_labels=2, **{option: "film"})
    with pytest.raises(ValueError, match=option):
        fit_model(
            "gan", *data, 2, {**BASE["gan"], option: "film"}, seed=0, device="cpu", progress=False
        )


def test_aggregate_posterior_sampler_has_the_moments_of_each_labels_encodings(data):
    """Per label: mean of the posterior means, covariance Cov(mu) + mean posterior variance;
    sampled latents land where that label's training samples are encoded."""
    x, y = data
    hp = {**BASE["vae"], "latent_sampling": "aggregate_posterior", "epochs": 5}
    model, arch, _ = fit_model("vae", x, y, 2, hp, seed=0, device="cpu", progress=False)
    assert arch["latent_sampling"] == "aggregate_posterior"
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    with torch.no_grad():
        mu, logvar = model.encode(xt, yt)
    for k in (0, 1):
        m, v = mu[yt == k].double(), logvar[yt == k].double().exp()
        cov = torch.cov(m.T) + torch.diag(v.mean(dim=0))
        chol = model.latent_cholesky[k, 0].double()
        torch.testing.assert_close(
            model.latent_mean[k, 0].double(), m.mean(dim=0), atol=1e-5, rtol=0
        )
        torch.testing.assert_close(chol @ chol.T, cov, atol=1e-5, rtol=1e-4)
    # sample() draws z from those Gaussians (seen through an identity decoder, no noise)
    model.decode = lambda z, y: z
    model.learned_var = False
    torch.manual_seed(0)
    labels = torch.tensor([0, 1]).repeat_interleave(4000)
    z = model.sample(8000, labels)
    for k in (0, 1):
        chol = model.latent_cholesky[k, 0]
        torch.testing.assert_close(
            z[labels == k].mean(dim=0), model.latent_mean[k, 0], atol=0.05, rtol=0
        )
        torch.testing.assert_close(torch.cov(z[labels == k].T), chol @ chol.T, atol=0.05, rtol=0.1)
    # and a prior-sampling VAE has no latent sampler to store
    prior, _, _ = fit_model("vae", x, y, 2, BASE["vae"], seed=0, device="cpu", progress=False)
    assert "latent_mean" not in prior.state_dict()


def test_mixture_latent_sampler_follows_clustered_encodings():
    """Planted: encodings in three tight clusters. The mixture sampler finds three
    components and draws z inside them; aggregate_posterior's one Gaussian spreads between."""
    vae = VAE(
        4, n_labels=0, latent_dim=2, hidden=(8,), latent_sampling="mixture", latent_components=6
    )
    centres = torch.tensor([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]], dtype=torch.float64)
    mu = centres[torch.arange(600) % 3] + 0.3 * torch.randn(600, 2, dtype=torch.float64)
    vae.encode = lambda x, y: (
        mu.float(),
        torch.full_like(mu, -6.0).float(),
    )  # tiny posterior variance
    vae.fit_latent_sampler(torch.zeros(600, 4), None, seed=0)
    assert int((vae.latent_weight[0] > 0).sum()) == 3
    vae.decode = lambda z, y: z
    vae.learned_var = False
    torch.manual_seed(1)
    z = vae.sample(3000).double()
    off = torch.cdist(z, centres).min(dim=1).values
    assert float(off.median()) < 0.5  # inside a cluster (sd 0.3), not on the bridges
    single = VAE(4, n_labels=0, latent_dim=2, hidden=(8,), latent_sampling="aggregate_posterior")
    single.encode, single.decode, single.learned_var = vae.encode, vae.decode, False
    single.fit_latent_sampler(torch.zeros(600, 4), None)
    assert (
        float(torch.cdist(single.sample(3000).double(), centres).min(dim=1).values.median()) > 1.5
    )


def test_checkpoint_tensors_are_saved_on_cpu_and_load_with_map_location(data, tmp_path):
    """A GPU-trained checkpoint must open on a CPU-only machine: weights are moved to CPU
    before saving, and the loader maps any stored device to the requested one."""
    gen = trained("vae", BASE["vae"], data)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(gen, path)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert all(t.device.type == "cpu" for t in raw["state_dict"].values())
    loaded = load_generator(path, map_location="cpu")
    assert next(loaded.generator.module.parameters()).device.type == "cpu"
    assert loaded.sample(5).shape == (5, 12)


def test_auto_device_falls_back_to_cpu_and_cuda_request_without_gpu_is_an_error():
    from exprsynth.models.base import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        resolve_device("cuda")


@pytest.mark.parametrize("shape", [(40, 15), (15, 40)])
def test_ledoit_wolf_matches_sklearn_without_a_genes_by_genes_matrix(shape):
    from sklearn.covariance import LedoitWolf

    from exprsynth.models.gaussian import ledoit_wolf

    x = np.random.default_rng(1).normal(size=shape) @ np.diag(np.linspace(0.5, 2.0, shape[1]))
    xc = x - x.mean(axis=0)
    shrinkage, mu = ledoit_wolf(xc)
    sk = LedoitWolf().fit(x)
    assert shrinkage == pytest.approx(sk.shrinkage_, rel=1e-9)
    cov = (1 - shrinkage) * xc.T @ xc / len(x) + shrinkage * mu * np.eye(shape[1])
    np.testing.assert_allclose(cov, sk.covariance_, atol=1e-12)


def test_gaussian_reference_samples_have_the_shrunk_covariance():
    from exprsynth.models.gaussian import GaussianReference, ledoit_wolf

    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 8)) @ rng.normal(size=(8, 8))  # fewer rows than a stable S needs
    model = GaussianReference(8, 0, {})
    model.fit(x, None, seed=0)
    s = model.sample(40_000, None, np.random.default_rng(3))
    xc = x - x.mean(axis=0)
    shrinkage, mu = ledoit_wolf(xc)
    expected = (1 - shrinkage) * xc.T @ xc / len(x) + shrinkage * mu * np.eye(8)
    np.testing.assert_allclose(s.mean(axis=0), x.mean(axis=0), atol=0.1)
    np.testing.assert_allclose(np.cov(s.T, bias=True), expected, atol=0.1 * np.abs(expected).max())


def test_reference_generators_never_import_torch(data, tmp_path):
    """Their jobs skip torch's ~1 s start-up: fitting, saving, loading and sampling."""
    np.save(tmp_path / "x.npy", data[0])
    np.save(tmp_path / "y.npy", data[1])
    code = f"""
import sys, numpy as np
from exprsynth import load_generator
from exprsynth.config import model_settings
from exprsynth.data.preprocess import Scaler
from exprsynth.io.checkpoint import save_checkpoint
from exprsynth.models.build import build_generator
from exprsynth.models.trained import TrainedGenerator
x, y = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
for kind in ("gaussian", "mixture", "independent"):
    model = build_generator(kind, 12, 2, model_settings(kind))
    hist = model.fit(x, y, seed=0)
    gen = TrainedGenerator(kind, model, Scaler.fit(x, log1p=False), [f"g{{i}}" for i in range(12)],
                           "status", ["0", "1"], [int((y == 0).sum()), int((y == 1).sum())], hist)
    save_checkpoint(gen, {str(tmp_path)!r} + f"/{{kind}}.npz")
    assert load_generator({str(tmp_path)!r} + f"/{{kind}}.npz").sample(5).shape == (5, 12)
assert "torch" not in sys.modules, "torch was imported"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_reference_checkpoint_with_a_pickled_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(
        path,
        metadata=np.array('{"format": "exprsynth-checkpoint/3"}'),
        **{"model.data": np.array([object()])},
    )
    with pytest.raises(ValueError, match="not a loadable exprsynth checkpoint"):
        load_generator(path)


def test_flat_adam_follows_torch_adam():
    from exprsynth.models.training import FlatAdam

    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(6, 3), torch.nn.Linear(6, 3)
    theirs.load_state_dict(ours.state_dict())
    opt_ours = FlatAdam(ours.parameters(), lr=1e-2, betas=(0.5, 0.9))
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-2, betas=(0.5, 0.9))
    x = torch.randn(16, 6)
    for _ in range(20):
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert ours.weight.grad.data_ptr() == opt_ours.grad.data_ptr()  # gradients land in the buffer


def test_capturable_flat_adam_takes_the_same_steps():
    """The step count kept on the device (for CUDA graphs) changes nothing but rounding."""
    from exprsynth.models.training import FlatAdam

    torch.manual_seed(0)
    plain, capturable = torch.nn.Linear(6, 3), torch.nn.Linear(6, 3)
    capturable.load_state_dict(plain.state_dict())
    optimisers = [
        FlatAdam(plain.parameters(), lr=1e-2),
        FlatAdam(capturable.parameters(), lr=1e-2, capturable=True),
    ]
    x = torch.randn(16, 6)
    for _ in range(20):
        for model, opt in zip((plain, capturable), optimisers):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    assert optimisers[1].step_count.item() == 20
    for a, b in zip(plain.parameters(), capturable.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_a_step_replayed_as_a_cuda_graph_gives_the_eager_result():
    from exprsynth.models.training import FlatAdam, StepRunner

    torch.manual_seed(0)
    x, t = torch.randn(53, 6, device="cuda"), torch.randn(53, 2, device="cuda")
    # Batches of 8 and a last one of 5: warm-up, capture, replays, and an eager odd batch.
    batches = [torch.arange(i, min(i + 8, 53), device="cuda") for i in range(0, 53, 8)] * 3
    results = []
    for cuda_graph in (False, True):
        model = torch.nn.Sequential(
            torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
        ).cuda()
        model.load_state_dict(
            {
                k: torch.full_like(v, 0.1) + 0.01 * i
                for i, (k, v) in enumerate(model.state_dict().items())
            }
        )
        opt = FlatAdam(model.parameters(), lr=1e-2, capturable=True)
        total = torch.zeros((), device="cuda")

        def step(idx):
            loss = (model(x[idx]) - t[idx]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.clip_grad_norm(1.0)
            opt.step()
            total.add_(loss.detach())

        run = StepRunner(step, 8, x.device, cuda_graph=cuda_graph)
        for idx in batches:
            run(idx)
        assert (run.graph is not None) == cuda_graph
        results.append((torch.cat([p.flatten() for p in model.parameters()]), total))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_zero_inflated_models_train_and_draw_exact_zeros(kind, device):
    """The zero gates (VAE hurdle, GAN gate) train, on a GPU as captured graphs too."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12)).astype(np.float32)
    zero_value = np.full(12, -1.5, dtype=np.float32)
    x[rng.random(x.shape) < 0.5] = -1.5
    y = (x[:, 0] > 0).astype(np.int64)
    hparams = {**BASE[kind], "epochs": 8, "zero_inflation": True}
    model, arch, history = fit_model(
        kind, x, y, 2, hparams, seed=0, device=device, progress=False, zero_value=zero_value
    )
    assert arch["zero_inflation"]
    assert np.isfinite(
        history.drop(columns=["epoch", "wasserstein"], errors="ignore").to_numpy()
    ).all()
    sample = model.sample(400, torch.tensor([0, 1] * 200)).numpy()
    assert 0.2 < np.mean(sample == -1.5) < 0.8  # exact zeros, at about the training rate


@pytest.mark.parametrize("ema", [None, 0.999999])
def test_gan_zero_gate_is_trained_and_averaged(ema):
    """The gate sits outside the generator's Sequential: it must still get optimiser steps
    (and, with ema, be averaged), or each gene's zero rate stays at its initial value."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12)).astype(np.float32)
    x[:, :6][rng.random((96, 6)) < 0.8] = -1.5  # zeros in half of the genes only
    gan = GAN(
        12,
        latent_dim=3,
        generator_hidden=(8,),
        discriminator_hidden=(8, 8),
        loss="wgan-gp",
        zero_inflation=True,
        zero_value=[-1.5] * 12,
    )
    gan.init_zero_rate(torch.tensor(np.mean(x == -1.5, axis=0), dtype=torch.float32))
    before = [p.detach().clone() for p in gan.to_zero_logit.parameters()]
    train_gan(gan, torch.from_numpy(x), None, epochs=5, batch_size=32, ema=ema, progress=False)
    moved = max((a - b).abs().max().item() for b, a in zip(before, gan.to_zero_logit.parameters()))
    if ema is None:
        assert moved > 1e-3  # trained
    else:
        assert moved < 1e-4  # the long average barely leaves the start: it covers the gate


@pytest.mark.parametrize("n_rows, critic_steps", [(40, 5), (96, 2)])
def test_gan_generator_steps_with_fewer_batches_than_critic_steps(n_rows, critic_steps):
    """critic_steps counts across epochs: with one batch an epoch, the generator still
    steps every critic_steps epochs, and the epochs between report no generator loss."""
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(n_rows, 12)).astype(np.float32))
    gan = GAN(12, latent_dim=3, generator_hidden=(8,), discriminator_hidden=(8, 8), loss="wgan-gp")
    before = torch.cat([p.detach().flatten() for p in gan.generator_parameters()])
    history = train_gan(
        gan,
        x,
        None,
        epochs=2 * critic_steps,
        batch_size=128,
        critic_steps=critic_steps,
        progress=False,
    )
    assert not torch.equal(
        before, torch.cat([p.detach().flatten() for p in gan.generator_parameters()])
    )
    stepped = np.isfinite(history["generator_loss"].to_numpy())
    assert stepped.tolist() == [(e + 1) % critic_steps == 0 for e in range(2 * critic_steps)]
    assert np.isfinite(history["discriminator_loss"]).all()


@needs_cuda
@pytest.mark.parametrize(
    "kind, options", [("vae", o) for o in VAE_OPTIONS] + [("gan", o) for o in GAN_OPTIONS]
)
def test_every_option_trains_on_a_gpu_with_cuda_graphs(kind, options, data):
    """Enough epochs that every step (the GAN's generator step too) is captured and replayed."""
    x, y = data
    model, _, history = fit_model(
        kind, x, y, 2, {**BASE[kind], **options, "epochs": 8}, seed=0, device="cuda", progress=False
    )
    losses = history.drop(columns=["epoch", "wasserstein"], errors="ignore").to_numpy()
    assert np.isfinite(losses).all()
    if kind == "vae":
        assert_vae_loss_adds_up(history)
    assert np.isfinite(model.sample(10, torch.tensor([0, 1] * 5)).numpy()).all()


@pytest.mark.parametrize("kind", ["vae", "gan", "gaussian"])
def test_unlabelled_draws_keep_the_training_proportions_exactly(kind, data):
    """Without a label, a conditional model gives the training proportions exactly (here
    3:1), shuffled, and the same for the same seed."""
    gen = trained(kind, BASE.get(kind, {}), data)
    gen.label_counts = [75, 25]
    meta = gen.generate(1000, seed=3)[1]
    counts = meta["status"].value_counts()
    assert counts.loc["0"] == 750 and counts.loc["1"] == 250
    assert meta["status"].iloc[:500].nunique() == 2  # shuffled, not in blocks
    assert gen.generate(1000, seed=3)[1].equals(meta)
    from exprsynth.models.trained import proportional_counts

    assert proportional_counts([5, 3], 7).tolist() == [4, 3] and proportional_counts(
        [10, 0, 5], 4
    ).tolist() == [3, 0, 1]


def test_the_mixture_reference_follows_clusters_without_copying_samples():
    """Planted: three tight clusters per label in 30 genes. One Gaussian fills the space
    between them; the mixture puts its samples in the clusters, and no sample is a copy."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 30))
    cluster = rng.integers(0, 3, 600)
    x = centres[cluster] + rng.normal(0, 0.5, (600, 30))
    y = rng.integers(0, 2, 600)
    mixture, _ = fit_generator("mixture", x, y, 2, {"rank": 5}, seed=0)
    gaussian, _ = fit_generator("gaussian", x, y, 2, {}, seed=0)
    assert mixture.fitted["components"] == [3, 3]

    def off_cluster(samples):  # distance to the nearest cluster centre, in cluster sds
        return np.sqrt(((samples[:, None, :] - centres[None]) ** 2).sum(-1)).min(1) / 0.5

    labels = np.repeat([0, 1], 300)
    s_mix = mixture.sample(600, labels, np.random.default_rng(1))
    s_gauss = gaussian.sample(600, labels, np.random.default_rng(1))
    assert np.median(off_cluster(s_mix)) < 8 < np.median(off_cluster(s_gauss))
    nearest = np.sqrt(((s_mix[:, None, :] - x[None]) ** 2).sum(-1)).min(1)
    assert (
        nearest.min() > 1.0
    )  # per-gene noise around the subspace: no sample repeats a training row


def test_the_mixture_reference_keeps_label_effects_off_its_subspace():
    """Planted: 40 genes, the label shifts gene 39 by 3 sd, while the top axes are taken by
    large shared variation elsewhere: the label's residual offset must carry the shift."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 800)
    x = rng.normal(0, 1, (800, 40))
    x[:, :5] += rng.normal(0, 6, (800, 1))  # the dominant axis
    x[:, 39] += 3.0 * y
    mixture, _ = fit_generator("mixture", x, y, 2, {"rank": 2}, seed=0)
    labels = np.repeat([0, 1], 2000)
    s = mixture.sample(4000, labels, np.random.default_rng(1))
    shift = s[labels == 1, 39].mean() - s[labels == 0, 39].mean()
    assert shift == pytest.approx(3.0, abs=0.3)


def test_a_gan_conditioned_on_clusters_finds_them_and_samples_them_in_proportion():
    """Planted: three tight clusters in 30 genes, in both labels, one of them rare. The
    GAN with clusters: 5 finds three per label (BIC) and draws each label's clusters in
    their training proportions; its samples keep the label asked for."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 30))
    cluster = rng.choice(3, 600, p=[0.6, 0.3, 0.1])
    x = centres[cluster] + rng.normal(0, 0.5, (600, 30))
    y = rng.integers(0, 2, 600)
    gan, _ = fit_generator("gan", x, y, 2, {"epochs": 2, "clusters": 5}, seed=0)
    clusters = gan.fitted["clusters"]
    assert clusters["label_of"] == [0, 0, 0, 1, 1, 1]
    assert sum(clusters["counts"]) == 600
    conditions = gan._conditions(np.repeat([0, 1], 3000), 6000, np.random.default_rng(1))
    assert set(conditions[:3000]) == {0, 1, 2} and set(conditions[3000:]) == {3, 4, 5}
    counts = np.array(clusters["counts"], float)
    for label, rows in ((0, slice(0, 3000)), (1, slice(3000, 6000))):
        options = np.arange(3) + 3 * label
        share = np.bincount(conditions[rows] - 3 * label, minlength=3) / 3000
        assert np.allclose(share, counts[options] / counts[options].sum(), atol=0.03)
    assert gan.module.n_labels == 6  # conditioned on (label, cluster)


def test_clusters_are_refused_with_a_private_gan(data):
    from exprsynth.models.base import TrainingError

    with pytest.raises(TrainingError, match="gan.privacy: clusters: 3 is not supported"):
        fit_generator(
            "gan",
            *data,
            2,
            {"epochs": 1, "clusters": 3, "privacy": {"epsilon": 5.0}, "minibatch_std": False},
            seed=0,
        )
