"""The tiny workflow on a real (single-node, local) SLURM cluster through profiles/slurm.

Brings up munged, slurmctld and slurmd on this machine (installing Debian's slurm-wlm and munge
with apt-get when they are missing), runs the workflow with `--executor slurm` and the repository's
profile, and checks that samples and metrics equal those of the local run with the same seed.
Skipped only where SLURM can't be installed or started (not Linux, not root, no apt-get).
"""

from __future__ import annotations

import os
import sys

import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, TINY_CONFIG, run_snakemake, write_config
from slurm_cluster import SlurmCluster, ensure_installed

PROFILE = ROOT / "profiles" / "slurm"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the local SLURM cluster needs Linux"
)


@pytest.fixture(scope="module")
def slurm_cluster(request, tmp_path_factory) -> SlurmCluster:
    """A running one-node cluster; its daemons are stopped (by pid) whatever the test does."""
    why_not = ensure_installed()
    if why_not:
        pytest.skip(f"SLURM cannot be installed here: {why_not}")
    if os.geteuid() != 0:
        pytest.skip("SLURM is installed but starting slurmd and munged (as user munge) needs root")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"), partition="debug")
    request.addfinalizer(cluster.stop)  # registered first: also runs when start() fails half-way
    cluster.start()
    return cluster


def memory_caps(node_mb: int) -> list[str]:
    """Lower the profile's memory requests that this node can't hold (sbatch would refuse them).

    A --default-resources/--set-resources on the command line replaces the profile's whole
    mapping, so each is passed again in full, with mem_mb capped, when any value needs capping.
    """
    profile = yaml.safe_load((PROFILE / "config.v8+.yaml").read_text())
    args = []
    defaults = dict(profile.get("default-resources") or {})
    if int(defaults.get("mem_mb", 0)) > node_mb:
        defaults["mem_mb"] = node_mb
        args += ["--default-resources", *(f"{k}={v}" for k, v in defaults.items())]
    per_rule = profile.get("set-resources") or {}
    if any(int(res.get("mem_mb", 0)) > node_mb for res in per_rule.values()):
        args.append("--set-resources")
        for rule, res in per_rule.items():
            res = {**res, "mem_mb": min(int(res.get("mem_mb", node_mb)), node_mb)}
            args += [f"{rule}:{k}={v}" for k, v in res.items()]
    return args


def test_slurm_run_matches_local_run(slurm_cluster, tiny_run, tmp_path, monkeypatch):
    workdir = tmp_path / "slurm_run"
    write_config(workdir, TINY_CONFIG)
    # SLURM exports the submitting environment to the jobs: they find the cluster through
    # SLURM_CONF (srun inside a job: through the cluster's wrapper) and run this venv's snakemake.
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    path = [str(SNAKEMAKE.parent), str(slurm_cluster.bin_dir), os.environ.get("PATH", "")]
    monkeypatch.setenv("PATH", os.pathsep.join(path))

    # Only what is compared below (samples and metrics of every model): compare_models and
    # the figures would add two more scheduler round trips (~45 s) to an already slow test.
    targets = sorted(
        str(p.relative_to(tiny_run)) for p in (tiny_run / "results" / "metrics").glob("*/rep0.csv")
    )
    assert targets, "the local run wrote no results/metrics/*/rep0.csv"

    proc = run_snakemake(
        workdir,
        *targets,
        "--workflow-profile", str(PROFILE),
        # this cluster: no accounting (so no sacct, no accounts), default partition `debug`
        "--slurm-status-command", "squeue",
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "1",
        "--slurm-logdir", str(workdir / "logs" / "slurm"),
        "--slurm-keep-successful-logs",
        *memory_caps(slurm_cluster.real_memory),
        check=False,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"SLURM run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}\n{slurm_cluster.logs()}"
    )

    # The jobs really went through the scheduler (finished jobs stay listed for MinJobAge).
    # A FAILED entry may sit beside them when the profile's `retries` rescued a job.
    states = slurm_cluster.run("squeue", "--noheader", "--states=all", "--format=%T").stdout.split()
    assert states.count("COMPLETED") >= 10, f"expected the workflow's jobs in squeue: {states}"

    for kind in ("samples", "metrics"):
        local = {p.parent.name: p for p in (tiny_run / "results" / kind).glob("*/rep0.csv")}
        slurm = {p.parent.name: p for p in (workdir / "results" / kind).glob("*/rep0.csv")}
        assert local, f"the local run wrote no results/{kind}/*/rep0.csv"
        assert sorted(slurm) == sorted(local), kind
        for name, path in local.items():
            assert slurm[name].read_text() == path.read_text(), (
                f"results/{kind}/{name}/rep0.csv differs"
            )
