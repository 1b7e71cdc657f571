"""Checkpoints: a fitted generator written and read back without unpickling anything.

A network's checkpoint is a plain dict of tensors, strings and numbers, so it loads with
`torch.load(..., weights_only=True)` and rebuilds the model without the workflow. A
reference generator's is an .npz file of arrays plus the same metadata as JSON, loaded
with `allow_pickle=False`. torch is imported only for a network's checkpoint.
"""

from __future__ import annotations

import json
import platform
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.preprocess import Scaler
from ..models import GENERATORS
from ..models.build import build_generator
from ..models.trained import TrainedGenerator
from .files import atomic_path, read_npz

CHECKPOINT_FORMAT = "exprsynth-checkpoint/3"


def checkpoint_metadata(trained: TrainedGenerator) -> dict:
    """Everything but the model's numbers: plain strings, numbers, lists and dicts."""
    return {
        "format": CHECKPOINT_FORMAT,
        "kind": trained.kind,
        "settings": trained.generator.settings,
        "fitted": trained.generator.fitted,
        "scaler": trained.scaler.to_dict(),
        "genes": list(trained.genes),
        "label_column": trained.label_column or "",
        "label_levels": list(trained.label_levels),
        "label_counts": [int(c) for c in trained.label_counts],
        "history": {} if trained.history is None else trained.history.to_dict(orient="list"),
        "info": trained.info,
    }


def save_checkpoint(trained: TrainedGenerator, path: str | Path) -> None:
    """Write atomically: a killed job never leaves a truncated checkpoint behind.

    Networks are written as torch archives, references as .npz (the registry's
    checkpoint_file)."""
    numbers = trained.generator.numbers()
    with atomic_path(path) as tmp:
        if GENERATORS[trained.kind].network:
            import torch

            torch.save({**checkpoint_metadata(trained), "state_dict": numbers}, tmp)
        else:
            arrays = {f"model.{k}": v for k, v in numbers.items()}
            # Uncompressed (unlike write_npz): at cohort scale these are gigabytes.
            with open(tmp, "wb") as fh:  # a file object: savez adds no ".npz" suffix
                np.savez(fh, metadata=np.array(json.dumps(checkpoint_metadata(trained))), **arrays)


def package_versions(torch_used: bool) -> dict[str, str]:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    if torch_used:
        import torch

        versions["torch"] = str(torch.__version__)
    return versions


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
        raise FileNotFoundError(
            f"{path}: a directory, not a checkpoint file (checkpoint.pt, or .npz for a reference)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt, numbers = _read_checkpoint(path, map_location)
    except Exception as e:  # torch's weights-only unpickler fails on other files in many ways
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a loadable exprsynth checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else None
        raise ValueError(
            f"{path}: not an exprsynth checkpoint of format {CHECKPOINT_FORMAT}"
            + (f" (it is {found}: retrain with this version)" if found else "")
        )
    if ckpt["kind"] not in GENERATORS:
        raise ValueError(
            f"{path}: unknown generator kind {ckpt['kind']!r}; known: {', '.join(GENERATORS)}"
        )
    levels = ckpt["label_levels"]
    generator = build_generator(ckpt["kind"], len(ckpt["genes"]), len(levels), ckpt["settings"])
    generator.load(ckpt["fitted"], numbers)
    return TrainedGenerator(
        kind=ckpt["kind"],
        generator=generator,
        scaler=Scaler.from_dict(ckpt["scaler"]),
        genes=ckpt["genes"],
        label_column=ckpt["label_column"] or None,
        label_levels=levels,
        label_counts=ckpt["label_counts"],
        history=pd.DataFrame(ckpt["history"]),
        info=ckpt["info"],
    )
