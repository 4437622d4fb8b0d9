"""TDM messages made from a catalogue orbit: what a sensor would report during a pass (SGP4, no noise)."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from processes.ssa.epochs import from_us, to_us
from processes.ssa.propagation import look_angles, propagate_teme, teme_to_ecef
from processes.ssa.records import AngleFrame, Observation, Orbit, Sensor, Tdm
from processes.ssa.tdm import make_segment, write_tdm_kvn


def radar_tdm(orbit: Orbit, sensor: Sensor, start: datetime, end: datetime, step_s: float = 10.0) -> str:
    """AZ/EL and range of ``orbit`` from ``sensor`` every ``step_s`` in [start, end], as a TDM KVN."""
    us = np.arange(to_us(start), to_us(end) + 1, int(step_s * 1e6), dtype=np.int64)
    r, _ = propagate_teme(orbit, us)
    az, el, rng = look_angles(
        teme_to_ecef(r, us), sensor.latitude_deg, sensor.longitude_deg, sensor.height_m / 1000
    )
    observations = []
    for t, a, e, d in zip(us.tolist(), az.tolist(), el.tolist(), rng.tolist(), strict=True):
        epoch = from_us(t)
        for kind, value in (("ANGLE_1", a), ("ANGLE_2", e), ("RANGE", d)):
            observations.append(Observation(epoch, kind, round(value, 6), sensor.code, str(orbit.norad_id)))
    segment = make_segment(
        observations, sensor=sensor.code, target=str(orbit.norad_id), angle_frame=AngleFrame.AZEL
    )
    header = {"CREATION_DATE": "2026-11-01T00:00:00", "ORIGINATOR": "SPACE-WPS-TESTS"}
    return write_tdm_kvn(Tdm(version="2.0", header=header, segments=[segment]))
