"""Python environments for workers started on an engine: the server's own, and one without this project.

* ``server_python``: a launcher that runs the server's interpreter with the repository on
  ``PYTHONPATH`` (the test processes' task functions live under ``tests``), as a lab machine's
  environment script would.
* ``bare_python``: a virtual environment of its own that sees the server's third-party packages (dask,
  distributed, S2P, rasterio: a ``.pth`` line naming their directory) but not this project, whose
  editable install only a site directory's own ``.pth`` hooks would load: a worker machine where
  space-wps was never installed.
"""

from __future__ import annotations

import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.server import REPO


@dataclass(frozen=True)
class WorkerEnvs:
    server_python: Path
    bare_python: Path


def make_worker_envs(folder: Path) -> WorkerEnvs:
    folder.mkdir(parents=True, exist_ok=True)
    launcher = folder / "server-python"
    launcher.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" "$@"\n')
    launcher.chmod(0o755)
    bare = folder / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(target) / "server_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return WorkerEnvs(launcher, python)
