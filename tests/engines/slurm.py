"""Debian's SLURM (slurm-wlm) as a one-node cluster on this machine, with munge, for the test only.

munged runs with a key of its own and its socket in the test's folder; slurmctld and slurmd read a
``slurm.conf`` written here (loopback addresses, free ports, state and spool folders of their own,
cgroup-free plugins: ``proctrack/linuxproc``, ``task/none``, no accounting), so nothing of the machine's
SLURM or munge set-up is read or changed. Clients (sbatch, squeue, scancel) find it through
``SLURM_CONF``, which :attr:`SlurmCluster.env` holds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.server import free_port
from tests.engines.processes_running import start_daemon, stop_daemon, wait_until

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
MISSING = "needs root (SlurmUser=root) and Debian's slurm-wlm and munge (make test installs them)"
PARTITION = "wps"


@dataclass(frozen=True)
class SlurmCluster:
    """A running one-node SLURM cluster; ``env`` is what its clients need (``SLURM_CONF``)."""

    conf: Path
    node: str
    cpus: int
    memory_mb: int

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *args: str) -> str:
        environ = {**os.environ, **self.env}
        return subprocess.run(
            args, capture_output=True, text=True, check=True, env=environ, timeout=60
        ).stdout

    def queue(self, name: str | None = None) -> list[str]:
        """``job-id name state`` of the jobs in the queue (pending, running, completing), or of one name."""
        return self.run("squeue", "-h", "-o", "%i %j %T", *(["--name", name] if name else [])).split("\n")[
            :-1
        ]

    def jobs(self, name: str) -> list[dict[str, str]]:
        """Every job called ``name`` the controller still remembers (finished ones too, for MinJobAge)."""
        found = []
        for line in self.run("scontrol", "show", "job", "-o").splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if fields.get("JobName") == name:
                found.append(fields)
        return found


def available() -> bool:
    return os.geteuid() == 0 and all(shutil.which(d) or Path("/usr/sbin", d).exists() for d in DAEMONS)


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _config(folder: Path, node: str, cpus: int, memory_mb: int, socket_path: Path) -> str:
    ctld, slurmd = free_port(), free_port()
    return f"""\
ClusterName=wpstest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket_path}
StateSaveLocation={folder / "state"}
SlurmdSpoolDir={folder / "spool"}
SlurmctldPidFile={folder / "slurmctld.pid"}
SlurmdPidFile={folder / "slurmd.pid"}
SlurmctldLogFile={folder / "slurmctld.log"}
SlurmdLogFile={folder / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
MailProg=/bin/true
NodeName={node} NodeHostname={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def running_slurm(folder: Path) -> Iterator[SlurmCluster]:
    """munged, slurmctld and slurmd for the duration of the block; then every job is cancelled and the
    daemons are stopped (``scontrol shutdown``, then munged)."""
    if os.geteuid() != 0:
        raise RuntimeError("the SLURM daemons of the tests run as root (SlurmUser=root)")
    for sub in ("state", "spool", "munge-key"):
        (folder / sub).mkdir(parents=True)
    folder.chmod(0o755)  # munged wants its socket's folder reachable by every user
    (folder / "munge-key").chmod(0o700)
    key = folder / "munge-key" / "munge.key"
    subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
    sock = folder / "munge.socket"
    node = socket.gethostname().split(".")[0]
    cpus, memory_mb = os.cpu_count() or 1, int(_memory_mb() * 0.8)
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder, node, cpus, memory_mb, sock))
    cluster = SlurmCluster(conf, node, cpus, memory_mb)
    env = {**os.environ, **cluster.env}
    logs = [folder / n for n in ("munged.log", "slurmctld.log", "slurmd.log", "daemons.out")]
    munged = start_daemon(
        [
            "munged", "--foreground", "--force", f"--key-file={key}", f"--socket={sock}",
            f"--pid-file={folder / 'munged.pid'}", f"--log-file={logs[0]}", f"--seed-file={folder / 'munge.seed'}",
        ],
        logs[3],
    )  # fmt: skip
    daemons = [munged]
    try:
        wait_until(sock.exists, "munged", daemons, logs)
        daemons.append(start_daemon(["slurmctld", "-D", "-i"], logs[3], env))
        daemons.append(start_daemon(["slurmd", "-D", "-N", node], logs[3], env))

        def idle() -> bool:
            try:
                return cluster.run("sinfo", "-h", "-o", "%T").strip() == "idle"
            except subprocess.SubprocessError:
                return False

        wait_until(idle, "slurmctld and slurmd", daemons, logs, timeout=90)
        yield cluster
    finally:
        if len(daemons) > 1:
            subprocess.run(["scancel", "--full", "--partition", PARTITION], env=env, check=False, timeout=60)
            subprocess.run(["scontrol", "shutdown"], env=env, check=False, timeout=60)
        for daemon in reversed(daemons):
            stop_daemon(daemon, timeout=30)
