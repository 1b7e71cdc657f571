"""The VAE: its torch module (networks, loss, sampling) and its generator (settings, training).

The training loop lives in `training.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..data.preprocess import ZERO_TOLERANCE
from .layers import mlp, register_zero_value, init_zero_logit, with_labels
from .base import TrainingError, bic_gaussian_mixture
from .network import NetworkGenerator
from .private import train_vae_private
from .training import train_vae

# Likelihoods of the counts themselves (scVI, Lopez et al. 2018): the decoder gives each
# gene's share of the cell's library, the counts are negative binomial around it.
COUNT_LIKELIHOODS = ("nb", "zinb")


@dataclass
class VAELoss:
    loss: torch.Tensor  # what the optimiser minimises
    reconstruction: torch.Tensor  # negative log-likelihood (or MSE for mse_mean), batch mean
    kl: torch.Tensor  # KL(q(z|x) || N(0, I)) summed over latent dims, batch mean


class VAE(nn.Module):
    """Encoder n_genes -> hidden -> (mu, logvar) of the latent; decoder latent -> hidden -> genes.

    likelihood: "gaussian" (unit variance) or "gaussian_learned_var" (one learned variance
    per gene, used again when sampling, its sd times noise_scale). reconstruction: "elbo"
    sums the log-likelihood over genes (the proper ELBO); "mse_mean" averages squared error
    over genes, the reading that lets the KL term win and collapses the model to the mean
    (kept to reproduce it).

    latent_sampling: "prior" draws z ~ N(0, I) when sampling, as described.
    "aggregate_posterior" draws z from a Gaussian fitted after training, per label, to the
    training samples' encodings (ex-post density estimation, Ghosh et al., 2020): with
    beta > 1 the encodings do not fill the prior, and decoding the prior's empty regions
    gives profiles no real sample resembles. "mixture" fits a Gaussian mixture there
    (up to latent_components, by BIC), for encodings that form clusters.

    likelihood "nb" / "zinb" models the counts, as scVI does: the decoder's softmax gives
    each gene's share of the cell's library size, times that size the NB mean; each gene has
    a learned inverse dispersion theta; zinb adds a dropout logit per cell and gene. The
    encoder still reads the scaled profile; training passes each cell's counts (its observed
    library size is their total); sampling draws a library size per label from a
    log-normal fitted to the training cells (`fit_library`) and returns counts.

    zero_inflation adds a hurdle: beside the mean, the decoder predicts for every sample and
    gene the probability that the entry is an exact zero. zero_value is each gene's zero in
    the scaled space, (transform(0) - mean) / scale. Training adds a Bernoulli likelihood of
    "is zero" and counts the Gaussian likelihood on the non-zero entries only; sampling
    draws the Bernoulli and sets the drawn entries to the zero value.
    """

    def __init__(
        self,
        n_genes: int,
        *,
        n_labels: int = 0,
        latent_dim: int = 32,
        hidden: tuple[int, ...] = (128, 128),
        likelihood: str = "gaussian_learned_var",
        reconstruction: str = "elbo",
        beta: float = 1.0,
        latent_sampling: str = "prior",
        latent_components: int = 1,
        noise_scale: float = 1.0,
        zero_inflation: bool = False,
        zero_value: list[float] | None = None,
    ):
        super().__init__()
        if likelihood not in ("gaussian", "gaussian_learned_var", *COUNT_LIKELIHOODS):
            raise ValueError(f"unknown vae likelihood {likelihood!r}")
        self.counts = likelihood in COUNT_LIKELIHOODS
        if self.counts and (reconstruction != "elbo" or zero_inflation):
            raise ValueError(
                f"vae likelihood {likelihood} needs reconstruction: elbo and no zero_inflation"
            )
        if reconstruction not in ("elbo", "mse_mean"):
            raise ValueError(f"unknown vae reconstruction {reconstruction!r}")
        if latent_sampling not in ("prior", "aggregate_posterior", "mixture"):
            raise ValueError(f"unknown vae latent_sampling {latent_sampling!r}")
        self.n_genes, self.n_labels, self.latent_dim = n_genes, n_labels, latent_dim
        self.likelihood, self.reconstruction, self.beta = likelihood, reconstruction, beta
        self.noise_scale = noise_scale
        self.encoder = mlp([n_genes + n_labels, *hidden], final_activation=True)
        self.to_mu = nn.Linear(hidden[-1], latent_dim)
        self.to_logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = mlp([latent_dim + n_labels, *hidden, n_genes])
        # Log variance per gene; stays at 0 (unit variance) unless it is learned. The
        # mse_mean reading has no likelihood, so it never learns or samples a variance.
        self.learned_var = likelihood == "gaussian_learned_var" and reconstruction == "elbo"
        self.log_var_x = nn.Parameter(torch.zeros(n_genes), requires_grad=self.learned_var)
        # Created last, and only when on: without it the parameters (and their random
        # initialisation) are exactly those of the plain VAE.
        self.zero_inflation = bool(zero_inflation)
        if self.zero_inflation:
            if reconstruction != "elbo":
                raise ValueError("vae zero_inflation needs reconstruction: elbo (a likelihood)")
            register_zero_value(self, zero_value, n_genes)
            self.to_zero_logit = nn.Linear(hidden[-1], n_genes)
        if self.counts:
            # Log inverse dispersion per gene; each label's log library size: mean and sd.
            self.log_theta = nn.Parameter(torch.zeros(n_genes))
            self.register_buffer("library_loc", torch.zeros(max(n_labels, 1)))
            self.register_buffer("library_scale", torch.ones(max(n_labels, 1)))
            if likelihood == "zinb":
                self.to_dropout_logit = nn.Linear(hidden[-1], n_genes)
        # The fitted latent distribution, per label: a mixture of up to `latent_components`
        # Gaussians (weights, means, Cholesky factors); one Gaussian for aggregate_posterior.
        # In the state dict, so a checkpoint samples as the trained model did.
        self.latent_sampling = latent_sampling
        if latent_sampling != "prior":
            groups, k = max(n_labels, 1), latent_components if latent_sampling == "mixture" else 1
            self.register_buffer("latent_weight", torch.full((groups, k), 1.0 / k))
            self.register_buffer("latent_mean", torch.zeros(groups, k, latent_dim))
            self.register_buffer("latent_cholesky", torch.eye(latent_dim).repeat(groups, k, 1, 1))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(with_labels(x, y, self.n_labels))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.decoder(with_labels(z, y, self.n_labels))

    def decode_hurdle(
        self, z: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logit of P(entry is zero)), both from the decoder's last hidden layer."""
        h = self.decoder[:-1](with_labels(z, y, self.n_labels))
        return self.decoder[-1](h), self.to_zero_logit(h)

    def decode_counts(
        self, z: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(log of each gene's share of the library, zinb's dropout logit or None)."""
        h = self.decoder[:-1](with_labels(z, y, self.n_labels))
        dropout = self.to_dropout_logit(h) if self.likelihood == "zinb" else None
        return F.log_softmax(self.decoder[-1](h), dim=1), dropout

    @staticmethod
    def count_log_mean(
        log_share: torch.Tensor, dropout: torch.Tensor | None, log_size: torch.Tensor
    ) -> torch.Tensor:
        """Log NB means: share times library size. With zinb, divided by the share a cell
        keeps after its dropouts, sum over genes of (1 - pi) share, so that the library size
        is the expected total of the cell's counts (as the observed totals it is fitted to
        and drawn from are); scVI leaves it out, and its ZINB cells come out smaller."""
        if dropout is not None:
            kept = torch.logsumexp(log_share - F.softplus(dropout), dim=1, keepdim=True)
            log_share = log_share - kept
        return log_share + log_size

    def count_log_likelihood(
        self, counts: torch.Tensor, log_mu: torch.Tensor, dropout: torch.Tensor | None
    ) -> torch.Tensor:
        """Per entry, log NB(counts; mean exp(log_mu), inverse dispersion theta), or the
        ZINB's with dropout logit `dropout` (as scVI's log_nb_positive/log_zinb_positive,
        written with log_mu so that no mean is ever rounded to 0)."""
        log_theta = self.log_theta.expand_as(log_mu)
        theta = log_theta.exp()
        log_theta_mu = torch.logaddexp(log_theta, log_mu)
        log_p0 = theta * (log_theta - log_theta_mu)  # log NB(0)
        nb = (
            log_p0
            + counts * (log_mu - log_theta_mu)
            + torch.lgamma(counts + theta)
            - torch.lgamma(theta)
            - torch.lgamma(counts + 1)
        )
        if dropout is None:
            return nb
        # log P(0) = log(pi + (1 - pi) NB(0)); log P(k > 0) = log(1 - pi) + log NB(k).
        zero = torch.logaddexp(-F.softplus(-dropout), -F.softplus(dropout) + log_p0)
        return torch.where(counts == 0, zero, nb - F.softplus(dropout))

    @torch.no_grad()
    def fit_library(self, counts: torch.Tensor, y: torch.Tensor | None) -> None:
        """Per label, mean and sd of the training cells' log library size (their total
        counts), the log-normal sampling draws library sizes from: scVI's library prior.
        Library sizes are positive and right-skewed, and a log-normal per label is two
        numbers that follow the cell types' different depths without keeping any
        training cell's total. A label with fewer than two cells gets the pooled fit."""
        log_size = counts.sum(dim=1).clamp(min=1).log()
        for k in range(len(self.library_loc)):
            rows = log_size if y is None or int((y == k).sum()) < 2 else log_size[y == k]
            self.library_loc[k] = rows.mean()
            self.library_scale[k] = rows.std()

    def is_zero(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.zero_value).abs() <= ZERO_TOLERANCE

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        *,
        beta: float | None = None,
        counts: torch.Tensor | None = None,
    ) -> VAELoss:
        """counts: the rows' counts, which the count likelihoods need (x is their scaled
        form, what the encoder reads)."""
        mu, logvar = self.encode(x, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
        beta = self.beta if beta is None else beta
        if self.counts:
            log_share, dropout = self.decode_counts(z, y)
            log_size = counts.sum(dim=1, keepdim=True).clamp(min=1).log()  # observed
            log_mu = self.count_log_mean(log_share, dropout, log_size)
            rec = -self.count_log_likelihood(counts, log_mu, dropout).sum(dim=1).mean()
            return VAELoss(loss=rec + beta * kl, reconstruction=rec, kl=kl)
        if self.zero_inflation:
            x_hat, zero_logit = self.decode_hurdle(z, y)
        else:
            x_hat = self.decode(z, y)
        if self.reconstruction == "mse_mean":
            rec = F.mse_loss(x_hat, x)
        else:
            nll = 0.5 * ((x - x_hat).pow(2) * torch.exp(-self.log_var_x) + self.log_var_x)
            nll = nll + 0.5 * math.log(2 * math.pi)
            if self.zero_inflation:
                zero = self.is_zero(x)
                bernoulli = F.binary_cross_entropy_with_logits(
                    zero_logit, zero.to(x.dtype), reduction="none"
                )
                nll = bernoulli + torch.where(zero, torch.zeros_like(nll), nll)
            rec = nll.sum(dim=1).mean()
        return VAELoss(loss=rec + beta * kl, reconstruction=rec, kl=kl)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, *, beta=None) -> VAELoss:
        # What torch.func.functional_call runs: DP training's per-sample gradients.
        return self.loss(x, y, beta=beta)

    @torch.no_grad()
    def fit_latent_sampler(self, x: torch.Tensor, y: torch.Tensor | None, seed: int = 0) -> None:
        """Ex-post density estimation (Ghosh et al., 2020): per label, fit the distribution
        sampling draws z from to the training samples' encodings.

        aggregate_posterior: the Gaussian with the moments of the mixture of their
        posteriors, N(mean of mu, Cov(mu) + mean of sigma^2). mixture: a Gaussian mixture
        on mu with the number of components chosen by BIC (up to latent_components), each
        component's covariance widened by its members' mean sigma^2. One Gaussian cannot
        follow encodings that form clusters (cell types): it fills the space between them,
        which decodes to profiles no real sample resembles.

        A label with fewer than two training samples gets the pooled fit.
        """
        if self.latent_sampling == "prior":
            return
        mu, logvar = self.encode(x, y)
        mu, var = mu.double(), logvar.double().exp()
        everyone = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for k in range(len(self.latent_mean)):
            rows = everyone if y is None or int((y == k).sum()) < 2 else y == k
            if self.latent_sampling == "mixture":
                weight, mean, cov = _mixture_fit(
                    mu[rows], var[rows], self.latent_weight.shape[1], seed
                )
            else:
                mean = mu[rows].mean(dim=0, keepdim=True)
                cov = torch.cov(mu[rows].T).reshape(1, self.latent_dim, self.latent_dim)
                cov = cov + torch.diag(var[rows].mean(dim=0))
                weight = torch.ones(1, dtype=mu.dtype)
            c = len(weight)
            self.latent_weight[k] = 0.0
            self.latent_weight[k, :c] = weight.float()
            self.latent_mean[k, :c] = mean.float()
            self.latent_cholesky[k, :c] = torch.linalg.cholesky(cov).float()

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """Draw z (from the prior or the fitted latent Gaussian), decode; with a learned
        variance add x ~ N(mu(z), sigma^2).

        With zero inflation, each entry is then set to its gene's zero value with the
        decoded probability. The count likelihoods return counts: a library size drawn
        from the label's log-normal, counts from the (ZI)NB around share times size.
        """
        device = self.log_var_x.device
        z = torch.randn(n, self.latent_dim, device=device)
        y = None if y is None else y.to(device)
        if self.latent_sampling != "prior":
            group = torch.zeros(n, dtype=torch.long, device=device) if y is None else y
            component = torch.multinomial(self.latent_weight[group], 1).squeeze(1)
            chol = self.latent_cholesky[group, component]
            z = self.latent_mean[group, component] + (chol @ z.unsqueeze(-1)).squeeze(-1)
        if self.counts:
            return self._sample_counts(z, y)
        if self.zero_inflation:
            x, zero_logit = self.decode_hurdle(z, y)
        else:
            x = self.decode(z, y)
        if self.learned_var:
            x = x + torch.randn_like(x) * (self.noise_scale * torch.exp(0.5 * self.log_var_x))
        if self.zero_inflation:
            zero = torch.bernoulli(torch.sigmoid(zero_logit)).bool()
            x = torch.where(zero, self.zero_value.expand_as(x), x)
        return x

    def _sample_counts(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        log_share, dropout = self.decode_counts(z, y)
        group = torch.zeros(len(z), dtype=torch.long, device=z.device) if y is None else y
        log_size = self.library_loc[group] + self.library_scale[group] * torch.randn_like(
            self.library_loc[group]
        )
        log_mu = self.count_log_mean(log_share, dropout, log_size.unsqueeze(1))
        # torch's NB has mean total_count * exp(logits): logits = log(mu / theta).
        nb = torch.distributions.NegativeBinomial(
            total_count=self.log_theta.exp().expand_as(log_mu), logits=log_mu - self.log_theta
        )
        counts = nb.sample()
        if dropout is not None:
            counts = torch.where(torch.bernoulli(torch.sigmoid(dropout)).bool(), 0.0, counts)
        return counts

    @torch.no_grad()
    def init_zero_rate(self, rate: torch.Tensor) -> None:
        """Start the dropout head at each gene's zero rate in the training data."""
        init_zero_logit(self.to_zero_logit, rate)

    @torch.no_grad()
    def active_units(self, x: torch.Tensor, y: torch.Tensor | None, threshold: float = 0.01) -> int:
        """Latent dims whose posterior mean varies across samples (Burda et al., 2016)."""
        mu, _ = self.encode(x, y)
        return int((mu.var(dim=0) > threshold).sum())


def _mixture_fit(mu: torch.Tensor, var: torch.Tensor, most: int, seed: int):
    """(weights, means, covariances) of a Gaussian mixture on the encodings mu, the number
    of components by BIC (each component needs 2 encodings per latent dimension), every
    covariance widened by the mean posterior variance of the encodings it holds."""
    z = mu.cpu().numpy()
    best = bic_gaussian_mixture(z, most, 2, seed)
    member = torch.as_tensor(best.predict_proba(z), dtype=var.dtype, device=var.device)  # n x c
    spread = (member.T @ var) / member.sum(dim=0, keepdim=True).T.clamp(min=1e-12)  # c x d
    cov = torch.as_tensor(best.covariances_, dtype=var.dtype, device=var.device) + torch.diag_embed(
        spread
    )
    as_tensor = lambda a: torch.as_tensor(a, dtype=var.dtype, device=var.device)  # noqa: E731
    return as_tensor(best.weights_), as_tensor(best.means_), cov


class VAEGenerator(NetworkGenerator):
    MODULE = VAE
    ARCHITECTURE = (
        "latent_dim",
        "hidden",
        "likelihood",
        "reconstruction",
        "beta",
        "latent_sampling",
        "latent_components",
        "noise_scale",
    )

    def fit(self, x, y, *, scaler=None, **kwargs):
        """As `NetworkGenerator.fit`; likelihood nb/zinb needs `scaler`, and the counts
        it returns for x (the data fitted on, as the user gave them)."""
        self._counts = None
        if self.settings["likelihood"] in COUNT_LIKELIHOODS:
            check_count_settings(self.settings, scaler)
            self._counts = scaler.inverse_transform(x)
        try:
            return super().fit(x, y, scaler=scaler, **kwargs)
        finally:
            self._counts = None  # a copy of the training data: not kept past training

    def _scaled(self, out):
        if not self.module.counts:
            return out
        if self.scaler is None:
            raise ValueError("a vae with likelihood nb/zinb samples counts: it needs the scaler")
        return self.scaler.transform(out)  # counts, scaled as the data were

    def _zero_inflation_setting(self):
        if self.settings["likelihood"] in COUNT_LIKELIHOODS:
            return False  # the count likelihood models the zeros (check_count_settings)
        setting = self.settings["zero_inflation"]
        # The mse_mean reading has no likelihood to add the hurdle to.
        return (
            False
            if self.settings["reconstruction"] == "mse_mean" and setting == "auto"
            else setting
        )

    def _train(self, x, y, *, cuda_graphs, progress, on_epoch=None):
        s = self.settings
        if s["privacy"]["epsilon"] is not None:
            return self._train_private(x, y, progress=progress)
        counts = None
        if self.module.counts:
            counts = torch.as_tensor(self._counts, dtype=torch.float32, device=x.device)
            self.module.fit_library(counts, y)
        history = train_vae(
            self.module,
            x,
            y,
            counts=counts,
            epochs=s["epochs"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            kl_warmup_epochs=s["kl_warmup_epochs"],
            progress=progress,
            cuda_graph=cuda_graphs,
            on_epoch=on_epoch,
        )
        self.module.eval()
        self._prepare_sampling(x, y)
        return history

    def _prepare_sampling(self, x, y):
        self.module.fit_latent_sampler(x, y, seed=self.seed)

    def _train_private(self, x, y, *, progress):
        s, privacy = self.settings, self.settings["privacy"]
        if s["latent_sampling"] != "prior":
            # Fitting the sampler to the training encodings after training would be a
            # second, unaccounted look at the data.
            raise TrainingError(
                f"vae.privacy: latent_sampling: {s['latent_sampling']} is not supported with "
                "DP-SGD: it fits the sampler to the training encodings outside the privacy "
                "accounting; set vae.latent_sampling: prior"
            )
        if s["marginals"] == "training":
            raise TrainingError(
                "vae.privacy: marginals: training is not supported with DP-SGD: it maps the "
                "samples onto the training split's marginals after training, outside the "
                "privacy accounting; set vae.marginals: model"
            )
        delta = privacy["delta"] if privacy["delta"] is not None else 1.0 / len(x)
        history, guarantee = train_vae_private(
            self.module,
            x,
            y,
            epochs=s["epochs"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            kl_warmup_epochs=s["kl_warmup_epochs"],
            epsilon=privacy["epsilon"],
            delta=delta,
            max_grad_norm=privacy["max_grad_norm"],
            progress=progress,
        )
        self.fitted["privacy"] = guarantee
        self.module.eval()
        return history


def check_count_settings(settings: dict, scaler) -> None:
    """What likelihood nb/zinb needs, refused in one line: whole non-negative counts,
    scaler.transform log1p (the counts are recovered from the scaled rows), no hurdle on
    top of the count likelihood, no DP-SGD (its per-sample loss has no counts)."""
    likelihood = settings["likelihood"]
    if scaler is None:
        raise TrainingError(f"vae.likelihood: {likelihood} needs the data's scaler (fit(scaler=))")
    transform = scaler.transform_name
    if transform != "log1p":
        raise TrainingError(
            f"vae.likelihood: {likelihood} needs scaler.transform: log1p, not {transform}; "
            "set scaler.transform: log1p or vae.likelihood: gaussian_learned_var"
        )
    if not scaler.integer or scaler.lower.min() < 0:
        found = "negative values" if scaler.lower.min() < 0 else "values that are not whole"
        raise TrainingError(
            f"vae.likelihood: {likelihood} needs whole non-negative counts, but the training "
            f"data hold {found}; set vae.likelihood: gaussian_learned_var"
        )
    if settings["zero_inflation"] in (True, "true"):
        raise TrainingError(
            f"vae.zero_inflation: true cannot be combined with vae.likelihood: {likelihood} "
            "(it models the zeros itself; zinb adds dropouts); set vae.zero_inflation: auto"
        )
    if settings["privacy"]["epsilon"] is not None:
        raise TrainingError(
            f"vae.privacy: epsilon {settings['privacy']['epsilon']} is not supported with "
            f"vae.likelihood: {likelihood}; set vae.likelihood: gaussian_learned_var"
        )
