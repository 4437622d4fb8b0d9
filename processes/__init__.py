"""The shipped processes: thin WPS adapters (``wps_<identifier>.py``) over domain packages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wps_server.config import Settings
    from wps_server.process import Process


def shipped_processes(settings: Settings) -> list[Process]:
    """The process list, built after the configuration is loaded."""
    return []
