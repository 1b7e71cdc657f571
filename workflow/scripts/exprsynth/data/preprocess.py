"""Train/test split, the expression scaler, labels and exact zeros."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


def split_samples(
    sample_ids: pd.Index, labels: pd.Series | None, *, test_fraction: float, seed: int
) -> pd.DataFrame:
    """Stratified (by label when given) train/test assignment: columns sample_id, split.

    The same draws as scikit-learn's `train_test_split(ids, test_size=test_fraction,
    random_state=seed, stratify=labels)`, written out here so that the split does not
    depend on a scikit-learn version and the first job of every replicate does not pay
    for its import, about 1 s. tests/test_preprocess.py checks the two agree. It refuses,
    with ValueError, the inputs scikit-learn refuses: a class of one sample, or a side of
    the split too small to hold every class (the workflow's input checks refuse them first).
    """
    ids = np.asarray(sample_ids)
    n_test = n_test_samples(len(ids), test_fraction)
    rng = np.random.RandomState(seed)
    if labels is None:
        test = rng.permutation(len(ids))[:n_test]
    else:
        levels, y, counts = np.unique(
            labels.loc[sample_ids].to_numpy(), return_inverse=True, return_counts=True
        )
        if counts.min() < 2:
            raise ValueError(
                f"class {levels[counts.argmin()]!r} has a single sample; a stratified split needs two"
            )
        if min(n_test, len(ids) - n_test) < len(counts):
            raise ValueError(
                f"a split of {len(ids)} samples into {len(ids) - n_test} training and {n_test} test "
                f"samples cannot hold all {len(counts)} classes on both sides"
            )
        members = np.split(np.argsort(y, kind="stable"), np.cumsum(counts)[:-1])
        n_train_per_class = _approximate_mode(counts, len(ids) - n_test, rng)
        n_test_per_class = _approximate_mode(counts - n_train_per_class, n_test, rng)
        test = []
        for i in range(len(counts)):
            shuffled = members[i][rng.permutation(counts[i])]
            test.extend(shuffled[n_train_per_class[i] : n_train_per_class[i] + n_test_per_class[i]])
    split = pd.Series("train", index=pd.Index(sample_ids, name="sample_id"))
    split.iloc[np.asarray(test, dtype=int)] = "test"
    return split.rename("split").reset_index()


def kfold_split(
    sample_ids: pd.Index, labels: pd.Series | None, *, n_folds: int, fold: int, seed: int
) -> pd.DataFrame:
    """As `split_samples`, with fold `fold` (0-based) of a K-fold partition held out:
    scikit-learn's StratifiedKFold (KFold without labels), shuffled by `seed`. The K
    replicates of one seed hold out every sample exactly once (split.scheme: kfold).
    ValueError, naming it, for a class with fewer than K samples."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if n_folds < 2:
        raise ValueError(f"a K-fold split needs K >= 2 folds, not {n_folds}")
    ids = np.asarray(sample_ids)
    if labels is None:
        folds = KFold(n_folds, shuffle=True, random_state=seed).split(ids)
    else:
        y = labels.loc[sample_ids].to_numpy()
        levels, counts = np.unique(y, return_counts=True)
        if counts.min() < n_folds:
            raise ValueError(
                f"class {levels[counts.argmin()]!r} has {counts.min()} samples, fewer than the "
                f"{n_folds} folds of split.scheme: kfold (one per replicate); merge or drop it "
                f"(data.rare_classes) or use fewer replicates"
            )
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(ids, y)
    test = list(folds)[fold][1]
    split = pd.Series("train", index=pd.Index(sample_ids, name="sample_id"))
    split.iloc[test] = "test"
    return split.rename("split").reset_index()


def n_test_samples(n: int, test_fraction: float) -> int:
    """The test split's size: the fraction of n, rounded up (as scikit-learn rounds)."""
    return math.ceil(test_fraction * n)


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of n_draws to take from each class: proportional shares rounded down, the
    rest to the largest remainders, ties broken at random (scikit-learn's
    utils.extmath._approximate_mode, draw for draw)."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def most_variable_genes(spread: np.ndarray, n: int) -> np.ndarray:
    """Indices, ascending, of the n genes with the largest spread (all of them if n covers them)."""
    if len(spread) <= n:
        return np.arange(len(spread))
    return np.sort(np.argsort(spread, kind="stable")[::-1][:n])


# An entry is an expression zero when it lies this close to its gene's zero value in the
# scaled space. Real zeros land on it exactly; the margin only absorbs float32 rounding.
ZERO_TOLERANCE = 1e-5

# scaler.transform: quantile keeps at most this many quantiles per gene (scikit-learn's
# QuantileTransformer default), and puts a zero that lies outside a gene's training range
# this far out on the normal scale: about scikit-learn's clip, norm.ppf(1 - 1e-7).
N_QUANTILES = 1000
QUANTILE_BOUND = 5.2


# Non-integer data whose largest value is below this look log-transformed: log2(x + 1) of
# even 10^9 counts stays below 30, while linear values of a cohort and raw counts go higher.
LOG_SCALE_MAX = 30.0


def log_scale_evidence(values: np.ndarray) -> tuple[str, tuple[int, int]] | None:
    """Why values look log-scaled (or centred) already, and where: ("negative", (i, j)) for
    a negative value, ("fractional", (i, j)) for a non-integer value when the largest is
    below LOG_SCALE_MAX; None when they look linear (counts, TPM, intensities)."""
    if values.size == 0:
        return None
    negative = values < 0
    if negative.any():
        return "negative", np.unravel_index(np.argmax(negative), negative.shape)
    fractional = values != np.round(values)
    if float(values.max()) < LOG_SCALE_MAX and fractional.any():
        return "fractional", np.unravel_index(np.argmax(fractional), fractional.shape)
    return None


def resolved_transform(transform: str, values: np.ndarray) -> str:
    """scaler.transform auto: none for values that look log-scaled already, log1p for
    linear ones; any other setting as it is."""
    if transform != "auto":
        return transform
    return "none" if log_scale_evidence(values) else "log1p"


def fit_scaler(train: np.ndarray, transform: str, decide_on: np.ndarray | None = None) -> Scaler:
    """The Scaler of config scaler.transform fitted on train; auto is decided on
    `decide_on` (all the data: every replicate then gets the same transform), else train."""
    transform = resolved_transform(transform, train if decide_on is None else decide_on)
    return Scaler.fit(train, log1p=transform == "log1p", quantile=transform == "quantile")


def zero_values(scaler: Scaler, n_genes: int) -> np.ndarray:
    """Each gene's zero in the scaled space: where an expression value of 0 lands."""
    z = scaler.transform(np.zeros((1, n_genes)))[0]
    if scaler.quantiles is not None:
        # The quantile map clamps a 0 outside a gene's training range onto its smallest or
        # largest value, which real samples hold: there the zero goes beyond every value
        # instead, so that those samples are not counted as zeros.
        below, above = scaler.lower > 0, scaler.upper < 0
        z[below] = (-QUANTILE_BOUND - scaler.mean[below]) / scaler.scale[below]
        z[above] = (QUANTILE_BOUND - scaler.mean[above]) / scaler.scale[above]
    return z


def is_zero(z: np.ndarray, zero_value: np.ndarray) -> np.ndarray:
    """Entries of scaled data that are exact zeros in expression units."""
    return np.abs(z - np.asarray(zero_value, dtype=float)[None, :]) <= ZERO_TOLERANCE


def fit_quantiles(x: np.ndarray, n: int | None = None) -> np.ndarray:
    """Per gene (genes x quantiles), training values at evenly spaced ranks: n of them, or
    all of them up to N_QUANTILES samples. Observed values, not scikit-learn's interpolated
    percentiles, so that a tie (the zeros) stays exact and counts stay whole numbers."""
    n = min(N_QUANTILES, len(x)) if n is None else n
    ranks = np.round(np.linspace(0, len(x) - 1, n)).astype(int)
    return np.ascontiguousarray(np.sort(x, axis=0)[ranks].T)


def quantile_levels(n: int) -> np.ndarray:
    """The probability of each of n quantiles: (i + 0.5) / n (Hazen), where scikit-learn has
    i / (n - 1) and clips at 1e-7, which would put each gene's smallest and largest value
    out at -+5.2 sd."""
    return (np.arange(n) + 0.5) / n


def to_normal(x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """scikit-learn's QuantileTransformer(output_distribution="normal").transform, with
    numpy.interp as it does it: interpolated from below and from above and averaged, so
    that all samples of a tied value (the zeros) land on one value, the middle of their
    share. Unlike it, a tie at a gene's smallest value is treated like any other (there
    it sends the zeros to -5.2 sd); values outside the training range are clamped."""
    from scipy.special import ndtri  # here: the other transforms do without scipy

    levels = quantile_levels(quantiles.shape[1])
    u = np.empty(np.shape(x))
    for j, q in enumerate(quantiles):
        xj = np.clip(x[:, j], q[0], q[-1])
        u[:, j] = 0.5 * (np.interp(xj, q, levels) - np.interp(-xj, -q[::-1], -levels[::-1]))
    return ndtri(u)


def from_normal(z: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """The inverse, as scikit-learn's: the normal's cdf, then numpy.interp back onto the
    quantiles. A tied value covers the whole stretch of its share, so everything up to
    its top maps to it exactly (for the zeros: up to the gene's zero fraction)."""
    from scipy.special import ndtr

    levels = quantile_levels(quantiles.shape[1])
    x = ndtr(z)
    for j, q in enumerate(quantiles):
        x[:, j] = np.interp(x[:, j], levels, q)
    return x


@dataclass
class Scaler:
    """A per-gene transform (log1p, or the quantile map to a normal, or none), then per-gene
    standardisation, all with statistics of the training split.

    It also records the data's support on the training split, in expression units: each
    gene's smallest and largest value, and whether every value is a whole number (counts).
    `inverse_transform` returns values within it, so written samples never hold what the
    data cannot: negative values where the data have none, residues such as 5.6e-17 where
    they have exact zeros, fractions where they are counts.

    quantiles (transform: quantile): per gene, up to N_QUANTILES training values at evenly
    spaced ranks; each gene goes through its empirical distribution to a standard normal
    (a Gaussian copula, as scDesign2/3 model), so that every generator gets each gene's
    observed values and zero mass back from the inverse.
    """

    log1p: bool
    mean: np.ndarray
    scale: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: bool
    quantiles: np.ndarray | None = None  # genes x quantiles

    @classmethod
    def fit(cls, x: np.ndarray, *, log1p: bool = False, quantile: bool = False) -> Scaler:
        if log1p and quantile:
            raise ValueError("a scaler takes log1p or quantile, not both")
        x = np.asarray(x, dtype=np.float64)
        quantiles = fit_quantiles(x) if quantile else None
        z = to_normal(x, quantiles) if quantile else np.log1p(x) if log1p else x
        mean, scale = z.mean(axis=0), z.std(axis=0)
        # A gene constant in train stays constant instead of dividing by ~0; rounding leaves
        # the std of a constant non-zero column at ~1e-16, not exactly 0.
        scale[scale <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0
        integer = bool(np.all(x == np.round(x)))
        return cls(log1p, mean, scale, x.min(axis=0), x.max(axis=0), integer, quantiles)

    @property
    def transform_name(self) -> str:
        """Its scaler.transform: log1p, quantile or none (auto is resolved before fitting)."""
        return "quantile" if self.quantiles is not None else "log1p" if self.log1p else "none"

    def transform(self, x: np.ndarray) -> np.ndarray:
        # One new array, updated in place: at cohort scale each temporary is gigabytes.
        if self.quantiles is not None:
            z = to_normal(np.asarray(x, dtype=np.float64), self.quantiles)
        else:
            z = np.log1p(x, dtype=np.float64) if self.log1p else np.array(x, dtype=np.float64)
        z -= self.mean
        z /= self.scale
        return z

    def spread(self, z_train: np.ndarray) -> np.ndarray:
        """Each gene's standard deviation in the training split before standardisation,
        from its standardised values: there every gene has sd 1 (0 if constant), so they
        cannot rank genes by how much they vary. (After the quantile map, a gene's sd
        falls below 1 with its share of tied values, the zeros above all.)"""
        # Standardised on this split, each gene's mean is 0, so its sd is the root mean
        # square, summed without a samples x genes temporary (gigabytes at cohort scale).
        return self.scale * np.sqrt(np.einsum("ij,ij->j", z_train, z_train) / len(z_train))

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Back to expression units, within the training split's support: each gene between
        its smallest and largest value, whole numbers for count data, and exact zeros where
        z sits at the gene's zero (float residue of the round trip would leave 1e-17)."""
        z = np.asarray(z)
        x = z * self.scale
        x += self.mean
        if self.quantiles is not None:
            x = from_normal(x, self.quantiles)
        elif self.log1p:
            np.expm1(x, out=x)
        at_zero = (
            is_zero(z, zero_values(self, len(self.mean))) & (self.lower <= 0) & (self.upper >= 0)
        )
        x[at_zero] = 0.0
        np.clip(x, self.lower, self.upper, out=x)
        if self.integer:
            np.round(x, out=x)
        return x

    def to_dict(self) -> dict:
        d = {
            "log1p": self.log1p,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "integer": self.integer,
        }
        if self.quantiles is not None:  # plain lists, one per gene: the JSON is never pickled
            d["quantiles"] = self.quantiles.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        arrays = (np.asarray(d[k], float) for k in ("mean", "scale", "lower", "upper"))
        quantiles = np.asarray(d["quantiles"], float) if d.get("quantiles") else None
        return cls(bool(d["log1p"]), *arrays, bool(d["integer"]), quantiles)


def label_levels(labels: pd.Series) -> list[str]:
    """Sorted distinct labels as strings (numeric labels sort numerically)."""
    values = labels.dropna().unique()
    try:
        values = sorted(values, key=float)
    except (TypeError, ValueError):
        values = sorted(values, key=str)
    return [str(v) for v in values]


def encode_labels(labels: pd.Series, levels: list[str]) -> np.ndarray:
    return labels.astype(str).map({lvl: i for i, lvl in enumerate(levels)}).to_numpy(dtype=np.int64)


@dataclass
class SplitData:
    """Scaled train/test matrices with their labels as indices into `label_levels`."""

    genes: list[str]
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray | None
    y_test: np.ndarray | None
    label_levels: list[str]


def split_data(
    expression: pd.DataFrame,
    metadata: pd.DataFrame | None,
    split: pd.DataFrame,
    scaler: Scaler,
    label_column: str | None,
) -> SplitData:
    train_ids = split.loc[split["split"] == "train", "sample_id"]
    test_ids = split.loc[split["split"] == "test", "sample_id"]
    x_train = scaler.transform(expression.loc[train_ids].to_numpy())
    x_test = scaler.transform(expression.loc[test_ids].to_numpy())
    if metadata is None or not label_column:
        return SplitData(list(expression.columns), x_train, x_test, None, None, [])
    labels = metadata.set_index("sample_id")[label_column]
    levels = label_levels(labels.loc[train_ids])
    return SplitData(
        list(expression.columns),
        x_train,
        x_test,
        encode_labels(labels.loc[train_ids], levels),
        encode_labels(labels.loc[test_ids], levels),
        levels,
    )
