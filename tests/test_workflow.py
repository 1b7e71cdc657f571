"""The real workflow on the tiny config: outputs, reruns after edits, config errors."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, TINY_CONFIG, planned_jobs, run_snakemake, write_config
from exprsynth.config import validate_config
from exprsynth.models import GENERATORS, NETWORKS
from exprsynth.evaluation.metrics import METRICS

PACKAGE = ROOT / "workflow" / "scripts" / "exprsynth"
MODELS = validate_config({})["models"]  # the default models: what the tiny run trains


def test_every_output_exists_and_is_sane(tiny_run):
    r = tiny_run / "results"
    n, g = TINY_CONFIG["simulate"]["n_samples"], TINY_CONFIG["simulate"]["n_genes"]
    expr = pd.read_csv(r / "data/gene_expression_data.csv", index_col=0)
    assert expr.shape == (n, g) and (expr.to_numpy() >= 0).all()
    meta = pd.read_csv(r / "data/sample_metadata.csv")
    assert {"sample_id", "disease_status", "batch"} <= set(meta.columns)
    assert len(pd.read_csv(r / "data/gene_modules.csv")) == g

    split = pd.read_csv(r / "split/rep0.tsv", sep="\t")
    assert split["split"].value_counts().to_dict() == {"train": 96, "test": 24}
    labels = meta.set_index("sample_id").loc[split.sample_id, "disease_status"].to_numpy()
    test_share = labels[split.split.to_numpy() == "test"].mean()
    assert abs(test_share - labels.mean()) < 0.05  # stratified

    assert (r / "scaler/rep0/scaler.json").stat().st_size > 0
    for model in MODELS:
        assert (r / f"models/{model}/rep0/{GENERATORS[model].checkpoint_file}").exists()
        history = pd.read_csv(r / f"models/{model}/rep0/history.csv")
        samples = pd.read_csv(r / f"samples/{model}/rep0.csv", index_col=0)
        assert samples.shape == (TINY_CONFIG["generate"]["n_samples"], g) and list(
            samples.columns
        ) == list(expr.columns)
        assert np.isfinite(samples.to_numpy()).all() and (samples.to_numpy() >= 0).all()
        sample_meta = pd.read_csv(r / f"samples/{model}/rep0_metadata.csv")
        assert (
            set(sample_meta["disease_status"]) <= {0, 1} and (sample_meta["source"] == model).all()
        )
        metrics = pd.read_csv(r / f"metrics/{model}/rep0.csv")
        assert list(metrics["metric"]) == [m.name for m in METRICS]
        assert "value" in metrics.columns
        if model in NETWORKS:
            assert len(history) == 3
    vae_history = pd.read_csv(r / "models/vae/rep0/history.csv")
    assert {"reconstruction", "kl", "active_units"} <= set(vae_history.columns)

    assert (r / "split/rep1.tsv").exists() and (r / "metrics/gan/rep1.csv").exists()
    assert not (r / "split/rep0.tsv").read_bytes() == (r / "split/rep1.tsv").read_bytes()
    per_replicate = pd.read_csv(r / "comparison_results_per_replicate.csv")
    assert sorted(per_replicate["replicate"].unique()) == [0, 1]
    summary = pd.read_csv(r / "comparison_results.csv")
    assert len(summary) == len(METRICS) * len(MODELS)
    assert (summary["n_replicates"].max() == 2) and summary["ci_low"].notna().any()
    assert {
        "metric",
        "model",
        "mean",
        "ci_low",
        "ci_high",
        "n_replicates",
        "floor",
        "better",
        "winner",
    } <= set(summary.columns)
    c2st = summary[summary.metric == "c2st_gbt"]["mean"]
    assert c2st.between(0, 1).all()
    for name in [
        "training_curves",
        "pca_comparison",
        "distribution_comparison",
        "comparison_summary",
    ]:
        png = r / f"figures/{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_logs_and_benchmarks_are_written(tiny_run):
    assert (tiny_run / "logs/train_model/vae/rep0.log").read_text().count("VAE") >= 1
    assert (tiny_run / "benchmarks/train_model/gan/rep0.tsv").exists()


def edited_copy(tiny_run, tmp_path, edit):
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    config = yaml.safe_load((work / "config.yaml").read_text())
    edit(config)
    write_config(work, config)
    return work


def test_editing_vae_epochs_reruns_only_the_vae_branch(tiny_run, tmp_path):
    work = edited_copy(tiny_run, tmp_path, lambda c: c["vae"].update(epochs=4))
    jobs = planned_jobs(run_snakemake(work, "-n", "--cores", "2").stdout)
    assert jobs == {
        *[
            (rule, f"model=vae, rep={rep}")
            for rule in ("train_model", "generate_samples", "evaluate_model")
            for rep in (0, 1)
        ],
        ("compare_models", ""),
        ("plot_replicate", ""),
        ("plot_summary", ""),
    }


def test_editing_the_device_reruns_only_the_networks(tiny_run, tmp_path):
    """The numpy reference generators never use the device settings."""
    work = edited_copy(tiny_run, tmp_path, lambda c: c.update(device="auto", cuda_graphs=False))
    jobs = planned_jobs(run_snakemake(work, "-n", "--cores", "2").stdout)
    assert jobs == {
        *[
            (rule, f"model={model}, rep={rep}")
            for rule in ("train_model", "generate_samples", "evaluate_model")
            for model in NETWORKS
            for rep in (0, 1)
        ],
        ("compare_models", ""),
        ("plot_replicate", ""),
        ("plot_summary", ""),
    }


def test_cuda_graphs_reruns_nothing_with_device_cpu(tiny_run, tmp_path):
    work = edited_copy(
        tiny_run, tmp_path, lambda c: c.update(cuda_graphs=not c.get("cuda_graphs", True))
    )
    assert "Nothing to be done" in run_snakemake(work, "-n", "--cores", "2").stdout


def test_editing_the_simulator_reruns_everything(tiny_run, tmp_path):
    work = edited_copy(tiny_run, tmp_path, lambda c: c["simulate"].update(technical_noise=0.2))
    rules = {rule for rule, _ in planned_jobs(run_snakemake(work, "-n", "--cores", "2").stdout)}
    assert rules == {
        "prepare_data",
        "split_samples",
        "fit_scaler",
        "train_model",
        "fit_reference",
        "generate_samples",
        "evaluate_references",
        "evaluate_model",
        "compare_models",
        "plot_replicate",
        "plot_summary",
    }


def test_a_finished_run_has_nothing_left_to_do(tiny_run):
    assert "Nothing to be done" in run_snakemake(tiny_run, "-n", "--cores", "2").stdout


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["vae"].update(epoch=3), "config: unknown key 'epoch' under vae"),
        (
            lambda c: c.update(test_fraction=0.3),
            "config: unknown key 'test_fraction' at the top level",
        ),
        (
            lambda c: c["split"].update(test_fraction=1.5),
            "config: split.test_fraction = 1.5 must be < 1",
        ),
        (lambda c: c["vae"].update(epochs=0), "config: vae.epochs = 0 must be >= 1"),
        (lambda c: c.update(device="tpu"), "config: device = 'tpu' must be one of auto, cpu, cuda"),
        (lambda c: c.update(cuda_graphs="yes"), "config: cuda_graphs = 'yes' must be"),
        (
            lambda c: c.update(replicates=[0, 0]),
            "config: replicates = [0, 0] has non-unique elements",
        ),
        (
            lambda c: c.update(label_column="condition"),
            "config: label_column = 'condition' is not a column of the simulated cohort",
        ),
        (
            lambda c: c["vae"].update(reconstruction="mse_mean", zero_inflation=True),
            "config: vae.zero_inflation = true needs vae.reconstruction = elbo",
        ),
    ],
)
def test_bad_config_fails_with_one_line_before_any_job(tmp_path, edit, message):
    config = yaml.safe_load(yaml.safe_dump({**TINY_CONFIG, "split": {}}))
    edit(config)
    write_config(tmp_path, config)
    proc = run_snakemake(tmp_path, "--cores", "1", check=False)
    assert proc.returncode != 0
    error_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and error_lines[0].startswith(f"Error: {message}")
    assert not (tmp_path / "results").exists()


def test_report_builds_with_the_verdict_first(tiny_run):
    report = tiny_run / "results" / "report.html"
    run_snakemake(tiny_run, "--report", str(report))
    html = report.read_text()
    assert len(html) > 100_000  # self-contained: figures are embedded
    # the verdict (results/verdict.rst) is the report's description, i.e. its first page
    assert "over <strong>2 replicates</strong>" in html and "Gaussian reference" in html
    assert "forest_plot.png" in html and "comparison_results.csv" in html


def test_numeric_looking_sample_ids_stay_text(tmp_path):
    from exprsynth.io.files import read_expression, read_sample_ids, write_expression

    ids = pd.Index(["001", "002", "010"], name="sample_id")
    df = pd.DataFrame([[1.5, 2.0], [3.0, 4.0], [5.0, 6.0]], index=ids, columns=["g1", "g2"])
    write_expression(df, tmp_path / "x.csv", matrix=tmp_path / "x.npz")
    assert list(read_expression(tmp_path / "x.npz").index) == ["001", "002", "010"]
    assert list(read_sample_ids(tmp_path / "x.npz")) == ["001", "002", "010"]
    assert (tmp_path / "x.csv").read_text().splitlines()[1] == "001,1.5,2"


def test_config_yaml_shows_every_schema_key():
    """README promises that config.yaml comments every key: each is set there, or shown in a
    commented-out line (the data.* keys of one's own data)."""
    import re

    def paths(schema, prefix=""):
        for key, sub in schema.get("properties", {}).items():
            yield prefix + key
            yield from paths(sub, f"{prefix}{key}.")

    def set_paths(config, prefix=""):
        for key, value in config.items():
            yield prefix + key
            if isinstance(value, dict):
                yield from set_paths(value, f"{prefix}{key}.")

    text = (ROOT / "config.yaml").read_text()
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    present = set(set_paths(yaml.safe_load(text)))
    commented = set(re.findall(r"^\s*#\s*(\w+):", text, re.M))
    missing = [
        p for p in paths(schema) if p not in present and p.rsplit(".", 1)[-1] not in commented
    ]
    assert not missing, f"config.yaml lacks {missing}"


def test_code_inputs_are_what_each_job_runs(tiny_run):
    """Editing a module reruns the jobs that run it and no others: a simulated run does not
    depend on the user-data readers, the VAE's jobs not on the GAN's module, a reference's
    not on torch code, the floor's not on any generator."""
    summary = run_snakemake(tiny_run, "--detailed-summary", "--cores", "1").stdout
    inputs = {}
    for line in summary.splitlines()[1:]:
        fields = line.split("\t")
        inputs[fields[0]] = {
            Path(p).relative_to(PACKAGE).as_posix()
            for p in fields[4].split(",")
            if p.startswith(str(PACKAGE))
        }
    data = inputs["results/data/gene_expression_data.csv"]
    assert "data/simulate.py" in data and not {"io/user_data.py", "io/h5ad.py"} & data
    vae = inputs["results/models/vae/rep0/checkpoint.pt"]
    assert {"models/vae.py", "models/training.py"} <= vae and "models/gan.py" not in vae
    gaussian = inputs["results/models/gaussian/rep0/checkpoint.npz"]
    assert (
        "models/gaussian.py" in gaussian
        and not {"models/vae.py", "models/network.py", "models/training.py"} & gaussian
    )
    floor = inputs["results/metrics/real/rep0.csv"]
    assert "evaluation/metrics.py" in floor and not any(p.startswith("models/") for p in floor)
