"""Guarded access to s2p's process-global state.

s2p keeps its whole configuration in one module-level dict (`s2p.config.cfg`)
that every s2p module imported by name, so it must be reset in place (never
rebound); it also keeps a global list of temporary files and a start time on a
function attribute. None of this is thread-safe, so every use of s2p in a
process goes through `S2P_LOCK`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import runpy
import sys
import threading
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import s2p
import s2p.common
import s2p.config

#: Serialises every s2p call in this process (driver set-up and worker steps).
S2P_LOCK = threading.RLock()


@cache
def _pristine_defaults() -> dict[str, Any]:
    """s2p's default configuration, read from a fresh execution of `s2p/config.py`.

    Re-running the module (rather than copying `s2p.config.cfg`) guarantees that
    no key of an earlier run leaks into the defaults.
    """
    namespace = runpy.run_path(s2p.config.__file__)
    defaults: dict[str, Any] = namespace["cfg"]
    return defaults


def default_config() -> dict[str, Any]:
    """A deep copy of s2p's default configuration."""
    return copy.deepcopy(_pristine_defaults())


def install_config(values: Mapping[str, Any]) -> None:
    """Make `values` the content of `s2p.config.cfg`, in place, and reset s2p's other globals.

    The caller must hold `S2P_LOCK` for as long as s2p runs with this configuration.
    """
    cfg = s2p.config.cfg
    cfg.clear()
    cfg.update(values)
    s2p.common.garbage.clear()
    s2p.common.print_elapsed_time.t0 = datetime.datetime.now()


@contextlib.contextmanager
def tool_output(path: Path) -> Iterator[None]:
    """Send what s2p prints and what its programs write (s2p runs them on ``sys.stdout`` and
    ``sys.stderr``) to the file ``path`` while the block runs, instead of the worker's own output,
    which is the server's log. The caller holds `S2P_LOCK`."""
    with path.open("a", buffering=1) as log:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


def s2p_version() -> str:
    """Installed s2p distribution version, or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("s2p")
    except PackageNotFoundError:
        return getattr(s2p, "__version__", "unknown")
