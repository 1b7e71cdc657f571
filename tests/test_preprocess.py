"""The train/test split: scikit-learn's draws, without importing it in the split job."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from exprsynth.data.preprocess import split_samples

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
