"""A fitted generator with its scaler and labels: samples in expression units."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.preprocess import Scaler
from .base import Generator


def proportional_counts(counts: list[int], n: int) -> np.ndarray:
    """n split in the proportions of `counts` (largest remainders): sums to n exactly."""
    share = np.asarray(counts, dtype=float) / np.sum(counts) * n
    out = np.floor(share).astype(int)
    out[np.argsort(out - share, kind="stable")[: n - out.sum()]] += 1
    return out


@dataclass
class TrainedGenerator:
    """What a checkpoint holds: `load_generator(path).sample(n, label=...)`."""

    kind: str
    generator: Generator
    scaler: Scaler
    genes: list[str]
    label_column: str | None = None
    label_levels: list[str] = field(default_factory=list)
    label_counts: list[int] = field(default_factory=list)
    history: pd.DataFrame | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        # A generator that samples counts maps them to the scaled space with this scaler:
        # the checkpoint stores it once, here, not again in the generator's numbers.
        self.generator.scaler = self.scaler

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
                counts = proportional_counts(self.label_counts, n)
                y = rng.permutation(np.repeat(np.arange(len(self.label_counts)), counts))
            else:
                y = np.full(n, self.label_index(label))
        elif label is not None:
            raise ValueError(f"this {self.kind} checkpoint was trained without labels")
        z = self.generator.sample(n, y, rng)
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
        values = self.scaler.inverse_transform(z)  # within the data's support, exact zeros
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
