"""A real ``wps-server serve`` in a subprocess, on a free port, stopped the way a user stops it."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free port below Linux's ephemeral range, so the Dask processes' own ports cannot take it."""
    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@contextmanager
def dask_cluster_processes(threads: int = 1) -> Iterator[int]:
    """A real `dask scheduler` and one `dask worker` (single-threaded unless told) of their own, as
    subprocesses; yields the scheduler's port (on 127.0.0.1) and stops both on leaving."""
    port = free_port()
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            f"tcp://127.0.0.1:{port}",
            "--nthreads",
            str(threads),
            "--nworkers",
            "1",
            "--no-dashboard",
        ],
        start_new_session=True,
    )
    time.sleep(3)
    try:
        yield port
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(30)


class Server:
    """Starts ``wps-server --config FILE serve`` and waits until /health answers."""

    def __init__(
        self, folder: Path, config: str, env: dict[str, str] | None = None, workers: int = 2
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "server.cfg"
        self.config.write_text(config)
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"

    def start(self, timeout: float = 120) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wps_server.cli",
                    "--config",
                    str(self.config),
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start-up:\n{self.log.read_text()[-4000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log.read_text()[-4000:]}")

    def descendants(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        """Stop as Ctrl-C does; returns the exit status. Raises if any process it started is left."""
        assert self.process is not None
        children = self.descendants()
        self.process.send_signal(sig)
        status = self.process.wait(timeout)
        _, alive = psutil.wait_procs(children, timeout=20)
        for process in alive:
            process.kill()
        if alive:
            raise AssertionError(f"processes left running after stop: {[p.pid for p in alive]}")
        return status
