"""ssa_query_objects, ssa_query_orbits and ssa_query_observations through WPS: filters, paging, every
output format picked by mimeType or by the format input, and a bad-input table for queries."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pytest
from lxml import etree

from processes.ssa.omm import read_omm
from processes.ssa.tdm import read_tdm
from processes.ssa.tle import read_tle
from tests.ssa_wps.conftest import SNAPSHOT, SSA_DATA, SSAApp
from tests.ssa_wps.wps import Inline, Value, execute

DAY = [("start", "2026-09-20T00:00:00Z"), ("end", "2026-09-21T00:00:00Z")]
ISS_2008 = (SSA_DATA / "beyond" / "omm.kvn").read_text()
ISS_1998 = (SSA_DATA / "gpconf" / "v01-baseline-reserialised.kvn").read_text()
NINE_DIGITS = ISS_2008.replace("= 25544", "= 123456789").replace("1998-067A", "2030-001A")


def fill(app: SSAApp) -> SSAApp:
    messages = [SNAPSHOT.read_text(), ISS_1998, ISS_2008, NINE_DIGITS]
    messages += [(SSA_DATA / "tdm" / name).read_text() for name in ("optical_radec.kvn", "radar_azel.kvn")]
    answer = execute(app.client, "ssa_ingest", [("messages", Inline(m)) for m in messages], {"result": None})
    assert answer.succeeded, answer.exception
    app.rows = {  # type: ignore[attr-defined]
        m["name"]: m["n_rows"] for m in json.loads(answer.text("result"))["messages"] if m["kind"] == "TDM"
    }
    return app


@pytest.fixture
def filled(make_ssa_app: Callable[..., SSAApp]) -> SSAApp:
    return fill(make_ssa_app())


def query(
    app: SSAApp, identifier: str, inputs: list[tuple[str, Value]], mime: str | None = None
) -> tuple[str, str, dict]:  # type: ignore[type-arg]
    """(mimeType, result, summary) of a successful query."""
    answer = execute(app.client, identifier, inputs, {"result": mime, "summary": None})
    assert answer.status == 200 and answer.succeeded, answer.exception
    return answer.mime("result"), answer.text("result"), json.loads(answer.text("summary"))


def test_objects_by_id_name_and_pages(filled: SSAApp) -> None:
    mime, text, summary = query(filled, "ssa_query_objects", [("object_id", 25544)])
    assert mime == "application/json" and json.loads(text)[0]["name"] == "ISS (ZARYA)"
    mime, text, summary = query(filled, "ssa_query_objects", [("name", "starlink"), ("limit", 5)], "text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert mime == "text/csv" and len(rows) == 5 and all("STARLINK" in r["name"] for r in rows)
    assert (summary["count"], summary["next_offset"]) == (5, 5)
    _, text, _ = query(filled, "ssa_query_objects", [("name", "starlink"), ("limit", 5), ("offset", 5)])
    assert {r["norad_id"] for r in json.loads(text)}.isdisjoint({int(r["norad_id"]) for r in rows})


def test_orbits_latest_history_and_formats(filled: SSAApp) -> None:
    schema = etree.XMLSchema(etree.parse(str(SSA_DATA / "xsd" / "ndmxml-1.0-master.xsd")))
    _, text, summary = query(filled, "ssa_query_orbits", [("object_id", 25544)])
    (latest,) = json.loads(text)
    assert latest["EPOCH"].startswith("2008-09-20") and summary["count"] == 1
    mime, text, _ = query(filled, "ssa_query_orbits", [("object_id", 25544), ("history", True)], "text/plain")
    assert mime == "text/plain; subtype=omm"
    assert [o.epoch.year for o in read_omm(text.encode())] == [1998, 2008]
    mime, text, _ = query(filled, "ssa_query_orbits", [("object_id", 25544), ("format", "omm-xml")])
    assert mime == "text/xml; subtype=omm" and schema.validate(etree.fromstring(text.encode()))
    ids = [("object_id", 100404), ("object_id", 100689)]
    mime, text, _ = query(filled, "ssa_query_orbits", ids, "text/plain; subtype=tle")
    assert mime == "text/plain; subtype=tle" and text.splitlines()[0].startswith("1 A0404U")
    assert [o.norad_id for o in read_tle(text)] == [100404, 100689]
    _, text, _ = query(filled, "ssa_query_orbits", [*ids, ("format", "3le")])
    assert text.splitlines()[0].strip() == "STARLINK-37821"
    _, text, _ = query(filled, "ssa_query_orbits", [*ids, ("format", "omm-csv")])
    assert len(list(csv.DictReader(io.StringIO(text)))) == 2
    _, text, _ = query(filled, "ssa_query_orbits", [("regime", "GEO"), ("limit", 100)])
    assert {o["OBJECT_NAME"] for o in json.loads(text)} >= {"MTG-I2"}


def test_orbits_as_ground_tracks(filled: SSAApp) -> None:
    inputs: list[tuple[str, Value]] = [("object_id", 100404), ("track_minutes", 95)]
    mime, text, summary = query(filled, "ssa_query_orbits", inputs, "application/geo+json")
    collection = json.loads(text)
    assert mime == "application/geo+json" and collection["type"] == "FeatureCollection"
    (feature,) = collection["features"]
    points = [p for line in feature["geometry"]["coordinates"] for p in line]
    assert len(points) == 96 and max(abs(lat) for _, lat in points) < 54  # 53 deg inclination
    assert feature["properties"]["norad_id"] == 100404
    assert summary["ground_track"]["start"].startswith("2026-09-20T09:15:42")  # the orbit's epoch


def test_tle_refuses_nine_digit_ids_with_a_way_out(filled: SSAApp) -> None:
    answer = execute(filled.client, "ssa_query_orbits", [("object_id", 123456789), ("format", "tle")])
    code, locator, text = answer.exception
    assert (answer.status, code, locator) == (400, "InvalidParameterValue", "format")
    assert "123456789" in text and "OMM" in text
    _, text, _ = query(filled, "ssa_query_orbits", [("object_id", 123456789)])
    assert json.loads(text)[0]["NORAD_CAT_ID"] == 123456789


def test_format_and_mime_type_must_agree(filled: SSAApp) -> None:
    answer = execute(
        filled.client, "ssa_query_orbits", [("object_id", 25544), ("format", "tle")], {"result": "text/csv"}
    )
    assert answer.exception[:2] == ("InvalidParameterValue", "format")
    answer = execute(filled.client, "ssa_query_orbits", [("object_id", 25544)], {"result": "image/png"})
    assert answer.exception[:2] == ("InvalidParameterValue", "result")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_observations_filters_paging_and_formats(
    make_ssa_app: Callable[..., SSAApp], backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    app = fill(make_ssa_app(database_url=url))
    _, text, summary = query(app, "ssa_query_observations", [*DAY, ("limit", 10000)])
    everything = json.loads(text)
    optical, radar = app.rows.values()  # type: ignore[attr-defined]
    assert summary["count"] == len(everything) == optical + radar and summary["next_offset"] is None
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        _, text, summary = query(app, "ssa_query_observations", [*DAY, ("limit", 100), ("offset", offset)])
        seen += [r["id"] for r in json.loads(text)]
        offset = summary["next_offset"]
    assert seen == [r["id"] for r in everything]
    _, text, _ = query(app, "ssa_query_observations", [*DAY, ("sensor", "TIRA"), ("limit", 10000)])
    assert {r["sensor"] for r in json.loads(text)} == {"TIRA"} and len(json.loads(text)) == radar
    _, text, _ = query(app, "ssa_query_observations", [*DAY, ("object_id", 100404), ("obs_type", "MAG")])
    assert {(r["norad_id"], r["sensor"]) for r in json.loads(text)} == {(100404, "OGS-TENERIFE")}
    _, text, _ = query(app, "ssa_query_observations", [*DAY, ("uncorrelated", True)])
    assert {r["designator"] for r in json.loads(text)} == {"UCT-2026-0001"}
    first = next(r for r in everything if r["angle_frame"] == "RADEC")
    cone = f"{first['angle_1']},{first['angle_2']},0.5"
    _, text, summary = query(app, "ssa_query_observations", [*DAY, ("cone", cone)])
    assert first["id"] in {r["id"] for r in json.loads(text)} and summary["filters"]["cone"] == cone
    mime, text, _ = query(app, "ssa_query_observations", [*DAY, ("sensor", "TIRA")], "text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert mime == "text/csv" and len(rows) == radar and rows[0]["range_km"]
    mime, text, _ = query(app, "ssa_query_observations", [*DAY, ("object_id", 100404), ("format", "tdm-kvn")])
    tdm = read_tdm(text.encode())
    assert mime == "text/plain; subtype=tdm" and {s.sensor for s in tdm.segments} == {"OGS-TENERIFE", "TIRA"}
    mime, text, _ = query(app, "ssa_query_observations", [*DAY, ("sensor", "TIRA")], "text/xml")
    tracks = len(read_tdm((SSA_DATA / "tdm" / "radar_azel.kvn").read_bytes()).segments)
    assert mime == "text/xml; subtype=tdm" and len(read_tdm(text.encode()).segments) == tracks
    tdm2 = etree.XMLSchema(
        etree.parse(str(SSA_DATA / "xsd" / "ndmxml-4.0.0" / "ndmxml-4.0.0-master-4.0.xsd"))
    )
    assert tdm2.validate(etree.fromstring(text.encode())), tdm2.error_log.last_error


QUERY_ERRORS: list[tuple[str, list[tuple[str, Value]], str, str, str]] = [
    ("no start", [("end", "2026-09-21T00:00:00Z")], "MissingParameterValue", "start", "start"),
    ("no end", [("start", "2026-09-20T00:00:00Z")], "MissingParameterValue", "end", "end"),
    ("bad epoch", [("start", "2026-09-31T00:00:00Z"), DAY[1]], "InvalidParameterValue", "start", "dateTime"),
    (
        "end before start",
        [("start", "2026-09-21T00:00:00Z"), ("end", "2026-09-20T00:00:00Z")],
        "InvalidParameterValue",
        "end",
        "after start",
    ),
    (
        "window too long",
        [DAY[0], ("end", "2026-10-22T00:00:00Z")],
        "InvalidParameterValue",
        "end",
        "at most 31 days",
    ),
    ("cone of two numbers", [*DAY, ("cone", "10,20")], "InvalidParameterValue", "cone", "ra,dec,radius_deg"),
    ("cone not numbers", [*DAY, ("cone", "ra,dec,1")], "InvalidParameterValue", "cone", "ra,dec,radius_deg"),
    ("cone RA out of range", [*DAY, ("cone", "400,10,1")], "InvalidParameterValue", "cone", "RA 0..360"),
    ("cone Dec out of range", [*DAY, ("cone", "10,95,1")], "InvalidParameterValue", "cone", "Dec -90..90"),
    ("cone of no radius", [*DAY, ("cone", "10,10,0")], "InvalidParameterValue", "cone", "radius"),
    ("cone not finite", [*DAY, ("cone", "nan,10,1")], "InvalidParameterValue", "cone", "ra,dec,radius_deg"),
    ("limit 0", [*DAY, ("limit", 0)], "InvalidParameterValue", "limit", "between 1 and 10000"),
    ("limit too big", [*DAY, ("limit", 10001)], "InvalidParameterValue", "limit", "between 1 and 10000"),
    ("unknown sensor", [*DAY, ("sensor", "GHOST")], "InvalidParameterValue", "sensor", "OGS-TENERIFE, TIRA"),
    ("unknown type", [*DAY, ("obs_type", "SPEED")], "InvalidParameterValue", "obs_type", "one of ANGLE_1"),
    (
        "10-digit object",
        [*DAY, ("object_id", 1234567890)],
        "InvalidParameterValue",
        "object_id",
        "between 1 and",
    ),
    (
        "TDM of nothing",
        [DAY[0], ("end", "2026-09-20T00:00:01Z"), ("format", "tdm-xml")],
        "InvalidParameterValue",
        "format",
        "widen",
    ),
]


@pytest.mark.parametrize(
    ("case", "inputs", "code", "locator", "words"), QUERY_ERRORS, ids=[c[0] for c in QUERY_ERRORS]
)
def test_bad_queries_say_which_input_and_how_to_fix_it(
    filled: SSAApp, case: str, inputs: list[tuple[str, Value]], code: str, locator: str, words: str
) -> None:
    answer = execute(filled.client, "ssa_query_observations", inputs, {"result": None})
    assert answer.status == 400
    assert answer.exception[:2] == (code, locator) and words in answer.exception[2], answer.exception
