"""A job always ends, and says how: real serve, real gunicorn, real Dask processes, killed on purpose."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from distributed import Client

from tests.e2e.server import Server
from tests.jobs.client import status, submit, wait
from wps_server.config import load_settings
from wps_server.database import make_engine
from wps_server.jobs.store import JobStore

pytestmark = pytest.mark.slow

CONFIG = """
[server]
processes = tests.wps.processes:test_processes
[dask]
workers = 2
dashboard =
[jobs]
max_concurrent = {concurrent}
max_queued = {queued}
[database]
url = {database}
[logging]
format = text
"""


def start(folder: Path, concurrent: int = 2, queued: int = 100, database: str = "") -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    return Server(folder, CONFIG.format(concurrent=concurrent, queued=queued, database=database)).start()


def store_of(server: Server) -> JobStore:
    """The server's own store, read directly (the server runs with the server folder as cwd)."""
    settings = load_settings(
        [server.config], environ={}, overrides={"server": {"data_dir": str(server.folder / "var")}}
    )
    return JobStore(make_engine(settings.database_url))


def processes(server: Server, needle: str) -> list[psutil.Process]:
    return [p for p in server.descendants() if needle in " ".join(p.cmdline())]


def no_zombies(server: Server, grace: float = 10) -> None:
    """No process is left unreaped (a just-killed one gets ``grace`` seconds for its parent to reap it)."""
    deadline = time.monotonic() + grace
    while True:
        zombies = [p.pid for p in server.descendants() if p.status() == psutil.STATUS_ZOMBIE]
        if not zombies or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert zombies == []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start(tmp_path_factory.mktemp("faults"))
    yield running
    assert running.stop() == 0


def test_gunicorn_workers_killed_mid_job(server: Server) -> None:
    job = submit(server, "sleep", "seconds=6", "slept")
    wait(server, job, until=("ProcessStarted",))
    master = processes(server, "gunicorn")[0]
    for worker in master.children():
        worker.kill()
    final, seen = wait(server, job)
    assert final.state == "ProcessSucceeded" and final.outputs == {"slept": "6.0"}
    percents = [s.percent for s in seen if s.percent is not None]
    assert percents == sorted(percents)
    no_zombies(server)


def scheduler_address(server: Server) -> str:
    return str(json.loads((server.folder / "var" / "dask" / "scheduler.json").read_text())["address"])


def test_dask_worker_killed_mid_job(server: Server) -> None:
    job = submit(server, "dask_sleep", "tasks=8;seconds=1.5", "slept")
    wait(server, job, until=("ProcessStarted",))
    with Client(scheduler_address(server), timeout=10) as client:
        deadline = time.monotonic() + 20
        busy: list[str] = []
        while not busy and time.monotonic() < deadline:
            busy = [w for w, tasks in client.processing().items() if tasks]
            time.sleep(0.1)
        assert busy, "the job's tasks never ran"
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
    victim = psutil.Process(pid)
    assert victim in server.descendants()
    victim.kill()
    final, _ = wait(server, job)
    assert final.state == "ProcessSucceeded", final
    assert final.outputs == {"slept": "12.0"}
    assert not victim.is_running() or victim.status() != psutil.STATUS_ZOMBIE
    no_zombies(server)


def test_runner_killed_mid_job_is_resumed(server: Server) -> None:
    job = submit(server, "sleep", "seconds=4", "slept")
    wait(server, job, until=("ProcessStarted",))
    processes(server, "wps_server.cli runner")[0].kill()
    killed = time.monotonic()
    final, _ = wait(server, job, timeout=90)
    assert final.state == "ProcessSucceeded", final
    assert time.monotonic() - killed < 60 + 4
    assert store_of(server).get(job).attempts == 2  # type: ignore[union-attr]
    no_zombies(server)


def test_dismiss_stops_the_tasks_and_removes_the_files(server: Server) -> None:
    job = submit(server, "dask_sleep", "tasks=30;seconds=2", "slept")
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
    final = status(server, job)
    assert final.state == "ProcessFailed" and "dismissed" in final.message.lower()
    with Client(scheduler_address(server), timeout=10) as client:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and client.run_on_scheduler(
            lambda dask_scheduler: len(dask_scheduler.tasks)
        ):
            time.sleep(0.2)
        assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0
    assert not (server.folder / "var" / "outputs" / job).exists()
    assert not (server.folder / "var" / "jobs" / job).exists()
    listing = subprocess.run(
        [sys.executable, "-m", "wps_server.cli", "--config", str(server.config), "jobs", "list"],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"{job}  dismissed" in listing


def test_queue_order_and_server_busy(tmp_path: Path) -> None:
    server = start(tmp_path / "queue", concurrent=1, queued=3)
    try:
        first = submit(server, "sleep", "seconds=3", "slept")
        wait(server, first, until=("ProcessStarted",))
        queued = [submit(server, "sleep", "seconds=0.5", "slept") for _ in range(3)]
        busy = requests.get(
            f"{server.url}/wps?service=WPS&version=1.0.0&request=Execute&identifier=sleep"
            "&DataInputs=seconds=1&storeExecuteResponse=true&status=true",
            timeout=30,
        )
        assert busy.status_code == 503 and b'exceptionCode="ServerBusy"' in busy.content
        for job in [first, *queued]:
            assert wait(server, job)[0].state == "ProcessSucceeded"
        store = store_of(server)
        jobs = [store.get(j) for j in [first, *queued]]
        starts = [j.started for j in jobs]  # type: ignore[union-attr]
        ends = [j.finished for j in jobs]  # type: ignore[union-attr]
        assert starts == sorted(starts)
        assert all(ends[i] <= starts[i + 1] for i in range(3)), "one job at a time"  # type: ignore[operator]
        no_zombies(server)
    finally:
        assert server.stop() == 0


def test_whole_server_killed_and_restarted(tmp_path: Path) -> None:
    folder = tmp_path / "restart"
    server = start(folder)
    job = submit(server, "sleep", "seconds=5", "slept")
    wait(server, job, until=("ProcessStarted",))
    everything = [psutil.Process(server.process.pid), *server.descendants()]  # type: ignore[union-attr]
    for process in everything:
        process.kill()
    psutil.wait_procs(everything, timeout=20)
    server.process.wait()  # type: ignore[union-attr]
    restarted = Server(folder, server.config.read_text()).start()
    began = time.monotonic()
    try:
        final, _ = wait(restarted, job, timeout=90)
        assert final.state == "ProcessSucceeded", final
        assert time.monotonic() - began < 60 + 5
        no_zombies(restarted)
    finally:
        assert restarted.stop() == 0
    assert os.path.exists(folder / "var" / "jobs.sqlite")
    assert signal.SIGINT  # stopped the way a user does, above
