"""The train/test split: scikit-learn's draws, without importing it in the split job; and the
quantile scaler: scikit-learn's QuantileTransformer, kept in a JSON file."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import QuantileTransformer

from exprsynth.data.preprocess import N_QUANTILES, Scaler, split_samples, to_normal

CASES = [
    # (class sizes, test fraction); None: no labels
    ([600, 400], 0.2),
    ([500, 500], 0.2),
    ([7, 7, 7], 0.3),  # equal remainders: ties broken at random
    ([3, 5, 11, 2], 0.25),
    ([100, 2, 3], 0.5),  # small classes next to a large one
    (None, 0.2),
    (None, 0.33),
]


@pytest.mark.parametrize("sizes, fraction", CASES)
@pytest.mark.parametrize("seed", [0, 42, 46])
@pytest.mark.parametrize("label_type", [str, int])
def test_split_draws_the_same_test_set_as_scikit_learn(sizes, fraction, seed, label_type):
    rng = np.random.default_rng(seed)
    n = sum(sizes) if sizes else 250
    ids = pd.Index([f"s{i}" for i in rng.permutation(n)])
    labels = None
    if sizes:
        levels = [c if label_type is int else f"class_{c}" for c in range(len(sizes))]
        labels = pd.Series(rng.permutation(np.repeat(levels, sizes)), index=ids)
        labels = labels.iloc[rng.permutation(n)]  # the label table in another order than the ids
    table = split_samples(ids, labels, test_fraction=fraction, seed=seed)
    _, expected_test = train_test_split(
        np.asarray(ids),
        test_size=fraction,
        random_state=seed,
        stratify=None if labels is None else labels[ids].to_numpy(),
    )
    assert list(table["sample_id"]) == list(ids)
    assert set(table.loc[table["split"] == "test", "sample_id"]) == set(expected_test)
    assert set(table["split"]) == {"train", "test"}


@pytest.mark.parametrize(
    "sizes, fraction, message",
    [
        ([9, 1], 0.2, "class 'class_1' has a single sample"),
        ([2, 2, 2], 0.2, "into 4 training and 2 test samples cannot hold all 3 classes"),
        ([2, 2, 2], 0.8, "into 1 training and 5 test samples cannot hold all 3 classes"),
    ],
)
def test_split_refuses_what_scikit_learn_refuses(sizes, fraction, message):
    ids = pd.Index([f"s{i}" for i in range(sum(sizes))])
    labels = pd.Series(np.repeat([f"class_{c}" for c in range(len(sizes))], sizes), index=ids)
    with pytest.raises(ValueError):
        train_test_split(
            np.asarray(ids), test_size=fraction, random_state=0, stratify=labels.to_numpy()
        )
    with pytest.raises(ValueError, match=message):
        split_samples(ids, labels, test_fraction=fraction, seed=0)


def test_the_quantile_map_is_scikit_learns_quantile_transformer():
    """Given scikit-learn's quantiles, the same map on its uniform scale, i / (n - 1) there
    and (i + 0.5) / n here; ties inside the range included. (A gene's smallest value is
    unique here: scikit-learn sends a tie there to 0, ours to the middle of its share.) Our
    own quantiles are the sorted training values: scikit-learn's percentiles of them carry
    float fuzz (x[3] + 4e-16 * (x[4] - x[3])) that can move a tie's edge by one."""
    rng = np.random.default_rng(0)
    x = np.round(rng.gamma(2.0, 2.0, (300, 6)), 1)  # many ties
    x[np.arange(6), np.arange(6)] = -1.0  # a unique minimum per gene
    n = len(x)
    reference = QuantileTransformer(n_quantiles=n, output_distribution="uniform").fit(x)
    new = np.vstack([x[:50] + 0.05, np.full((1, 6), 100.0), np.full((1, 6), -5.0)])
    for values in (x, new):  # training values, values between them and beyond the range
        expected = (reference.transform(values) * (n - 1) + 0.5) / n
        u = ndtr(to_normal(values, reference.quantiles_.T.copy()))
        np.testing.assert_allclose(u, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(Scaler.fit(x, quantile=True).quantiles, np.sort(x, axis=0).T)


def test_the_quantile_scaler_keeps_at_most_n_quantiles_and_survives_json():
    rng = np.random.default_rng(1)
    x = rng.poisson(3.0, (N_QUANTILES + 500, 4)).astype(float)
    scaler = Scaler.fit(x, quantile=True)
    assert scaler.quantiles.shape == (4, N_QUANTILES)
    assert set(np.unique(scaler.quantiles)) <= set(np.unique(x))  # observed values only
    text = json.dumps(scaler.to_dict())
    back = Scaler.from_dict(json.loads(text))
    assert isinstance(json.loads(text)["quantiles"][0], list)
    np.testing.assert_array_equal(back.transform(x), scaler.transform(x))
    np.testing.assert_array_equal(back.inverse_transform(back.transform(x)), x)
    assert "quantiles" not in Scaler.fit(x, log1p=True).to_dict()  # the other scalers unchanged


def test_a_scaler_is_log1p_or_quantile_not_both():
    with pytest.raises(ValueError, match="not both"):
        Scaler.fit(np.ones((5, 2)), log1p=True, quantile=True)
