"""Fixtures for the cluster tests: the example file's environment, a network guard, a real CLI cluster."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator

import dask.config
import pytest
from cluster_testkit import EXAMPLE, EXAMPLE_ENV, start_scheduler, start_worker, stop

from cluster.lifecycle import restore_dask_config
from cluster.profiles import ProfileRegistry, load_profiles


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


@pytest.fixture(scope="session")
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
            stop(proc)
