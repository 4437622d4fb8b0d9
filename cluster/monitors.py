"""Dask's own monitoring, tuned for clusters whose tasks last seconds to minutes.

Dask samples a statistical profile every 10 ms and checks memory, the event loop and the
system several times a second. For S2P tiles and pass-screening chunks that costs more
than it tells: an idle ``wps-server serve`` (scheduler, two workers, runner, web) used
16 % of a core with Dask's defaults and 2.4 % with these settings (measured on the
2-core build machine). Memory is still checked every second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

QUIET_MONITORS: Mapping[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


def as_environment(config: Mapping[str, Any]) -> dict[str, str]:
    """The ``DASK_*`` variables that give a Dask process started with them the dotted-key ``config``."""
    return {
        "DASK_" + key.replace("-", "_").replace(".", "__").upper(): str(value)
        for key, value in config.items()
    }
