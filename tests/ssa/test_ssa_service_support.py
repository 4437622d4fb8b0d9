"""What the SSA processes add to the domain: tasking priority and measurement type, sensor choice,
windows from pass prediction, catalogue statistics, pass writers, and the 0003 migration."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from processes.ssa.catalogue import (
    Decision,
    catalogue_stats,
    choose_sensor,
    get_tasking,
    ingest,
    query_orbits,
    submit_tasking,
)
from processes.ssa.errors import TaskingError
from processes.ssa.pass_export import CSV_FIELDS, passes_csv, passes_geojson, passes_json
from processes.ssa.passes import PassOptions, Site, Window, predict_passes
from processes.ssa.records import Sensor, SensorKind
from processes.ssa.tasking_windows import observable_windows
from wps_server.database import make_engine as service_engine
from wps_server.database import migrate

START = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)
NOW = START - timedelta(hours=1)
OGS = Site(28.2994, -16.5097, 2393.0, "OGS")


def test_priority_and_measurement_type_are_kept_and_checked_against_the_sensor(catalogue: Engine) -> None:
    window = {"start": START, "end": START + timedelta(days=1), "now": NOW}
    asked = submit_tasking(
        catalogue,
        norad_id=100404,
        sensor="TIRA",
        find_windows=observable_windows,
        priority=2,
        obs_type="RANGE",
        **window,  # type: ignore[arg-type]
    )
    assert asked.decision is Decision.ACCEPTED
    stored = get_tasking(catalogue, asked.request_id)
    assert (stored.priority, stored.obs_type) == (2, "RANGE")
    optical = submit_tasking(
        catalogue,
        norad_id=100404,
        sensor="OGS-TENERIFE",
        find_windows=observable_windows,
        obs_type="RANGE",
        **window,  # type: ignore[arg-type]
    )
    assert optical.decision is Decision.REJECTED
    assert optical.reason == "sensor OGS-TENERIFE is optical and cannot measure RANGE"
    with pytest.raises(TaskingError, match="priority 0"):
        submit_tasking(
            catalogue,
            norad_id=100404,
            sensor="TIRA",
            find_windows=observable_windows,
            priority=0,
            **window,  # type: ignore[arg-type]
        )
    with pytest.raises(TaskingError, match="observation type 'SPEED'"):
        submit_tasking(
            catalogue,
            norad_id=100404,
            sensor="TIRA",
            find_windows=observable_windows,
            obs_type="SPEED",
            **window,  # type: ignore[arg-type]
        )


OGS_SENSOR = Sensor("OGS-TENERIFE", SensorKind.OPTICAL, 28.2994, -16.5097, 2393.0, 20.0)
TIRA_SENSOR = Sensor("TIRA", SensorKind.RADAR, 50.6166, 7.1296, 300.0, 20.0, 3000.0)
VISIBLE = 100525  # STARLINK-38382: seen by OGS at night on 2026-09-20 (TIRA sees it too)


def test_any_sensor_is_the_suitable_one_that_sees_the_object_first(catalogue: Engine) -> None:
    end = START + timedelta(days=1)
    window = {"start": START, "end": end, "now": NOW}
    for norad_id in (100404, VISIBLE):  # 100404: never visible from OGS that day, only TIRA sees it
        (orbit,) = query_orbits(catalogue, norad_ids=[norad_id])
        seen = {s.code: observable_windows(orbit, s, START, end) for s in (OGS_SENSOR, TIRA_SENSOR)}
        first = min((w[0][0], code) for code, w in seen.items() if w)[1]
        kwargs = {"norad_id": norad_id, "find_windows": observable_windows, **window}
        assert choose_sensor(catalogue, **kwargs) == first  # type: ignore[arg-type]
        assert choose_sensor(catalogue, obs_type="RCS", **kwargs) == "TIRA"  # type: ignore[arg-type]
        assert choose_sensor(catalogue, obs_type="MAG", **kwargs) == "OGS-TENERIFE"  # type: ignore[arg-type]
    assert not observable_windows(orbit, OGS_SENSOR, START, START + timedelta(hours=6))


def test_optical_windows_are_the_visible_parts_of_passes(catalogue: Engine) -> None:
    (orbit,) = query_orbits(catalogue, norad_ids=[VISIBLE])
    end = START + timedelta(days=1)
    windows = observable_windows(orbit, OGS_SENSOR, START, end)
    passes = predict_passes([orbit], OGS_SENSOR, Window(START, end))
    visible = [(i.start, i.end) for p in passes for i in p.visible_intervals or ()]
    assert windows == visible and windows
    radar = observable_windows(orbit, replace(OGS_SENSOR, kind=SensorKind.RADAR), START, end)
    # the geometric pass holds the visible part, which ends where the object enters the shadow
    assert any(a <= windows[0][0] and windows[0][1] < b for a, b in radar)


def test_catalogue_statistics(catalogue: Engine, ssa_data: Path) -> None:
    ingest(catalogue, (ssa_data / "tdm" / "optical_radec.kvn").read_bytes(), "optical", "ogs")
    stats = catalogue_stats(catalogue)
    assert (stats.objects, stats.sensors, stats.orbits, stats.messages) == (256, 2, 256, 2)
    assert (stats.tracks, stats.uncorrelated_tracks, stats.observation_rows) == (4, 1, 82)
    assert stats.messages_by_kind == {"TDM": 1, "TLE": 1}
    assert sum(stats.orbits_by_regime.values()) == 256 and stats.tasking_by_status == {}
    assert stats.first_observation is not None and stats.first_observation.year == 2026


def test_pass_writers(catalogue: Engine) -> None:
    orbits = query_orbits(catalogue, norad_ids=[100404, 100689])
    by_id = {o.norad_id: o for o in orbits if o.norad_id is not None}
    passes = predict_passes(orbits, OGS, Window(START, START + timedelta(days=1)), PassOptions(10.0))
    assert len(passes) >= 4
    records = json.loads(passes_json(passes))
    assert records[0]["rise_time"].endswith("Z") and records[0]["visible"] is None
    rows = list(csv.DictReader(io.StringIO(passes_csv(passes, by_id))))
    assert list(rows[0]) == list(CSV_FIELDS) and len(rows) == len(passes)
    for row in rows:  # the sub-satellite point at culmination is near the site for a high pass
        if float(row["max_elevation_deg"]) > 60:
            assert abs(float(row["culmination_lat"]) - OGS.latitude_deg) < 8
    collection = json.loads(passes_geojson(passes, by_id, OGS))
    assert len(collection["features"]) == len(passes)
    for feature in collection["features"]:
        assert feature["geometry"]["type"] == "MultiLineString"
        points = [p for line in feature["geometry"]["coordinates"] for p in line]
        assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in points)
        assert feature["properties"]["site"] == "OGS"


def test_migration_0003_adds_the_tasking_columns_to_an_older_catalogue(database_url: str) -> None:
    engine = service_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__code__.co_filename).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    with engine.begin() as connection:  # as 0002 created the table before the columns existed
        for column in ("priority", "obs_type"):
            connection.execute(sa.text(f"ALTER TABLE ssa_tasking_requests DROP COLUMN {column}"))
    migrate(engine)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("ssa_tasking_requests")}
    assert {"priority", "obs_type"} <= columns
    migrate(engine)  # idempotent
    engine.dispose()
