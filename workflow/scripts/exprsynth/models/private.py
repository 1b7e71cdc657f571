"""DP-SGD training of the networks with Opacus.

Opacus computes per-sample gradients with hooks on layers called through forward(); the
VAE's loss and the critic's gradient penalty are outside them, so these loops compute
per-sample gradients with torch.func (vmap over the rows of one row's gradient) and hand
them to Opacus's DPOptimizer as its hooks would (grad_sample_mode "no_op"). Opacus's
make_private_with_epsilon sets the noise for the configured epochs, replaces the batches
by Poisson sampling (its DPDataLoader, over the row indices: the data stay one tensor on
the device) and keeps the accountant (its default, PRV). No CUDA graphs: the batch size
varies. Opacus is imported here only, so the non-private path never loads it.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .base import TrainingError
from .training import FlatAdam, _check_finite


def _make_private(key, module, params, loader, *, lr, betas, epsilon, delta, epochs, clip):
    """(engine, DPOptimizer over Adam, Poisson loader); Opacus's refusal as one line."""
    from opacus import PrivacyEngine
    from opacus.validators.errors import UnsupportedModuleError

    with warnings.catch_warnings():  # "Secure RNG turned off": the workflow seeds its runs
        warnings.simplefilter("ignore")
        engine = PrivacyEngine()
        try:
            _, opt, loader = engine.make_private_with_epsilon(
                module=module,
                optimizer=torch.optim.Adam(params, lr=lr, betas=betas),
                data_loader=loader,
                target_epsilon=epsilon,
                target_delta=delta,
                epochs=epochs,
                max_grad_norm=clip,
                grad_sample_mode="no_op",
            )
        except (UnsupportedModuleError, ValueError) as e:  # Opacus's messages run over lines
            why = " ".join(str(e).split())
            raise TrainingError(f"{key}: not supported with DP-SGD: {why}") from None
    return engine, opt, loader


def _index_loader(n: int, batch_size: int):
    from torch.utils.data import DataLoader, TensorDataset

    return DataLoader(TensorDataset(torch.arange(n)), batch_size=batch_size)


# Epochs after which the epsilon spent is computed, at most (and after the last): PRV's
# domain takes about 0.3 s per call on the 2-core CPU machine, a share of a private epoch.
EPSILON_READINGS = 10


def _spent(engine, delta: float, epoch: int, epochs: int) -> float:
    """The epsilon spent so far, after every epochs/EPSILON_READINGS-th epoch and the last;
    NaN after the others."""
    if epoch % math.ceil(epochs / EPSILON_READINGS) and epoch != epochs:
        return math.nan
    with warnings.catch_warnings():  # RDP's bound, used only to size PRV's domain
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(engine.get_epsilon(delta))


def _guarantee(engine, opt, loader, *, spent, epsilon, delta, max_grad_norm) -> dict:
    """The checkpoint's fitted.privacy: plain floats and strings."""
    return {
        "epsilon": spent,
        "delta": float(delta),
        "target_epsilon": float(epsilon),
        "noise_multiplier": float(opt.noise_multiplier),
        "max_grad_norm": float(max_grad_norm),
        "sample_rate": 1.0 / len(loader),
        "accountant": engine.accountant.mechanism(),
    }


def _by_label(per_row, y, idx, *rows):
    """per_row(weights..., rows..., label) for the rows of each label in idx, concatenated.

    The label goes in unbatched, one call per label in the batch: F.one_hot cannot run
    under vmap (it checks its input's values). per_row returns (grads dict, aux)."""
    if y is None:
        return per_row(*rows, None)
    labels = y[idx]
    parts = [per_row(*(r[labels == k] for r in rows), k) for k in labels.unique()]
    grads = {k: torch.cat([g[k] for g, _ in parts]) for k in parts[0][0]}
    return grads, torch.cat([aux for _, aux in parts])


def _set_grad_samples(params, names, grads):
    for k in names:
        params[k].grad_sample = grads[k]


def _no_grad_samples(params, names):
    # An empty Poisson batch still takes its (noise-only) step.
    for k in names:
        params[k].grad_sample = params[k].new_zeros((0, *params[k].shape))


def train_vae_private(
    model,  # a VAE module
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    kl_warmup_epochs: int,
    epsilon: float,
    delta: float,
    max_grad_norm: float,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """DP-SGD (Abadi et al., 2016) on the negative ELBO; returns the history (train_vae's
    columns and the epsilon spent, see _spent) and a summary of the guarantee."""
    from torch.func import functional_call, grad, vmap

    names = [k for k, p in model.named_parameters() if p.requires_grad]
    params = dict(model.named_parameters())
    engine, opt, loader = _make_private(
        "vae.privacy",
        model,
        [params[k] for k in names],
        _index_loader(len(x), batch_size),
        lr=lr,
        betas=(0.9, 0.999),
        epsilon=epsilon,
        delta=delta,
        epochs=epochs,
        clip=max_grad_norm,
    )

    def one_row(weights, beta, xi, yi):
        # The loss of one row as a batch of one; the other parameters held fixed.
        out = functional_call(
            model,
            {**params, **weights},
            (xi[None], None if yi is None else yi[None]),
            {"beta": beta},
            strict=False,
        )
        return out.loss, torch.stack([out.loss, out.reconstruction, out.kl]).detach()

    per_row = vmap(grad(one_row, has_aux=True), (None, None, 0, None), randomness="different")
    sums = torch.zeros(3, device=x.device)
    rows = []
    bar = tqdm(
        range(1, epochs + 1), desc="VAE (DP)", unit="epoch", disable=not progress, mininterval=1.0
    )
    for epoch in bar:
        model.train()
        beta = model.beta * min(1.0, epoch / kl_warmup_epochs) if kl_warmup_epochs else model.beta
        sums.zero_()
        n_rows = 0
        for (idx,) in loader:
            idx = idx.to(x.device)
            opt.zero_grad()
            if len(idx):
                weights = {k: params[k].detach() for k in names}
                grads, losses = _by_label(
                    lambda xi, yi: per_row(weights, beta, xi, yi), y, idx, x[idx]
                )
                _set_grad_samples(params, names, grads)
                sums.add_(losses.sum(dim=0))
                n_rows += len(idx)
            else:
                _no_grad_samples(params, names)
            opt.step()
        loss, rec, kl = (sums / max(n_rows, 1)).tolist()
        row = {"epoch": epoch, "loss": loss, "reconstruction": rec, "kl": kl, "beta": beta}
        _check_finite("VAE", epoch, row, "lower vae.lr or check the input for extreme values")
        model.eval()
        row["active_units"] = model.active_units(x, y)
        row["epsilon"], row["delta"] = _spent(engine, delta, epoch, epochs), float(delta)
        rows.append(row)
        bar.set_postfix(loss=f"{loss:.2f}", epsilon=f"{row['epsilon']:.2f}")
    guarantee = _guarantee(
        engine,
        opt,
        loader,
        spent=rows[-1]["epsilon"],
        epsilon=epsilon,
        delta=delta,
        max_grad_norm=max_grad_norm,
    )
    return pd.DataFrame(rows), guarantee


class Critic(nn.Module):
    """The GAN's critic as a module of its own (forward: gan.critic), for Opacus and
    torch.func. It holds the GAN's discriminator and label embedding themselves, so
    replacing its parameters in functional_call replaces those gan.critic uses; the GAN
    is kept outside its submodules, so its generator's parameters are not its own."""

    def __init__(self, gan):
        super().__init__()
        self.discriminator = gan.discriminator
        if gan.projection:
            self.label_embedding = gan.label_embedding
        object.__setattr__(self, "gan", gan)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.gan.critic(x, y)


def critic_row_loss(critic, gan, weights, real, fake, mix, label):
    """One real row's part of the critic loss, paired with a generated row drawn for it,
    and the row's critic values (real, generated).

    real, fake: one row each (genes); mix: the gradient penalty's interpolation weight;
    label: 0-d (or None). WGAN-GP: -D(real) + D(fake) + gp_weight (|grad D(mixed)| - 1)^2,
    mixed between the two; BCE: the two rows' cross-entropies. Averaged over a batch this
    is GAN.discriminator_loss with the same draws."""
    from torch.func import functional_call, grad

    labels = None if label is None else label[None]

    def d(row):
        return functional_call(critic, weights, (row[None], labels), strict=False)[0]

    d_real, d_fake = d(real), d(fake)
    if gan.loss_kind == "bce":
        loss = F.binary_cross_entropy_with_logits(
            d_real, torch.full_like(d_real, gan.real_label)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.full_like(d_fake, gan.fake_label))
    else:
        g = grad(d)(mix * real + (1 - mix) * fake)
        loss = d_fake - d_real + gan.gp_weight * (g.norm(2) - 1) ** 2
    return loss, torch.stack([loss, d_real, d_fake]).detach()


def train_gan_private(
    model,  # a GAN module, pack 1 and no minibatch-std feature
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    lr_discriminator: float | None,
    betas: tuple[float, float],
    critic_steps: int,
    clip_norm: float | None,
    ema: float | None,
    epsilon: float,
    delta: float,
    max_grad_norm: float,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """DP-SGD on the critic only (as DP-GAN, Xie et al. 2018, and GS-WGAN, Chen et al.
    2020): only the critic reads real rows; the generator learns from the critic alone,
    so its updates are post-processing. Returns train_gan's history with the epsilon spent
    (see _spent), and a summary of the guarantee.

    A critic step: every real row of the Poisson batch is paired with a generated row
    drawn for it (with its label), and the gradient of the pair's loss (critic_row_loss)
    is clipped; Opacus sums them, adds the noise and divides by the expected batch size.
    The generated rows' term is clipped with the real row's, though it holds no real row:
    added unclipped, it outgrew the clipped gradient penalty and the critic's loss reached
    1e10 within 60 epochs on the default cohort. The generator's steps draw labels in the
    training proportions, not a batch's: the label counts are treated as public, a real
    row's label is not. clip_norm clips the generator's steps only (the critic's per-row
    gradients are clipped at max_grad_norm).
    """
    from torch.func import grad, vmap

    critic = Critic(model)
    names = [k for k, p in critic.named_parameters() if p.requires_grad]
    params = dict(critic.named_parameters())
    engine, opt_d, loader = _make_private(
        "gan.privacy",
        critic,
        [params[k] for k in names],
        _index_loader(len(x), batch_size),
        lr=lr_discriminator or lr,
        betas=betas,
        epsilon=epsilon,
        delta=delta,
        epochs=epochs,
        clip=max_grad_norm,
    )
    expected = opt_d.expected_batch_size
    gen_params = model.generator_parameters()
    opt_g = FlatAdam(gen_params, lr=lr, betas=betas)
    ema_flat = None if ema is None else opt_g.flat.clone()
    shares = None if y is None else torch.bincount(y, minlength=model.n_labels).float()

    def public_labels(n):
        return None if shares is None else torch.multinomial(shares, n, replacement=True)

    def one_row(weights, real, fake, mix, label):
        return critic_row_loss(critic, model, {**params, **weights}, real, fake, mix, label)

    per_row = vmap(grad(one_row, has_aux=True), (None, 0, 0, 0, None), randomness="different")
    sums = torch.zeros(4, device=x.device)  # critic loss, D(real), D(fake), generator loss
    counts = torch.zeros(2, device=x.device)  # real rows, generator steps

    def critic_step(idx):
        opt_d.zero_grad()
        if len(idx):
            labels = None if y is None else y[idx]
            with torch.no_grad():
                fake = model.generate(len(idx), labels)
            mix = torch.rand(len(idx), device=x.device)
            weights = {k: params[k].detach() for k in names}
            grads, terms = _by_label(
                lambda *rows: per_row(weights, *rows), y, idx, x[idx], fake, mix
            )
            _set_grad_samples(params, names, grads)
            sums[:3] += terms.sum(dim=0)
            counts[0] += len(idx)
        else:
            _no_grad_samples(params, names)
        opt_d.step()  # clip each row's gradient, sum, add noise, scale, account

    def generator_step():
        labels = public_labels(expected)
        g_loss = model.generator_loss(model.generate(expected, labels), labels)
        grads = torch.autograd.grad(g_loss, gen_params, allow_unused=True)
        opt_g.grad.copy_(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(gen_params, grads)
                ]
            )
        )
        if clip_norm:
            opt_g.clip_grad_norm(clip_norm)
        opt_g.step()
        if ema_flat is not None:
            ema_flat.lerp_(opt_g.flat, 1 - ema)
        sums[3] += g_loss.detach()
        counts[1] += 1

    rows = []
    # Counted across epochs, as in train_gan: the ratio holds for any number of batches.
    critic_steps_done = 0
    bar = tqdm(
        range(1, epochs + 1), desc="GAN (DP)", unit="epoch", disable=not progress, mininterval=1.0
    )
    for epoch in bar:
        model.train()
        sums.zero_()
        counts.zero_()
        for (idx,) in loader:
            critic_step(idx.to(x.device))
            critic_steps_done += 1
            if critic_steps_done % critic_steps == 0:
                generator_step()
        (loss, d_real, d_fake, g_loss), (n_real, n_gen) = sums.tolist(), counts.tolist()
        mean = lambda total, n: total / n if n else math.nan  # noqa: E731
        row = {
            "epoch": epoch,
            "discriminator_loss": mean(loss, n_real),
            "generator_loss": mean(g_loss, n_gen),
            "wasserstein": math.nan
            if model.loss_kind == "bce"
            else mean(d_real, n_real) - mean(d_fake, n_real),
        }
        stepped = {
            k: row[k] for k, n in [("discriminator_loss", n_real), ("generator_loss", n_gen)] if n
        }
        _check_finite("GAN", epoch, stepped, "lower gan.lr or check the input for extreme values")
        row["epsilon"], row["delta"] = _spent(engine, delta, epoch, epochs), float(delta)
        rows.append(row)
        bar.set_postfix(d=f"{row['discriminator_loss']:.3f}", epsilon=f"{row['epsilon']:.2f}")
    if ema_flat is not None:
        opt_g.flat.copy_(ema_flat)
    guarantee = _guarantee(
        engine,
        opt_d,
        loader,
        spent=rows[-1]["epsilon"],
        epsilon=epsilon,
        delta=delta,
        max_grad_norm=max_grad_norm,
    )
    return pd.DataFrame(rows), guarantee
