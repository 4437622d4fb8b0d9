"""Nothing outlives ``serve``, and no second ``serve`` or runner starts beside a live one: real
processes, killed with SIGKILL as an OOM killer or ``kill -9`` would."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.e2e.server import REPO, Server, free_port
from tests.jobs.client import submit, wait
from tests.jobs.test_faults import CONFIG, start, store_of

pytestmark = pytest.mark.slow


def _eventually(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_sigkill_of_serve_mid_job_leaves_no_process_and_the_job_ends_after_restart(tmp_path: Path) -> None:
    folder = tmp_path / "killed"
    server = start(folder)
    job = submit(server, "dask_program", "tasks=2;seconds=6", "slept")
    wait(server, job, until=("ProcessStarted",))
    assert _eventually(lambda: any(p.name() == "sleep" for p in server.descendants()), 30)
    tree = server.descendants()
    names = " ".join(" ".join(p.cmdline()) for p in tree)
    for part in ("dask_scheduler", "dask_worker", "runner", "gunicorn", "wps_server.guardian", "sleep"):
        assert part in names, f"{part} not among serve's processes: {names}"
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    assert _eventually(lambda: not _alive(tree), 15), [p.cmdline() for p in _alive(tree)]
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", server.port))

    restarted = Server(folder, server.config.read_text()).start()
    try:
        final, _ = wait(restarted, job, timeout=120)
        assert final.state == "ProcessSucceeded", final
        assert final.outputs == {"slept": "12.0"}
        assert store_of(restarted).get(job).attempts == 2  # type: ignore[union-attr]
    finally:
        assert restarted.stop() == 0


def _serve(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wps_server.cli", "--config", str(folder / "server.cfg"), "serve", *args],
        cwd=folder,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_second_serve_beside_a_live_one_says_so_and_stops(tmp_path: Path) -> None:
    folder = tmp_path / "twice"
    server = start(folder)
    try:
        before = {p.pid for p in server.descendants()}
        other_port = free_port()
        second = _serve(folder, "--port", str(other_port))
        assert second.returncode != 0
        assert f"already running from {folder / 'var'} (pid {server.process.pid}" in second.stderr  # type: ignore[union-attr]
        assert "Traceback" not in second.stderr
        assert {p.pid for p in server.descendants()} == before  # it started nothing
    finally:
        assert server.stop() == 0


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "port"
    folder.mkdir()
    (folder / "server.cfg").write_text(CONFIG.format(concurrent=1, queued=1, database=""))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _serve(folder, "--port", str(port))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"127.0.0.1:{port} is taken by another program" in result.stderr
    assert not (folder / "var").exists()


def test_processes_left_by_a_killed_serve_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "left"
    (folder / "var").mkdir(parents=True)
    (folder / "server.cfg").write_text(CONFIG.format(concurrent=1, queued=1, database=""))
    left = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a child whose serve was killed
    try:
        gone = subprocess.Popen(["true"])
        gone.wait()
        state = {"pid": gone.pid, "host": "127.0.0.1", "port": 1, "started": 0, "sessions": [left.pid]}
        (folder / "var" / "serve.pid").write_text(json.dumps(state))
        result = _serve(folder, "--port", str(free_port()))
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert f"are still running: {left.pid}; stop them (kill {left.pid})" in result.stderr
    finally:
        left.kill()
        left.wait()
