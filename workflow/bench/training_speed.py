"""Training steps per second: exprsynth's loops against a plain per-sample DataLoader loop.

Same models, losses, optimisers and batch size (64) on data of the default size
(800 training samples x 500 genes). The plain loop is what a typical script does: a
Dataset returning one row at a time, a shuffling DataLoader that collates each batch,
and a `.item()` on every step for logging. On a GPU (`--device cuda`, or `auto` where
torch sees one) the plain loop keeps the data on the host and moves each batch, as such
scripts do; exprsynth keeps it on the device and replays each step as a CUDA graph
(also timed without, as "exprsynth eager").

    python workflow/bench/training_speed.py [--epochs 5] [--threads 1] [--device auto]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from exprsynth.models.gan import GAN  # noqa: E402
from exprsynth.models.base import resolve_device  # noqa: E402
from exprsynth.models.training import train_gan, train_vae  # noqa: E402
from exprsynth.models.vae import VAE  # noqa: E402


class RowDataset(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def plain_vae(model, x, epochs, device, batch_size=64, lr=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(RowDataset(x), batch_size=batch_size, shuffle=True)
    steps = 0
    for _ in range(epochs):
        for batch in loader:
            out = model.loss(batch.to(device), None)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            _ = out.loss.item(), out.reconstruction.item(), out.kl.item()
            steps += 1
    return steps


def plain_gan(model, x, epochs, device, batch_size=64, lr=2e-4):
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(RowDataset(x), batch_size=batch_size, shuffle=True)
    steps = 0
    for _ in range(epochs):
        for real in loader:
            real = real.to(device)
            fake = model.generate(len(real), None)
            d_loss, _ = model.discriminator_loss(real, fake.detach(), None)
            opt_d.zero_grad()
            d_loss.backward()
            torch.nn.utils.clip_grad_norm_(model.discriminator.parameters(), 1.0)
            opt_d.step()
            g_loss = model.generator_loss(model.generate(len(real), None), None)
            opt_g.zero_grad()
            g_loss.backward()
            torch.nn.utils.clip_grad_norm_(model.generator.parameters(), 1.0)
            opt_g.step()
            _ = d_loss.item(), g_loss.item()
            steps += 1
    return steps


def timed(fn, device):
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=800)
    parser.add_argument("--genes", type=int, default=500)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available) | cpu | cuda")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except RuntimeError as e:
        parser.error(str(e))
    torch.manual_seed(0)
    x = torch.randn(args.samples, args.genes)
    x_device = x.to(device)
    steps = args.epochs * -(-args.samples // 64)
    print(
        f"{args.samples} x {args.genes}, batch 64, {args.epochs} epochs ({steps} steps), {args.threads} thread(s), {device}"
    )
    cuda = device.type == "cuda"
    eager_header = f" {'exprsynth eager':>16s}" if cuda else ""
    print(
        f"{'model':6s} {'exprsynth steps/s':>18s}{eager_header} {'plain loop steps/s':>19s} {'speed-up':>9s}"
    )
    for name, make, ours, plain in [
        (
            "VAE",
            lambda: VAE(args.genes).to(device),
            lambda m, graph=True: train_vae(
                m, x_device, None, epochs=args.epochs, progress=False, cuda_graph=graph
            ),
            lambda m: plain_vae(m, x, args.epochs, device),
        ),
        (
            "GAN",
            lambda: GAN(args.genes).to(device),
            lambda m, graph=True: train_gan(
                m, x_device, None, epochs=args.epochs, progress=False, cuda_graph=graph
            ),
            lambda m: plain_gan(m, x, args.epochs, device),
        ),
    ]:
        ours(make()), plain(make())  # warm-up
        t_ours = min(timed(lambda: ours(make()), device) for _ in range(3))
        t_plain = min(timed(lambda: plain(make()), device) for _ in range(3))
        eager = ""
        if cuda:
            ours(make(), False)
            eager = f" {steps / min(timed(lambda: ours(make(), False), device) for _ in range(3)):16.0f}"
        print(
            f"{name:6s} {steps / t_ours:18.0f}{eager} {steps / t_plain:19.0f} {t_plain / t_ours:8.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
