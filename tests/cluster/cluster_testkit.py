"""Helpers for the cluster tests: the example file's environment, real CLI schedulers and workers
(which get this directory on their PYTHONPATH so they can unpickle the task functions below)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[1] / "cluster" / "clusters.example.yaml"


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


EXAMPLE_ENV = {
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "GCP_PROJECT": "space-wps-test",
    "OS_APPLICATION_CREDENTIAL_ID": "app-cred-id",
    "OS_APPLICATION_CREDENTIAL_SECRET": "app-cred-secret",
    "OS_NETWORK_ID": "net-0001",
    "HCLOUD_TOKEN": "hcloud-test-token",
    "WPS_WORKER_IMAGE": "registry.example.org/space-wps:0.1.0",
    "AWS_SECURITY_GROUP_ID": "sg-0123456789abcdef0",
    "WPS_JOBS_BUCKET": "space-wps-jobs",
    "AWS_ENDPOINT_URL": "https://fsn1.your-objectstorage.com",
    "AWS_ACCESS_KEY_ID": "example-key-id",
    "AWS_SECRET_ACCESS_KEY": "example-secret",
}


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a process group started with start_new_session, then reap it (no zombies)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    else:
        proc.wait()


def start_scheduler(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real ``dask scheduler`` on 127.0.0.1 and its address."""
    info = tmp / "scheduler.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(info),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=_env(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if info.exists():
            try:
                return proc, str(json.loads(info.read_text())["address"])
            except ValueError:
                pass  # being written
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError("dask scheduler did not start")


def start_worker(address: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            address,
            "--host",
            "127.0.0.1",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--death-timeout",
            "20",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=_env(),
    )


def tile(i: int, seconds: float = 0.1) -> int:
    """A stand-in for a tile task: sleep, then return something checkable."""
    time.sleep(seconds)
    return i * i


def timed_tile(i: int, seconds: float) -> tuple[float, float]:
    """Sleep and report the task's own start and end times (to check collected events against)."""
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def boom(i: int) -> int:
    raise ValueError(f"tile {i} failed")
