"""The shipped processes as ``pywps.Process`` objects, for a PyWPS service (a birdhouse, say).

::

    from pywps import Service
    from processes.pywps_service import pywps_processes

    application = Service(processes=[*my_processes, *pywps_processes("/etc/space-wps.cfg")])

The file is this server's configuration (database, ``[dask] scheduler``, ``[inputs]``, ``[s2p]``,
``[ssa]``...); PyWPS's own configuration is not read for it, nor is this file given to PyWPS.
"""

from __future__ import annotations

import os
from pathlib import Path

import pywps

from processes import shipped_processes
from wps_server.config import load_settings
from wps_server.pywps_export import Runtime, as_pywps


def pywps_processes(config: str | os.PathLike[str]) -> list[pywps.Process]:
    """S2P and SSA processes running with the configuration file ``config`` (and ``WPS_*`` variables)."""
    settings = load_settings([Path(config)])
    runtime = Runtime(settings)
    return [as_pywps(process, settings, runtime) for process in shipped_processes(settings)]
