"""ssa_predict_passes through WPS, screened on a Dask cluster: times against skyfield's find_events
(offline, skyfield-data's files), sites and sensors, the whole catalogue in chunks, every output
format, and bad requests."""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.ssa_wps.conftest import SNAPSHOT, SSAApp
from tests.ssa_wps.wps import Inline, Value, execute

skyfield_api = pytest.importorskip("skyfield.api")
skyfield_data = pytest.importorskip("skyfield_data")

DAY = [("start", "2026-09-21T00:00:00Z"), ("end", "2026-09-22T00:00:00Z")]
OGS_SITE = "28.2994,-16.5097,2393"


@pytest.fixture
def catalogue(make_ssa_app: Callable[..., SSAApp]) -> SSAApp:
    """The 256 real 2026 element sets; passes screened in chunks of 50 objects."""
    app = make_ssa_app(ssa={"pass_chunk_size": "50"})
    answer = execute(app.client, "ssa_ingest", [("messages", Inline(SNAPSHOT.read_text()))])
    assert answer.succeeded, answer.exception
    return app


def predict(app: SSAApp, inputs: list[tuple[str, Value]], mime: str | None = None) -> tuple[str, str, dict]:  # type: ignore[type-arg]
    answer = execute(app.client, "ssa_predict_passes", inputs, {"result": mime, "summary": None})
    assert answer.status == 200 and answer.succeeded, answer.exception
    return answer.mime("result"), answer.text("result"), json.loads(answer.text("summary"))


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def tle_lines(norad_ids: set[str]) -> dict[str, tuple[str, str, str]]:
    lines = SNAPSHOT.read_text().splitlines()
    return {
        lines[i + 1][2:7]: (lines[i].strip(), lines[i + 1], lines[i + 2])
        for i in range(0, len(lines) - 2, 3)
        if lines[i + 1][2:7] in norad_ids
    }


def skyfield_events(lines: tuple[str, str, str], mask: float) -> list[tuple[datetime, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load = skyfield_api.Loader(skyfield_data.get_skyfield_data_path(), verbose=False)
        ts = load.timescale(builtin=True)
    satellite = skyfield_api.EarthSatellite(lines[1], lines[2], lines[0], ts)
    site = skyfield_api.wgs84.latlon(28.2994, -16.5097, elevation_m=2393)
    t, kinds = satellite.find_events(
        site,
        ts.from_datetime(datetime(2026, 9, 21, tzinfo=UTC)),
        ts.from_datetime(datetime(2026, 9, 22, tzinfo=UTC)),
        altitude_degrees=mask,
    )
    return [(ti.utc_datetime(), int(k)) for ti, k in zip(t, kinds, strict=True)]


def test_pass_times_agree_with_skyfield_within_a_second(catalogue: SSAApp) -> None:
    inputs: list[tuple[str, Value]] = [
        ("object_ids", "100404, 100689"),
        ("site", OGS_SITE),
        *DAY,
        ("min_elevation", 10),
    ]
    mime, text, summary = predict(catalogue, inputs)
    passes = json.loads(text)
    assert mime == "application/json" and summary["count"] == len(passes) >= 6
    assert summary["objects_screened"] == 2 and summary["optical"] is False
    # 3LE ids are Alpha-5: A0404 is 100404, A0689 is 100689
    for alpha5, lines in tle_lines({"A0404", "A0689"}).items():
        norad_id = 100000 + int(alpha5[1:])
        ours = [p for p in passes if p["norad_id"] == norad_id]
        theirs = skyfield_events(lines, 10.0)
        rises = [t for t, k in theirs if k == 0]
        culminations = [t for t, k in theirs if k == 1]
        sets = [t for t, k in theirs if k == 2]
        assert len(ours) == len(rises) == len(sets) >= 2
        for found, rise, top, down in zip(ours, rises, culminations, sets, strict=True):
            assert abs((moment(found["rise_time"]) - rise).total_seconds()) < 1.0
            assert abs((moment(found["culmination_time"]) - top).total_seconds()) < 1.0
            assert abs((moment(found["set_time"]) - down).total_seconds()) < 1.0


def test_sensors_bring_their_limits_and_optical_conditions(catalogue: SSAApp) -> None:
    _, text, radar = predict(catalogue, [("object_ids", "100404"), ("sensor", "TIRA"), *DAY])
    assert (radar["sensor"], radar["min_elevation_deg"], radar["max_range_km"]) == ("TIRA", 20.0, 3000.0)
    assert all(p["max_elevation_deg"] >= 20 and p["culmination_range_km"] <= 3000 for p in json.loads(text))
    ids = ("object_ids", "100525,100682,100404")
    _, text, optical = predict(catalogue, [ids, ("sensor", "OGS-TENERIFE"), *DAY])
    visible = json.loads(text)
    assert optical["optical"] is True and visible and all(p["visible"] for p in visible)
    assert all(p["visible_intervals"] for p in visible)
    _, text, geometric = predict(catalogue, [ids, ("sensor", "OGS-TENERIFE"), ("optical", False), *DAY])
    assert geometric["optical"] is False and geometric["min_elevation_deg"] == 20.0
    assert len(json.loads(text)) > len(visible)


def test_the_whole_catalogue_in_chunks_and_by_query(catalogue: SSAApp) -> None:
    _, text, summary = predict(catalogue, [("site", OGS_SITE), *DAY, ("min_elevation", 30)])
    assert (summary["objects_screened"], summary["chunks"]) == (256, 6)
    everything = json.loads(text)
    rises = [p["rise_time"] for p in everything]
    assert rises == sorted(rises) and len({p["norad_id"] for p in everything}) > 100
    _, text, geo = predict(catalogue, [("regime", "GEO"), ("site", OGS_SITE), *DAY])
    assert geo["objects_screened"] >= 1 and {p["name"] for p in json.loads(text)} >= {"MTG-I2"}
    _, text, named = predict(catalogue, [("name", "sentinel"), ("site", OGS_SITE), *DAY])
    assert named["objects_screened"] == 1 and {p["norad_id"] for p in json.loads(text)} == {100689}


def test_csv_and_geojson_outputs(catalogue: SSAApp) -> None:
    inputs: list[tuple[str, Value]] = [("object_ids", "100689"), ("site", OGS_SITE), *DAY]
    mime, text, _ = predict(catalogue, inputs, "text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert mime == "text/csv" and rows and all(r["culmination_lat"] and r["culmination_lon"] for r in rows)
    mime, text, _ = predict(catalogue, [*inputs, ("format", "geojson")])
    collection: dict[str, Any] = json.loads(text)
    assert mime == "application/geo+json" and len(collection["features"]) == len(rows)
    assert {f["geometry"]["type"] for f in collection["features"]} == {"MultiLineString"}


PASS_ERRORS: list[tuple[str, list[tuple[str, Value]], str, str, str]] = [
    ("no site or sensor", [("object_ids", "100404"), *DAY], "MissingParameterValue", "site", "site"),
    (
        "site and sensor",
        [("site", OGS_SITE), ("sensor", "TIRA"), *DAY],
        "InvalidParameterValue",
        "site",
        "not both",
    ),
    ("latitude out of range", [("site", "91,0,0"), *DAY], "InvalidParameterValue", "site", "latitude 91.0"),
    ("site of one number", [("site", "28.3"), *DAY], "InvalidParameterValue", "site", "lat,lon,height_m"),
    ("unknown sensor", [("sensor", "GHOST"), *DAY], "InvalidParameterValue", "sensor", "registered sensors"),
    (
        "window too long",
        [("site", OGS_SITE), DAY[0], ("end", "2026-09-29T00:00:00Z")],
        "InvalidParameterValue",
        "end",
        "at most 7 days",
    ),
    ("no window end", [("site", OGS_SITE), DAY[0]], "MissingParameterValue", "end", "end"),
    (
        "end before start",
        [("site", OGS_SITE), ("start", "2026-09-21T00:00:00Z"), ("end", "2026-09-20T00:00:00Z")],
        "InvalidParameterValue",
        "end",
        "after start",
    ),
    (
        "object without orbit",
        [("object_ids", "99999"), ("site", OGS_SITE), *DAY],
        "InvalidParameterValue",
        "object_ids",
        "99999",
    ),
    (
        "10-digit object id",
        [("object_ids", "1234567890"), ("site", OGS_SITE), *DAY],
        "InvalidParameterValue",
        "object_ids",
        "at most 9 digits",
    ),
    (
        "mask too high",
        [("site", OGS_SITE), *DAY, ("min_elevation", 95)],
        "InvalidParameterValue",
        "min_elevation",
        "between 0.0 and 89.0",
    ),
    (
        "no such name",
        [("name", "no such satellite"), ("site", OGS_SITE), *DAY],
        "InvalidParameterValue",
        "name",
        "no catalogue object",
    ),
]


@pytest.mark.parametrize(
    ("case", "inputs", "code", "locator", "words"), PASS_ERRORS, ids=[c[0] for c in PASS_ERRORS]
)
def test_bad_pass_requests(
    catalogue: SSAApp, case: str, inputs: list[tuple[str, Value]], code: str, locator: str, words: str
) -> None:
    answer = execute(catalogue.client, "ssa_predict_passes", inputs)
    assert answer.status == 400 and answer.exception[:2] == (code, locator), answer.exception
    assert words in answer.exception[2], answer.exception
