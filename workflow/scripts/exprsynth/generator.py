"""One interface for every generator: fit on a training matrix, save, load, sample.

A checkpoint is a plain dict of tensors, strings and numbers (SPEC §4), so it loads with
`torch.load(..., weights_only=True)` and rebuilds the model without the workflow.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .gan import GAN
from .preprocess import Scaler, is_zero
from .reference import GaussianReference, IndependentReference
from .training import train_gan, train_vae
from .vae import VAE

MODELS = ("vae", "gan", "gaussian", "independent")
CHECKPOINT_FORMAT = "exprsynth-checkpoint/1"

# zero_inflation: auto turns the zero-inflated outputs on when more than this share of the
# training values are exact zeros in expression units (single-cell data: 60-90%; bulk
# RNA-seq and the simulated cohort: few or none).
ZERO_INFLATION_THRESHOLD = 0.30

# Keys of a model's config section that shape the network (the rest steer training).
_ARCHITECTURE_KEYS = {
    "vae": ("latent_dim", "hidden", "likelihood", "reconstruction", "beta"),
    "gan": (
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
    ),
    "gaussian": (),
    "independent": ("n_train",),
}


def build_model(kind: str, n_genes: int, n_labels: int, architecture: dict) -> nn.Module:
    if kind == "vae":
        return VAE(n_genes, n_labels=n_labels, **_tuples(architecture))
    if kind == "gan":
        return GAN(n_genes, n_labels=n_labels, **_tuples(architecture))
    if kind == "gaussian":
        return GaussianReference(n_genes, n_labels=n_labels)
    if kind == "independent":
        return IndependentReference(n_genes, n_labels=n_labels, **architecture)
    raise ValueError(f"unknown model {kind!r}; expected one of {', '.join(MODELS)}")


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when available; asking for CUDA without one is an error, not a fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was requested but torch sees no CUDA device")
    return torch.device(device)


def zero_fraction(x: np.ndarray, zero_value: np.ndarray) -> float:
    """Share of the entries of scaled data that are exact zeros in expression units."""
    return float(np.mean(is_zero(x, zero_value)))


def resolve_zero_inflation(setting, x: np.ndarray, zero_value: np.ndarray | None) -> bool:
    """zero_inflation: true | false | auto (on above ZERO_INFLATION_THRESHOLD zeros)."""
    if setting in (False, "false"):
        return False
    if setting in (True, "true"):
        if zero_value is None:
            raise ValueError("zero_inflation: true needs the per-gene zero_value")
        return True
    if setting != "auto":
        raise ValueError(f"zero_inflation must be auto, true or false, not {setting!r}")
    return zero_value is not None and zero_fraction(x, zero_value) > ZERO_INFLATION_THRESHOLD


def fit_model(
    kind: str,
    x: np.ndarray,
    y: np.ndarray | None,
    n_labels: int,
    hparams: dict,
    *,
    seed: int,
    device: str = "auto",
    progress: bool = True,
    zero_value: np.ndarray | None = None,
) -> tuple[nn.Module, dict, pd.DataFrame]:
    """Train one generator on scaled data; returns (model on CPU, architecture, history).

    zero_value: each gene's zero in the scaled space (`zero_values(scaler, n_genes)`). The
    VAE and the GAN use it when hparams' zero_inflation (default auto) turns on; it is then
    stored in the architecture, as plain floats, so the checkpoint rebuilds the model.
    """
    torch.manual_seed(seed)
    dev = resolve_device(device) if kind in ("vae", "gan") else torch.device("cpu")
    architecture = {k: hparams[k] for k in _ARCHITECTURE_KEYS[kind] if k in hparams}
    if kind == "independent":
        architecture["n_train"] = len(x)
    if kind in ("vae", "gan"):
        setting = hparams.get("zero_inflation", "auto")
        if kind == "vae" and hparams.get("reconstruction") == "mse_mean" and setting == "auto":
            setting = False  # the mse_mean reading has no likelihood to add the hurdle to
        on = resolve_zero_inflation(setting, x, zero_value)
        architecture["zero_inflation"] = on
        if on:
            architecture["zero_value"] = [float(v) for v in zero_value]
    model = build_model(kind, x.shape[1], n_labels, architecture).to(dev)
    if architecture.get("zero_inflation"):
        model.init_zero_rate(torch.as_tensor(is_zero(x, zero_value).mean(axis=0)))
    xt = torch.as_tensor(x, dtype=torch.float32, device=dev)
    yt = None if n_labels == 0 else torch.as_tensor(y, dtype=torch.long, device=dev)
    if kind == "vae":
        history = train_vae(
            model,
            xt,
            yt,
            epochs=hparams["epochs"],
            batch_size=hparams["batch_size"],
            lr=hparams["lr"],
            kl_warmup_epochs=hparams.get("kl_warmup_epochs", 0),
            progress=progress,
        )
    elif kind == "gan":
        history = train_gan(
            model,
            xt,
            yt,
            epochs=hparams["epochs"],
            batch_size=hparams["batch_size"],
            lr=hparams["lr"],
            lr_discriminator=hparams.get("lr_discriminator"),
            betas=tuple(hparams.get("betas", (0.5, 0.999))),
            critic_steps=hparams.get("critic_steps", 1),
            clip_norm=hparams.get("clip_norm", 1.0),
            progress=progress,
        )
    else:
        model.fit(xt, yt)
        history = pd.DataFrame({"epoch": [0]})
    return model.cpu().eval(), architecture, history


@dataclass
class TrainedGenerator:
    """A fitted generator with everything needed to sample in expression units."""

    kind: str
    model: nn.Module
    architecture: dict
    scaler: Scaler
    genes: list[str]
    label_column: str | None = None
    label_levels: list[str] = field(default_factory=list)
    label_counts: list[int] = field(default_factory=list)
    history: pd.DataFrame | None = None
    info: dict = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        return bool(self.label_levels)

    def sample_scaled(
        self, n: int, *, label: str | int | None = None, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """n samples in the scaled space and their label indices (None if unconditional).

        Without a label, a conditional model draws labels in the training proportions.
        """
        gen = torch.Generator().manual_seed(seed)
        y = None
        if self.conditional:
            if label is None:
                p = torch.tensor(self.label_counts, dtype=torch.float)
                y = torch.multinomial(p / p.sum(), n, replacement=True, generator=gen)
            else:
                y = torch.full((n,), self.label_index(label), dtype=torch.long)
        elif label is not None:
            raise ValueError(f"this {self.kind} checkpoint was trained without labels")
        torch.manual_seed(seed)
        with torch.no_grad():
            z = self.model.sample(n, y).cpu().double().numpy()
        if not np.isfinite(z).all():
            raise FloatingPointError(f"{self.kind} produced non-finite samples")
        return z, None if y is None else y.numpy()

    def sample(self, n: int, *, label: str | int | None = None, seed: int = 0) -> pd.DataFrame:
        """n synthetic profiles in original expression units (genes as columns)."""
        return self.generate(n, label=label, seed=seed)[0]

    def generate(
        self, n: int, *, label: str | int | None = None, seed: int = 0, prefix: str = "SYN"
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(expression, metadata): metadata has sample_id, the label column and `source`."""
        z, y = self.sample_scaled(n, label=label, seed=seed)
        ids = pd.Index([f"{prefix}_{i + 1:05d}" for i in range(n)], name="sample_id")
        values = self.scaler.inverse_transform(z)
        if self.architecture.get("zero_inflation"):
            # The model's zeros sit at the float32 zero value: make them exact zeros.
            values[is_zero(z, self.architecture["zero_value"])] = 0.0
        expr = pd.DataFrame(values, index=ids, columns=self.genes)
        meta = pd.DataFrame({"sample_id": ids, "source": self.kind})
        if y is not None:
            meta.insert(1, self.label_column, [self.label_levels[i] for i in y])
        return expr, meta

    def label_index(self, label: str | int) -> int:
        try:
            return self.label_levels.index(str(label))
        except ValueError:
            raise ValueError(
                f"label {label!r} is not one of this checkpoint's labels {self.label_levels}"
            ) from None

    def to_checkpoint(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "kind": self.kind,
            "architecture": self.architecture,
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "scaler": self.scaler.to_dict(),
            "genes": list(self.genes),
            "label_column": self.label_column or "",
            "label_levels": list(self.label_levels),
            "label_counts": [int(c) for c in self.label_counts],
            "history": {} if self.history is None else self.history.to_dict(orient="list"),
            "info": self.info,
        }

    def save(self, path: str | Path) -> None:
        """Write atomically: a killed job never leaves a truncated checkpoint behind."""
        save_atomic(self.to_checkpoint(), path)


def save_atomic(obj: dict, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_generator(path: str | Path, *, map_location: str = "cpu") -> TrainedGenerator:
    """Load a checkpoint written by exprsynth; anything else is refused, never unpickled."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a loadable exprsynth checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not an exprsynth checkpoint (format {CHECKPOINT_FORMAT})")
    levels = ckpt["label_levels"]
    model = build_model(ckpt["kind"], len(ckpt["genes"]), len(levels), ckpt["architecture"])
    model.load_state_dict(ckpt["state_dict"])
    return TrainedGenerator(
        kind=ckpt["kind"],
        model=model.eval(),
        architecture=ckpt["architecture"],
        scaler=Scaler.from_dict(ckpt["scaler"]),
        genes=ckpt["genes"],
        label_column=ckpt["label_column"] or None,
        label_levels=levels,
        label_counts=ckpt["label_counts"],
        history=pd.DataFrame(ckpt["history"]),
        info=ckpt["info"],
    )


def _tuples(d: dict) -> dict:
    """Config lists (hidden sizes) become tuples, as the constructors expect."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
