"""What the torch generators share: device, seeding, zero inflation, sampling and state.

A subclass names its torch module (MODULE), the settings that shape it (ARCHITECTURE) and
its training (`_train`); this class does the rest the same way for every network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.preprocess import is_zero
from .marginals import apply_maps, fit_maps
from .base import Generator, bic_gaussian_mixture, resolve_device, resolve_zero_inflation

# Principal components the `clusters` setting clusters the training samples in.
CLUSTER_RANK = 10
# Where the marginal maps (marginals: training) sit among the weights: the network's and
# the training split's quantile tables.
MAP_KEYS = ("marginal_map.model", "marginal_map.training")


class NetworkGenerator(Generator):
    MODULE: type[torch.nn.Module]
    ARCHITECTURE: tuple[str, ...] = ()
    maps: tuple[np.ndarray, np.ndarray] | None = None  # marginals: training's quantile tables

    def fit(
        self,
        x,
        y,
        *,
        seed,
        zero_value=None,
        device="cpu",
        cuda_graphs=False,
        progress=False,
        on_epoch=None,
        scaler=None,
    ) -> pd.DataFrame:
        """As `Generator.fit`; on_epoch(epoch, sample), when given, is called after every
        epoch with sample(n, y, rng): samples of the model as trained so far, as `sample`
        gives them, drawn without touching the training's random numbers."""
        torch.manual_seed(seed)
        self.seed, self.scaler = seed, scaler
        self.maps = None
        labels = y
        calibrate = self.settings["marginals"] == "training"
        dev = resolve_device(device)
        on = resolve_zero_inflation(self._zero_inflation_setting(), x, zero_value)
        # Stored in the checkpoint as plain floats, so it rebuilds the same module.
        self.fitted = {
            "zero_inflation": on,
            "zero_value": [float(v) for v in zero_value] if on else None,
        }
        if self.settings.get("clusters"):
            y = self._fit_clusters(x, y, seed)
        self.module = self._build().to(dev)
        if on:
            self.module.init_zero_rate(torch.as_tensor(is_zero(x, zero_value).mean(axis=0)))
        xt = torch.as_tensor(x, dtype=torch.float32, device=dev)
        yt = None if self._n_conditions() == 0 else torch.as_tensor(y, dtype=torch.long, device=dev)
        report = None
        if on_epoch is not None:

            def report(epoch):
                on_epoch(
                    epoch,
                    lambda n, labels, rng: self._sample_during_training(xt, yt, n, labels, rng),
                )

        history = self._train(xt, yt, cuda_graphs=cuda_graphs, progress=progress, on_epoch=report)
        self.module = self.module.cpu().eval()
        if calibrate:
            self.maps = fit_maps(self.sample, x, labels, self.n_labels, seed)
        return history

    def _sample_during_training(self, x, y, n, labels, rng) -> np.ndarray:
        """`sample` from the weights as they are, the training's random state restored after."""
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.module.eval()
            self._prepare_sampling(x, y)
            out = self.sample(n, labels, rng)
        self.module.train()
        return out

    def _prepare_sampling(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """What sampling needs fitted to the training data first (the VAE's latent sampler)."""

    def _zero_inflation_setting(self):
        return self.settings["zero_inflation"]

    def _train(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        *,
        cuda_graphs: bool,
        progress: bool,
        on_epoch=None,
    ) -> pd.DataFrame:
        raise NotImplementedError

    def _fit_clusters(self, x: np.ndarray, y: np.ndarray | None, seed: int) -> np.ndarray:
        """Setting `clusters`: within each label, Gaussian-mixture clusters of the training
        samples (in their top principal components, BIC, at most `clusters` per label); the
        network is conditioned on (label, cluster) instead of the label. A network that maps
        one unimodal noise to clusters (cell types) fills the space between them; given the
        cluster, it need not. Returns each sample's condition; fitted["clusters"] keeps each
        condition's label and training count, from which sampling draws the clusters."""
        from sklearn.decomposition import PCA

        y = np.zeros(len(x), dtype=np.int64) if y is None else np.asarray(y)
        z = PCA(min(CLUSTER_RANK, *x.shape), random_state=seed).fit_transform(x)
        condition, label_of, counts = np.empty(len(x), dtype=np.int64), [], []
        for label in range(max(self.n_labels, 1)):
            rows = np.flatnonzero(y == label)
            found = np.zeros(len(rows), dtype=np.int64)
            if len(rows) >= 2:
                mixture = bic_gaussian_mixture(z[rows], self.settings["clusters"], 2, seed)
                found = mixture.predict(z[rows])
            for cluster in np.unique(found):
                condition[rows[found == cluster]] = len(label_of)
                label_of.append(label)
                counts.append(int((found == cluster).sum()))
        self.fitted["clusters"] = {"label_of": label_of, "counts": counts}
        return condition

    def _n_conditions(self) -> int:
        """What the module is conditioned on: the labels, or (label, cluster) pairs."""
        clusters = self.fitted.get("clusters")
        return len(clusters["label_of"]) if clusters else self.n_labels

    def _conditions(self, y: np.ndarray | None, n: int, rng) -> np.ndarray | None:
        """Labels to the module's conditions: with clusters, each row draws one of its
        label's clusters in their training proportions."""
        clusters = self.fitted.get("clusters")
        if not clusters:
            return y
        label_of, counts = np.array(clusters["label_of"]), np.array(clusters["counts"], float)
        y = np.zeros(n, dtype=np.int64) if y is None else np.asarray(y)
        out = np.empty(n, dtype=np.int64)
        for label in np.unique(y):
            rows = np.flatnonzero(y == label)
            options = np.flatnonzero(label_of == label)
            out[rows] = rng.choice(options, len(rows), p=counts[options] / counts[options].sum())
        return out

    def _build(self) -> torch.nn.Module:
        architecture = {k: _tuple(self.settings[k]) for k in self.ARCHITECTURE}
        # fitted.privacy records the DP guarantee of the training, fitted.clusters the
        # conditions; neither is an argument of the module.
        shape = {k: v for k, v in self.fitted.items() if k not in ("privacy", "clusters")}
        return self.MODULE(self.n_genes, n_labels=self._n_conditions(), **architecture, **shape)

    def sample(self, n: int, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        labels, y = y, self._conditions(y, n, rng)
        torch.manual_seed(int(rng.integers(2**63 - 1)))
        with torch.no_grad():
            conditions = None if y is None else torch.as_tensor(y, dtype=torch.long)
            out = self._scaled(self.module.sample(n, conditions).cpu().double().numpy())
        if self.maps is None:
            return out
        return apply_maps(out, labels, *self.maps)

    def _scaled(self, out: np.ndarray) -> np.ndarray:
        """The module's samples in the scaled space (the VAE's count likelihoods draw counts)."""
        return out

    def numbers(self) -> dict[str, Any]:
        # Cloned: a parameter may be a view into the optimiser's flat buffer.
        out = {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
        if self.maps is not None:
            out.update({key: torch.as_tensor(t) for key, t in zip(MAP_KEYS, self.maps)})
        return out

    def load(self, fitted: dict, numbers: dict[str, Any]) -> None:
        self.fitted = dict(fitted)
        numbers = dict(numbers)
        maps = [numbers.pop(key, None) for key in MAP_KEYS]
        self.maps = None if maps[0] is None else tuple(m.double().numpy() for m in maps)
        self.module = self._build()
        self.module.load_state_dict(numbers)
        self.module.eval()


def _tuple(value):
    """Config lists (hidden sizes) become tuples, as the modules expect."""
    return tuple(value) if isinstance(value, list) else value
