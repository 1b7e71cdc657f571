"""Reference generators every deep model must be seen to beat (SPEC §3, "Both").

Both are nn.Modules holding only buffers, so they save, load and sample exactly like
the VAE and the GAN.
"""

from __future__ import annotations

import torch
from torch import nn


class GaussianReference(nn.Module):
    """Multivariate normal in the scaled space, one per label when conditional.

    The covariance is Ledoit-Wolf shrunk: per-label training sets are often smaller
    than the number of genes, where the plain sample covariance is singular.
    """

    def __init__(self, n_genes: int, *, n_labels: int = 0):
        super().__init__()
        self.n_genes, self.n_labels = n_genes, n_labels
        k = max(n_labels, 1)
        self.register_buffer("mean", torch.zeros(k, n_genes))
        self.register_buffer("chol", torch.eye(n_genes).repeat(k, 1, 1))

    def fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        from sklearn.covariance import LedoitWolf

        for k in range(max(self.n_labels, 1)):
            rows = x if self.n_labels == 0 else x[y == k]
            cov = LedoitWolf().fit(rows.cpu().numpy()).covariance_
            self.mean[k] = rows.mean(dim=0)
            self.chol[k] = torch.linalg.cholesky(torch.as_tensor(cov, dtype=x.dtype))

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        y = torch.zeros(n, dtype=torch.long) if self.n_labels == 0 else y.cpu()
        eps = torch.randn(n, self.n_genes)
        out = torch.empty(n, self.n_genes)
        for k in y.unique():  # one matrix product per label, never an n x genes x genes gather
            rows = y == k
            out[rows] = self.mean[k] + eps[rows] @ self.chol[k].T
        return out


class IndependentReference(nn.Module):
    """Each gene resampled independently from the training split (per label when conditional).

    Keeps every marginal exactly and destroys all gene-gene structure.
    """

    def __init__(self, n_genes: int, *, n_labels: int = 0, n_train: int = 0):
        super().__init__()
        self.n_genes, self.n_labels = n_genes, n_labels
        self.register_buffer("data", torch.zeros(n_train, n_genes))
        self.register_buffer("labels", torch.zeros(n_train, dtype=torch.long))

    def fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        self.data = x.detach().cpu().clone()
        self.labels = torch.zeros(len(x), dtype=torch.long) if y is None else y.cpu().clone()

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        y = torch.zeros(n, dtype=torch.long) if self.n_labels == 0 else y.cpu()
        out = torch.empty(n, self.n_genes)
        for k in y.unique():
            pool = self.data[self.labels == k]
            rows = (y == k).nonzero().squeeze(1)
            pick = torch.randint(len(pool), (len(rows), self.n_genes))
            out[rows] = torch.gather(pool, 0, pick)
        return out
