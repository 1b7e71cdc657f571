"""A throwaway single-node SLURM cluster on this machine, for tests.

Debian's `slurm-wlm` and `munge` packages, no cgroups, no accounting database. Every file the
daemons write (config, state, spool, logs, munge key and socket) lives under directories this
module creates; nothing under /etc is touched. Client commands find the cluster through the
`SLURM_CONF` variable in `SlurmCluster.env`. Daemons run in the foreground as children of this
process, so `stop()` can end exactly those pids.
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

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scancel", "sinfo")
PACKAGES = ("slurm-wlm", "munge")


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if not shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")]


def ensure_installed() -> str | None:
    """Install SLURM and munge with apt when missing. Returns why it can't, or None when ready."""
    if not missing_binaries():
        return None
    if os.geteuid() != 0:
        return f"SLURM binaries missing ({', '.join(missing_binaries())}) and not root, so apt-get can't install them"
    if not shutil.which("apt-get"):
        return f"SLURM binaries missing ({', '.join(missing_binaries())}) and no apt-get to install {PACKAGES}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            return f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
    if missing_binaries():
        return f"installed {PACKAGES} but still missing: {', '.join(missing_binaries())}"
    return None


def _sbin(name: str) -> str:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the daemon's child process: get SIGTERM if the test process dies (kill -9, timeout)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _node_hardware() -> dict[str, str]:
    """`slurmd -C` output as a dict: CPUs, RealMemory, ... of this machine."""
    out = subprocess.run([_sbin("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


class SlurmCluster:
    """One node `localhost` (127.0.0.1) in one default partition."""

    def __init__(self, root: Path, partition: str = "debug"):
        self.root = Path(root)
        self.partition = partition
        self.procs: dict[str, subprocess.Popen] = {}
        # munged runs as the `munge` user, which can't enter pytest's root-only tmp dirs:
        # give it its own world-traversable dir under /tmp (removed again in stop()).
        self.munge_dir = Path(tempfile.mkdtemp(prefix="exprsynth-munge-"))
        self.conf = self.root / "slurm.conf"
        self.real_memory = 0  # MB, the node's, from `slurmd -C` (set by start())
        # Put first on PATH (after the venv) for jobs; see _write_srun_wrapper.
        self.bin_dir = self.root / "bin"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # -- setup -------------------------------------------------------------------------
    def _write_conf(self) -> None:
        hw = _node_hardware()
        self.real_memory = int(hw["RealMemory"])
        for d in ("state", "spool"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        r = self.root
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=exprsynth-test",
                    f"SlurmctldHost={socket.gethostname().split('.')[0]}(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
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
                    # no slurmdbd: sacct can't answer, so status must come from squeue, which
                    # keeps finished jobs for MinJobAge seconds
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "JobCompType=jobcomp/none",
                    "MinJobAge=300",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "SlurmdTimeout=60",
                    f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={hw['CPUs']} Sockets={hw['SocketsPerBoard']} "
                    f"CoresPerSocket={hw['CoresPerSocket']} ThreadsPerCore={hw['ThreadsPerCore']} "
                    f"RealMemory={hw['RealMemory']} State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def _write_srun_wrapper(self) -> None:
        """`srun` that finds this cluster's config even when SLURM_CONF was dropped.

        Inside each job, snakemake-executor-plugin-slurm-jobstep (0.6.x) removes every SLURM_*
        variable, SLURM_CONF included, before it calls `srun`; without a config at the default
        /etc/slurm/slurm.conf that srun then fails ("Could not establish a configuration source").
        Rather than write to /etc, jobs get this wrapper first on PATH.
        """
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        wrapper = self.bin_dir / "srun"
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{_sbin("srun")}" "$@"\n')
        wrapper.chmod(0o755)

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "run" / "munge.socket"

    def _start_munge(self) -> None:
        munge = pwd.getpwnam("munge")
        self.munge_dir.chmod(0o755)
        for d, mode in (("run", 0o755), ("etc", 0o700), ("lib", 0o700), ("log", 0o700)):
            (self.munge_dir / d).mkdir()
            (self.munge_dir / d).chmod(mode)  # munged insists: socket dir open to all, the rest private
            os.chown(self.munge_dir / d, munge.pw_uid, munge.pw_gid)
        as_munge = {"user": munge.pw_uid, "group": munge.pw_gid, "extra_groups": []}
        key = self.munge_dir / "etc" / "munge.key"
        subprocess.run([_sbin("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True, **as_munge)
        self._spawn(
            "munged",
            [
                _sbin("munged"),
                "--foreground",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={self.munge_dir / 'run' / 'munged.pid'}",
                f"--seed-file={self.munge_dir / 'lib' / 'munged.seed'}",
                f"--log-file={self.munge_dir / 'log' / 'munged.log'}",
            ],
            **as_munge,
        )
        self._wait(lambda: self.munge_socket.exists(), "munged socket", 15)

    def _spawn(self, name: str, cmd: list[str], **kwargs) -> None:
        out = open(self.root / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, preexec_fn=_die_with_parent, **kwargs
        )
        out.close()

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) while waiting for {what}\n{self.logs()}")
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=30, check=check)

    def node_state(self) -> str:
        proc = self.run("sinfo", "--noheader", "--Node", "--format=%t", check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self._write_conf()
        self._write_srun_wrapper()
        self._spawn("slurmctld", [_sbin("slurmctld"), "-D", "-f", str(self.conf)])
        self._spawn("slurmd", [_sbin("slurmd"), "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait(lambda: self.node_state() == "idle", "node `localhost` to be idle", 60)

    # -- teardown ----------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel leftover jobs, then end the daemons this object started, newest first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", f"--user={pwd.getpwuid(os.getuid()).pw_name}", check=False)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    jobs = self.run("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING", check=False)
                    # slurmstepd leaves a socket per running step in the spool dir
                    steps = [p for p in (self.root / "spool").glob("*") if p.is_socket()]
                    if jobs.returncode == 0 and not jobs.stdout.strip() and not steps:
                        break
                    time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.procs.clear()
        shutil.rmtree(self.munge_dir, ignore_errors=True)

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for path in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        munge_log = self.munge_dir / "log" / "munged.log"
        if munge_log.exists():
            parts.append(f"--- munged.log\n{munge_log.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)
