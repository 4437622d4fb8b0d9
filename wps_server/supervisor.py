"""``wps-server serve``: start the Dask scheduler and workers, the job runner and gunicorn; stop them all.

Every child runs in its own session, so a Ctrl-C reaches only this supervisor, which then stops the
children in order (web first, cluster last), waits for each, and kills what does not stop in time.
The job runner and gunicorn are restarted if they die (jobs survive: they live in the store and on
the cluster); if the Dask scheduler or workers die, or a child keeps dying, everything is stopped and
the exit status says so. Nothing is left running, even when the supervisor itself is killed: each
child gets the kernel's parent-death signal, and the guardian (:mod:`wps_server.guardian`) kills
whatever the children started. A pid file in the data folder and a look at the port keep a second
``serve`` from starting beside a live one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cluster.monitors import QUIET_MONITORS, as_environment
from wps_server.config import Settings

log = logging.getLogger(__name__)
STOP_TIMEOUT = 15.0


RESTARTS = 5
RESTART_WINDOW = 600.0
PID_FILE = "serve.pid"
_PR_SET_PDEATHSIG = 1


# Dask's logging (its "new style", a dictConfig) with the JSON formatter, for every process serve starts
DASK_JSON_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "wps_server.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        "distributed": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "distributed.client": {"level": "WARNING"},
        "bokeh": {"level": "ERROR"},
        "tornado": {"level": "CRITICAL"},
        "tornado.application": {"level": "ERROR"},
    },
    "root": {"level": "WARNING", "handlers": ["stderr"]},
}


class AlreadyServing(Exception):
    """Another ``serve`` (or another program) holds what this one needs; the message names it."""


def _die_with_parent(parent: int) -> None:
    """In a child between fork and exec: be killed when the supervisor dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os._exit(1)


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
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            start_new_session=True,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

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
        self.json_logs = settings.log_format == "json"
        if self.json_logs and "DASK_LOGGING" not in self.env:  # Dask's own lines as JSON too
            self.env["DASK_LOGGING"] = repr(DASK_JSON_LOGGING)
        self._stopping = False
        self._guardian: subprocess.Popen[str] | None = None
        self.pid_file = settings.data_dir / PID_FILE

    def run(self) -> int:
        """Serve until a signal or a child's death; returns the exit status."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        self._start_guardian()
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
                if self._guardian is None or self._guardian.poll() is not None:
                    log.warning("the guardian of serve's children stopped; starting another")
                    self._start_guardian()
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
            self._tell_guardian(f"-{child.pid}")
        self.children.clear()
        self._tell_guardian("bye")
        if self._guardian is not None:
            self._close_guardian(self._guardian)
        self.pid_file.unlink(missing_ok=True)

    def _start_guardian(self) -> None:
        """(Re)start the guardian and tell it every live child's session."""
        guardian = subprocess.Popen(
            [sys.executable, "-m", "wps_server.guardian", self.settings.log_format],
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,  # neither a Ctrl-C nor a signal to serve's group reaches it
        )
        if self._guardian is not None:
            self._close_guardian(self._guardian)
        self._guardian = guardian
        for child in self.children:
            self._tell_guardian(f"+{child.pid}")
        self._write_pid_file()

    @staticmethod
    def _close_guardian(guardian: subprocess.Popen[str]) -> None:
        if guardian.stdin is not None:
            with contextlib.suppress(OSError):
                guardian.stdin.close()
        try:
            guardian.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            guardian.kill()
            guardian.wait()

    def _tell_guardian(self, line: str) -> None:
        stream: IO[str] | None = self._guardian.stdin if self._guardian else None
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):  # a dead guardian is replaced by run()
                stream.write(line + "\n")
                stream.flush()

    def _write_pid_file(self) -> None:
        """Who serves from this data folder: this process, its children's sessions, its address."""
        state = {
            "pid": os.getpid(),
            "host": self.host,
            "port": self.port,
            "started": time.time(),
            "sessions": [c.pid for c in self.children if c.pid],
        }
        partial = self.pid_file.with_suffix(".part")
        partial.write_text(json.dumps(state))
        partial.replace(self.pid_file)

    def _restart(self, child: Child) -> bool:
        status = child.process.returncode if child.process else None
        now = time.monotonic()
        child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW]
        if not child.restartable or len(child.restarts) >= RESTARTS:
            log.error("%s exited with status %s; stopping everything", child.name, status)
            return False
        log.warning("%s exited with status %s; restarting it", child.name, status)
        child.stop()
        self._tell_guardian(f"-{child.pid}")
        child.restarts.append(now)
        child.start()
        self._tell_guardian(f"+{child.pid}")
        self._write_pid_file()
        return True

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        self._stopping = True

    def _start(self, child: Child) -> None:
        self.children.append(child)
        child.start()
        self._tell_guardian(f"+{child.pid}")
        self._write_pid_file()

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
                    "--preload",
                    "wps_server.dask_preload",
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
                    "--preload",
                    "wps_server.dask_preload",
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
            # gunicorn's largest (its default, 4094, answers its own 400 before a long job id reaches us)
            "--limit-request-line",
            "8190",
            "--access-logfile",
            "-",
            "--access-logformat",
            '%(h)s "%(r)s" %(s)s %(b)s bytes %(M)s ms',
            "--log-level",
            "warning",
            *(["--logger-class", "wps_server.gunicorn_logging.JsonLogger"] if self.json_logs else []),
            "wps_server.wsgi:app",
        ]


def check_free(settings: Settings, host: str, port: int) -> None:
    """Refuse to start beside a live ``serve`` of the same data folder, beside processes a killed one
    left, or on a port another program holds: :class:`AlreadyServing` says which and what to do."""
    from wps_server.guardian import session_members

    pid_file = settings.data_dir / PID_FILE
    try:
        previous = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        previous = None
    if isinstance(previous, dict):
        pid = int(previous.get("pid", 0))
        if pid and pid != os.getpid() and _is_serve(pid):
            raise AlreadyServing(
                f"wps-server serve is already running from {settings.data_dir} (pid {pid}, on "
                f"{previous.get('host')}:{previous.get('port')}): stop it first (kill {pid})"
            )
        left = session_members(int(s) for s in previous.get("sessions", []))
        if left:
            pids = " ".join(map(str, sorted(left)))
            raise AlreadyServing(
                f"processes of the serve that ran from {settings.data_dir} before (pid {pid}) are still "
                f"running: {pids}; stop them (kill {pids}) and start again"
            )
    if port:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise AlreadyServing(f"cannot listen on {host}:{port}: {exc.strerror}") from None
                raise AlreadyServing(
                    f"{host}:{port} is taken by another program: stop it, or choose another port "
                    "(--port, or [server] port)"
                ) from None


def _is_serve(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    args = command.split(b"\0")
    return b"serve" in args and any(b"wps-server" in a or b"wps_server" in a for a in args)


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
