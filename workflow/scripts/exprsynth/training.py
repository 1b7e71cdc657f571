"""Training loops (the "training plans"): optimiser, minibatches, per-epoch history.

Training data sit in one tensor on the device; each epoch draws a permutation and slices
minibatches from it (no per-sample Dataset/DataLoader). Losses are accumulated on the
device and read back once per epoch, so the loop never waits on a per-step `.item()`.
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from tqdm.auto import tqdm

from .gan import GAN
from .vae import VAE


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; nothing trained this way should be sampled from."""


def _batches(n: int, batch_size: int, device: torch.device):
    order = torch.randperm(n, device=device)
    # Drop a last batch of one row: it breaks batch statistics and packing.
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        if len(idx) > 1:
            yield idx


def _adam(params, device: torch.device, **kwargs) -> torch.optim.Adam:
    """Adam with the fused kernel: one call per step instead of one per parameter tensor
    (measured here: a VAE step on CPU took 2.0 ms instead of 3.3 ms)."""
    return torch.optim.Adam(params, fused=device.type in ("cpu", "cuda"), **kwargs)


def _check_finite(model: str, epoch: int, losses: dict[str, float], hint: str) -> None:
    bad = [k for k, v in losses.items() if not math.isfinite(v) and k != "wasserstein"]
    if bad:
        raise TrainingDiverged(
            f"{model} training diverged: {', '.join(bad)} became {losses[bad[0]]} at epoch "
            f"{epoch}; {hint}"
        )


def train_vae(
    model: VAE,
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    kl_warmup_epochs: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Adam on the negative ELBO; returns one row per epoch (loss, reconstruction, kl, ...)."""
    opt = _adam(model.parameters(), x.device, lr=lr)
    rows = []
    bar = tqdm(range(1, epochs + 1), desc="VAE", unit="epoch", disable=not progress, mininterval=1.0)
    for epoch in bar:
        model.train()
        # KL warm-up: beta ramps linearly from 0 to its target over the first epochs.
        beta = model.beta * min(1.0, epoch / kl_warmup_epochs) if kl_warmup_epochs else model.beta
        sums = torch.zeros(3, device=x.device)
        n_batches = 0
        for idx in _batches(len(x), batch_size, x.device):
            out = model.loss(x[idx], None if y is None else y[idx], beta=beta)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            sums += torch.stack([out.loss, out.reconstruction, out.kl]).detach()
            n_batches += 1
        loss, rec, kl = (sums / n_batches).tolist()
        row = {"epoch": epoch, "loss": loss, "reconstruction": rec, "kl": kl, "beta": beta}
        _check_finite("VAE", epoch, row, "lower vae.lr or check the input for extreme values")
        model.eval()
        row["active_units"] = model.active_units(x, y)
        rows.append(row)
        bar.set_postfix(loss=f"{loss:.2f}", rec=f"{rec:.2f}", kl=f"{kl:.2f}")
    return pd.DataFrame(rows)


def train_gan(
    model: GAN,
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 2e-4,
    lr_discriminator: float | None = None,
    betas: tuple[float, float] = (0.5, 0.999),
    critic_steps: int = 1,
    clip_norm: float | None = 1.0,
    progress: bool = True,
) -> pd.DataFrame:
    """Alternating updates: `critic_steps` discriminator batches per generator step.

    One epoch is one pass of the discriminator over the training data. Returns one row
    per epoch: discriminator_loss, generator_loss and (WGAN-GP) the Wasserstein estimate.
    """
    opt_g = _adam(model.generator.parameters(), x.device, lr=lr, betas=betas)
    opt_d = _adam(model.discriminator.parameters(), x.device, lr=lr_discriminator or lr, betas=betas)
    # Batches are a multiple of the pack size, so packs never straddle a batch edge.
    batch_size = max(model.pack, batch_size - batch_size % model.pack)
    rows = []
    bar = tqdm(range(1, epochs + 1), desc="GAN", unit="epoch", disable=not progress, mininterval=1.0)
    for epoch in bar:
        model.train()
        sums = torch.zeros(3, device=x.device)
        counts = torch.zeros(3, device=x.device)
        for step, idx in enumerate(_batches(len(x), batch_size, x.device), start=1):
            idx = idx[: len(idx) - len(idx) % model.pack]
            real, labels = x[idx], None if y is None else y[idx]
            fake = model.generate(len(idx), labels)
            d_loss, wasserstein = model.discriminator_loss(real, fake.detach(), labels)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            if clip_norm:
                torch.nn.utils.clip_grad_norm_(model.discriminator.parameters(), clip_norm)
            opt_d.step()
            sums[0] += d_loss.detach()
            sums[2] += wasserstein.detach().to(x.device)
            counts[0] += 1
            counts[2] += 1
            if step % critic_steps:
                continue
            g_loss = model.generator_loss(model.generate(len(idx), labels), labels)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            if clip_norm:
                torch.nn.utils.clip_grad_norm_(model.generator.parameters(), clip_norm)
            opt_g.step()
            sums[1] += g_loss.detach()
            counts[1] += 1
        d, g, w = (sums / counts.clamp(min=1)).tolist()
        row = {"epoch": epoch, "discriminator_loss": d, "generator_loss": g, "wasserstein": w}
        _check_finite("GAN", epoch, row, "lower gan.lr or check the input for extreme values")
        rows.append(row)
        bar.set_postfix(d=f"{d:.3f}", g=f"{g:.3f}")
    return pd.DataFrame(rows)
