"""A stock PyWPS 4.8 WSGI app over the benchmark's process list, with PyWPS's default configuration.

Only the paths PyWPS writes to are set ($STOCK_PYWPS_DIR holds them), and a file SQLite database
instead of the in-memory default, without which its asynchronous jobs stay "accepted" forever as
soon as more than one process serves them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pywps import Service

from benchmarks.service_processes import stock

_folder = Path(os.environ.get("STOCK_PYWPS_DIR", "stock-pywps")).absolute()
for sub in ("outputs", "work"):
    (_folder / sub).mkdir(parents=True, exist_ok=True)
_config = _folder / "pywps.cfg"
_config.write_text(
    "[server]\n"
    f"url = http://127.0.0.1:{os.environ.get('STOCK_PYWPS_PORT', '5001')}/wps\n"
    f"outputurl = http://127.0.0.1:{os.environ.get('STOCK_PYWPS_PORT', '5001')}/outputs\n"
    f"outputpath = {_folder / 'outputs'}\n"
    f"workdir = {_folder / 'work'}\n"
    f"[logging]\nlevel = WARNING\ndatabase = sqlite:///{_folder / 'pywps-logs.sqlite'}\n"
)
application = Service(processes=stock(), cfgfiles=[str(_config)])
