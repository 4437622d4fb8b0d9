"""ssa_ingest through WPS: real TDM, OMM and TLE messages inline and by reference, idempotency, and a
bad-input table where each refusal names the input and line and nothing is half-ingested."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ssa_wps.conftest import SNAPSHOT, SSA_DATA, SSAApp
from tests.ssa_wps.observations import has_statistics, many_observations_tdm
from tests.ssa_wps.wps import Inline, Reference, execute

OPTICAL_KVN = (SSA_DATA / "tdm" / "optical_radec.kvn").read_text()
OPTICAL_XML = (SSA_DATA / "tdm" / "optical_radec.xml").read_text()
RADAR_KVN = (SSA_DATA / "tdm" / "radar_azel.kvn").read_text()
# The header and first segment of the real optical fixture: one track of 100404 from ESA's OGS.
FIRST = OPTICAL_KVN[: OPTICAL_KVN.index("DATA_STOP") + len("DATA_STOP\n")]


def ingest(ssa: SSAApp, *messages: str | Inline | Reference, source: str | None = None) -> dict:  # type: ignore[type-arg]
    inputs = [("messages", m if not isinstance(m, str) else Inline(m)) for m in messages]
    if source:
        inputs.append(("source", source))
    answer = execute(ssa.client, "ssa_ingest", inputs, {"result": None})  # type: ignore[arg-type]
    assert answer.status == 200 and answer.succeeded, answer.exception
    assert answer.mime("result") == "application/json"
    return json.loads(answer.text("result"))  # type: ignore[no-any-return]


@pytest.fixture
def loaded(make_ssa_app: Callable[..., SSAApp]) -> SSAApp:
    """The 256 real 2026 element sets ingested; messages above 48 kB refused."""
    app = make_ssa_app(ssa={"max_message_size": "48kb"})
    ingest(app, SNAPSHOT.read_text(), source="celestrak")
    return app


def test_every_message_kind_inline_and_by_reference(
    make_ssa_app: Callable[..., SSAApp], make_settings: Callable[..., object], tmp_path: Path
) -> None:
    ssa = make_ssa_app()
    shared = tmp_path / "data" / "radar_azel.kvn"  # data_roots of make_settings
    shared.parent.mkdir(exist_ok=True)
    shared.write_text(RADAR_KVN)
    report = ingest(
        ssa,
        Inline(SNAPSHOT.read_text(), "text/plain"),  # 3LE, Alpha-5
        Inline((SSA_DATA / "beyond" / "omm.kvn").read_text(), "text/plain"),
        Inline((SSA_DATA / "gpconf" / "v07-xml-ndm-reserialised.xml").read_text(), "text/xml"),
        Inline((SSA_DATA / "gpconf" / "corrupt" / "unedited-array.json").read_text(), "application/json"),
        Inline((SSA_DATA / "gpconf" / "corrupt" / "unedited-rows.csv").read_text(), "text/csv"),
        Inline(OPTICAL_KVN, "text/plain"),
        Inline(OPTICAL_XML.split("?>", 1)[1], "text/xml", xml=True),  # a TDM as XML inside the request
        Reference(shared.as_uri(), "text/plain"),
        source="tests",
    )
    kinds = [(m["kind"], m["format"]) for m in report["messages"]]
    assert kinds == [
        ("TLE", "TLE"),
        ("OMM", "KVN"),
        ("OMM", "XML"),
        ("OMM", "JSON"),
        ("OMM", "CSV"),
        ("TDM", "KVN"),
        ("TDM", "XML"),
        ("TDM", "KVN"),
    ]
    assert report["messages"][0]["n_orbits"] == 256 and report["messages"][0]["n_objects_created"] == 256
    optical = report["messages"][5]
    assert (optical["n_tracks"], optical["n_uncorrelated_tracks"], optical["n_observations"]) == (4, 1, 246)
    assert report["messages"][7]["name"] == "radar_azel.kvn"  # a reference keeps its file name
    assert report["messages"][5]["name"].startswith("inline message 6 of WPS job ")
    assert report["totals"]["messages"] == 8 and report["totals"]["duplicates"] == 0
    assert report["totals"]["n_observations"] == 2 * 246 + report["messages"][7]["n_observations"]
    # the same messages again change nothing
    before = ssa.counts()
    again = ingest(ssa, OPTICAL_KVN, Reference(shared.as_uri()))
    assert [m["duplicate"] for m in again["messages"]] == [True, True]
    assert "already ingested" in again["messages"][0]["warnings"][0]
    assert ssa.counts() == before


def test_a_large_ingest_refreshes_postgresql_planner_statistics(
    make_ssa_app: Callable[..., SSAApp], postgres_url: str
) -> None:
    ssa = make_ssa_app(database_url=postgres_url)
    ingest(ssa, SNAPSHOT.read_text(), OPTICAL_KVN)
    assert not has_statistics(ssa.engine, "ssa_observations")  # small: left to the periodic maintenance
    report = ingest(
        ssa,
        many_observations_tdm(6_000),
        RADAR_KVN,
        many_observations_tdm(6_000, start=datetime(2026, 9, 23, tzinfo=UTC)),
    )
    assert report["totals"]["n_rows"] >= 12_000
    # 12,000 rows in one request, more than a tenth of the table: analyzed before the answer
    assert has_statistics(ssa.engine, "ssa_observations") and not has_statistics(ssa.engine, "ssa_tracks")


def test_rejected_segments_are_reported_with_their_lines(loaded: SSAApp) -> None:
    unsupported = FIRST + FIRST.split("\n", 4)[4].replace("RADEC", "XSYE")
    line = unsupported.split("\n").index("META_START", 10) + 1
    report = ingest(loaded, unsupported)
    (message,) = report["messages"]
    assert message["n_tracks"] == 1
    assert message["rejected"] == [
        {"index": 1, "line": line, "reason": "ANGLE_TYPE XSYE not supported (RADEC or AZEL)"}
    ]


ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE tdm [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n'
    '<tdm id="CCSDS_TDM_VERS" version="2.0"><header><ORIGINATOR>&x;</ORIGINATOR></header></tdm>'
)
SECOND_TAI = OPTICAL_KVN.replace("TIME_SYSTEM     = UTC", "TIME_SYSTEM     = TAI").replace(
    "TIME_SYSTEM     = TAI", "TIME_SYSTEM     = UTC", 1
)
# (case, message, exceptionCode, words the message must hold)
BAD_MESSAGES = [
    (
        "wrong keyword",
        FIRST.replace("ANGLE_2 =", "ANGEL_2 =", 1),
        "InvalidParameterValue",
        ["line 20", "ANGEL_2"],
    ),
    ("missing DATA_STOP", FIRST.replace("DATA_STOP\n", ""), "InvalidParameterValue", ["DATA_STOP"]),
    (
        "bad epoch",
        FIRST.replace("23:19:58.040000 270", "23:19:5x.040000 270"),
        "InvalidParameterValue",
        ["line 19", "5x"],
    ),
    (
        "angle out of range",
        FIRST.replace("-7.0726011", "-91.5"),
        "InvalidParameterValue",
        ["line 20", "-91.5"],
    ),
    (
        "unknown sensor",
        FIRST.replace("OGS-TENERIFE", "NO-SUCH-SITE"),
        "InvalidParameterValue",
        ["'NO-SUCH-SITE'", "line 5"],
    ),
    (
        "10-digit object id",
        FIRST.replace("= 100404", "= 1000000000"),
        "InvalidParameterValue",
        ["10 digits", "PARTICIPANT_2"],
    ),
    ("mixed time systems", SECOND_TAI, "InvalidParameterValue", ["mixed time systems", "TAI"]),
    ("huge message", RADAR_KVN, "FileSizeExceeded", ["61642 bytes", "49152"]),
    ("XML with an external entity", ENTITY, "InvalidParameterValue", ["DOCTYPE", "line 2"]),  # by reference
    (
        "TLE with a bad checksum",
        (SSA_DATA / "gpconf" / "corrupt" / "c1-checksum-digit.tle").read_text(),
        "InvalidParameterValue",
        ["checksum"],
    ),
    (
        "OMM JSON cut short",
        (SSA_DATA / "gpconf" / "corrupt" / "c5-cut-closing-bracket.json").read_text(),
        "InvalidParameterValue",
        ["JSON"],
    ),
    ("not a message", "hello world\n", "InvalidParameterValue", ["unrecognised message"]),
]


@pytest.mark.parametrize(("case", "message", "code", "words"), BAD_MESSAGES, ids=[c[0] for c in BAD_MESSAGES])
def test_bad_messages_are_refused_and_nothing_is_stored(
    loaded: SSAApp, case: str, message: str, code: str, words: list[str]
) -> None:
    before = loaded.counts()
    value: Inline | Reference = Inline(message)
    name = "inline message 1 of WPS job "
    if "<!DOCTYPE" in message:  # inline, the request itself is refused (see below): send it as a file
        shared = Path(loaded.settings.inputs.data_roots[0]) / "entity.xml"
        shared.write_text(message)
        value, name = Reference(shared.as_uri(), "text/xml"), "entity.xml"
    answer = execute(loaded.client, "ssa_ingest", [("messages", value)], {"result": None})
    status = 413 if code == "FileSizeExceeded" else 400
    assert answer.status == status, answer.root
    exception_code, locator, text = answer.exception
    assert (exception_code, locator) == (code, "messages"), text
    assert text.startswith(f"message 1 of 1 ({name}")
    assert all(word in text for word in words), text
    assert "Traceback" not in text
    assert loaded.counts() == before


def test_a_refused_message_after_good_ones_leaves_those_stored_and_says_so(loaded: SSAApp) -> None:
    before = loaded.counts()
    bad = FIRST.replace("OGS-TENERIFE", "UNREGISTERED-7")
    answer = execute(
        loaded.client,
        "ssa_ingest",
        [("messages", Inline(FIRST)), ("messages", Inline(bad))],
        {"result": None},
    )
    code, locator, text = answer.exception
    assert (answer.status, code, locator) == (400, "InvalidParameterValue", "messages")
    assert "message 2 of 2" in text and "'UNREGISTERED-7'" in text
    assert "The 1 message(s) before it were stored and stay stored" in text
    after = loaded.counts()
    assert (
        after["ssa_messages"] == before["ssa_messages"] + 1
        and after["ssa_tracks"] == before["ssa_tracks"] + 1
    )
    report = ingest(loaded, FIRST)  # sent again: nothing changes
    assert report["messages"][0]["duplicate"] and loaded.counts() == after


def test_request_level_refusals(loaded: SSAApp, tmp_path: Path) -> None:
    before = loaded.counts()
    outside = tmp_path / "outside.kvn"
    outside.write_text(FIRST)
    refused = execute(loaded.client, "ssa_ingest", [("messages", Reference(outside.as_uri()))])
    assert refused.status == 400 and refused.exception[1] == "messages"  # not under [inputs] data_roots
    doctype = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0" '
        b'xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>ssa_ingest</ows:Identifier>'
        b"<wps:DataInputs><wps:Input><ows:Identifier>messages</ows:Identifier><wps:Data>"
        b"<wps:ComplexData>&e;</wps:ComplexData></wps:Data></wps:Input></wps:DataInputs></wps:Execute>"
    )
    answer = loaded.client.post("/wps", data=doctype, content_type="text/xml")
    assert answer.status_code == 400 and b"DOCTYPE" in answer.get_data() and b"root:" not in answer.get_data()
    inline = execute(loaded.client, "ssa_ingest", [("messages", Inline(ENTITY))])
    assert inline.status == 400 and "DOCTYPE" in inline.exception[2]
    missing = execute(loaded.client, "ssa_ingest", [("source", "x")])
    assert missing.exception[:2] == ("MissingParameterValue", "messages")
    assert loaded.counts() == before
