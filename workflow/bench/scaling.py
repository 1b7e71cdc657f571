"""Size ladder: run the whole workflow on simulated cohorts of growing size and print a
table of wall time and per-rule time and peak memory (from the rules' benchmark files).

    python workflow/bench/scaling.py --sizes 1000x500,2000x2000,5000x5000 [--cores 2]
        [--replicates 1] [--config extra.yaml] [--keep DIR]

Each size runs in its own temporary working directory with the default hyperparameters
(plus anything in --config, e.g. fewer epochs). 1000x500 is the default cohort, so
`--sizes 1000x500 --replicates 5` times the default configuration. CPU seconds are those
of Snakemake and all its jobs together. The timeline of the largest size shows when each
job ran: what waits on what, and whether both cores were busy.

Peak memory comes two ways. Each rule's benchmark file samples its job's memory, every
0.5 s for 15 s and every 30 s after that, so a short peak can fall between two samples.
The kernel keeps every process's high-water mark, and waiting for Snakemake with wait4
returns the largest over Snakemake and all its jobs: an exact upper bound for every job.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run_measured(cmd: list[str]) -> tuple[int, str, float, float]:
    """Run cmd; return its exit code, its stderr, and the CPU seconds and the peak RSS (MB)
    of it and all its descendants (wait4: the largest single process's high-water mark)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        kib = 1024 if sys.platform == "darwin" else 1  # ru_maxrss: bytes on macOS, KiB on Linux
        return (
            proc.returncode,
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / kib / 1024,
        )


def run_size(
    n_samples: int, n_genes: int, cores: int, replicates: int, extra: dict, workdir: Path
) -> dict:
    n_modules = min(10, n_genes // 40) or 1
    config = {
        **extra,
        "replicates": list(range(replicates)),
        "simulate": {
            **extra.get("simulate", {}),
            "n_samples": n_samples,
            "n_genes": n_genes,
            "n_modules": n_modules,
            "module_size": min(20, n_genes // (2 * n_modules)),
            "disease_modules": min(3, n_modules),
        },
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
    ]
    start, clock_start = time.perf_counter(), time.time()
    returncode, stderr, cpu, peak_rss_mb = _run_measured(cmd)
    wall = time.perf_counter() - start
    if returncode != 0:
        raise SystemExit(f"{n_samples}x{n_genes} failed:\n{stderr[-3000:]}")
    rows = []
    for tsv in sorted((workdir / "benchmarks").rglob("*.tsv")):
        b = pd.read_csv(tsv, sep="\t").iloc[-1]
        # A benchmark file is written as its job ends: its time less the job's duration is the start.
        end = tsv.stat().st_mtime - clock_start
        rows.append(
            {
                "job": str(tsv.relative_to(workdir / "benchmarks"))[:-4],
                "s": b["s"],
                "max_rss_mb": b["max_rss"],
                "start_s": end - b["s"],
                "end_s": end,
            }
        )
    jobs = pd.DataFrame(rows)
    return {
        "size": f"{n_samples}x{n_genes}",
        "cells": n_samples * n_genes,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb,
        "jobs": jobs,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000x500,2000x2000,5000x5000")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--replicates", type=int, default=1)
    parser.add_argument("--config", help="YAML merged into each size's config (e.g. fewer epochs)")
    parser.add_argument("--keep", help="keep the working directories under this folder")
    args = parser.parse_args(argv)
    extra = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="exprsynth-scaling-"))
    results = []
    for size in args.sizes.split(","):
        n, g = (int(v) for v in size.lower().split("x"))
        results.append(run_size(n, g, args.cores, args.replicates, extra, base / size))
        r = results[-1]
        print(f"{r['size']}: {r['wall_s']:.1f} s wall", file=sys.stderr)
    print(f"{args.replicates} replicate(s), {args.cores} cores")
    print(
        "| size (samples x genes) | wall s | CPU s | slowest job (s) | peak RSS of any job, benchmark files (MB) "
        "| peak RSS of any process, kernel (MB) | wall s per 10^6 values |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        j = r["jobs"]
        slow = j.loc[j["s"].idxmax()]
        print(
            f"| {r['size']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {slow['job']} ({slow['s']:.1f}) | "
            f"{j['max_rss_mb'].max():.0f} | {r['peak_rss_mb']:.0f} | {r['wall_s'] / r['cells'] * 1e6:.2f} |"
        )
    jobs = results[-1]["jobs"]
    print("\nPer job, largest size:")
    print(jobs.sort_values("s", ascending=False).to_string(index=False))
    print("\nPer rule (and network), largest size:")
    rule = jobs["job"].map(
        lambda job: re.sub(
            r"/(gaussian|independent)$", "/references", re.sub(r"/rep[^/]*$", "", job)
        )
    )
    by_rule = jobs.groupby(rule).agg(
        jobs=("s", "size"),
        mean_s=("s", "mean"),
        total_s=("s", "sum"),
        max_rss_mb=("max_rss_mb", "max"),
    )
    print(by_rule.sort_values("total_s", ascending=False).round(2).to_string())
    print("\nTimeline, largest size (seconds from Snakemake's start):")
    print(jobs.sort_values("start_s")[["job", "start_s", "end_s"]].round(1).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
