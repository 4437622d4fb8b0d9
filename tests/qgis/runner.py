"""Runs a PyQGIS client script with Debian's /usr/bin/python3 (python3-qgis, python3-owslib), offscreen,
and returns the JSON object it prints last."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
NO_PYQGIS = "needs Debian's python3-qgis and python3-owslib (make test installs them)"


@cache
def has_pyqgis() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core, owslib.wps"], capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


def run_client(script: Path, args: list[str], folder: Path, timeout: float = 300) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"QT_QPA_PLATFORM": "offscreen", "HOME": str(folder), "XDG_RUNTIME_DIR": str(folder)}
    done = subprocess.run(
        [SYSTEM_PYTHON, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=folder,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
