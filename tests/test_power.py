"""The two-sample tests against planted defects at the default sizes (800 synthetic, 200
held-out samples of the default cohort): the current design detects each kind of defect,
at a size where the design before it missed it on at least one split of three. workflow/bench/power_curves.py draws the whole curves."""

import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "workflow" / "bench"))
import power_curves as P  # noqa: E402

SEEDS = (0, 1, 2)
# defect, size, the detector that sees it: the logistic regression adds up a shift spread
# thinly over many genes, the trees see changed spread, lost correlation and bridges.
CASES = [
    ("mean_shift", 0.07, "logistic"),
    ("variance_shrink", 0.03, "trees"),
    ("dropped_correlation", 0.01, "trees"),
    ("bridging", 0.2, "trees"),
]


@pytest.fixture(scope="module")
def splits():
    return [P.cohort_split(42 + s) for s in SEEDS]


def detections(splits, defect, size, design):
    """Per seed, whether the design detects the defect (one-sided p < 0.05)."""
    detector, balanced = P.DESIGNS[design]
    found = []
    for s, (data, cell_type) in zip(SEEDS, splits):
        rng = np.random.default_rng(1000 * s + 1)
        synth = P.plant(defect, size, data.x_train, data.y_train, cell_type, rng)
        auroc = detector(data.x_test, synth, s)
        n_real = len(data.x_test)
        found.append(P.auroc_p_value(auroc, n_real, n_real if balanced else len(synth)) < 0.05)
    return found


@pytest.mark.parametrize("defect,size,kind", CASES)
def test_new_design_detects_a_defect_the_old_one_missed(splits, defect, size, kind):
    new = detections(splits, defect, size, f"new_{kind}")
    old = detections(splits, defect, size, f"old_{kind}")
    assert sum(new) >= 2 and sum(new) > sum(old), f"new {new}, old {old}"
    assert any(n and not o for n, o in zip(new, old))  # a split where only the new one saw it


def test_undamaged_training_split_is_not_detected(splits):
    """The control: the real training split itself, at most one chance detection in 3."""
    for kind in ("trees", "logistic"):
        assert sum(detections(splits, "mean_shift", 0.0, f"new_{kind}")) <= 1
