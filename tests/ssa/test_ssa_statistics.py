"""Planner statistics on PostgreSQL: a large ingest refreshes them itself, a small one leaves them to
the periodic maintenance (processes.ssa.catalogue.maintenance)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from processes.ssa.catalogue import (
    IngestSummary,
    create_schema,
    ingest,
    load_sensors,
    maintenance,
    make_engine,
)
from processes.ssa.catalogue.maintenance import refresh_after_ingest, rows_added
from tests.ssa_wps.observations import has_statistics, many_observations_tdm


@pytest.fixture
def pg_catalogue(postgres_url: str, ssa_data: Path) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    create_schema(engine)
    load_sensors(engine, ssa_data / "tdm" / "sensors.yaml")
    ingest(engine, (ssa_data / "tdm" / "optical_radec.kvn").read_bytes(), "optical.kvn", "tests")
    yield engine
    engine.dispose()


def test_rows_added_counts_stored_messages_only() -> None:
    stored = IngestSummary("a", "1", message_id=1, n_tracks=2, n_rows=30, n_orbits=0)
    orbits = IngestSummary("b", "2", message_id=2, n_orbits=5, n_objects_created=3)
    again = IngestSummary("c", "3", message_id=1, duplicate=True, n_rows=30)
    assert rows_added([stored, orbits, again]) == {
        "ssa_messages": 2,
        "ssa_tracks": 2,
        "ssa_observations": 30,
        "ssa_orbits": 5,
        "ssa_objects": 3,
    }


def test_a_large_ingest_analyzes_what_it_grew_a_small_one_does_not(
    pg_catalogue: Engine, ssa_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = pg_catalogue
    small = ingest(engine, many_observations_tdm(500), "small.kvn", "tests")
    assert refresh_after_ingest(engine, [small]) == [] and not has_statistics(engine, "ssa_observations")
    big = ingest(
        engine, many_observations_tdm(12_000, start=datetime(2026, 9, 23, tzinfo=UTC)), "big.kvn", "tests"
    )
    assert big.n_rows == 12_000
    # only the observations grew by 10,000 rows or more
    assert refresh_after_ingest(engine, [big]) == ["ssa_observations"]
    assert has_statistics(engine, "ssa_observations") and not has_statistics(engine, "ssa_tracks")
    with engine.connect() as conn:
        planned = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'ssa_observations'::regclass")
        )
        known = planned.scalar_one()
    assert known >= 12_500
    # relative to the size: rows that are not a tenth of what the planner knows leave it alone
    monkeypatch.setattr(maintenance, "INGEST_ANALYZE_MIN_ROWS", 100)
    more = ingest(engine, (ssa_data / "tdm" / "radar_azel.kvn").read_bytes(), "radar.kvn", "tests")
    assert 100 <= more.n_rows <= 0.1 * known and refresh_after_ingest(engine, [more]) == []
    monkeypatch.setattr(maintenance, "INGEST_ANALYZE_FRACTION", 0.001)
    assert refresh_after_ingest(engine, [more]) == ["ssa_observations"]


def test_nothing_is_done_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    big = IngestSummary("a", "1", message_id=1, n_rows=1_000_000)
    assert refresh_after_ingest(engine, [big]) == []
    engine.dispose()
