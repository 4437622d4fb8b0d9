"""The guardian of one ``serve``: it stops everything ``serve`` started if ``serve`` dies first.

``serve`` starts each child in a session of its own (so that a Ctrl-C reaches only ``serve``, which
then stops them in order). Nothing ties those sessions to ``serve``'s life, so a SIGKILL or an OOM
kill of ``serve`` alone would leave the Dask scheduler, the workers, the job runner and gunicorn
running. ``serve`` therefore starts this small process first, with a pipe on its standard input, and
writes one line per child it starts (``+PID``: the child leads session PID) or stops (``-PID``), and
``bye`` before a clean exit. When the pipe closes without ``bye``, ``serve`` is gone: the guardian
kills every process of those sessions (the children and what they started: worker processes, S2P's
programs, gunicorn's workers), then exits. The job runner's heartbeats let the next ``serve`` resume
the jobs, as after any crash.

Linux only (it reads ``/proc``); run as ``python -m wps_server.guardian``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from wps_server.logs import configure_logging

log = logging.getLogger(__name__)


def session_members(sessions: Iterable[int]) -> list[int]:
    """Live processes (not zombies) whose session is one of ``sessions``."""
    wanted = set(sessions)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) in wanted:
            found.append(int(entry.name))
    return found


def kill_sessions(sessions: Iterable[int], timeout: float = 10.0) -> list[int]:
    """SIGKILL every process of ``sessions`` until none is left (or ``timeout``); returns the
    processes that were still there at the end."""
    sessions = set(sessions)
    deadline = time.monotonic() + timeout
    while True:
        members = [pid for pid in session_members(sessions) if pid != os.getpid()]
        if not members or time.monotonic() > deadline:
            return members
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def watch(lines: Iterable[str]) -> set[int]:
    """Follow ``serve``'s messages until the pipe closes; the sessions left to stop (none after bye)."""
    sessions: set[int] = set()
    for line in lines:
        word = line.strip()
        if word == "bye":
            return set()
        if word[:1] in {"+", "-"} and word[1:].isdigit():
            (sessions.add if word[0] == "+" else sessions.discard)(int(word[1:]))
    return sessions


def main() -> None:
    """``python -m wps_server.guardian [json|text]``: the log format is serve's."""
    configure_logging("INFO", sys.argv[1] if len(sys.argv) > 1 else "json")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is serve's to handle
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only the pipe's end ends the watch
    orphans = watch(sys.stdin)
    if orphans:
        left = kill_sessions(orphans)
        log.warning("serve died; the processes it started were killed", extra={"left": left})


if __name__ == "__main__":
    main()
