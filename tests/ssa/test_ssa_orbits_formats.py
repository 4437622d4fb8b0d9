"""TLE (Alpha-5, checksums), OMM (KVN/XML/JSON/CSV) and OEM: real files, round trips, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from sgp4.api import Satrec

from processes.ssa.epochs import parse_epoch
from processes.ssa.errors import ExportError, MessageError, UnsafeXMLError
from processes.ssa.oem import propagate_ephemeris, read_oem_kvn, write_oem_kvn
from processes.ssa.omm import (
    parse_norad_id,
    read_omm,
    write_omm_csv,
    write_omm_json,
    write_omm_kvn,
    write_omm_xml,
)
from processes.ssa.propagation import orbit_to_satrec
from processes.ssa.records import Orbit, Regime
from processes.ssa.tle import alpha5_decode, alpha5_encode, checksum, read_tle, write_tle

ALPHA5_SETS = [
    "alpha5-A-last-30-days-snapshot.tle",
    "alpha5-T-analyst-27xxxx-snapshot.tle",
    "alpha5-synthetic-letters.tle",
    "alpha5-synthetic-epoch-years.tle",
    "alpha5-A-100000-saramago-first.tle",
]


def vectors(ssa_data: Path, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((ssa_data / "gpconf" / "vectors" / name).read_text())  # type: ignore[no-any-return]


def test_alpha5_vectors(ssa_data: Path) -> None:
    v = vectors(ssa_data, "alpha5.json")
    for case in v["official_examples"] + v["boundaries"] + v["skip_boundaries"] + v["below_100000"]:
        assert alpha5_encode(case["norad_cat_id"]) == case["field"]
        assert alpha5_decode(case["field"]) == case["norad_cat_id"]
    for case in v["decode_invalid"]:
        with pytest.raises(MessageError):
            alpha5_decode(case["field"])
    for case in v["encode_unrepresentable"]:
        with pytest.raises(ExportError):
            alpha5_encode(case["norad_cat_id"])


@pytest.mark.parametrize("name", ALPHA5_SETS)
def test_tle_sets_round_trip_byte_for_byte(ssa_data: Path, name: str) -> None:
    text = (ssa_data / "gpconf" / "alpha5" / name).read_text().replace("\r\n", "\n")
    orbits = read_tle(text)
    assert write_tle(orbits) == text
    assert read_tle(write_tle(orbits, names=False)) == [
        o.__class__(**{**_fields(o), "object_name": ""}) for o in orbits
    ]


def _fields(o: Orbit) -> dict:  # type: ignore[type-arg]
    return {f: getattr(o, f) for f in o.__dataclass_fields__}


def test_snapshot_is_2026_six_digit_leo(ssa_data: Path) -> None:
    orbits = read_tle((ssa_data / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle").read_text())
    assert len(orbits) == 256
    assert all(100_000 <= (o.norad_id or 0) < 110_000 for o in orbits)
    assert {o.epoch.year for o in orbits} == {2026}
    assert orbits[0].object_id == "2026-192A" and orbits[0].object_name == "STARLINK-37821"
    assert Regime.LEO in {o.regime for o in orbits}


def test_sgp4_verification_set_matches_sgp4_own_parser(ssa_data: Path) -> None:
    raw = (ssa_data / "sgp4" / "SGP4-VER.TLE").read_text().splitlines()
    lines = [ln[:69] for ln in raw if ln[:2] in ("1 ", "2 ")]
    bad_checksums, compared = 0, 0
    for l1, l2 in zip(lines[::2], lines[1::2], strict=True):
        try:
            orbit = read_tle(f"{l1}\n{l2}\n")[0]
        except MessageError as err:
            assert err.keyword == "checksum"
            bad_checksums += 1
            continue
        ours, theirs = orbit_to_satrec(orbit), Satrec.twoline2rv(l1, l2)
        for minutes in (0.0, 720.0, 1440.0):
            e1, r1, _ = ours.sgp4_tsince(minutes)
            e2, r2, _ = theirs.sgp4_tsince(minutes)
            assert e1 == e2
            if e1 == 0:
                assert np.linalg.norm(np.subtract(r1, r2)) < 1e-6
                compared += 1
    assert bad_checksums == 3 and compared > 60


@pytest.mark.parametrize(
    ("name", "keyword"),
    [
        ("c1-checksum-digit.tle", "checksum"),
        ("c2-line-2-short.tle", "line 2"),
        ("c3-letter-in-epoch.tle", "EPOCH"),
        ("c4-line-2-missing.tle", "line 2"),
    ],
)
def test_corrupt_tle_inputs_are_refused(ssa_data: Path, name: str, keyword: str) -> None:
    with pytest.raises(MessageError) as info:
        read_tle((ssa_data / "gpconf" / "corrupt" / name).read_bytes())
    assert info.value.keyword == keyword and info.value.line > 0


def test_checksum_rule() -> None:
    line = "1 25544U 98067A   98324.28472222 -.00003657  11563-4  00000+0 0    10"
    assert checksum(line) == 0 and checksum(line.replace("-.0000", " .0000")) == 9


def test_nine_digit_ids_need_omm() -> None:
    orbit = read_omm(OMM_MIN.replace("25544", "799501621"))[0]
    assert orbit.norad_id == 799501621
    with pytest.raises(ExportError, match="339999"):
        write_tle([orbit])


OMM_MIN = """CCSDS_OMM_VERS = 2.0
CREATION_DATE = 2026-10-01T00:00:00
ORIGINATOR = TEST
OBJECT_NAME = ISS (ZARYA)
OBJECT_ID = 1998-067A
CENTER_NAME = EARTH
REF_FRAME = TEME
TIME_SYSTEM = UTC
MEAN_ELEMENT_THEORY = SGP4
EPOCH = 2008-09-20T12:25:40.104192
MEAN_MOTION = 15.72125391
ECCENTRICITY = 0.0006703
INCLINATION = 51.6416
RA_OF_ASC_NODE = 247.4627
ARG_OF_PERICENTER = 130.5360
MEAN_ANOMALY = 325.0288
NORAD_CAT_ID = 25544
BSTAR = -0.000011606
MEAN_MOTION_DOT = -0.00002182
MEAN_MOTION_DDOT = 0.0
"""


def test_norad_cat_id_text_vectors(ssa_data: Path) -> None:
    v = vectors(ssa_data, "norad-cat-id-text.json")
    for case in v["valid"]:
        assert parse_norad_id(case["text"], 1) == case["value"]
    for case in v["invalid_in_omm"]:
        with pytest.raises(MessageError):
            parse_norad_id(case["text"], 1)
    with pytest.raises(MessageError) as info:
        read_omm(OMM_MIN.replace("25544", "1000000000"))
    assert (info.value.line, info.value.keyword) == (17, "NORAD_CAT_ID") and "10 digits" in info.value.reason


def test_ccsds_epoch_vectors(ssa_data: Path) -> None:
    v = vectors(ssa_data, "ccsds-epoch-strings.json")
    for case in v["valid"]:
        if ":60" in case["text"]:  # a leap second: refused on purpose (no mapping is exact)
            with pytest.raises(MessageError, match="leap second"):
                parse_epoch(case["text"])
            continue
        parsed = parse_epoch(case["text"]).replace(tzinfo=None)
        assert parsed.isoformat(timespec="microseconds") == case["iso"]
    for case in v["invalid"]:
        with pytest.raises(MessageError):
            parse_epoch(case["text"], 7, "EPOCH")


def omm_files(ssa_data: Path) -> list[Path]:
    beyond = [p for p in sorted((ssa_data / "beyond").glob("omm*")) if "omm_eh" not in p.name]
    gpconf = [p for p in sorted((ssa_data / "gpconf").glob("v0*.*")) if p.suffix in (".kvn", ".xml")]
    return beyond + gpconf


def test_omm_files_round_trip_in_every_format(ssa_data: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(ssa_data / "xsd" / "ndmxml-1.0-master.xsd")))
    files = omm_files(ssa_data)
    assert len(files) >= 15
    for path in files:
        orbits = read_omm(path.read_bytes())
        v3 = any(k in ("CLASSIFICATION", "MESSAGE_ID") for o in orbits for k, _ in o.extra)
        writers = [write_omm_kvn, write_omm_json, write_omm_csv] + ([] if v3 else [write_omm_xml])
        for write in writers:
            assert read_omm(write(orbits)) == orbits, (path.name, write.__name__)
        if orbits[0].norad_id is not None:
            assert schema.validate(etree.fromstring(write_omm_xml(orbits))), (
                path.name,
                schema.error_log.last_error,
            )


def test_celestrak_json_and_csv_match_tle(ssa_data: Path) -> None:
    corrupt = ssa_data / "gpconf" / "corrupt"
    from_json = read_omm((corrupt / "unedited-array.json").read_bytes())
    from_csv = read_omm((corrupt / "unedited-rows.csv").read_bytes())
    from_tle = read_tle((corrupt / "unedited-sets.tle").read_bytes())
    assert from_json == from_csv
    by_id = {o.norad_id: o for o in from_tle}
    for o in from_json:
        t = by_id[o.norad_id]
        assert (o.epoch - t.epoch) < timedelta(milliseconds=1)
        assert abs(o.eccentricity - t.eccentricity) < 1e-7 and o.mean_motion == t.mean_motion
        assert abs(o.bstar - t.bstar) <= abs(o.bstar) * 1e-4 + 1e-12


@pytest.mark.parametrize(("name", "line"), [("c5-cut-closing-bracket.json", 1), ("c5-cut-last-row.csv", 4)])
def test_corrupt_json_and_csv(ssa_data: Path, name: str, line: int) -> None:
    with pytest.raises(MessageError) as info:
        read_omm((ssa_data / "gpconf" / "corrupt" / name).read_bytes())
    assert info.value.line == line


BAD_OMM = [
    ("unknown keyword", lambda t: t.replace("MEAN_ANOMALY", "MEAN_ANOMALIE"), 16, "MEAN_ANOMALIE"),
    ("missing EPOCH", lambda t: t.replace("EPOCH = 2008-09-20T12:25:40.104192\n", ""), 1, "EPOCH"),
    ("bad epoch", lambda t: t.replace("2008-09-20T12:25:40", "2008-13-20T12:25:40"), 10, "EPOCH"),
    ("eccentricity out of range", lambda t: t.replace("0.0006703", "1.2"), 12, "ECCENTRICITY"),
    ("inclination text", lambda t: t.replace("51.6416", "fifty"), 13, "INCLINATION"),
    ("TAI", lambda t: t.replace("= UTC", "= TAI"), 8, "TIME_SYSTEM"),
    (
        "semi-major axis form",
        lambda t: t.replace("MEAN_MOTION = 15.72125391", "SEMI_MAJOR_AXIS = 6730.0"),
        11,
        "SEMI_MAJOR_AXIS",
    ),
    ("repeated keyword", lambda t: t + "BSTAR = 0.0\n", 21, "BSTAR"),
]


@pytest.mark.parametrize(("case", "edit", "line", "keyword"), BAD_OMM, ids=[c[0] for c in BAD_OMM])
def test_bad_omm(case: str, edit, line: int, keyword: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MessageError) as info:
        read_omm(edit(OMM_MIN))
    assert (info.value.line, info.value.keyword) == (line, keyword), str(info.value)


def test_omm_xml_refuses_entities() -> None:
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE omm [<!ENTITY e SYSTEM "http://example.invalid/x">]>\n<omm>&e;</omm>'
    with pytest.raises(UnsafeXMLError):
        read_omm(doc)


finite = {"allow_nan": False, "allow_infinity": False}
orbits_strategy = st.builds(
    Orbit,
    epoch=st.datetimes(min_value=datetime(1957, 10, 4), max_value=datetime(2056, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    mean_motion=st.floats(0.05, 17.0, **finite),
    eccentricity=st.floats(0.0, 0.99, **finite),
    inclination=st.floats(0.0, 180.0, **finite),
    ra_of_asc_node=st.floats(0.0, 359.9999, **finite),
    arg_of_pericenter=st.floats(0.0, 359.9999, **finite),
    mean_anomaly=st.floats(0.0, 359.9999, **finite),
    norad_id=st.integers(1, 999_999_999),
    object_name=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -()/", max_size=24).map(str.strip),
    object_id=st.sampled_from(["", "1998-067A", "2026-192AB"]),
    bstar=st.floats(-1.0, 1.0, **finite),
    mean_motion_dot=st.floats(-0.5, 0.5, **finite),
    mean_motion_ddot=st.floats(-0.01, 0.01, **finite),
    element_set_no=st.integers(0, 9999),
    rev_at_epoch=st.integers(0, 99999),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(orbits_strategy, min_size=1, max_size=3))
def test_any_orbit_round_trips_through_every_omm_format(orbits: list[Orbit]) -> None:
    for write in (write_omm_kvn, write_omm_xml, write_omm_json, write_omm_csv):
        assert read_omm(write(orbits)) == orbits


@settings(max_examples=80, deadline=None)
@given(orbits_strategy.filter(lambda o: (o.norad_id or 0) <= 339_999))
def test_tle_written_from_any_orbit_reads_back_within_tle_precision(orbit: Orbit) -> None:
    text = write_tle([orbit])
    back = read_tle(text)[0]
    assert write_tle([back]) == text  # stable after one trip
    assert abs((back.epoch - orbit.epoch).total_seconds()) <= 0.000433
    assert abs(back.eccentricity - orbit.eccentricity) < 1e-7
    assert abs(back.inclination - orbit.inclination) <= 5e-5 and back.norad_id == orbit.norad_id


def test_oem_from_sgp4_matches_the_ccsds_sample(ssa_data: Path) -> None:
    orbit = read_omm((ssa_data / "beyond" / "omm.kvn").read_bytes())[0]
    reference = read_oem_kvn((ssa_data / "beyond" / "oem.kvn").read_bytes())[0]
    eph = propagate_ephemeris(orbit, orbit.epoch, orbit.epoch + timedelta(hours=2), timedelta(minutes=3))
    assert [s[0] for s in eph.states] == [s[0] for s in reference.states]
    worst = max(
        np.linalg.norm(np.subtract(a[1:4], b[1:4])) for a, b in zip(eph.states, reference.states, strict=True)
    )
    assert worst < 0.001  # km: same SGP4 elements, same positions to the metre
    again = read_oem_kvn(write_oem_kvn([eph]))[0]
    assert again.states == eph.states and again.metadata == eph.metadata
