"""Fixtures of the SSA domain tests: real fixture files, a catalogue on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from processes.ssa.catalogue import create_schema, ingest, load_sensors, make_engine
from processes.ssa.catalogue.schema import metadata
from processes.ssa.records import Orbit, Sensor

SSA_DATA = Path(__file__).resolve().parents[1] / "data" / "ssa"


@pytest.fixture(scope="session")
def ssa_data() -> Path:
    return SSA_DATA


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An empty catalogue (schema only) on SQLite, and on PostgreSQL when WPS_TEST_DATABASE_URL is set."""
    eng = make_engine(database_url)
    create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def catalogue(engine: Engine) -> Engine:
    """A catalogue with the fixture sensors and the 256 element sets of the 2026 snapshot."""
    load_sensors(engine, SSA_DATA / "tdm" / "sensors.yaml")
    snapshot = (SSA_DATA / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle").read_bytes()
    ingest(engine, snapshot, "last-30-days.tle", "celestrak")
    return engine


@pytest.fixture
def counts() -> Callable[[Engine], dict[str, int]]:
    """Row counts of every ssa_ table: compared before and after a refused ingest."""

    def count(eng: Engine) -> dict[str, int]:
        with eng.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables
            }

    return count


@pytest.fixture
def find_windows() -> Callable[[Orbit, Sensor, datetime, datetime], list[tuple[datetime, datetime]]]:
    """The pass predictor of processes.ssa.passes, shaped as the catalogue's WindowFinder."""
    from processes.ssa.passes import Window, predict_passes

    def windows(
        orbit: Orbit, sensor: Sensor, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        return [(p.rise_time, p.set_time) for p in predict_passes([orbit], sensor, Window(start, end))]

    return windows
