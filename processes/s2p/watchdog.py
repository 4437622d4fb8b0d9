"""A per-step watchdog: time limit and cancellation for code that runs C binaries.

s2p runs its C tools with `subprocess.run` and no timeout, so a stuck `mgm`
would hold a Dask worker forever. The watchdog kills the child processes the
step started, then, if the step still does not return, raises `StepInterrupted`
asynchronously in the step's thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Callable
from types import TracebackType

import psutil

_POLL_SECONDS = 0.25
_GRACE_SECONDS = 5.0


class StepInterrupted(BaseException):
    """Raised in a step's thread when its watchdog stops it (a BaseException: s2p's `except Exception`
    must not swallow it)."""


class StepWatchdog:
    """Context manager: stop the body after `timeout_seconds`, or once `cancelled()` is true.

    After the body, `reason` is None if the watchdog did not fire, else "timeout" or "cancelled".
    Only one watched step may run per process at a time (the caller holds s2p's lock), so the
    children started meanwhile belong to the step.
    """

    def __init__(self, timeout_seconds: float, cancelled: Callable[[], bool] | None = None) -> None:
        self.timeout_seconds = timeout_seconds
        self.cancelled = cancelled
        self.reason: str | None = None
        self._done = threading.Event()
        self._target_thread = threading.get_ident()
        self._process = psutil.Process()
        self._children_before: set[int] = set()
        self._thread = threading.Thread(target=self._watch, name="s2p-step-watchdog", daemon=True)

    def __enter__(self) -> StepWatchdog:
        self._target_thread = threading.get_ident()
        self._children_before = {p.pid for p in self._process.children(recursive=True)}
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _kill_new_children(self) -> None:
        try:
            children = self._process.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            if child.pid in self._children_before:
                continue
            with contextlib.suppress(psutil.Error):
                child.kill()

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while not self._done.wait(_POLL_SECONDS):
            if time.monotonic() > deadline:
                self.reason = "timeout"
            elif self.cancelled is not None and self.cancelled():
                self.reason = "cancelled"
            else:
                continue
            break
        else:
            return
        # first the C tools (the usual culprits), then the Python code itself
        self._kill_new_children()
        if self._done.wait(_GRACE_SECONDS):
            return
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self._target_thread), ctypes.py_object(StepInterrupted)
        )
        while not self._done.wait(_POLL_SECONDS):
            self._kill_new_children()
