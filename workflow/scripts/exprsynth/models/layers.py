"""Small building blocks shared by the generators."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


def mlp(
    sizes: list[int],
    *,
    activation: Callable[[], nn.Module] = nn.ReLU,
    final_activation: bool = False,
    dropout: dict[int, float] | None = None,
) -> nn.Sequential:
    """Linear layers of the given sizes with an activation between them.

    dropout maps a hidden layer's index (0 = after the first Linear) to a dropout rate.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(sizes) - 2
        if not last or final_activation:
            layers.append(activation())
            if dropout and i in dropout:
                layers.append(nn.Dropout(dropout[i]))
    return nn.Sequential(*layers)


def with_labels(x: torch.Tensor, y: torch.Tensor | None, n_labels: int) -> torch.Tensor:
    """Append the one-hot label to each row when the model is conditional."""
    if n_labels == 0:
        return x
    if y is None:
        raise ValueError("this model is conditional: pass a label for every row")
    return torch.cat([x, F.one_hot(y, n_labels).to(x.dtype)], dim=1)


def register_zero_value(module: nn.Module, zero_value, n_genes: int) -> None:
    """The per-gene zero value as a buffer; not in the state dict (the architecture holds it)."""
    if zero_value is None or len(zero_value) != n_genes:
        raise ValueError(f"zero_inflation needs a zero_value for each of the {n_genes} genes")
    module.register_buffer(
        "zero_value", torch.as_tensor(zero_value, dtype=torch.float32), persistent=False
    )


@torch.no_grad()
def init_zero_logit(layer: nn.Linear, rate: torch.Tensor) -> None:
    """Bias = logit of the per-gene zero rate (kept inside [0.01, 0.99]), so the zero head
    starts at the data's rates instead of 50%; training refines it per sample."""
    rate = torch.as_tensor(rate, dtype=layer.bias.dtype, device=layer.bias.device)
    layer.bias.copy_(torch.logit(rate.clamp(0.01, 0.99)))
