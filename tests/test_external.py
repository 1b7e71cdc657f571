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


def test_the_cli_scores_through_the_quantile_transform(external):
    """Per-gene KS statistics do not change under a per-gene increasing map: the quantile
    transform gives (nearly, values past a gene's training range are clamped) log1p's."""
    d = external
    files = ["--train", d / "train.csv", "--test", d / "test.csv", "--synthetic"]
    scores = {}
    for transform in ("log1p", "quantile"):
        out = d / f"{transform}.csv"
        proc = cli(*files, d / "synthetic.csv", "--transform", transform, "--out", out)
        assert proc.returncode == 0, proc.stderr
        scores[transform] = pd.read_csv(out).set_index("metric")["value"]
    assert abs(scores["quantile"]["ks_mean"] - scores["log1p"]["ks_mean"]) < 0.05
    assert scores["quantile"]["mean_mse"] != scores["log1p"]["mean_mse"]  # another space


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
        (["--synthetic", d / "fewer.csv"], f"{d / 'fewer.csv'}: 1 of the real data's"),
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


def test_the_workflow_scores_external_samples_as_the_cli_does(tiny_run, tmp_path):
    """config external: a CSV of samples made elsewhere (here the tiny run's Gaussian
    samples, with their labels beside them) gets its own row in every table, the same
    numbers the CLI gives, and a planted bad file stops the run in one line."""
    import shutil

    from conftest import TINY_CONFIG, run_snakemake, write_config

    r = tiny_run / "results"
    shutil.copy(r / "samples/gaussian/rep0.csv", tmp_path / "outside.csv")
    shutil.copy(r / "samples/gaussian/rep0_metadata.csv", tmp_path / "outside_metadata.csv")
    write_config(
        tmp_path,
        {
            **TINY_CONFIG,
            "replicates": [0],
            "models": ["gaussian"],
            "external": {"outside": "outside.csv"},
        },
    )
    run_snakemake(tmp_path, "--cores", "2", "results/comparison_results.csv")
    summary = pd.read_csv(tmp_path / "results/comparison_results.csv")
    assert set(summary.model) == {"gaussian", "outside"}
    mine = pd.read_csv(tmp_path / "results/metrics/outside/rep0.csv").set_index("metric")["value"]
    theirs = pd.read_csv(tmp_path / "results/metrics/gaussian/rep0.csv").set_index("metric")[
        "value"
    ]
    ranked = [m for m in mine.index if m != "training_stability"]  # no history for outside samples
    np.testing.assert_allclose(mine[ranked], theirs[ranked], rtol=1e-9, atol=1e-12)
    assert "**outside** beats the best reference" in (tmp_path / "results/verdict.rst").read_text()
    bad = pd.read_csv(tmp_path / "outside.csv", index_col=0)
    bad.iloc[0, 0] = -5.0
    bad.to_csv(tmp_path / "outside.csv")
    proc = run_snakemake(tmp_path, "--cores", "2", "results/comparison_results.csv", check=False)
    assert proc.returncode != 0
    assert "Error: outside.csv: negative value -5 at sample" in proc.stderr
