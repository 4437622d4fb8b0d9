"""The tasking catalogue's window finder, made of pass prediction: when a sensor can observe an object."""

from __future__ import annotations

from datetime import datetime

from processes.ssa.catalogue.tasking import DEFAULT_LOOKAHEAD, MAX_REQUEST_WINDOW
from processes.ssa.passes import PassOptions, Window, predict_passes
from processes.ssa.records import Orbit, Sensor

_OPTIONS = PassOptions(max_window=MAX_REQUEST_WINDOW + DEFAULT_LOOKAHEAD)


def observable_windows(
    orbit: Orbit, sensor: Sensor, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The sensor's passes of the object in [start, end), within its elevation mask and range
    limit; for an optical sensor only their visible parts (site dark, target sunlit).

    Shaped as :class:`processes.ssa.catalogue.WindowFinder`; one object over days runs in
    milliseconds, so it runs in the calling process.
    """
    windows: list[tuple[datetime, datetime]] = []
    for found in predict_passes([orbit], sensor, Window(start, end), _OPTIONS):
        if found.visible_intervals is None:
            windows.append((found.rise_time, found.set_time))
        else:
            windows += [(i.start, i.end) for i in found.visible_intervals]
    return windows
