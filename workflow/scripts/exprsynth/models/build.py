"""Building a generator from the registry: its module is imported here, by name, so that
reading the registry (names, colours) never loads a generator's code or torch."""

from __future__ import annotations

import importlib

from . import GENERATORS
from .base import Generator


def build_generator(kind: str, n_genes: int, n_labels: int, settings: dict) -> Generator:
    """An unfitted generator from its complete config section
    (`exprsynth.config.model_settings(kind)` gives the schema's defaults)."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; known: {', '.join(GENERATORS)}")
    entry = GENERATORS[kind]
    cls = getattr(importlib.import_module(f"{__package__}.{entry.module}"), entry.class_name)
    return cls(n_genes, n_labels, settings)
