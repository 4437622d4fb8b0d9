"""TDM messages for tests: what a sensor would report during a pass (SGP4, no noise), or a large
synthetic track; and whether PostgreSQL has planner statistics of a table."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Engine, text

from processes.ssa.epochs import format_epoch, from_us, to_us
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


def many_observations_tdm(
    rows: int, sensor: str = "OGS-TENERIFE", target: str = "100404", start: datetime | None = None
) -> str:
    """One RA/Dec track of ``rows`` epochs a second apart (synthetic angles, in range): a large ingest."""
    first = to_us(start or datetime(2026, 9, 22, tzinfo=UTC))
    lines = [
        "CCSDS_TDM_VERS = 2.0",
        "CREATION_DATE = 2026-11-01T00:00:00",
        "ORIGINATOR = SPACE-WPS-TESTS",
        "META_START",
        "TIME_SYSTEM = UTC",
        f"PARTICIPANT_1 = {sensor}",
        f"PARTICIPANT_2 = {target}",
        "ANGLE_TYPE = RADEC",
        "META_STOP",
        "DATA_START",
    ]
    for i in range(rows):
        epoch = format_epoch(from_us(first + i * 1_000_000))
        lines += [f"ANGLE_1 = {epoch} {i * 0.01 % 360:.4f}", f"ANGLE_2 = {epoch} {i * 0.007 % 120 - 60:.4f}"]
    return "\n".join([*lines, "DATA_STOP", ""])


def has_statistics(engine: Engine, table: str) -> bool:
    """Whether ANALYZE gathered planner statistics of ``table`` (PostgreSQL: pg_stats, which ANALYZE
    itself writes; the counters of pg_stat_user_tables reach other sessions later)."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = :t"),
            {"t": table},
        ).scalar_one()
    return bool(found)
