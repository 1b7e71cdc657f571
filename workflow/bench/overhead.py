"""Workflow overhead: the workflow against one plain script doing the same trainings,
run alternately on the same machine; prints the ratio of their median wall times.

    python workflow/bench/overhead.py SEED_SCRIPT [--runs 3] [--cores 2] [--keep DIR]
        [--models vae,gan]

SEED_SCRIPT is a plain script of the original comparison (the same two trainings and five
metrics in one process); it runs with this interpreter and its default arguments. The
workflow runs on config.yaml with the described hyperparameters
(workflow/bench/seed_hyperparameters.yaml) and one replicate, in a fresh working
directory each time. --models: the generators it trains; by default the script's two, so
that the ratio compares the same work (`--models all`: every default generator, the
references and the diffusion model too). Each run's wall time and CPU seconds (of the process and all its
children, from wait4) are printed, then the medians, their ratio, and per job the median
wall and CPU seconds and start time from the rules' benchmark files. Wall times depend on
the machine and on what else runs on it; the ratio of two programs run alternately much less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaling import _run_measured as run_measured  # noqa: E402


def measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of cmd and all its children); stops on a failure."""
    start = time.perf_counter()
    code, err, cpu, _ = run_measured(cmd)
    if code:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return time.perf_counter() - start, cpu


def workflow_command(workdir: Path, cores: int, models: str) -> list[str]:
    chosen = [] if models == "all" else [f"models=[{models}]"]
    return [
        str(Path(sys.executable).with_name("snakemake")),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        "--configfile",
        str(ROOT / "config.yaml"),
        str(ROOT / "workflow/bench/seed_hyperparameters.yaml"),
        "--config",
        "replicates=[0]",
        *chosen,
    ]


def jobs(workdir: Path, launched: float) -> pd.DataFrame:
    rows = []
    for tsv in sorted((workdir / "benchmarks").rglob("*.tsv")):
        bench = pd.read_csv(tsv, sep="\t").iloc[-1]
        end = tsv.stat().st_mtime - launched  # a benchmark file is written as its job ends
        name = str(tsv.relative_to(workdir / "benchmarks"))[: -len(".tsv")]
        rows.append(
            {
                "job": name,
                "wall_s": bench["s"],
                "cpu_s": bench["cpu_time"],
                "start_s": end - bench["s"],
            }
        )
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed_script", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the workflow's working directories here")
    parser.add_argument(
        "--models", default="vae,gan", help="generators the workflow trains, or all"
    )
    args = parser.parse_args(argv)
    if not args.seed_script.is_file():
        parser.error(f"no such script: {args.seed_script}")
    base = args.keep or Path(tempfile.mkdtemp(prefix="exprsynth-overhead-"))
    script, workflow, tables = [], [], []
    for i in range(args.runs):
        wall, cpu = measured([sys.executable, str(args.seed_script)])
        script.append(wall)
        print(f"run {i}: script   {wall:6.2f} s wall, {cpu:6.1f} CPU s", flush=True)
        workdir = base / f"run{i}"
        workdir.mkdir(parents=True, exist_ok=True)
        launched = time.time()
        wall, cpu = measured(workflow_command(workdir, args.cores, args.models))
        workflow.append(wall)
        tables.append(jobs(workdir, launched))
        print(f"run {i}: workflow {wall:6.2f} s wall, {cpu:6.1f} CPU s", flush=True)
    per_job = pd.concat(tables).groupby("job").median().sort_values("start_s")
    print("\nper job (medians):")
    print(per_job.round(2).to_string())
    print(f"sum of job wall {per_job.wall_s.sum():.1f} s, of job CPU {per_job.cpu_s.sum():.1f} s")
    ms, mw = statistics.median(script), statistics.median(workflow)
    runs = ", ".join(f"{w / s:.2f}" for w, s in zip(workflow, script))
    print(f"\nmedian wall: script {ms:.2f} s, workflow {mw:.2f} s; per run workflow/script: {runs}")
    print(f"workflow/script ratio: {mw / ms:.2f}")


if __name__ == "__main__":
    main()
