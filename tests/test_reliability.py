"""Kills, divergence and determinism, on the tiny config with the real workflow."""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import ROOT, SNAKEMAKE, TINY_CONFIG, run_snakemake, write_config


def test_same_config_and_seed_give_identical_files(tiny_run, tmp_path):
    write_config(tmp_path, TINY_CONFIG)
    # Another hash seed than the first run's: no output may depend on set or dict-of-str order.
    run_snakemake(tmp_path, "--cores", "2", "results/comparison_results.csv", hash_seed="1")
    for rel in [
        "data/gene_expression_data.csv",
        "split/rep0.tsv",
        *[f"samples/{m}/rep0.csv" for m in ("vae", "gan", "gaussian", "mixture", "independent")],
        *[
            f"metrics/{m}/rep0.csv"
            for m in ("real", "vae", "gan", "gaussian", "mixture", "independent")
        ],
        "comparison_results.csv",
    ]:
        assert (tmp_path / "results" / rel).read_bytes() == (
            tiny_run / "results" / rel
        ).read_bytes(), rel


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            {"vae": {**TINY_CONFIG["vae"], "lr": 1.0e12, "epochs": 5}},
            "Error: VAE training diverged",
        ),
        ({"device": "cuda"}, "Error: device: cuda was requested but torch sees no CUDA device"),
    ],
    ids=["diverged", "no-gpu"],
)
def test_a_training_that_cannot_go_on_fails_with_one_line_and_writes_no_samples(
    tmp_path, edit, message
):
    import torch

    if "cuda" in message and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    write_config(tmp_path, {**TINY_CONFIG, **edit})
    proc = run_snakemake(tmp_path, "--cores", "1", "results/samples/vae/rep0.csv", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr  # where the user looks, not only in the log
    log = (tmp_path / "logs/train_model/vae/rep0.log").read_text()
    assert log.splitlines()[-1].startswith(message) and "Traceback" not in log
    assert not (tmp_path / "results/models/vae/rep0/checkpoint.pt").exists()
    assert not (tmp_path / "results/samples/vae/rep0.csv").exists()


def test_killed_training_leaves_nothing_complete_and_a_rerun_finishes(tmp_path):
    # Long enough training that the kill lands mid-epoch loop.
    config = {**TINY_CONFIG, "vae": {**TINY_CONFIG["vae"], "epochs": 3000}}
    write_config(tmp_path, config)
    cmd = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "1",
        "results/models/vae/rep0/checkpoint.pt",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    log = tmp_path / "logs/train_model/vae/rep0.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "VAE" in log.read_text()):
        time.sleep(0.2)
    assert log.exists(), "training never started"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its job, like a node going down
    proc.wait()
    leftovers = (
        list((tmp_path / "results/models").rglob("*"))
        if (tmp_path / "results/models").exists()
        else []
    )
    assert not [p for p in leftovers if p.name in ("checkpoint.pt", "history.csv")]

    write_config(tmp_path, TINY_CONFIG)
    run_snakemake(tmp_path, "--unlock")  # a SIGKILLed snakemake leaves its lock behind
    run_snakemake(tmp_path, "--cores", "2", "--rerun-incomplete", "results/samples/vae/rep0.csv")
    samples = pd.read_csv(tmp_path / "results/samples/vae/rep0.csv", index_col=0)
    assert samples.shape == (
        TINY_CONFIG["generate"]["n_samples"],
        TINY_CONFIG["simulate"]["n_genes"],
    )
