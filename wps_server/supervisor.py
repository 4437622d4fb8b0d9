"""``wps-server serve``: start the Dask scheduler and workers, the job runner and gunicorn; stop them all.

Every child runs in its own session, so a Ctrl-C reaches only this supervisor, which then stops the
children in order (web first, cluster last), waits for each, and kills what does not stop in time.
The job runner and gunicorn are restarted if they die (jobs survive: they live in the store and on
the cluster); if the Dask scheduler or workers die, or a child keeps dying, everything is stopped and
the exit status says so. Nothing is left running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cluster.monitors import QUIET_MONITORS, as_environment
from wps_server.config import Settings

log = logging.getLogger(__name__)
STOP_TIMEOUT = 15.0


RESTARTS = 5
RESTART_WINDOW = 600.0


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    restartable: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None)
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        log.info("starting %s", self.name, extra={"command": " ".join(self.args)})
        self.process = subprocess.Popen(self.args, env=self.env, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", self.name, STOP_TIMEOUT)
        _signal_group(self.process.pid, signal.SIGKILL)  # whatever the child left in its group
        self.process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    """Owns the children of one ``serve`` and their shutdown."""

    def __init__(
        self, settings: Settings, config_files: list[str], host: str, port: int, workers: int
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.workers = workers
        self.children: list[Child] = []
        self.env = dict(os.environ)
        if config_files:
            self.env["PYWPS_CFG"] = os.pathsep.join(str(Path(f).absolute()) for f in config_files)
        self._stopping = False

    def run(self) -> int:
        """Serve until a signal or a child's death; returns the exit status."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            if self.settings.dask.scheduler == "local":
                self.env["WPS_DASK_SCHEDULER"] = self._start_local_cluster()
            runner = [sys.executable, "-m", "wps_server.cli", "runner"]
            self._start(Child("job runner", runner, self.env, restartable=True))
            self._start(Child("gunicorn", self._gunicorn_args(), self.env, restartable=True))
            log.info("serving on http://%s:%d/wps", self.host, self.port)
            while not self._stopping:
                for child in self.children:
                    if not child.alive() and not self._stopping and not self._restart(child):
                        return 1
                time.sleep(0.5)
            return 0
        except (RuntimeError, OSError) as exc:
            log.error("cannot start: %s", exc)
            return 1
        finally:
            self.stop()

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def _restart(self, child: Child) -> bool:
        status = child.process.returncode if child.process else None
        now = time.monotonic()
        child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW]
        if not child.restartable or len(child.restarts) >= RESTARTS:
            log.error("%s exited with status %s; stopping everything", child.name, status)
            return False
        log.warning("%s exited with status %s; restarting it", child.name, status)
        child.stop()
        child.restarts.append(now)
        child.start()
        return True

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        self._stopping = True

    def _start(self, child: Child) -> None:
        self.children.append(child)
        child.start()

    def _start_local_cluster(self) -> str:
        """A scheduler and worker processes on this machine; returns the scheduler address."""
        dask = self.settings.dask
        space = self.settings.data_dir / "dask"
        space.mkdir(parents=True, exist_ok=True)
        scheduler_file = space / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)
        dashboard = ["--dashboard-address", dask.dashboard] if dask.dashboard else ["--no-dashboard"]
        # quiet monitors unless the environment says otherwise (DASK_* variables win)
        env = {**as_environment(QUIET_MONITORS), **self.env}
        self._start(
            Child(
                "dask scheduler",
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--scheduler-file",
                    str(scheduler_file),
                    *dashboard,
                ],
                env,
            )
        )
        address = _wait_for_address(scheduler_file, self.children[-1], timeout=60)
        self._start(
            Child(
                "dask workers",
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nworkers",
                    str(dask.workers),
                    "--nthreads",
                    str(dask.threads_per_worker),
                    "--memory-limit",
                    dask.memory_limit,
                    "--local-directory",
                    str(space),
                    "--no-dashboard",
                    "--name",
                    "local",
                ],
                env,
            )
        )
        _wait_for_workers(address, dask.workers, timeout=120)
        return address

    def _gunicorn_args(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{self.host}:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--graceful-timeout",
            "10",
            "--timeout",
            "120",
            "--access-logfile",
            "-",
            "--log-level",
            "warning",
            "wps_server.wsgi:app",
        ]


def _wait_for_address(path: Path, scheduler: Child, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not scheduler.alive():
            raise RuntimeError("the Dask scheduler exited at start-up")
        try:
            return str(json.loads(path.read_text())["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f"the Dask scheduler did not start within {timeout:.0f} s")


def _wait_for_workers(address: str, count: int, timeout: float) -> None:
    from distributed import Client

    with Client(address, timeout=timeout, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=timeout)
