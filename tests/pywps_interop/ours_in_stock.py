"""This server's shipped processes in a stock PyWPS service, added as a birdhouse would add them."""

from __future__ import annotations

import os

import pywps

from processes.pywps_service import pywps_processes


def processes() -> list[pywps.Process]:
    return pywps_processes(os.environ["SPACE_WPS_CONFIG"])
