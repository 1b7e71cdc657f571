"""A throwaway single-node SLURM cluster on this machine, for tests.

Debian's `slurm-wlm` and `munge` packages, no cgroups, no accounting database. Every file the
daemons write (config, state, spool, logs, munge key and socket) lives under directories this
module creates; nothing under /etc is touched. Client commands find the cluster through
`SLURM_CONF` (see `SlurmCluster.env`). The daemons run in the foreground as children of this
process, so `stop()` ends exactly those pids; they also get SIGTERM should this process die.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARIES = (
    "munged",
    "mungekey",
    "slurmctld",
    "slurmd",
    "sbatch",
    "srun",
    "squeue",
    "scancel",
    "sinfo",
)
PACKAGES = ("slurm-wlm", "munge")
SEARCH_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def _which(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if not _which(name)]


def ensure_installed() -> str | None:
    """Install SLURM and munge with apt-get if missing. Returns why that's impossible, or None."""
    missing = ", ".join(missing_binaries())
    if not missing:
        return None
    if os.geteuid() != 0:
        return f"{missing} missing and not root, so apt-get can't install {PACKAGES}"
    if not shutil.which("apt-get"):
        return f"{missing} missing and no apt-get to install {PACKAGES}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        # wait for a dpkg lock held by another apt run rather than fail at once
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq"],
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq"]
        + ["--no-install-recommends", *PACKAGES],
    ):
        proc = subprocess.run(
            cmd, check=False, capture_output=True, text=True, env=env, timeout=600
        )
        if proc.returncode != 0:
            return f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
    if missing_binaries():
        return f"installed {PACKAGES} but still missing: {', '.join(missing_binaries())}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the daemon's process, before exec: SIGTERM when the test process dies (kill -9)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _node_hardware() -> dict[str, str]:
    """This machine as `slurmd -C` sees it: CPUs, SocketsPerBoard, RealMemory, ..."""
    cmd = [_which("slurmd"), "-C"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


class SlurmCluster:
    """One node, `localhost` (127.0.0.1), in one default partition."""

    def __init__(self, root: Path, partition: str = "debug"):
        self.root = Path(root)
        self.partition = partition
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.bin_dir = self.root / "bin"  # holds the `srun` wrapper, see _write_srun_wrapper
        self.real_memory = 0  # MB, the node's, from `slurmd -C` (set by start())
        self.procs: dict[str, subprocess.Popen] = {}
        # munged runs as user `munge`, which can't enter pytest's root-only tmp dirs: it gets
        # its own dir under /tmp (removed again by stop()).
        self.munge_dir = Path(tempfile.mkdtemp(prefix="exprsynth-munge-"))
        self.munge_socket = self.munge_dir / "run" / "munge.socket"

    # -- start ---------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self._write_conf()
        self._write_srun_wrapper()
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-f", str(self.conf)])
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait(lambda: self.node_state() == "idle", "node `localhost` to be idle", 60)

    def _start_munge(self) -> None:
        munge = pwd.getpwnam("munge")
        self.munge_dir.chmod(0o755)
        # munged's checks: the socket's dir open to all, key/seed/log dirs private to munge
        for name, mode in (("run", 0o755), ("etc", 0o700), ("lib", 0o700), ("log", 0o700)):
            (self.munge_dir / name).mkdir()
            (self.munge_dir / name).chmod(mode)
            os.chown(self.munge_dir / name, munge.pw_uid, munge.pw_gid)
        as_munge = {"user": munge.pw_uid, "group": munge.pw_gid, "extra_groups": []}
        key = self.munge_dir / "etc" / "munge.key"
        cmd = [_which("mungekey"), "--create", f"--keyfile={key}"]
        subprocess.run(cmd, check=True, capture_output=True, **as_munge)
        cmd = [
            _which("munged"),
            "--foreground",
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--pid-file={self.munge_dir / 'run' / 'munged.pid'}",
            f"--seed-file={self.munge_dir / 'lib' / 'munged.seed'}",
            f"--log-file={self.munge_dir / 'log' / 'munged.log'}",
        ]
        self._spawn("munged", cmd, **as_munge)
        self._wait(self.munge_socket.exists, "munged's socket", 15)

    def _write_conf(self) -> None:
        hw = _node_hardware()
        self.real_memory = int(hw["RealMemory"])
        for name in ("state", "spool"):
            (self.root / name).mkdir(exist_ok=True)
        r = self.root
        node = (
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={hw['CPUs']} "
            f"Sockets={hw['SocketsPerBoard']} CoresPerSocket={hw['CoresPerSocket']} "
            f"ThreadsPerCore={hw['ThreadsPerCore']} RealMemory={hw['RealMemory']} State=UNKNOWN"
        )
        lines = [
            "ClusterName=exprsynth-test",
            f"SlurmctldHost={socket.gethostname().split('.')[0]}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",  # free ports: test runs side by side don't clash
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={r}/state",
            f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/slurmctld.pid",
            f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmctldLogFile={r}/slurmctld.log",
            f"SlurmdLogFile={r}/slurmd.log",
            # no cgroups: plain process groups, no task binding
            "ProctrackType=proctrack/pgid",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            # no slurmdbd: sacct can't answer, so job states come from squeue, which lists
            # finished jobs for MinJobAge seconds
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MinJobAge=300",
            "MpiDefault=none",
            "ReturnToService=2",
            node,
            f"PartitionName={self.partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _write_srun_wrapper(self) -> None:
        """An `srun` that finds this cluster's config even where SLURM_CONF was dropped.

        Inside each job, snakemake-executor-plugin-slurm-jobstep (0.6.x) removes every SLURM_*
        variable, SLURM_CONF included, before it calls `srun`; with no config at the default
        /etc/slurm/slurm.conf, that srun fails ("Could not establish a configuration source").
        Rather than write to /etc, jobs find this wrapper on PATH.
        """
        self.bin_dir.mkdir(exist_ok=True)
        wrapper = self.bin_dir / "srun"
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{_which("srun")}" "$@"\n')
        wrapper.chmod(0o755)

    def _spawn(self, name: str, cmd: list[str], **kwargs) -> None:
        with open(self.root / f"{name}.out", "w") as out:
            self.procs[name] = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads are started here)
                **kwargs,
            )

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited ({proc.returncode}) waiting for {what}\n{self.logs()}"
                    )
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")

    # -- use -----------------------------------------------------------------------------
    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            cmd, capture_output=True, text=True, env=self.env, timeout=30, check=check
        )

    def node_state(self) -> str:
        proc = self.run("sinfo", "--noheader", "--Node", "--format=%t", check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def logs(self, tail: int = 3000) -> str:
        paths = [*sorted(self.root.glob("*.log")), *sorted(self.root.glob("*.out"))]
        paths.append(self.munge_dir / "log" / "munged.log")
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in paths if p.exists()
        )

    # -- stop ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel leftover jobs, then end the daemons this object started, newest first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", f"--user={pwd.getpwuid(os.getuid()).pw_name}", check=False)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    active = "--states=PENDING,RUNNING,COMPLETING"
                    jobs = self.run("squeue", "--noheader", active, check=False)
                    # each running step's slurmstepd keeps a socket in the spool dir
                    steps = [p for p in (self.root / "spool").glob("*") if p.is_socket()]
                    if jobs.returncode == 0 and not jobs.stdout.strip() and not steps:
                        break
                    time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.procs.clear()
        shutil.rmtree(self.munge_dir, ignore_errors=True)
