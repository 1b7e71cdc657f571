"""The diffusion model: its torch module (denoiser, noise schedule, sampling) and its
generator (settings, training).

The training loop lives in `training.py`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .layers import mlp, register_zero_value
from .network import NetworkGenerator
from .training import train_diffusion

SCHEDULES = ("cosine", "linear")


def alpha_bars(schedule: str, timesteps: int) -> torch.Tensor:
    """The share of the signal's variance left at each step t = 1..T (a decreasing tensor
    of T values): cosine (Nichol & Dhariwal, 2021) or linear betas (Ho et al., 2020)."""
    if schedule == "cosine":
        s = 0.008
        t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        # Betas capped at 0.999: the last steps of the cosine would destroy all signal at once.
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    elif schedule == "linear":
        # The usual 1e-4..0.02 over 1000 steps, stretched to keep the same total noise.
        scale = 1000 / timesteps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    else:
        raise ValueError(
            f"diffusion schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}"
        )
    return torch.cumprod(1 - betas, dim=0).float()


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps (Vaswani et al., 2017), dim values per row."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    return F.pad(emb, (0, dim - 2 * half))


class Diffusion(nn.Module):
    """Gaussian denoising diffusion over the scaled genes (TabDDPM, Kotelnikov et al., 2023).

    The denoiser predicts the noise added to a sample: the noisy genes are projected to
    hidden[0] values, the step's (sinusoidal, then two layers) and the label's embedding
    are added, and an MLP maps the sum through the other hidden layers back to the genes,
    where it is added to the noise that independent unit-variance genes would hold.
    Training draws a step and a noise per row and minimises the squared error of the
    predicted noise. Sampling runs DDIM (Song et al., 2021) over `sampling_steps` of the
    `timesteps` steps, evenly spread: eta 0 is deterministic given the starting noise,
    eta 1 adds the ancestral (DDPM) noise at every step. Each step's estimate of the clean
    sample is kept inside each gene's training range, as the scaler's inverse keeps
    profiles anyway, and the noise estimate is made consistent with it (as image DDPMs
    clip to the pixel range).

    zero_inflation: a continuous diffusion draws no exact zeros. After training, each
    gene gets a threshold (`calibrate_zeros`): the value below which the model's own
    samples hold that gene's share of zeros in the training data. Sampling sets every
    entry below it to the gene's zero value, the lowest values being the ones the model
    places at the data's point mass at zero.
    """

    def __init__(
        self,
        n_genes: int,
        *,
        n_labels: int = 0,
        hidden: tuple[int, ...] = (256, 256),
        timesteps: int = 1000,
        schedule: str = "cosine",
        sampling_steps: int = 10,
        eta: float = 1.0,
        zero_inflation: bool = False,
        zero_value: list[float] | None = None,
    ):
        super().__init__()
        if not 1 <= sampling_steps <= timesteps:
            raise ValueError(
                f"diffusion sampling_steps must be between 1 and timesteps ({timesteps}), "
                f"not {sampling_steps}"
            )
        self.n_genes, self.n_labels, self.width = n_genes, n_labels, hidden[0]
        self.timesteps, self.sampling_steps, self.eta = timesteps, sampling_steps, eta
        # Fixed by the settings: not in the state dict.
        self.register_buffer("alpha_bar", alpha_bars(schedule, timesteps), persistent=False)
        self.project = nn.Linear(n_genes, self.width)
        self.time = mlp([self.width, self.width, self.width], activation=nn.SiLU)
        self.label = nn.Embedding(n_labels, self.width) if n_labels else None
        self.denoiser = mlp([self.width, *hidden[1:], n_genes], activation=nn.SiLU)
        # Each gene's training range (set by fit_range), that estimates of x0 are kept in.
        self.register_buffer("lower", torch.full((n_genes,), -math.inf))
        self.register_buffer("upper", torch.full((n_genes,), math.inf))
        self.zero_inflation = bool(zero_inflation)
        if self.zero_inflation:
            register_zero_value(self, zero_value, n_genes)
            self.register_buffer("zero_rate", torch.zeros(n_genes))
            self.register_buffer("zero_threshold", torch.full((n_genes,), -math.inf))

    def predict_noise(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        """The noise in x at step t (0-based indices into alpha_bar), for labels y."""
        h = self.project(x) + self.time(timestep_embedding(t, self.width))
        if self.label is not None:
            if y is None:
                raise ValueError("this model is conditional: pass a label for every row")
            h = h + self.label(y)
        # The noise a Gaussian of independent unit-variance genes (the scaled data's
        # marginals) would hold, plus the network's correction: the network then never has
        # to carry the noise of every gene through hidden layers narrower than the genes.
        baseline = (1 - self.alpha_bar[t]).sqrt().unsqueeze(1) * x
        return baseline + self.denoiser(F.silu(h))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        t = torch.randint(0, self.timesteps, (len(x),), device=x.device)
        noise = torch.randn_like(x)
        a = self.alpha_bar[t].unsqueeze(1)
        noisy = a.sqrt() * x + (1 - a).sqrt() * noise
        return F.mse_loss(self.predict_noise(noisy, t, y), noise)

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """DDIM from pure noise over `sampling_steps` evenly spaced steps, from the last
        step down to the first; then the zero thresholds, with zero inflation."""
        device = self.alpha_bar.device
        y = None if y is None else y.to(device)
        steps = torch.linspace(self.timesteps - 1, 0, self.sampling_steps).round().long()
        x = torch.randn(n, self.n_genes, device=device)
        for i, t in enumerate(steps.tolist()):
            a = self.alpha_bar[t]
            # The step after the last is the data themselves: all signal.
            a_next = self.alpha_bar[steps[i + 1]] if i + 1 < len(steps) else a.new_tensor(1.0)
            noise = self.predict_noise(x, torch.full((n,), t, device=device), y)
            # Near pure noise, dividing by sqrt(a) magnifies the noise estimate's error
            # a thousandfold: unclipped, the first steps throw samples far off the data.
            x0 = (x - (1 - a).sqrt() * noise) / a.sqrt()
            x0 = torch.minimum(torch.maximum(x0, self.lower), self.upper)
            noise = (x - a.sqrt() * x0) / (1 - a).sqrt()
            sigma = self.eta * ((1 - a_next) / (1 - a) * (1 - a / a_next)).sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next - sigma**2).clamp(min=0).sqrt() * noise
            if self.eta > 0 and i + 1 < len(steps):
                x = x + sigma * torch.randn_like(x)
        if self.zero_inflation:
            x = torch.where(x < self.zero_threshold, self.zero_value.expand_as(x), x)
        return x

    @torch.no_grad()
    def fit_range(self, x: torch.Tensor) -> None:
        """Each gene's smallest and largest training value."""
        self.lower.copy_(x.min(dim=0).values)
        self.upper.copy_(x.max(dim=0).values)

    @torch.no_grad()
    def init_zero_rate(self, rate: torch.Tensor) -> None:
        """Each gene's share of exact zeros in the training data, for calibrate_zeros."""
        self.zero_rate.copy_(rate)

    @torch.no_grad()
    def calibrate_zeros(self, y: torch.Tensor | None, n: int) -> None:
        """Per gene, the threshold below which n of the model's samples (with labels y)
        hold the training data's share of zeros."""
        if not self.zero_inflation:
            return
        self.zero_threshold.fill_(-math.inf)  # sample without thresholds
        x = self.sample(n, y)
        # The k-th smallest value of a gene has k values below it: k = its zero share of n.
        # Sorted per gene, not torch.quantile with a level per gene (genes x genes values).
        ordered = torch.cat([x.sort(dim=0).values, torch.full_like(x[:1], math.inf)])
        k = (self.zero_rate * n).round().long().clamp(0, n)
        threshold = ordered.gather(0, k[None, :])[0]
        # A gene without zeros keeps -inf: none of its values becomes a zero.
        self.zero_threshold.copy_(torch.where(k > 0, threshold, -math.inf))


class DiffusionGenerator(NetworkGenerator):
    MODULE = Diffusion
    ARCHITECTURE = ("hidden", "timesteps", "schedule", "sampling_steps", "eta")

    def _train(self, x, y, *, cuda_graphs, progress, on_epoch=None):
        s = self.settings
        self.module.fit_range(x)
        history = train_diffusion(
            self.module,
            x,
            y,
            epochs=s["epochs"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            ema=s["ema"],
            progress=progress,
            cuda_graph=cuda_graphs,
            on_epoch=on_epoch,
        )
        self.module.eval()
        self.module.calibrate_zeros(y, len(x))
        return history
