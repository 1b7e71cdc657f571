"""The on-demand benchmarks run (on tiny sizes); their timings are never asserted."""

import copy
import re
import subprocess
import sys

import yaml

from conftest import ROOT, TINY_CONFIG, write_config


def test_scaling_benchmark_runs_on_a_tiny_size(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        yaml.safe_dump({k: TINY_CONFIG[k] for k in ("vae", "gan", "generate", "device")})
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "workflow/bench/scaling.py"),
            "--sizes",
            "80x40",
            "--config",
            str(extra),
            "--keep",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| 80x40 |" in proc.stdout and "train_model/vae/rep0" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| 80x40 |"))
    cells = row.split("|")
    wall, cpu, sampled_rss, peak_rss = (float(cells[i]) for i in (2, 3, 5, 6))
    assert wall > 0 and cpu > 0  # Snakemake and its jobs took CPU time
    # The kernel's high-water mark bounds every sample a benchmark file took (the benchmark
    # counts a job's bash wrapper too, a few MB); any process that imported numpy has > 50 MB.
    assert peak_rss > 50 and peak_rss >= 0.95 * sampled_rss - 10
    per_rule = proc.stdout.split("Per rule")[1].split("Timeline")[0]
    assert "generate_samples/references" in per_rule and "train_model/vae" in per_rule
    timeline = {
        job: (float(start), float(end))
        for job, start, end in (
            line.split() for line in proc.stdout.split("Timeline")[1].splitlines()[2:]
        )
    }
    assert 0 <= timeline["prepare_data"][0] < timeline["prepare_data"][1] <= wall
    # Training starts after the data steps end, and its samples are drawn after it ends.
    assert timeline["train_model/vae/rep0"][0] >= timeline["prepare_data"][1] - 0.05
    assert timeline["generate_samples/vae/rep0"][0] >= timeline["train_model/vae/rep0"][1] - 0.05


def test_training_speed_benchmark_runs_on_a_tiny_size():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "workflow/bench/training_speed.py"),
            "--epochs",
            "1",
            "--samples",
            "64",
            "--genes",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for model in ("VAE", "GAN"):  # steps/s of both loops and the speed-up
        assert re.search(rf"^{model}\s+\d+\s+\d+\s+\d+\.\dx$", proc.stdout, re.M), proc.stdout


def test_logistic_iterations_benchmark_reproduces_the_recorded_tstr(tiny_run):
    import pandas as pd

    from exprsynth.evaluation.metrics import LOGISTIC_MAX_ITER

    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "workflow/bench/logistic_iterations.py"),
            "--workdir",
            str(tiny_run),
            "--model",
            "vae",
            "--caps",
            f"5,{LOGISTIC_MAX_ITER}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [
        line.split("|")[1:3]
        for line in proc.stdout.splitlines()
        if line.startswith("| ") and "max_iter" not in line
    ]
    aurocs = {int(cap): float(auroc) for cap, auroc in rows}
    recorded = (
        pd.read_csv(tiny_run / "results/metrics/vae/rep0.csv")
        .set_index("metric")
        .loc["tstr_auroc", "value"]
    )
    assert set(aurocs) == {5, LOGISTIC_MAX_ITER}
    assert aurocs[LOGISTIC_MAX_ITER] == round(recorded, 4)  # the workflow's own cap gives its value


def test_benchmark_configs_are_valid_overrides_of_the_default_config():
    from snakemake.utils import update_config  # how --configfile merges nested keys

    from exprsynth.config import validate_config

    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    overrides = sorted((ROOT / "workflow/bench").glob("*.yaml"))
    assert {p.name for p in overrides} >= {"seed_hyperparameters.yaml", "one_epoch.yaml"}
    for path in overrides:
        override = yaml.safe_load(path.read_text())
        config = copy.deepcopy(default)
        update_config(config, override)
        config = validate_config(config, ROOT / "workflow/schemas/config.schema.yaml")
        for section, values in override.items():
            assert {k: config[section][k] for k in values} == values, path.name


def test_results_table_prints_the_readme_table(tiny_run):
    script = [
        sys.executable,
        str(ROOT / "workflow/bench/results_table.py"),
        str(tiny_run / "results/comparison_results.csv"),
    ]
    proc = subprocess.run([*script, "--metrics", "gamma,recall"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| metric | better | floor | VAE | GAN |")
    assert [line.split(" | ")[0] for line in lines[2:4]] == ["| gamma", "| recall"]
    wide = subprocess.run(
        [*script, "--metrics", "gamma,recall", "--by-generator"], capture_output=True, text=True
    )
    rows = wide.stdout.splitlines()
    assert rows[0] == "| generator | gamma | recall |" and rows[3].startswith("| floor | 0.")
    assert rows[4].startswith("| VAE | 0.") and rows[5].startswith("| GAN | 0.")
    bad = subprocess.run([*script, "--metrics", "gamma,nonsense"], capture_output=True, text=True)
    assert (
        bad.returncode == 2 and "no metric nonsense" in bad.stderr and "Traceback" not in bad.stderr
    )


def test_generator_quality_scores_variants_with_merged_nested_settings(tmp_path):
    """A variant's mapping setting merges into the section's own: the VAE's privacy section
    keeps its epsilon (replaced whole, training would find none)."""
    config = write_config(tmp_path, TINY_CONFIG)
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "workflow/bench/generator_quality.py"),
            "vae",
            "vae:privacy={max_grad_norm: 2.0}",
            "independent",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    variants = ["floor (real train)", "vae", "vae:privacy={max_grad_norm: 2.0}", "independent"]
    lines = proc.stdout.splitlines()[1:]
    assert [line.startswith(v + " ") for line, v in zip(lines, variants)] == [True] * 4, lines
    auroc = {v: float(line[len(v) :].split()[0]) for line, v in zip(lines, variants)}
    assert all(0 <= a <= 1 for a in auroc.values())
    # without privacy.epsilon the clipping norm is unused: the same model as plain "vae"
    assert auroc["vae:privacy={max_grad_norm: 2.0}"] == auroc["vae"]
