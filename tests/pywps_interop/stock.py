"""Stock PyWPS over real HTTP: gunicorn on loopback serving a ``pywps.Service`` and its /outputs.

The WSGI module below is what a PyWPS deployment writes; the processes come from
``$STOCK_PYWPS_PROCESSES`` (``module:callable``), PyWPS's configuration from the file this helper
writes into its own folder.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.e2e.server import REPO, free_port


def application():  # type: ignore[no-untyped-def]
    """The WSGI app: a stock ``pywps.Service`` at any path, its stored outputs under /outputs."""
    from pywps import Service
    from werkzeug.middleware.shared_data import SharedDataMiddleware

    folder = Path(os.environ["STOCK_PYWPS_DIR"])
    module, _, attribute = os.environ["STOCK_PYWPS_PROCESSES"].partition(":")
    processes = getattr(importlib.import_module(module), attribute)()
    service = Service(processes=processes, cfgfiles=[str(folder / "pywps.cfg")])
    return SharedDataMiddleware(service, {"/outputs": str(folder / "outputs")})


class StockPyWPS:
    """Starts gunicorn with :func:`application` on a free port and waits for GetCapabilities."""

    def __init__(
        self, folder: Path, processes: str, input_paths: list[Path], env: dict[str, str] | None = None
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for sub in ("outputs", "work"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "pywps.cfg").write_text(
            "[server]\n"
            f"url = {self.url}/wps\n"
            f"outputurl = {self.url}/outputs\n"
            f"outputpath = {folder / 'outputs'}\n"
            f"workdir = {folder / 'work'}\n"
            f"allowedinputpaths = {':'.join(str(p) for p in input_paths)}\n"
            "maxsingleinputsize = 200mb\n"
            "maxrequestsize = 200mb\n"
            "parallelprocesses = 4\n"
            "[logging]\n"
            "level = INFO\n"
            f"database = sqlite:///{folder / 'pywps-logs.sqlite'}\n"
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "STOCK_PYWPS_DIR": str(folder),
            "STOCK_PYWPS_PROCESSES": processes,
            **(env or {}),
        }
        self.env.pop("PYWPS_CFG", None)
        self.log = folder / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> StockPyWPS:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--timeout",
                    "600",
                    "tests.pywps_interop.stock:application()",
                ],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stock PyWPS exited:\n{self.log.read_text()[-4000:]}")
            try:
                if requests.get(f"{self.url}/wps?service=WPS&request=GetCapabilities", timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"stock PyWPS did not answer:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(60)
