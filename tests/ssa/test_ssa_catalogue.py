"""The catalogue on SQLite and PostgreSQL: ingest, idempotency, refusals that store nothing,
queries with paging and cone search, orbits, exports and sensor files."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from processes.ssa.catalogue import (
    Cone,
    add_sensor,
    export_observations,
    export_orbits,
    ingest,
    list_sensors,
    load_sensors,
    query_objects,
    query_observations,
    query_orbits,
)
from processes.ssa.errors import (
    MessageError,
    MessageTooLargeError,
    QueryError,
    UnknownSensorError,
    UnsafeXMLError,
)
from processes.ssa.records import AngleFrame, Observation, Sensor, SensorKind, Tdm
from processes.ssa.sky import angular_distance_deg
from processes.ssa.tdm import make_segment, read_tdm, write_tdm_kvn
from processes.ssa.textio import DEFAULT_MAX_BYTES
from processes.ssa.tle import read_tle

Counts = Callable[[Engine], dict[str, int]]
T0 = datetime(2026, 9, 20, tzinfo=UTC)
T1 = T0 + timedelta(days=5)


def tdm_bytes(ssa_data: Path, name: str) -> bytes:
    return (ssa_data / "tdm" / name).read_bytes()


def all_rows(engine: Engine, **kw: object) -> list:  # type: ignore[type-arg]
    rows, offset = [], 0
    while True:
        page = query_observations(engine, T0, T1, limit=97, offset=offset, **kw)  # type: ignore[arg-type]
        rows += page.rows
        if page.next_offset is None:
            return rows
        offset = page.next_offset


def test_ingest_tracks_observations_and_correlation(catalogue: Engine, ssa_data: Path) -> None:
    optical = ingest(catalogue, tdm_bytes(ssa_data, "optical_radec.kvn"), "optical_radec.kvn", "ogs")
    radar = ingest(catalogue, tdm_bytes(ssa_data, "radar_azel.kvn"), "radar_azel.kvn", "tira")
    parsed = read_tdm(tdm_bytes(ssa_data, "optical_radec.kvn"))
    assert optical.kind == "TDM" and not optical.duplicate and not optical.rejected
    assert (optical.n_tracks, optical.n_uncorrelated_tracks) == (4, 1)
    assert optical.n_observations == len(parsed.observations())
    assert optical.n_rows * 3 == optical.n_observations  # RA, Dec and magnitude share a row
    assert radar.n_observations == radar.n_rows * 5
    rows = all_rows(catalogue)
    assert len(rows) == optical.n_rows + radar.n_rows
    assert len({r.id for r in rows}) == len(rows)
    assert [r.epoch for r in rows] == sorted(r.epoch for r in rows)
    uncorrelated = [r for r in rows if r.uncorrelated]
    assert uncorrelated and {r.designator for r in uncorrelated} == {"UCT-2026-0001"}
    assert all(r.norad_id is None for r in uncorrelated)
    by_cospar = {r.norad_id for r in rows if r.designator == "2026-192G"}
    assert by_cospar == {100410}  # a COSPAR designator correlates too
    tira = all_rows(catalogue, sensor="TIRA", types=["RANGE"])
    assert len(tira) == radar.n_rows and all(r.range_km and r.sigma_range_km == 0.005 for r in tira)
    assert all(r.angle_frame is AngleFrame.AZEL and r.sky_cell is None for r in tira)
    obj = all_rows(catalogue, norad_id=100404)
    assert {r.sensor for r in obj} == {"OGS-TENERIFE", "TIRA"}
    first = next(r for r in obj if r.sensor == "OGS-TENERIFE")
    assert [o.type for o in first.observations()] == ["ANGLE_1", "ANGLE_2", "MAG"]
    assert all_rows(catalogue, quality="VALIDATED") == []
    assert len(all_rows(catalogue, uncorrelated=True)) == len(uncorrelated)


def test_same_content_again_changes_nothing(catalogue: Engine, ssa_data: Path, counts: Counts) -> None:
    first = ingest(catalogue, tdm_bytes(ssa_data, "radar_azel.kvn"), "a.kvn", "tira")
    before = counts(catalogue)
    again = ingest(catalogue, tdm_bytes(ssa_data, "radar_azel.kvn"), "b.kvn", "elsewhere")
    assert again.duplicate and again.message_id == first.message_id
    assert "already ingested" in again.warnings[0]
    assert counts(catalogue) == before


def test_kvn_and_xml_of_the_same_tracks_store_the_same_values(catalogue: Engine, ssa_data: Path) -> None:
    ingest(catalogue, tdm_bytes(ssa_data, "optical_radec.kvn"), "k", "ogs")
    ingest(catalogue, tdm_bytes(ssa_data, "optical_radec.xml"), "x", "ogs")
    rows = all_rows(catalogue)
    key = lambda r: (r.epoch, r.angle_1, r.angle_2, r.mag, r.designator)  # noqa: E731
    halves: dict[int, list] = {}  # type: ignore[type-arg]
    for r in rows:
        halves.setdefault(r.track_id <= 4, []).append(key(r))
    assert sorted(halves[True]) == sorted(halves[False])


GOOD = """CCSDS_TDM_VERS = 2.0
CREATION_DATE = 2026-10-01T00:00:00
ORIGINATOR = TEST
META_START
TIME_SYSTEM = UTC
PARTICIPANT_1 = OGS-TENERIFE
PARTICIPANT_2 = 100404
ANGLE_TYPE = RADEC
META_STOP
DATA_START
ANGLE_1 = 2026-09-20T23:19:58.040 270.2618558
ANGLE_2 = 2026-09-20T23:19:58.040 -7.0726011
DATA_STOP
"""
SECOND = GOOD.split("\n", 3)[3]  # the segment alone, to append as a second one


def second(edit: Callable[[str], str]) -> str:
    return GOOD + edit(SECOND)


# (case, message, error type, line, keyword or sensor)
BAD_INGEST = [
    ("wrong keyword", GOOD.replace("ANGLE_2 =", "ANGEL_2 ="), MessageError, 12, "ANGEL_2"),
    ("missing DATA_STOP", GOOD.replace("DATA_STOP\n", ""), MessageError, 13, "DATA_STOP"),
    ("bad epoch", GOOD.replace("23:19:58.040 270", "23:19:5x.040 270"), MessageError, 11, "ANGLE_1"),
    ("angle out of range", GOOD.replace("-7.0726011", "-91.5"), MessageError, 12, "ANGLE_2"),
    ("unknown sensor", GOOD.replace("OGS-TENERIFE", "NO-SUCH-SITE"), UnknownSensorError, 4, "NO-SUCH-SITE"),
    ("10-digit object id", GOOD.replace("= 100404", "= 1000000000"), MessageError, 4, "PARTICIPANT_2"),
    ("mixed time systems", second(lambda s: s.replace("= UTC", "= TAI")), MessageError, 15, "TIME_SYSTEM"),
    ("bad second segment", second(lambda s: s.replace("270.2618558", "400.0")), MessageError, 21, "ANGLE_1"),
    (
        "unknown sensor in second segment",
        second(lambda s: s.replace("OGS-TENERIFE", "X")),
        UnknownSensorError,
        14,
        "X",
    ),
    (
        "10-digit id in second segment",
        second(lambda s: s.replace("= 100404", "= 12345678901")),
        MessageError,
        14,
        "PARTICIPANT_2",
    ),
    ("only unsupported segments", GOOD.replace("RADEC", "XEYN"), MessageError, 4, "META_START"),
    (
        "external entity",
        '<?xml version="1.0"?>\n<!DOCTYPE tdm [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n<tdm>&x;</tdm>',
        UnsafeXMLError,
        2,
        "DOCTYPE",
    ),
    (
        "bad TLE checksum",
        "ISS\n1 25544U 98067A   98324.28472222 -.00003657  11563-4  00000+0 0    11\n"
        "2 25544  51.5908 168.3788 0125362  86.4185 359.7454 16.05064833    05\n",
        MessageError,
        2,
        "checksum",
    ),
    (
        "10-digit OMM id",
        '[{"EPOCH": "2026-09-20T00:00:00", "MEAN_MOTION": 15.5, "ECCENTRICITY": 0.001, "INCLINATION": 51.6,'
        ' "RA_OF_ASC_NODE": 1, "ARG_OF_PERICENTER": 2, "MEAN_ANOMALY": 3, "NORAD_CAT_ID": 1234567890}]',
        MessageError,
        1,
        "NORAD_CAT_ID",
    ),
    ("not a message", "hello world\n", MessageError, 1, ""),
]


@pytest.mark.parametrize(
    ("case", "message", "error", "line", "name"), BAD_INGEST, ids=[c[0] for c in BAD_INGEST]
)
def test_refused_messages_store_nothing(
    catalogue: Engine, counts: Counts, case: str, message: str, error: type, line: int, name: str
) -> None:
    before = counts(catalogue)
    with pytest.raises(error) as info:
        ingest(catalogue, message.encode(), case, "test")
    err = info.value
    if isinstance(err, UnknownSensorError):
        assert (err.sensor, err.line) == (name, line)
    else:
        assert (err.line, err.keyword) == (line, name), str(err)
    assert counts(catalogue) == before
    assert ingest(catalogue, GOOD.encode(), "good", "test").n_tracks == 1  # the catalogue still works


def test_huge_messages_are_refused_before_parsing(catalogue: Engine, counts: Counts, ssa_data: Path) -> None:
    before = counts(catalogue)
    with pytest.raises(MessageTooLargeError):
        ingest(catalogue, tdm_bytes(ssa_data, "radar_azel.kvn"), "r", "t", max_bytes=10_000)
    with pytest.raises(MessageTooLargeError, match=str(DEFAULT_MAX_BYTES)):
        ingest(catalogue, b" " * (DEFAULT_MAX_BYTES + 1), "huge", "t")
    assert counts(catalogue) == before


def test_unsupported_segments_are_reported_and_the_rest_stored(catalogue: Engine) -> None:
    message = GOOD + SECOND.replace("RADEC", "XSYE")
    summary = ingest(catalogue, message.encode(), "mixed", "test")
    assert summary.n_tracks == 1 and len(summary.rejected) == 1
    rejected = summary.rejected[0]
    assert (rejected.index, rejected.line) == (1, 14) and "XSYE" in rejected.reason


def test_other_tdm_keywords_are_counted_not_stored(catalogue: Engine) -> None:
    message = GOOD.replace("DATA_STOP", "TEMPERATURE = 2026-09-20T23:19:58.040 285.0\nDATA_STOP")
    summary = ingest(catalogue, message.encode(), "t", "test")
    assert summary.n_observations == 2 and "1 TEMPERATURE lines not stored" in summary.warnings[0]


def sky_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    return ra, dec


def test_cone_search_equals_brute_force(engine: Engine) -> None:
    add_sensor(engine, Sensor("SKY", SensorKind.OPTICAL, 0.0, 0.0))
    ra, dec = sky_points(4000, 7)
    start = datetime(2026, 9, 21, tzinfo=UTC)
    obs = []
    for i in range(len(ra)):
        when = start + timedelta(seconds=i)
        obs += [Observation(when, "ANGLE_1", float(ra[i])), Observation(when, "ANGLE_2", float(dec[i]))]
    seg = make_segment(obs, sensor="SKY", target="UCT-SKY", angle_frame=AngleFrame.RADEC)
    tdm = Tdm("2.0", {"CREATION_DATE": "2026-10-01T00:00:00", "ORIGINATOR": "T"}, [], [seg])
    ingest(engine, write_tdm_kvn(tdm).encode(), "sky", "test")
    cones = [
        (10.0, 20.0, 5.0),
        (359.5, 0.0, 3.0),
        (0.2, -45.0, 12.0),
        (123.0, 88.0, 4.0),
        (200.0, -89.5, 2.0),
        (77.0, 10.0, 60.0),
    ]
    cones += [
        (float(a), float(d), float(r))
        for a, d, r in zip(*sky_points(6, 11), np.linspace(0.5, 25.0, 6), strict=True)
    ]
    for c_ra, c_dec, radius in cones:
        expected = {i for i, ok in enumerate(angular_distance_deg(c_ra, c_dec, ra, dec) <= radius) if ok}
        rows, offset = [], 0
        while True:
            page = query_observations(
                engine,
                start,
                start + timedelta(hours=2),
                cone=Cone(c_ra, c_dec, radius),
                limit=150,
                offset=offset,
            )
            rows += page.rows
            if page.next_offset is None:
                break
            offset = page.next_offset
        found = {int((r.epoch - start).total_seconds()) for r in rows}
        assert found == expected, (c_ra, c_dec, radius)
        assert len(rows) == len(found)


def test_query_bounds(catalogue: Engine) -> None:
    with pytest.raises(QueryError, match="exceeds the maximum"):
        query_observations(catalogue, T0, T0 + timedelta(days=40))
    with pytest.raises(QueryError, match="after start"):
        query_observations(catalogue, T0, T0)
    with pytest.raises(QueryError, match="limit"):
        query_observations(catalogue, T0, T1, limit=0)
    with pytest.raises(QueryError, match="not one of"):
        query_observations(catalogue, T0, T1, types=["AZIMUTH"])
    with pytest.raises(QueryError, match="radius"):
        query_observations(catalogue, T0, T1, cone=Cone(0.0, 0.0, 0.0))


def test_orbits_latest_history_and_objects(catalogue: Engine, ssa_data: Path) -> None:
    ingest(catalogue, (ssa_data / "beyond" / "omm.kvn").read_bytes(), "omm.kvn", "beyond")  # ISS 2008
    ingest(
        catalogue,
        (ssa_data / "gpconf" / "corrupt" / "unedited-array.json").read_bytes(),
        "gp.json",
        "celestrak",
    )
    again = ingest(
        catalogue, (ssa_data / "gpconf" / "corrupt" / "unedited-rows.csv").read_bytes(), "gp.csv", "celestrak"
    )
    assert again.n_orbits == 0 and len(again.warnings) == 3  # same records from the same source
    history = query_orbits(catalogue, norad_ids=[25544], latest=False)
    assert [o.epoch.year for o in history] == [1998, 2008]
    latest = query_orbits(catalogue, norad_ids=[25544])
    assert [o.epoch.year for o in latest] == [2008] and latest[0].source == "beyond"
    assert len(query_orbits(catalogue, limit=5000)) == 256 + 3
    assert {o.regime.value for o in query_orbits(catalogue, regime="LEO", limit=5000)} == {"LEO"}
    iss = query_objects(catalogue, norad_ids=[25544])[0]
    assert (iss.name, iss.cospar_id) == ("ISS (ZARYA)", "1998-067A")
    assert len(query_objects(catalogue, name="starlink", limit=1000)) > 100
    assert query_objects(catalogue, cospar_id="2026-192A")[0].norad_id == 100404


def test_exports(catalogue: Engine, ssa_data: Path) -> None:
    ingest(catalogue, tdm_bytes(ssa_data, "radar_azel.kvn"), "r", "tira")
    rows = all_rows(catalogue)
    tdm = read_tdm(export_observations(rows, "tdm-kvn"))
    source = read_tdm(tdm_bytes(ssa_data, "radar_azel.kvn"))
    assert sorted((o.epoch, o.type, o.value) for o in tdm.observations()) == sorted(
        (o.epoch, o.type, o.value) for o in source.observations()
    )
    assert len(read_tdm(export_observations(rows, "tdm-xml")).observations()) == len(source.observations())
    as_json = json.loads(export_observations(rows, "json"))
    assert len(as_json) == len(rows) and as_json[0]["sensor"] == "TIRA"
    assert str(export_observations(rows, "csv")).count("\n") == len(rows) + 1
    orbits = query_orbits(catalogue, norad_ids=[100404, 100405])
    assert read_tle(export_orbits(orbits, "3le")) == [
        o.__class__(**{**_plain(o), "source": ""}) for o in orbits
    ]
    for fmt in ("omm-kvn", "omm-xml", "omm-json", "omm-csv"):
        assert export_orbits(orbits, fmt)
    geo = json.loads(export_orbits(orbits, "geojson", start=T0, end=T0 + timedelta(hours=3)))
    assert len(geo["features"]) == 2
    coords = [p for line in geo["features"][0]["geometry"]["coordinates"] for p in line]
    assert len(coords) == 181 and all(-180 <= x <= 180 and -54 <= y <= 54 for x, y in coords)


def _plain(o: object) -> dict:  # type: ignore[type-arg]
    return {f: getattr(o, f) for f in o.__dataclass_fields__}  # type: ignore[attr-defined]


def test_sensor_files(engine: Engine, tmp_path: Path, ssa_data: Path) -> None:
    loaded = load_sensors(engine, ssa_data / "tdm" / "sensors.yaml")
    assert [s.code for s in list_sensors(engine)] == sorted(s.code for s in loaded)
    as_json = tmp_path / "sensors.json"
    as_json.write_text(
        json.dumps([{"code": "GRAVES", "kind": "radar", "latitude_deg": 47.35, "longitude_deg": 5.51}])
    )
    load_sensors(engine, as_json)
    assert "GRAVES" in [s.code for s in list_sensors(engine)]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "sensors:\n  - code: A\n    kind: optical\n    latitude_deg: 1\n    longitude_deg: 2\n"
        "  - code: B\n    kind: sonar\n    latitude_deg: 1\n    longitude_deg: 2\n"
    )
    with pytest.raises(MessageError) as info:
        load_sensors(engine, bad)
    assert (info.value.line, info.value.keyword) == (6, "kind")
    assert "A" not in [s.code for s in list_sensors(engine)]  # all or nothing


def test_repeated_keyword_at_one_epoch_gets_a_second_row(catalogue: Engine) -> None:
    message = GOOD.replace("DATA_STOP", "ANGLE_1 = 2026-09-20T23:19:58.040 270.3\nDATA_STOP")
    summary = ingest(catalogue, message.encode(), "repeat", "test")
    assert (summary.n_observations, summary.n_rows) == (3, 2)
    rows = all_rows(catalogue)
    assert sorted((r.angle_1, r.angle_2) for r in rows) == [(270.2618558, -7.0726011), (270.3, None)]


def test_concurrent_ingests_of_one_message_store_it_once(
    catalogue: Engine, ssa_data: Path, counts: Counts
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = tdm_bytes(ssa_data, "radar_azel.kvn")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: ingest(catalogue, data, f"copy-{i}", "tira"), range(4)))
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert len({r.message_id for r in results}) == 1
    assert counts(catalogue)["ssa_messages"] == 2  # the snapshot and this one
