"""TDM reader and writers: real samples, round trips, schema validation, bad input, XML safety."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from processes.ssa.errors import MessageError, MessageTooLargeError, UnsafeXMLError
from processes.ssa.records import AngleFrame, Observation, Tdm
from processes.ssa.tdm import make_segment, read_tdm, tdm2_features, write_tdm_kvn, write_tdm_xml

SAFE_PARSER = etree.XMLParser(no_network=True, resolve_entities=False)
TDM2_SCHEMA = etree.XMLSchema(
    etree.parse(
        str(Path(__file__).parents[1] / "data/ssa/xsd/ndmxml-4.0.0/ndmxml-4.0.0-master-4.0.xsd"),
        SAFE_PARSER,
    )
)


@pytest.fixture(scope="module")
def schema(ssa_data: Path) -> etree.XMLSchema:
    """The NDM/XML 1.0 set: TDM 1.0."""
    return etree.XMLSchema(etree.parse(str(ssa_data / "xsd" / "ndmxml-1.0-master.xsd"), SAFE_PARSER))


def valid_tdm2(document: bytes) -> bool:
    """Whether ``document`` is valid against the NDM/XML 4.0.0 set (TDM 2.0)."""
    return TDM2_SCHEMA.validate(etree.fromstring(document, SAFE_PARSER))


def values(tdm: Tdm) -> list[tuple[datetime, str, float, str, str]]:
    return [(o.epoch, o.type, o.value, o.sensor, o.object) for o in tdm.observations()]


def test_beyond_sample_kvn_and_xml_agree(ssa_data: Path) -> None:
    kvn = read_tdm((ssa_data / "beyond" / "tdm.kvn").read_bytes())
    xml = read_tdm((ssa_data / "beyond" / "tdm.xml").read_bytes())
    assert len(kvn.observations()) == 324
    assert values(kvn) == values(xml)
    first = kvn.observations()[0]
    assert (first.type, first.value, first.angle_frame) == ("RANGE", 4304.325558, AngleFrame.AZEL)
    assert first.epoch == datetime(2008, 9, 20, 18, 16, 3, 690790, tzinfo=UTC)
    assert first.line == 18


@pytest.mark.parametrize("name", ["optical_radec.kvn", "optical_radec.xml", "radar_azel.kvn"])
def test_fixture_round_trips_through_kvn_and_xml(ssa_data: Path, name: str) -> None:
    tdm = read_tdm((ssa_data / "tdm" / name).read_bytes())
    again_kvn = read_tdm(write_tdm_kvn(tdm))
    again_xml = read_tdm(write_tdm_xml(tdm))
    for other in (again_kvn, again_xml):
        assert values(other) == values(tdm)
        assert [s.metadata for s in other.segments] == [s.metadata for s in tdm.segments]
        assert other.header == tdm.header and other.header_comments == tdm.header_comments
    assert write_tdm_kvn(again_kvn) == write_tdm_kvn(tdm)


def test_kvn_and_xml_fixtures_hold_the_same_tracks(ssa_data: Path) -> None:
    kvn = read_tdm((ssa_data / "tdm" / "optical_radec.kvn").read_bytes())
    xml = read_tdm((ssa_data / "tdm" / "optical_radec.xml").read_bytes())
    assert values(kvn) == values(xml)
    assert {o.type for o in kvn.observations()} == {"ANGLE_1", "ANGLE_2", "MAG"}
    assert [s.track_id for s in kvn.segments] == ["OGS-001", "OGS-002", "OGS-003", "OGS-004"]


def test_xml_validates_against_the_ccsds_schema(ssa_data: Path, schema: etree.XMLSchema) -> None:
    assert schema.validate(etree.parse(str(ssa_data / "beyond" / "tdm.xml")))
    assert schema.validate(etree.parse(str(ssa_data / "tdm" / "optical_radec_v1.xml")))
    for name in ("beyond/tdm.kvn", "tdm/optical_radec_v1.xml"):
        written = write_tdm_xml(read_tdm((ssa_data / name).read_bytes()), "1.0")
        assert schema.validate(etree.fromstring(written)), schema.error_log.last_error


@pytest.mark.parametrize(
    "name", ["tdm/optical_radec.xml", "tdm/optical_radec.kvn", "tdm/radar_azel.kvn", "beyond/tdm.kvn"]
)
def test_tdm2_xml_validates_against_the_ccsds_tdm2_schema(ssa_data: Path, name: str) -> None:
    data = (ssa_data / name).read_bytes()
    if name.endswith(".xml"):
        assert valid_tdm2(data), TDM2_SCHEMA.error_log.last_error
    written = write_tdm_xml(read_tdm(data), "2.0")  # beyond's sample is a TDM 1.0: written as 2.0
    assert valid_tdm2(written), TDM2_SCHEMA.error_log.last_error


def test_the_tdm2_schema_refuses_what_it_should(ssa_data: Path) -> None:
    """The check can fail: a TDM 1.0 document, and a TDM 2.0 one with a misspelt keyword."""
    assert not valid_tdm2((ssa_data / "beyond" / "tdm.xml").read_bytes())
    written = write_tdm_xml(read_tdm((ssa_data / "tdm" / "optical_radec.kvn").read_bytes()))
    assert not valid_tdm2(written.replace(b"<ANGLE_1>", b"<ANGEL_1>").replace(b"</ANGLE_1>", b"</ANGEL_1>"))


def test_tdm2_content_is_not_written_as_tdm1(ssa_data: Path) -> None:
    tdm = read_tdm((ssa_data / "tdm" / "optical_radec.kvn").read_bytes())
    assert tdm2_features(tdm) == ["MAG", "TRACK_ID"]
    with pytest.raises(ValueError, match=r"TDM 1\.0 cannot carry MAG, TRACK_ID"):
        write_tdm_xml(tdm, "1.0")


epochs = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
measurements = st.one_of(
    st.tuples(st.just("ANGLE_1"), st.floats(0.0, 359.9999999, allow_nan=False)),
    st.tuples(st.just("ANGLE_2"), st.floats(-90.0, 90.0, allow_nan=False)),
    st.tuples(st.just("RANGE"), st.floats(0.0, 1e6, allow_nan=False)),
    st.tuples(st.just("DOPPLER_INSTANTANEOUS"), st.floats(-20.0, 20.0, allow_nan=False)),
    st.tuples(st.just("MAG"), st.floats(-30.0, 30.0, allow_nan=False)),
    st.tuples(st.just("RCS"), st.floats(0.0, 1e4, allow_nan=False)),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.tuples(epochs, measurements), min_size=1, max_size=20), min_size=1, max_size=4),
    st.sampled_from([AngleFrame.RADEC, AngleFrame.AZEL]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12),
)
def test_any_tdm_round_trips_exactly(
    segments: list[list[tuple[datetime, tuple[str, float]]]], frame: AngleFrame, sensor: str
) -> None:
    segs = [
        make_segment(
            [Observation(e, k, v) for e, (k, v) in seg], sensor=sensor, target="25544", angle_frame=frame
        )
        for seg in segments
    ]
    tdm = Tdm("2.0", {"CREATION_DATE": "2026-01-01T00:00:00", "ORIGINATOR": "TEST"}, ["a comment"], segs)
    xml = write_tdm_xml(tdm)
    assert valid_tdm2(xml), TDM2_SCHEMA.error_log.last_error
    for text in (write_tdm_kvn(tdm), xml):
        again = read_tdm(text)
        assert [(o.epoch, o.type, o.value) for o in again.observations()] == [
            (o.epoch, o.type, o.value) for o in tdm.observations()
        ]


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


def test_good_minimal_message_reads() -> None:
    assert len(read_tdm(GOOD).observations()) == 2


# (description, edit of GOOD, expected line, keyword, words in the reason)
BAD_TDM = [
    ("not a TDM", lambda t: t.replace("CCSDS_TDM_VERS", "CCSDS_OEM_VERS"), 1, "CCSDS_OEM_VERS", "must start"),
    ("unsupported version", lambda t: t.replace("= 2.0", "= 3.0", 1), 1, "CCSDS_TDM_VERS", "not supported"),
    ("wrong header keyword", lambda t: t.replace("ORIGINATOR", "ORIGIN"), 3, "ORIGIN", "header keyword"),
    ("missing ORIGINATOR", lambda t: t.replace("ORIGINATOR = TEST\n", ""), 3, "ORIGINATOR", "missing"),
    (
        "wrong metadata keyword",
        lambda t: t.replace("ANGLE_TYPE", "ANGEL_TYPE"),
        8,
        "ANGEL_TYPE",
        "metadata keyword",
    ),
    ("bad enum", lambda t: t.replace("RADEC", "RA_DEC"), 8, "ANGLE_TYPE", "not one of"),
    ("wrong data keyword", lambda t: t.replace("ANGLE_2 =", "ANGLE_3 ="), 12, "ANGLE_3", "data keyword"),
    ("missing DATA_STOP", lambda t: t.replace("DATA_STOP\n", ""), 13, "DATA_STOP", "missing"),
    (
        "missing DATA_STOP before next segment",
        lambda t: t.replace("DATA_STOP\n", "META_START\n"),
        13,
        "DATA_STOP",
        "missing DATA_STOP",
    ),
    ("missing META_STOP", lambda t: t.replace("META_STOP\n", ""), 9, "META_STOP", "missing"),
    (
        "bad epoch",
        lambda t: t.replace("2026-09-20T23:19:58.040 270", "2026-09-20 23:19:58 270"),
        11,
        "ANGLE_1",
        "epoch",
    ),
    (
        "impossible date",
        lambda t: t.replace("2026-09-20T23:19:58.040 270", "2026-02-30T23:19:58 270"),
        11,
        "ANGLE_1",
        "epoch",
    ),
    (
        "leap second",
        lambda t: t.replace("2026-09-20T23:19:58.040 270", "2026-09-20T23:59:60 270"),
        11,
        "ANGLE_1",
        "leap",
    ),
    ("value not a number", lambda t: t.replace("270.2618558", "27O.26"), 11, "ANGLE_1", "not a number"),
    ("NaN value", lambda t: t.replace("270.2618558", "nan"), 11, "ANGLE_1", "not finite"),
    ("RA out of range", lambda t: t.replace("270.2618558", "361.0"), 11, "ANGLE_1", "out of [-180, 360]"),
    ("Dec out of range", lambda t: t.replace("-7.0726011", "-95.0"), 12, "ANGLE_2", "out of [-90, 90]"),
    ("TAI time system", lambda t: t.replace("= UTC", "= TAI"), 5, "TIME_SYSTEM", "only UTC"),
    (
        "missing sensor",
        lambda t: t.replace("PARTICIPANT_1 = OGS-TENERIFE\n", ""),
        8,
        "PARTICIPANT_1",
        "missing",
    ),
    (
        "empty data block",
        lambda t: t.replace("ANGLE_1 = 2026-09-20T23:19:58.040 270.2618558\n", "").replace(
            "ANGLE_2 = 2026-09-20T23:19:58.040 -7.0726011\n", ""
        ),
        11,
        "DATA_STOP",
        "empty",
    ),
    ("data line without value", lambda t: t.replace(" -7.0726011", ""), 12, "ANGLE_2", "epoch value"),
    (
        "repeated metadata",
        lambda t: t.replace("ANGLE_TYPE = RADEC", "ANGLE_TYPE = RADEC\nANGLE_TYPE = AZEL"),
        9,
        "ANGLE_TYPE",
        "repeated",
    ),
]


@pytest.mark.parametrize(("case", "edit", "line", "keyword", "reason"), BAD_TDM, ids=[c[0] for c in BAD_TDM])
def test_bad_kvn_names_line_keyword_and_reason(case: str, edit, line: int, keyword: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MessageError) as info:
        read_tdm(edit(GOOD))
    err = info.value
    assert (err.line, err.keyword) == (line, keyword), str(err)
    assert reason in err.reason
    assert f"line {line}" in str(err) and keyword in str(err)


def test_mixed_time_systems_are_rejected_clearly() -> None:
    second = GOOD.split("META_START", 1)[1].replace("= UTC", "= TAI")
    with pytest.raises(MessageError) as info:
        read_tdm(GOOD + "META_START" + second)
    assert info.value.keyword == "TIME_SYSTEM" and "mixed time systems (UTC at line 5, TAI here)" in str(
        info.value
    )
    assert info.value.line == 15


def test_xml_errors_name_lines() -> None:
    xml = (
        write_tdm_xml(read_tdm(GOOD))
        .decode()
        .replace("<ANGLE_2>-7.0726011</ANGLE_2>", "<ANGLE_2>-97.0</ANGLE_2>")
    )
    with pytest.raises(MessageError) as info:
        read_tdm(xml)
    expected = next(n for n, text in enumerate(xml.splitlines(), start=1) if "<ANGLE_2>-97.0" in text)
    assert (info.value.keyword, info.value.line) == ("ANGLE_2", expected)
    with pytest.raises(MessageError, match="line 3: malformed XML"):
        read_tdm("<?xml version='1.0'?>\n<tdm id='CCSDS_TDM_VERS' version='2.0'>\n<header></tdm>")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE tdm [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<tdm id="CCSDS_TDM_VERS" version="2.0"><header><CREATION_DATE>&xxe;</CREATION_DATE></header></tdm>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<tdm>&lol2;</tdm>"""


@pytest.mark.parametrize(
    "doc", [XXE, LAUGHS, XXE.replace(b"SYSTEM", b"PUBLIC 'x'")], ids=["xxe", "laughs", "public"]
)
def test_xml_with_doctype_or_entities_is_refused(doc: bytes) -> None:
    with pytest.raises(UnsafeXMLError) as info:
        read_tdm(doc)
    assert info.value.line == 2


def test_size_limits() -> None:
    with pytest.raises(MessageTooLargeError, match="more than the limit of 100"):
        read_tdm(GOOD, max_bytes=100)
    with pytest.raises(MessageTooLargeError) as info:
        read_tdm(GOOD, max_observations=1)
    assert info.value.line == 12
    huge = GOOD.replace("DATA_STOP", "ANGLE_1 = " + " " * 5000 + "2026-09-20T23:19:58.040 1\nDATA_STOP")
    with pytest.raises(MessageTooLargeError, match="line 13"):
        read_tdm(huge)


def test_reader_is_fast_enough(ssa_data: Path) -> None:
    import time

    base = read_tdm((ssa_data / "tdm" / "radar_azel.kvn").read_bytes())
    seg = base.segments[0]
    many = [
        Observation(o.epoch + timedelta(hours=k), o.type, o.value)
        for k in range(80)
        for o in seg.observations
    ]
    text = write_tdm_kvn(
        Tdm(
            "2.0",
            base.header,
            [],
            [make_segment(many, sensor="TIRA", target="1", angle_frame=AngleFrame.AZEL)],
        )
    )
    t0 = time.process_time()  # CPU time: the test must not depend on how busy the machine is
    n = sum(len(s) for s in read_tdm(text).segments)
    rate = n / (time.process_time() - t0)
    assert n == 80 * len(seg.observations)
    assert rate > 100_000, f"{rate:.0f} observations/s"
