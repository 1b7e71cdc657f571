"""Training loops (the "training plans"): optimiser, minibatches, per-epoch history.

Training data sit in one tensor on the device; each epoch draws a permutation and slices
minibatches from it (no per-sample Dataset/DataLoader). Losses are accumulated on the
device and read back once per epoch, so the loop never waits on a per-step `.item()`.
Each loop calls `on_epoch(epoch)`, when given, after an epoch's row: the tuner looks at a
half-trained model there, and may stop the training by raising.
On a GPU each full-size training step is captured once as a CUDA graph and replayed:
a step of these small networks is hundreds of tiny kernels, and launching them one by
one from Python, not the arithmetic, is what bounds its speed there.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import torch
from tqdm.auto import tqdm

from .base import TrainingError


class TrainingDiverged(TrainingError):
    """A loss became NaN or infinite; nothing trained this way should be sampled from."""


def _batches(n: int, batch_size: int, device: torch.device):
    order = torch.randperm(n, device=device)
    # Drop a last batch of one row: it breaks batch statistics and packing.
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        if len(idx) > 1:
            yield idx


class FlatAdam:
    """Adam (Kingma & Ba, 2015) over one flat buffer that holds every parameter.

    The parameters become views into the buffer and their gradients views into a second
    one, so a step is a handful of operations on one tensor, whatever the number of
    layers. Against torch.optim.Adam(fused=True) on CPU a VAE step went from 1.45 to
    1.34 ms (workflow/bench/training_speed.py), and every training job skips the ~0.7 s
    import of torch._dynamo that torch.optim's step triggers.

    capturable: keep the step count on the buffer's device, so that a step has no Python
    number that changes from one step to the next and can be captured in a CUDA graph.
    """

    def __init__(
        self,
        params,
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        capturable: bool = False,
    ):
        params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.steps = lr, betas, eps, 0
        with torch.no_grad():
            self.flat = torch.cat([p.reshape(-1) for p in params])
        self.grad = torch.zeros_like(self.flat)
        self.m, self.v = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.denom = torch.empty_like(self.flat)  # reused: a fresh one per step page-faults
        self.step_count = torch.zeros((), device=self.flat.device) if capturable else None
        start = 0
        for p in params:
            end = start + p.numel()
            p.data = self.flat[start:end].view_as(p)
            # A defined gradient is accumulated in place by autograd, i.e. into the buffer.
            p.grad = self.grad[start:end].view_as(p)
            start = end

    def zero_grad(self) -> None:
        self.grad.zero_()

    @torch.no_grad()
    def clip_grad_norm(self, max_norm: float) -> None:
        norm = self.grad.norm()
        self.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.m.lerp_(self.grad, 1 - b1)
        self.v.mul_(b2).addcmul_(self.grad, self.grad, value=1 - b2)
        if self.step_count is None:  # the Python count: replays of a graph would not see it
            self.steps += 1
            torch.div(self.v, 1 - b2**self.steps, out=self.denom).sqrt_().add_(self.eps)
            self.flat.addcdiv_(self.m, self.denom, value=-self.lr / (1 - b1**self.steps))
            return
        self.step_count += 1
        torch.div(self.v, 1 - b2**self.step_count, out=self.denom).sqrt_().add_(self.eps)
        self.denom.mul_((1 - b1**self.step_count) / self.lr)
        self.flat.addcdiv_(self.m, self.denom, value=-1)


class StepRunner:
    """Runs a training step on a minibatch of row indices: eagerly, or on a GPU (cuda_graph)
    by replaying one CUDA graph of it for every batch of the full size.

    `step(idx)` must keep its results in tensors that live across steps (running sums,
    parameters) and return nothing. The first `WARMUP` full batches run eagerly on a side
    stream, as CUDA graph capture requires; the capture records the step without running
    it, so the batch that triggers it is then replayed like every later one. A batch of
    another size (an epoch's last) runs eagerly on the same tensors.
    """

    WARMUP = 3

    def __init__(self, step, batch_size: int, device: torch.device, cuda_graph: bool = True):
        self.step, self.batch_size = step, batch_size
        self.use_graph = cuda_graph and device.type == "cuda"
        self.idx = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.graph, self.warmed_up = None, 0
        # Warm-up and capture share one stream: libraries set up per-stream state (cuBLAS
        # workspaces) on first use, which must not happen during a capture.
        self.stream = torch.cuda.Stream(device) if self.use_graph else None

    def __call__(self, idx: torch.Tensor) -> None:
        if not self.use_graph or len(idx) != self.batch_size:
            self.step(idx)
            return
        self.idx.copy_(idx)
        if self.graph is None and self.warmed_up < self.WARMUP:
            self.stream.wait_stream(torch.cuda.current_stream(self.idx.device))
            with torch.cuda.stream(self.stream):
                self.step(self.idx)
            torch.cuda.current_stream(self.idx.device).wait_stream(self.stream)
            self.warmed_up += 1
            return
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, stream=self.stream):
                self.step(self.idx)
        self.graph.replay()


def _check_finite(model: str, epoch: int, losses: dict[str, float], hint: str) -> None:
    bad = [k for k, v in losses.items() if not math.isfinite(v) and k != "wasserstein"]
    if bad:
        raise TrainingDiverged(
            f"{model} training diverged: {', '.join(bad)} became {losses[bad[0]]} at epoch "
            f"{epoch}; {hint}"
        )


def train_vae(
    model,  # a VAE module
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    kl_warmup_epochs: int = 0,
    progress: bool = True,
    cuda_graph: bool = True,
    on_epoch: Callable[[int], None] | None = None,
    counts: torch.Tensor | None = None,
) -> pd.DataFrame:
    """Adam on the negative ELBO; returns one row per epoch (loss, reconstruction, kl, ...).

    cuda_graph: on a GPU, replay each step as a CUDA graph (StepRunner). counts: x's rows
    as counts, for the count likelihoods (likelihood nb/zinb).
    """
    graphed = cuda_graph and x.device.type == "cuda"
    opt = FlatAdam(model.parameters(), lr=lr, capturable=graphed)
    sums = torch.zeros(3, device=x.device)
    # A graph replays the beta it was captured with: there it is a tensor, refilled per epoch.
    beta_now = torch.zeros((), device=x.device) if graphed else None

    def step(idx):
        out = model.loss(
            x[idx],
            None if y is None else y[idx],
            beta=beta_now if graphed else beta,
            counts=None if counts is None else counts[idx],
        )
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        sums.add_(torch.stack([out.loss, out.reconstruction, out.kl]).detach())

    run = StepRunner(step, batch_size, x.device, cuda_graph)
    rows = []
    bar = tqdm(
        range(1, epochs + 1), desc="VAE", unit="epoch", disable=not progress, mininterval=1.0
    )
    for epoch in bar:
        model.train()
        # KL warm-up: beta ramps linearly from 0 to its target over the first epochs.
        beta = model.beta * min(1.0, epoch / kl_warmup_epochs) if kl_warmup_epochs else model.beta
        if graphed:
            beta_now.fill_(beta)
        sums.zero_()
        n_batches = 0
        for idx in _batches(len(x), batch_size, x.device):
            run(idx)
            n_batches += 1
        loss, rec, kl = (sums / n_batches).tolist()
        row = {"epoch": epoch, "loss": loss, "reconstruction": rec, "kl": kl, "beta": beta}
        _check_finite("VAE", epoch, row, "lower vae.lr or check the input for extreme values")
        model.eval()
        row["active_units"] = model.active_units(x, y)
        rows.append(row)
        bar.set_postfix(loss=f"{loss:.2f}", rec=f"{rec:.2f}", kl=f"{kl:.2f}")
        if on_epoch:
            on_epoch(epoch)
    return pd.DataFrame(rows)


def train_gan(
    model,  # a GAN module
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
    ema: float | None = None,
    progress: bool = True,
    cuda_graph: bool = True,
    on_epoch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Alternating updates: `critic_steps` discriminator batches per generator step.

    One epoch is one pass of the discriminator over the training data. Returns one row
    per epoch: discriminator_loss, generator_loss and (WGAN-GP) the Wasserstein estimate.
    ema: decay of an exponential moving average of the generator's weights (Yazici et al.,
    2019), updated after every generator step and copied into the generator at the end;
    None trains and returns the last iterate. cuda_graph: on a GPU, replay each step as a
    CUDA graph (StepRunner).
    """
    graphed = cuda_graph and x.device.type == "cuda"
    opt_g = FlatAdam(model.generator_parameters(), lr=lr, betas=betas, capturable=graphed)
    # Every generator parameter lives in opt_g.flat: one buffer to average.
    ema_flat = None if ema is None else opt_g.flat.clone()
    opt_d = FlatAdam(
        model.critic_parameters(), lr=lr_discriminator or lr, betas=betas, capturable=graphed
    )
    # Batches are a multiple of the pack size, so packs never straddle a batch edge.
    batch_size = max(model.pack, batch_size - batch_size % model.pack)
    sums = torch.zeros(3, device=x.device)  # discriminator, generator, Wasserstein
    counts = torch.zeros(3, device=x.device)

    def critic_step(idx):
        real, labels = x[idx], None if y is None else y[idx]
        with torch.no_grad():  # the critic's step needs no graph through the generator
            fake = model.generate(len(idx), labels)
        d_loss, wasserstein = model.discriminator_loss(real, fake, labels)
        opt_d.zero_grad()
        d_loss.backward()
        if clip_norm:
            opt_d.clip_grad_norm(clip_norm)
        opt_d.step()
        sums[0] += d_loss.detach()
        sums[2] += wasserstein.detach()
        counts[0] += 1
        counts[2] += 1

    def generator_step(idx):
        labels = None if y is None else y[idx]
        # The generator's step needs gradients through the critic, not for its weights.
        critic = model.critic_parameters()
        for p in critic:
            p.requires_grad_(False)
        g_loss = model.generator_loss(model.generate(len(idx), labels), labels)
        opt_g.zero_grad()
        g_loss.backward()
        for p in critic:
            p.requires_grad_(True)
        if clip_norm:
            opt_g.clip_grad_norm(clip_norm)
        opt_g.step()
        if ema_flat is not None:
            ema_flat.lerp_(opt_g.flat, 1 - ema)
        sums[1] += g_loss.detach()
        counts[1] += 1

    run_critic = StepRunner(critic_step, batch_size, x.device, cuda_graph)
    run_generator = StepRunner(generator_step, batch_size, x.device, cuda_graph)
    rows = []
    # Counted across epochs: an epoch of fewer batches than critic_steps (a small data set)
    # must still lead to generator steps, and the ratio holds for any number of batches.
    critic_steps_done = 0
    bar = tqdm(
        range(1, epochs + 1), desc="GAN", unit="epoch", disable=not progress, mininterval=1.0
    )
    for epoch in bar:
        model.train()
        sums.zero_()
        counts.zero_()
        for idx in _batches(len(x), batch_size, x.device):
            idx = idx[: len(idx) - len(idx) % model.pack]
            if len(idx) == 0:  # a last batch smaller than one pack
                continue
            run_critic(idx)
            critic_steps_done += 1
            if critic_steps_done % critic_steps == 0:
                run_generator(idx)
        totals, steps = torch.stack([sums, counts]).tolist()
        # NaN, not 0, for a loss without a step this epoch (too few batches for one).
        means = [total / n if n else math.nan for total, n in zip(totals, steps)]
        row = dict(
            zip(["epoch", "discriminator_loss", "generator_loss", "wasserstein"], [epoch, *means])
        )
        stepped = {k: v for k, v, n in zip(list(row)[1:], means, steps) if n}
        _check_finite("GAN", epoch, stepped, "lower gan.lr or check the input for extreme values")
        rows.append(row)
        bar.set_postfix(d=f"{means[0]:.3f}", g=f"{means[1]:.3f}")
        if on_epoch:
            on_epoch(epoch)
    if ema_flat is not None:
        opt_g.flat.copy_(ema_flat)
    return pd.DataFrame(rows)


def train_diffusion(
    model,  # a Diffusion module
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    ema: float | None = None,
    progress: bool = True,
    cuda_graph: bool = True,
    on_epoch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Adam on the noise-prediction error; returns one row per epoch (loss).

    ema: decay of an exponential moving average of the weights, updated after every step
    (warmed up: (1 + steps) / (10 + steps) while that is smaller) and copied into the model
    at the end (None: the last iterate). cuda_graph: on a GPU,
    replay each step as a CUDA graph (StepRunner).
    """
    graphed = cuda_graph and x.device.type == "cuda"
    opt = FlatAdam(model.parameters(), lr=lr, capturable=graphed)
    ema_flat = None if ema is None else opt.flat.clone()
    # Steps so far, on the device (a graph replays no Python number).
    ema_steps = torch.zeros((), device=x.device)
    total = torch.zeros((), device=x.device)

    def step(idx):
        loss = model.loss(x[idx], None if y is None else y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ema_flat is not None:
            # The decay grows to `ema` over the first steps: a short run (few epochs, little
            # data) would otherwise end near its random initial weights.
            ema_steps.add_(1)
            decay = torch.clamp((1 + ema_steps) / (10 + ema_steps), max=ema)
            ema_flat.lerp_(opt.flat, 1 - decay)
        total.add_(loss.detach())

    run = StepRunner(step, batch_size, x.device, cuda_graph)
    rows = []
    bar = tqdm(
        range(1, epochs + 1), desc="diffusion", unit="epoch", disable=not progress, mininterval=1.0
    )
    for epoch in bar:
        model.train()
        total.zero_()
        n_batches = 0
        for idx in _batches(len(x), batch_size, x.device):
            run(idx)
            n_batches += 1
        row = {"epoch": epoch, "loss": total.item() / n_batches}
        _check_finite(
            "diffusion", epoch, row, "lower diffusion.lr or check the input for extreme values"
        )
        rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}")
        if on_epoch:
            on_epoch(epoch)
    if ema_flat is not None:
        opt.flat.copy_(ema_flat)
    return pd.DataFrame(rows)
