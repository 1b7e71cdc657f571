"""The GAN: its torch module (two networks, losses, sampling) and its generator (settings, training).

The training loop lives in `training.py`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .layers import init_zero_logit, mlp, register_zero_value, with_labels
from .base import TrainingError
from .network import NetworkGenerator
from .private import train_gan_private
from .training import train_gan


# Temperature of the relaxed Bernoulli gate (zero inflation): lower is closer to hard.
GATE_TEMPERATURE = 0.5

# How the label reaches each network (GAN's critic_conditioning, generator_conditioning).
CRITIC_CONDITIONING = ("concat", "projection")
GENERATOR_CONDITIONING = ("input", "every_layer")


class LearnedNoise(nn.Module):
    """Adds per-gene Gaussian noise with a learned scale (initialised at `init`)."""

    def __init__(self, n: int, init: float = 1.0):
        super().__init__()
        self.log_sigma = nn.Parameter(torch.full((n,), math.log(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) * self.log_sigma.exp()


class MinibatchStd(nn.Module):
    """Appends one feature to every row: the mean over features of each feature's standard
    deviation across the batch (Karras et al., 2018). A critic that sees it can tell a
    batch of too-similar samples from a real one, which penalises mode collapse."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        std = (h.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        return torch.cat([h, std.expand(h.shape[0], 1)], dim=1)


class GAN(nn.Module):
    """Generator noise -> hidden -> genes; discriminator genes -> hidden -> 1 logit.

    loss: "bce" (sigmoid cross-entropy with label smoothing, 0.9 real / 0.1 fake, as
    described) or "wgan-gp" (Wasserstein critic, gradient penalty). pack > 1 lets the
    discriminator judge `pack` samples at once (PacGAN), which penalises mode collapse.
    output_noise adds learned per-gene noise after the generator's last layer: without it
    every sample lies on a manifold no wider than the last hidden layer, while expression
    data carry independent noise in every gene (the VAE's learned variance, for the GAN).
    zero_inflation adds a learned gate: from the generator's last hidden layer, a logit per
    gene of P(entry is zero); a drawn gate sets the entry to its gene's zero value
    (zero_value: (transform(0) - mean) / scale per gene), an exact zero once transformed
    back. The gate is a relaxed Bernoulli with a straight-through estimator: hard 0/1 in
    the forward pass, so the discriminator sees exact zeros as in the data, and the
    gradient of the relaxed sample reaches the logits. The other values are clamped from
    below at the zero value (straight-through as well): the workflow's log1p inverse maps
    anything below to zero anyway, and the discriminator should see what the output holds.
    minibatch_std gives the discriminator's last Linear the batch's mean per-feature
    standard deviation as one more input (MinibatchStd).

    With labels (n_labels > 0; without, both options do nothing):
    critic_conditioning "concat" appends the one-hot label to the critic's input;
    "projection" (projection discriminator, Miyato & Koyama, 2018) gives the critic the
    genes only and adds <embedding(label), phi> to its logit, phi being the input of its
    last Linear (after MinibatchStd when that is on); a pack of several rows adds the sum
    of its rows' embeddings, so every row's label counts. generator_conditioning "input"
    appends the one-hot label to the noise; "every_layer" also appends it to the input of every later Linear of the generator
    (not to the zero gate's, which reads the last hidden layer as it is).
    """

    def __init__(
        self,
        n_genes: int,
        *,
        n_labels: int = 0,
        latent_dim: int = 32,
        generator_hidden: tuple[int, ...] = (128, 128, 128),
        discriminator_hidden: tuple[int, ...] = (128, 128, 64),
        dropout: float = 0.3,
        loss: str = "bce",
        pack: int = 1,
        real_label: float = 0.9,
        fake_label: float = 0.1,
        gp_weight: float = 10.0,
        output_noise: bool = False,
        output_noise_init: float = 1.0,
        zero_inflation: bool = False,
        zero_value: list[float] | None = None,
        minibatch_std: bool = False,
        critic_conditioning: str = "concat",
        generator_conditioning: str = "input",
    ):
        super().__init__()
        if loss not in ("bce", "wgan-gp"):
            raise ValueError(f"unknown gan loss {loss!r}")
        if critic_conditioning not in CRITIC_CONDITIONING:
            raise ValueError(
                f"gan critic_conditioning must be one of {', '.join(CRITIC_CONDITIONING)}, "
                f"not {critic_conditioning!r}"
            )
        if generator_conditioning not in GENERATOR_CONDITIONING:
            raise ValueError(
                f"gan generator_conditioning must be one of {', '.join(GENERATOR_CONDITIONING)}, "
                f"not {generator_conditioning!r}"
            )
        # Without labels there is nothing to condition on: both behave as the defaults.
        self.projection = critic_conditioning == "projection" and n_labels > 0
        self.every_layer = generator_conditioning == "every_layer" and n_labels > 0
        self.n_genes, self.n_labels, self.latent_dim = n_genes, n_labels, latent_dim
        self.loss_kind, self.pack = loss, pack
        self.real_label, self.fake_label, self.gp_weight = real_label, fake_label, gp_weight
        self.generator = mlp([latent_dim + n_labels, *generator_hidden, n_genes])
        if output_noise:
            self.generator.append(LearnedNoise(n_genes, output_noise_init))
        # The sigmoid is folded into the BCE loss (numerically safer); the WGAN critic has none.
        self.discriminator = mlp(
            [(n_genes + (0 if self.projection else n_labels)) * pack, *discriminator_hidden, 1],
            activation=lambda: nn.LeakyReLU(0.2),
            dropout={0: dropout, 1: dropout},
        )
        if minibatch_std:
            # The feature goes in before the last Linear, which is rebuilt one input wider.
            last = len(self.discriminator) - 1  # mlp ends with its last Linear
            head = self.discriminator[last]
            self.discriminator[last] = MinibatchStd()
            self.discriminator.append(nn.Linear(head.in_features + 1, head.out_features))
        if self.every_layer:
            # The generator's Linears after the first are rebuilt n_labels inputs wider, here,
            # so that the modules built before draw the same initial weights as without it.
            for i, layer in enumerate(self.generator):
                if i > 0 and isinstance(layer, nn.Linear):
                    self.generator[i] = nn.Linear(layer.in_features + n_labels, layer.out_features)
        self.zero_inflation = bool(zero_inflation)
        if self.zero_inflation:
            register_zero_value(self, zero_value, n_genes)
            self.to_zero_logit = nn.Linear(generator_hidden[-1], n_genes)
            # Where the generator's trunk ends: its last Linear (then, maybe, LearnedNoise).
            self._head = max(i for i, m in enumerate(self.generator) if isinstance(m, nn.Linear))
        if self.projection:
            # Built last, so that the modules above draw the same initial weights as ever.
            phi_dim = self.discriminator[-1].in_features
            self.label_embedding = nn.Embedding(n_labels, phi_dim)
            nn.init.normal_(self.label_embedding.weight, std=1 / math.sqrt(phi_dim))

    def generate(self, n: int, y: torch.Tensor | None) -> torch.Tensor:
        noise = torch.randn(n, self.latent_dim, device=self._device())
        h = with_labels(noise, y, self.n_labels)
        if not self.zero_inflation:
            return self._run_generator(h, y)
        h = self._run_generator(h, y, 0, self._head)
        out = self._run_generator(h, y, self._head)
        out = out + (torch.maximum(out, self.zero_value) - out).detach()
        # Relaxed Bernoulli: logistic noise added to the logit; the hard gate (soft > 0.5)
        # is 1 with probability sigmoid(logit), the soft one carries the gradient (its
        # forward value is exactly 0, so gated entries are exactly the zero value).
        logit = self.to_zero_logit(h)
        u = torch.rand_like(logit).clamp(1e-6, 1 - 1e-6)
        soft = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / GATE_TEMPERATURE)
        zero_value = self.zero_value.expand_as(out)
        hard = torch.where(soft > 0.5, zero_value, out)
        return hard + (soft - soft.detach()) * (zero_value - out)

    def _run_generator(
        self, h: torch.Tensor, y: torch.Tensor | None, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """The generator's modules start:stop on h (which already holds the noise's label);
        with every_layer, the one-hot label is appended before every Linear but the first."""
        if not self.every_layer:
            return self.generator[start:stop](h)
        if y is None:
            raise ValueError("this model is conditional: pass a label for every row")
        onehot = F.one_hot(y, self.n_labels).to(h.dtype)
        for i in range(len(self.generator))[start:stop]:
            layer = self.generator[i]
            if i > 0 and isinstance(layer, nn.Linear):
                h = torch.cat([h, onehot], dim=1)
            h = layer(h)
        return h

    @torch.no_grad()
    def fit_output_noise(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """Set each gene's output noise so that its variance in the generated samples
        (network output plus noise) equals its variance in the training data `x`.

        The network's part is measured on as many draws as `x` has rows, with `x`'s labels.
        Without zero inflation only (the gate's zeros add variance of their own).
        """
        noise = self.generator[-1]
        if not isinstance(noise, LearnedNoise) or self.zero_inflation:
            return
        h = with_labels(torch.randn(len(x), self.latent_dim, device=x.device), y, self.n_labels)
        network_var = self._run_generator(h, y, 0, -1).var(dim=0)
        # A floor keeps log finite where the network alone already over-spreads a gene.
        noise.log_sigma.copy_(0.5 * (x.var(dim=0) - network_var).clamp(min=1e-4).log())

    @torch.no_grad()
    def init_zero_rate(self, rate: torch.Tensor) -> None:
        """Start the gate at each gene's zero rate in the training data."""
        init_zero_logit(self.to_zero_logit, rate)

    def critic(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Discriminator logits, one per pack of `pack` consecutive rows."""
        if not self.projection:
            h = with_labels(x, y, self.n_labels)
            return self.discriminator(h.reshape(h.shape[0] // self.pack, -1)).squeeze(1)
        if y is None:
            raise ValueError("this model is conditional: pass a label for every row")
        phi = self.discriminator[:-1](x.reshape(x.shape[0] // self.pack, -1))
        logit = self.discriminator[-1](phi).squeeze(1)
        # A pack is judged against all its rows' labels: the sum of their embeddings.
        embedding = self.label_embedding(y).reshape(len(phi), self.pack, -1).sum(dim=1)
        return logit + (embedding * phi).sum(dim=1)

    def generator_parameters(self) -> list[nn.Parameter]:
        """Everything the generator's optimiser updates (and its moving average covers):
        the generator and, with zero inflation, its gate, which is not inside it."""
        gate = list(self.to_zero_logit.parameters()) if self.zero_inflation else []
        return list(self.generator.parameters()) + gate

    def critic_parameters(self) -> list[nn.Parameter]:
        """Everything the critic's optimiser updates: the discriminator and, with
        projection conditioning, the label embedding."""
        params = list(self.discriminator.parameters())
        if self.projection:
            params += list(self.label_embedding.parameters())
        return params

    def discriminator_loss(
        self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (loss, Wasserstein estimate); the estimate is NaN for the BCE loss."""
        d_real, d_fake = self.critic(real, y), self.critic(fake, y)
        if self.loss_kind == "bce":
            loss = F.binary_cross_entropy_with_logits(
                d_real, torch.full_like(d_real, self.real_label)
            ) + F.binary_cross_entropy_with_logits(d_fake, torch.full_like(d_fake, self.fake_label))
            return loss, torch.full((), float("nan"), device=loss.device)
        wasserstein = d_real.mean() - d_fake.mean()
        return -wasserstein + self.gp_weight * self._gradient_penalty(real, fake, y), wasserstein

    def generator_loss(self, fake: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        d_fake = self.critic(fake, y)
        if self.loss_kind == "bce":
            return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        return -d_fake.mean()

    def _gradient_penalty(
        self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        eps = torch.rand(real.shape[0] // self.pack, 1, device=real.device)
        eps = eps.repeat_interleave(self.pack, dim=0)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = self.critic(mixed, y)
        (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
        grad = grad.reshape(out.shape[0], -1)
        return ((grad.norm(2, dim=1) - 1) ** 2).mean()

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(n, None if y is None else y.to(self._device()))

    def _device(self) -> torch.device:
        return next(self.generator.parameters()).device


class GANGenerator(NetworkGenerator):
    MODULE = GAN
    ARCHITECTURE = (
        "latent_dim",
        "generator_hidden",
        "discriminator_hidden",
        "dropout",
        "loss",
        "pack",
        "real_label",
        "fake_label",
        "gp_weight",
        "output_noise",
        "output_noise_init",
        "minibatch_std",
        "critic_conditioning",
        "generator_conditioning",
    )

    def _train(self, x, y, *, cuda_graphs, progress, on_epoch=None):
        s = self.settings
        if s["privacy"]["epsilon"] is not None:
            return self._train_private(x, y, progress=progress)
        history = train_gan(
            self.module,
            x,
            y,
            epochs=s["epochs"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            lr_discriminator=s["lr_discriminator"],
            betas=tuple(s["betas"]),
            critic_steps=s["critic_steps"],
            clip_norm=s["clip_norm"],
            ema=s["ema"],
            progress=progress,
            cuda_graph=cuda_graphs,
            on_epoch=on_epoch,
        )
        if s["fit_output_noise"]:
            self.module.eval()
            self.module.fit_output_noise(x, y)
        return history

    def _train_private(self, x, y, *, progress):
        s, privacy = self.settings, self.settings["privacy"]
        # Each refused setting lets one real row's gradient depend on other rows, or looks
        # at the training data outside the accounting.
        refused = [
            ("minibatch_std", s["minibatch_std"], "false", "the critic sees the batch's spread"),
            ("pack", s["pack"] if s["pack"] > 1 else False, "1", "the critic judges rows together"),
            ("clusters", s["clusters"] or False, "0", "it clusters the training samples"),
            (
                "marginals",
                s["marginals"] == "training" and "training",
                "model",
                "it maps the samples onto the training split's marginals after training",
            ),
            (
                "fit_output_noise",
                s["fit_output_noise"] and s["output_noise"],
                "false",
                "it sets the output noise from the training data's variance after training",
            ),
        ]
        for key, value, fix, why in refused:
            if value:
                shown = "true" if value is True else value
                raise TrainingError(
                    f"gan.privacy: {key}: {shown} is not supported with DP-SGD: {why}, "
                    f"outside the privacy accounting; set gan.{key}: {fix}"
                )
        delta = privacy["delta"] if privacy["delta"] is not None else 1.0 / len(x)
        history, guarantee = train_gan_private(
            self.module,
            x,
            y,
            epochs=s["epochs"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            lr_discriminator=s["lr_discriminator"],
            betas=tuple(s["betas"]),
            critic_steps=s["critic_steps"],
            clip_norm=s["clip_norm"],
            ema=s["ema"],
            epsilon=privacy["epsilon"],
            delta=delta,
            max_grad_norm=privacy["max_grad_norm"],
            progress=progress,
        )
        self.fitted["privacy"] = guarantee
        return history
