"""Synthetic samples made by any tool, scored by `python -m exprsynth evaluate`: the same
numbers the workflow gives the same samples, and one-line errors for bad files."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "exprsynth", "evaluate", *map(str, args)],
        capture_output=True,
        text=True,
    )


@pytest.fixture
def external(tiny_run, tmp_path):
    """The tiny run's replicate 0 as a user outside the workflow has it: training and held-out
    CSVs, labels, and a synthetic CSV (the Gaussian reference's samples, written anew)."""
    r = tiny_run / "results"
    data = pd.read_csv(r / "data/gene_expression_data.csv", index_col=0)
    split = pd.read_csv(r / "split/rep0.tsv", sep="\t")
    for name in ("train", "test"):
        data.loc[split.loc[split.split == name, "sample_id"]].to_csv(tmp_path / f"{name}.csv")
    synthetic = pd.read_csv(r / "samples/gaussian/rep0.csv", index_col=0)
    synthetic.to_csv(tmp_path / "synthetic.csv")
    meta = pd.concat(
        [
            pd.read_csv(r / "data/sample_metadata.csv"),
            pd.read_csv(r / "samples/gaussian/rep0_metadata.csv"),
        ]
    )
    meta[["sample_id", "disease_status"]].to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


def test_the_cli_gives_the_workflows_numbers(external, tiny_run):
    d = external
    proc = cli(
        "--train",
        d / "train.csv",
        "--test",
        d / "test.csv",
        "--synthetic",
        d / "synthetic.csv",
        "--metadata",
        d / "labels.csv",
        "--label-column",
        "disease_status",
        "--seed",
        7,
        "--out",
        d / "scores.csv",
    )
    assert proc.returncode == 0, proc.stderr
    mine = pd.read_csv(d / "scores.csv").set_index("metric")
    workflow = pd.read_csv(tiny_run / "results/metrics/gaussian/rep0.csv").set_index("metric")[
        "value"
    ]
    floor = pd.read_csv(tiny_run / "results/metrics/real/rep0.csv").set_index("metric")["value"]
    same = [
        m for m in workflow.index if m != "module_ari"
    ]  # planted modules exist only in simulated data
    np.testing.assert_allclose(mine.loc[same, "value"], workflow[same], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mine.loc[same, "floor"], floor[same], rtol=1e-9, atol=1e-12)
    assert "c2st_gbt" in proc.stdout and "floor" in proc.stdout


def test_bad_external_files_get_one_line(external):
    d = external
    train = pd.read_csv(d / "train.csv", index_col=0)
    synthetic = pd.read_csv(d / "synthetic.csv", index_col=0)
    synthetic.drop(columns=synthetic.columns[3]).to_csv(d / "fewer.csv")
    negative = synthetic.copy()
    negative.iloc[2, 1] = -1.0
    negative.to_csv(d / "negative.csv")
    train.iloc[:5].to_csv(d / "overlap.csv")
    cases = [
        (["--synthetic", d / "fewer.csv"], f"{d / 'fewer.csv'}: 1 of the training set's"),
        (
            ["--synthetic", d / "negative.csv", "--transform", "none"],
            f"{d / 'negative.csv'}: negative value -1 at sample",
        ),
        (["--synthetic", d / "missing.csv"], f"{d / 'missing.csv'}: no such file"),
        (
            ["--synthetic", d / "synthetic.csv", "--test", d / "overlap.csv"],
            f"{d / 'overlap.csv'}: sample",
        ),
    ]
    for args, start in cases:
        options = {
            "--train": d / "train.csv",
            "--test": d / "test.csv",
            **dict(zip(args[::2], args[1::2])),
        }
        proc = cli(*[x for pair in options.items() for x in pair])
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith(f"error: {start}"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
