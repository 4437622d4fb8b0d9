"""Small helpers shared by the engine fixtures: start a daemon, wait for it, stop it, reap it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def start_daemon(
    args: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a daemon in the foreground, in a session of its own, its output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(args), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )


def wait_until(
    ready: Callable[[], bool],
    what: str,
    processes: Sequence[subprocess.Popen[bytes]],
    logs: Sequence[Path],
    timeout: float = 60,
) -> None:
    """Poll ``ready`` until true; fail with the daemons' logs if one exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.2)
    text = "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.exists()
    )
    raise RuntimeError(f"{what} did not start:\n{text}")


def stop_daemon(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Signal a daemon's session, wait for it, kill what does not stop in time."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout)
