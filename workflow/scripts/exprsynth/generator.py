"""One interface for every generator: fit on a training matrix, save, load, sample.

A network's checkpoint is a plain dict of tensors, strings and numbers (SPEC §4), so it
loads with `torch.load(..., weights_only=True)` and rebuilds the model without the
workflow. A reference generator's checkpoint is an .npz file of arrays plus the same
metadata as JSON, loaded with `allow_pickle=False`. torch is imported only where a
network is built, trained, saved or loaded: the reference generators' jobs never pay
its start-up (about a second).
"""

from __future__ import annotations

import json
import platform
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .io import atomic_path, read_npz
from .preprocess import Scaler, is_zero
from .reference import REFERENCES

if TYPE_CHECKING:
    import torch

NETWORKS = ("vae", "gan")
MODELS = (*NETWORKS, *REFERENCES)
CHECKPOINT_FORMAT = "exprsynth-checkpoint/1"
# A checkpoint's file name: networks are torch archives, references numpy archives.
CHECKPOINT_FILE = {
    **{kind: "checkpoint.pt" for kind in NETWORKS},
    **{kind: "checkpoint.npz" for kind in REFERENCES},
}

# zero_inflation: auto turns the zero-inflated outputs on when more than this share of the
# training values are exact zeros in expression units (single-cell data: 60-90%; bulk
# RNA-seq and the simulated cohort: few or none).
ZERO_INFLATION_THRESHOLD = 0.30

# Keys of a model's config section that shape the network (the rest steer training).
_ARCHITECTURE_KEYS = {
    "vae": ("latent_dim", "hidden", "likelihood", "reconstruction", "beta", "latent_sampling"),
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
        "output_noise_init",
        "minibatch_std",
        "critic_conditioning",
        "generator_conditioning",
    ),
}


def build_network(kind: str, n_genes: int, n_labels: int, architecture: dict) -> torch.nn.Module:
    if kind == "vae":
        from .vae import VAE

        return VAE(n_genes, n_labels=n_labels, **_tuples(architecture))
    if kind == "gan":
        from .gan import GAN

        return GAN(n_genes, n_labels=n_labels, **_tuples(architecture))
    raise ValueError(f"unknown model {kind!r}; expected one of {', '.join(MODELS)}")


class TrainingError(RuntimeError):
    """Training cannot go on (no CUDA device, a diverged loss): one line for the user."""


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when available; asking for CUDA without one is an error, not a fallback."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            "device: cuda was requested but torch sees no CUDA device; set device: auto or cpu"
        )
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
    cuda_graphs: bool = True,
    progress: bool = True,
    zero_value: np.ndarray | None = None,
) -> tuple[Any, dict, pd.DataFrame]:
    """Train one generator on scaled data; returns (model on CPU, architecture, history).

    cuda_graphs: on a GPU, replay each training step as a CUDA graph (training.StepRunner).
    zero_value: each gene's zero in the scaled space (`zero_values(scaler, n_genes)`). The
    VAE and the GAN use it when hparams' zero_inflation (default auto) turns on; it is then
    stored in the architecture, as plain floats, so the checkpoint rebuilds the model.
    """
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; expected one of {', '.join(MODELS)}")
    if kind in REFERENCES:
        model = REFERENCES[kind](n_labels)
        model.fit(x, y if n_labels else None)
        return model, {}, pd.DataFrame({"epoch": [0]})
    import torch

    from .training import train_gan, train_vae

    torch.manual_seed(seed)
    dev = resolve_device(device)
    architecture = {k: hparams[k] for k in _ARCHITECTURE_KEYS[kind] if k in hparams}
    setting = hparams.get("zero_inflation", "auto")
    if kind == "vae" and hparams.get("reconstruction") == "mse_mean" and setting == "auto":
        setting = False  # the mse_mean reading has no likelihood to add the hurdle to
    on = resolve_zero_inflation(setting, x, zero_value)
    architecture["zero_inflation"] = on
    if on:
        architecture["zero_value"] = [float(v) for v in zero_value]
    model = build_network(kind, x.shape[1], n_labels, architecture).to(dev)
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
            cuda_graph=cuda_graphs,
        )
        model.eval()
        model.fit_latent_sampler(xt, yt)
    else:
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
            ema=hparams.get("ema"),
            progress=progress,
            cuda_graph=cuda_graphs,
        )
        if hparams.get("fit_output_noise"):
            model.eval()
            model.fit_output_noise(xt, yt)
    return model.cpu().eval(), architecture, history


def proportional_counts(counts: list[int], n: int) -> np.ndarray:
    """n split in the proportions of `counts` (largest remainders): sums to n exactly."""
    share = np.asarray(counts, dtype=float) / np.sum(counts) * n
    out = np.floor(share).astype(int)
    out[np.argsort(out - share, kind="stable")[: n - out.sum()]] += 1
    return out


@dataclass
class TrainedGenerator:
    """A fitted generator with everything needed to sample in expression units."""

    kind: str
    model: Any  # a torch module (VAE, GAN) or a numpy reference generator
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

        Without a label, a conditional model gives the labels in the training proportions:
        exactly, up to rounding (largest remainders), in random order. Drawn one by one
        they would vary by a few percent from run to run.
        """
        rng = np.random.default_rng(seed)
        y = None
        if self.conditional:
            if label is None:
                y = rng.permutation(np.repeat(np.arange(len(self.label_counts)), proportional_counts(self.label_counts, n)))
            else:
                y = np.full(n, self.label_index(label))
        elif label is not None:
            raise ValueError(f"this {self.kind} checkpoint was trained without labels")
        if self.kind in REFERENCES:
            z = self.model.sample(n, y, rng)
        else:
            z = _sample_network(self.model, n, y, seed)
        if not np.isfinite(z).all():
            raise FloatingPointError(f"{self.kind} produced non-finite samples")
        return z, y

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
        expr = pd.DataFrame(values, index=ids, columns=self.genes, copy=False)
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

    def metadata(self) -> dict:
        """Everything but the model's numbers: plain strings, numbers, lists and dicts."""
        return {
            "format": CHECKPOINT_FORMAT,
            "kind": self.kind,
            "architecture": self.architecture,
            "scaler": self.scaler.to_dict(),
            "genes": list(self.genes),
            "label_column": self.label_column or "",
            "label_levels": list(self.label_levels),
            "label_counts": [int(c) for c in self.label_counts],
            "history": {} if self.history is None else self.history.to_dict(orient="list"),
            "info": self.info,
        }

    def save(self, path: str | Path) -> None:
        """Write atomically: a killed job never leaves a truncated checkpoint behind.

        Networks are written as torch archives, references as .npz (CHECKPOINT_FILE)."""
        with atomic_path(path) as tmp:
            if self.kind in REFERENCES:
                arrays = {f"model.{k}": v for k, v in self.model.arrays().items()}
                # Uncompressed (unlike io.write_npz): at cohort scale these are gigabytes.
                with open(tmp, "wb") as fh:  # a file object: savez adds no ".npz" suffix
                    np.savez(fh, metadata=np.array(json.dumps(self.metadata())), **arrays)
            else:
                import torch

                # Cloned: a parameter may be a view into the optimiser's flat buffer.
                state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                torch.save({**self.metadata(), "state_dict": state}, tmp)


def package_versions(torch_used: bool) -> dict[str, str]:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    if torch_used:
        import torch

        versions["torch"] = str(torch.__version__)
    return versions


def _sample_network(model, n: int, y: np.ndarray | None, seed: int) -> np.ndarray:
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        labels = None if y is None else torch.as_tensor(y, dtype=torch.long)
        return model.sample(n, labels).cpu().double().numpy()


def _read_checkpoint(path: Path, map_location: str) -> tuple[dict, Any]:
    """(metadata, the model's numbers), refusing anything that would need unpickling."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            is_npz = "metadata.npy" in archive.namelist()
        if is_npz:
            arrays = read_npz(path)
            metadata = json.loads(str(arrays.pop("metadata")))
            return metadata, {k.removeprefix("model."): v for k, v in arrays.items()}
    import torch

    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    return ckpt, ckpt.get("state_dict") if isinstance(ckpt, dict) else None


def load_generator(path: str | Path, *, map_location: str = "cpu") -> TrainedGenerator:
    """Load a checkpoint written by exprsynth; anything else is refused, never unpickled."""
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path}: a directory, not a checkpoint file (checkpoint.pt, or .npz for a reference)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt, numbers = _read_checkpoint(path, map_location)
    except Exception as e:  # torch's weights-only unpickler fails on other files in many ways
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a loadable exprsynth checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not an exprsynth checkpoint (format {CHECKPOINT_FORMAT})")
    levels = ckpt["label_levels"]
    if ckpt["kind"] in REFERENCES:
        model = REFERENCES[ckpt["kind"]].from_arrays(len(levels), numbers)
    else:
        model = build_network(ckpt["kind"], len(ckpt["genes"]), len(levels), ckpt["architecture"])
        model.load_state_dict(numbers)
        model.eval()
    return TrainedGenerator(
        kind=ckpt["kind"],
        model=model,
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
