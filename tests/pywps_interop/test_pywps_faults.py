"""Asynchronous PyWPS jobs survive what the job tests do to this server's own processes: web workers
killed, the runner killed, the whole server killed and restarted; and they can be dismissed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.server import Server
from tests.jobs.client import submit, wait
from tests.jobs.test_faults import no_zombies, processes, store_of

pytestmark = pytest.mark.slow

CONFIG = """
[server]
processes = tests.pywps_interop.suite:processes
[dask]
workers = 1
dashboard =
[logging]
format = text
"""
STEPS = "steps=20;delay=0.5"


def progress_job(server: Server) -> str:
    job = submit(server, "progress", STEPS, "done")
    wait(server, job, until=("ProcessStarted",))
    return job


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("pywps-faults"), CONFIG).start()
    yield running
    assert running.stop() == 0


def test_web_workers_killed_mid_job(server: Server) -> None:
    job = progress_job(server)
    for worker in processes(server, "gunicorn")[0].children():
        worker.kill()
    final, seen = wait(server, job)
    assert final.state == "ProcessSucceeded" and final.outputs == {"done": "20"}
    percents = [s.percent for s in seen if s.percent is not None]
    assert percents == sorted(percents) and len(set(percents)) >= 2
    assert any(s.message.startswith("step ") for s in seen)  # update_status messages
    no_zombies(server)


def test_runner_killed_mid_job_is_resumed(server: Server) -> None:
    job = progress_job(server)
    processes(server, "wps_server.cli runner")[0].kill()
    final, _ = wait(server, job, timeout=90)
    assert final.state == "ProcessSucceeded" and final.outputs == {"done": "20"}
    assert store_of(server).get(job).attempts == 2  # type: ignore[union-attr]
    no_zombies(server)


def test_dismissed_job_stops_at_its_next_status_update(server: Server) -> None:
    job = submit(server, "progress", "steps=60;delay=0.5", "done")
    wait(server, job, until=("ProcessStarted",))
    result = subprocess.run(
        [sys.executable, "-m", "wps_server.cli", "--config", str(server.config), "jobs", "dismiss", job],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    store = store_of(server)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and store.get(job).finished is None:  # type: ignore[union-attr]
        time.sleep(0.2)
    record = store.get(job)
    assert record is not None and record.status.value == "dismissed" and record.finished is not None
    assert record.percent < 50  # it stopped long before its 60 steps
    assert not (server.folder / "var" / "jobs" / job).exists()


def test_whole_server_killed_and_restarted(tmp_path: Path) -> None:
    (tmp_path / "restart").mkdir()
    server = Server(tmp_path / "restart", CONFIG).start()
    job = progress_job(server)
    everything = [psutil.Process(server.process.pid), *server.descendants()]  # type: ignore[union-attr]
    for process in everything:
        process.kill()
    psutil.wait_procs(everything, timeout=20)
    server.process.wait()  # type: ignore[union-attr]
    restarted = Server(tmp_path / "restart", server.config.read_text()).start()
    try:
        final, _ = wait(restarted, job, timeout=90)
        assert final.state == "ProcessSucceeded" and final.outputs == {"done": "20"}
        no_zombies(restarted)
    finally:
        assert restarted.stop() == 0
