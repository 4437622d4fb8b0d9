"""Fixtures for the cluster tests: the example file's environment, a network guard, a real CLI cluster."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask.config
import pytest

from cluster.lifecycle import restore_dask_config
from cluster.profiles import ProfileRegistry, load_profiles

EXAMPLE = Path(__file__).resolve().parents[2] / "cluster" / "clusters.example.yaml"

EXAMPLE_ENV = {
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "GCP_PROJECT": "space-wps-test",
    "OS_APPLICATION_CREDENTIAL_ID": "app-cred-id",
    "OS_APPLICATION_CREDENTIAL_SECRET": "app-cred-secret",
    "OS_NETWORK_ID": "net-0001",
    "HCLOUD_TOKEN": "hcloud-test-token",
}


@pytest.fixture(autouse=True)
def _restore_dask_config() -> Iterator[None]:
    """Upstream constructors (VMCluster TLS) change the global dask config: undo it after each test."""
    saved = copy.deepcopy(dask.config.config)
    yield
    restore_dask_config(saved)


@pytest.fixture
def example() -> ProfileRegistry:
    return load_profiles(EXAMPLE, env=EXAMPLE_ENV)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail any attempt to resolve or connect to a non-loopback address; return the attempts."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_gai = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address)  # type: ignore[arg-type]
        attempts.append(address)
        raise OSError(f"test forbids network: connect to {address!r}")

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host in (None, "127.0.0.1", "::1", "localhost"):
            return real_gai(host, *args, **kwargs)  # type: ignore[arg-type]
        attempts.append(host)
        raise OSError(f"test forbids network: resolve {host!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a process group started with start_new_session, then reap it (no zombies)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
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
    _stop(proc)
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
    )


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` + 2 ``dask worker`` subprocesses on 127.0.0.1; yields the scheduler address."""
    from distributed import Client

    scheduler, address = start_scheduler(tmp_path_factory.mktemp("cli"))
    workers = [start_worker(address) for _ in range(2)]
    try:
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in [*workers, scheduler]:
            _stop(proc)
