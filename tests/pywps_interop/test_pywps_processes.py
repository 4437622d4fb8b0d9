"""The PyWPS suite run in stock PyWPS and on this server (a real ``wps-server serve``), through
OWSLib, with the same outputs; descriptions checked against the OGC schemas in every dialect; inputs
by reference checked by this server (PyWPS fetches nothing) and mistyped literals refused."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import requests
from lxml import etree
from owslib.wps import ASYNC, SYNC, BoundingBoxDataInput, ComplexDataInput

from tests.pywps_interop.served import LITERALS, REFERENCE_LIMIT, Files, both, run_both
from tests.pywps_interop.suite import PIXEL
from tests.xsd import assert_valid

pytestmark = pytest.mark.slow

XS_NAMES = {"float": "double"}  # PyWPS names its float XML Schema's float; this server says double


def _formats(put: Any) -> list[Any]:
    return [getattr(f, "mimeType", f) for f in put.supportedValues]


def _default(put: Any) -> Any:
    """A default value as text (PyWPS writes booleans as Python does), or a default format."""
    value = put.defaultValue
    if hasattr(value, "mimeType"):
        return (value.mimeType, value.encoding or None, value.schema or None)
    return None if value is None else str(value).lower()


def test_descriptions_agree_with_stock_pywps_and_validate(servers: dict[str, str]) -> None:
    stock, ours = (wps.describeprocess("all") for wps in both(servers).values())
    assert [p.identifier for p in ours] == [p.identifier for p in stock]
    for mine, theirs in zip(ours, stock, strict=True):
        assert (mine.title, mine.processVersion) == (theirs.title, theirs.processVersion)
        assert mine.storeSupported == theirs.storeSupported and mine.statusSupported == theirs.statusSupported
        assert [(m.title, m.url) for m in mine.metadata] == [(m.title, m.url) for m in theirs.metadata]
        for put, other in zip(mine.dataInputs, theirs.dataInputs, strict=True):
            assert (put.identifier, put.minOccurs, put.maxOccurs) == (
                other.identifier,
                other.minOccurs,
                other.maxOccurs,
            )
            assert [str(v) for v in put.allowedValues] == [str(v) for v in other.allowedValues]
            assert _formats(put) == _formats(other)
            assert put.dataType == XS_NAMES.get(other.dataType, other.dataType), put.identifier
            assert _default(put) == _default(other), put.identifier
            # stock PyWPS leaves the metadata of inputs out of its descriptions; this server has it
            assert [m.url for m in put.metadata][: len(other.metadata)] == [m.url for m in other.metadata]
        assert [o.identifier for o in mine.processOutputs] == [o.identifier for o in theirs.processOutputs]
    colour = next(i for i in ours[0].dataInputs if i.identifier == "colour")
    assert [m.url for m in colour.metadata] == ["https://example.org/colours"]
    base = servers["ours"]
    for version in ("1.0.0", "2.0.0"):
        for request in ("GetCapabilities", "DescribeProcess&identifier=all"):
            answer = requests.get(f"{base}?service=WPS&version={version}&request={request}", timeout=30)
            assert_valid(answer.content)
    ogcapi = base.rsplit("/", 1)[0] + "/ogcapi/processes"
    literal = requests.get(f"{ogcapi}/literal_types", timeout=30).json()
    assert literal["version"] == "2.1.0" and literal["keywords"] == ["literal", "test"]
    assert literal["metadata"] == [{"title": "PyWPS", "href": "https://pywps.org"}, {"title": "No link"}]
    assert literal["inputs"]["count"]["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        "multipleOf": 5,
    }
    assert literal["inputs"]["colour"]["schema"]["enum"] == ["red", "green", "blue"]
    assert literal["inputs"]["colour"]["metadata"][0]["role"] == "https://example.org/role"
    assert literal["inputs"]["day"]["schema"] == {"type": "string", "format": "date"}
    assert literal["inputs"]["rank"]["schema"] == {"type": "integer", "minimum": 1}
    assert literal["inputs"]["ratio"]["schema"]["oneOf"][1] == {
        "type": "number",
        "minimum": -1.5,
        "exclusiveMinimum": True,
        "maximum": 1.5,
    }
    boxes = requests.get(f"{ogcapi}/bounding_boxes", timeout=30).json()
    assert boxes["inputs"]["area"]["schema"]["properties"]["crs"]["enum"] == ["epsg:4326", "epsg:3857"]
    assert boxes["inputs"]["area"]["maxOccurs"] == 2


def test_every_literal_type_reaches_the_handler_as_in_stock_pywps(servers: dict[str, str]) -> None:
    results = run_both(servers, "literal_types", LITERALS)
    assert results["ours"][0] == results["stock"][0]
    echo = json.loads(results["ours"][0]["echo"][2][0])
    assert echo["heading"] == [["float", "10.0"]] and echo["day"] == [["date", "2026-09-20"]]
    assert echo["colour"] == [["str", "green"]] and echo["flag"] == [["bool", "False"]]  # defaults
    assert [t[1] for t in echo["tags"]] == ["first", "second"]


def test_complex_inputs_inline_base64_and_by_reference(servers: dict[str, str], files: Files) -> None:
    inputs = [
        ("document", ComplexDataInput("plain text, inline", mimeType="text/plain")),
        ("document", ComplexDataInput(f"{files.url}/table.json", mimeType="application/json")),
        ("document", ComplexDataInput("<root><a/><b/></root>", mimeType="text/xml")),
        ("document", ComplexDataInput((files.folder / "notes.txt").as_uri(), mimeType="text/plain")),
        ("blob", ComplexDataInput(base64.b64encode(PIXEL).decode(), mimeType="image/png", encoding="base64")),
        ("blob", ComplexDataInput(f"{files.url}/pixel.png", mimeType="image/png")),
    ]
    results = run_both(servers, "complex_inputs", inputs)
    facts, stock = (json.loads(results[name][0]["facts"][2][0]) for name in ("ours", "stock"))
    for key in facts:
        for mine, theirs in zip(facts[key], stock[key], strict=True):
            assert mine == theirs, (
                key,
                {k: (mine[k], theirs.get(k)) for k in mine if mine[k] != theirs.get(k)},
            )
    assert [d["prop"] for d in facts["document"]] == ["data", "url", "data", "file"]
    assert facts["document"][1]["url"] == f"{files.url}/table.json"
    assert facts["document"][2]["xml_children"] == 2
    assert [b["data_type"] for b in facts["blob"]] == ["bytes", "bytes"]
    assert all(d["stream_matches"] and d["file_matches"] for d in facts["document"] + facts["blob"])


def test_bounding_boxes(servers: dict[str, str]) -> None:
    inputs = [
        ("area", BoundingBoxDataInput([1.0, 2.0, 3.0, 4.0], crs="EPSG:4326")),
        ("area", BoundingBoxDataInput([0.5, 2.5, 2.0, 8.0], crs="EPSG:3857")),
    ]
    results = run_both(servers, "bounding_boxes", inputs)
    assert results["ours"][0] == results["stock"][0]
    # PyWPS reads corners with OWSLib, which takes EPSG:4326 as lat/lon: the handler sees (2, 1)-(4, 3)
    # for the first area, and OWSLib reads the EPSG:4326 extent back the same way
    assert results["ours"][0]["extent"][:4] == ("1.0", "0.5", "8.0", "4.0")


def test_outputs_of_every_kind_by_value_and_by_reference(servers: dict[str, str], files: Files) -> None:
    source = [("source", f"{files.url}/notes.txt")]
    by_value = run_both(
        servers,
        "outputs",
        source,
        output=[("table", False, "application/json"), ("picture", False), ("notes", False), ("doc", False)],
    )
    # stock PyWPS answers every output whatever the request named; WPS 1.0.0 wants those named
    assert set(by_value["ours"][0]) == {"table", "picture", "notes", "doc"}
    assert by_value["ours"][0] == {k: by_value["stock"][0][k] for k in by_value["ours"][0]}
    assert json.loads(by_value["ours"][0]["table"][2][0]) == {"alpha": 1, "beta": 2}
    by_reference = run_both(
        servers,
        "outputs",
        source,
        output=[("table", True, "text/csv"), ("picture", True), ("notes", True), ("remote", True)],
        mode=ASYNC,
    )
    assert set(by_reference["ours"][0]) == {"table", "picture", "notes", "remote"}
    assert by_reference["ours"][0] == {k: by_reference["stock"][0][k] for k in by_reference["ours"][0]}
    assert by_reference["ours"][0]["picture"][2] == PIXEL
    assert by_reference["ours"][0]["table"][2].startswith(b"name,value\n")
    assert by_reference["ours"][0]["remote"][2] == b"notes served over HTTP\n"


RAW_EXECUTE = """<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
 xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>outputs</ows:Identifier>
<wps:DataInputs><wps:Input><ows:Identifier>source</ows:Identifier>
<wps:Data><wps:LiteralData>{source}</wps:LiteralData></wps:Data></wps:Input></wps:DataInputs>
<wps:ResponseForm><wps:RawDataOutput mimeType="{mime}"><ows:Identifier>{output}</ows:Identifier>
</wps:RawDataOutput></wps:ResponseForm></wps:Execute>"""


@pytest.mark.parametrize(("output", "mime"), [("table", "text/csv"), ("picture", "image/png")])
def test_raw_outputs(servers: dict[str, str], files: Files, output: str, mime: str) -> None:
    answers = {}
    for name, url in servers.items():
        body = RAW_EXECUTE.format(source=f"{files.url}/notes.txt", output=output, mime=mime)
        answer = requests.post(url, data=body, timeout=60)
        assert answer.status_code == 200, answer.text
        answers[name] = (answer.headers["Content-Type"].split(";")[0], answer.content)
    assert answers["ours"] == answers["stock"]
    assert answers["ours"][0] == mime
    # stock PyWPS 4.8.1 ignores the mimeType of a RawDataOutput (it always writes the default
    # format); this server writes the one asked for, as the handler chose it from data_format
    body = RAW_EXECUTE.format(source=f"{files.url}/notes.txt", output="table", mime="application/json")
    answer = requests.post(servers["ours"], data=body, timeout=60)
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {"alpha": 1, "beta": 2}


def test_progress_of_a_long_running_job(servers: dict[str, str]) -> None:
    # OWSLib asks for an asynchronous job only with a ResponseDocument, hence the output named
    results = run_both(servers, "progress", [("steps", "5"), ("delay", "0.6")], [("done", False)], ASYNC)
    assert results["ours"][0] == results["stock"][0] == {"done": ("integer", None, ["5"])}
    percents = [p for p in results["ours"][1] if p]
    assert percents == sorted(percents) and len(set(percents)) >= 2


def test_a_process_error_shows_its_message_and_a_crash_names_the_process(servers: dict[str, str]) -> None:
    for name, wps in both(servers).items():
        failed = wps.execute("failing", [("how", "process-error")], mode=SYNC)
        assert not failed.isSucceded()
        assert "The reservoir level is below the intake: choose another date" in failed.errors[0].text, name
        crashed = wps.execute("failing", [("how", "crash")], mode=SYNC)
        assert not crashed.isSucceded() and "secret" not in crashed.errors[0].text, name
    # an error of pywps.exceptions is a crash too, in stock PyWPS as here: only ProcessError shows its text
    stock, ours = (
        wps.execute("failing", [("how", "pywps-exception")], mode=SYNC) for wps in both(servers).values()
    )
    assert [e.code for e in (*stock.errors, *ours.errors)] == ["NoApplicableCode"] * 2
    assert "archive" not in stock.errors[0].text + ours.errors[0].text
    assert "process failing" in ours.errors[0].text
    crashed = both(servers)["ours"].execute(
        "failing", [("how", "crash")], output=[("never", False)], mode=ASYNC
    )
    while not crashed.isComplete():
        time.sleep(0.3)
        crashed.checkStatus(sleepSecs=0)
    assert "process failing" in crashed.errors[0].text and "Traceback" not in crashed.errors[0].text


def test_bad_literal_is_refused_before_the_job_starts(servers: dict[str, str]) -> None:
    answer = requests.get(
        f"{servers['ours']}?service=WPS&version=1.0.0&request=Execute&identifier=literal_types"
        "&DataInputs=count=16;ratio=1;day=2026-09-20;clock=12:00:00;moment=2026-09-20T00:00:00"
        ";link=https://a.b;zoom=1;heading=1;size=1;rank=0",
        timeout=30,
    )
    assert answer.status_code == 400
    assert b'locator="count"' in answer.content and b"in steps of 5" in answer.content


class Recorder:
    """A loopback HTTP server that answers every GET with ``size`` bytes and records each request."""

    def __init__(self, size: int) -> None:
        hits: list[tuple[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append((self.command, self.path))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may stop reading at the length
                    self.wfile.write(b"x" * size)

            def log_message(self, *args: Any) -> None:
                pass

        self.hits = hits
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    served = Recorder(REFERENCE_LIMIT + 1)
    yield served
    served.httpd.shutdown()


EXECUTE_REFERENCE = """<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
 xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
<ows:Identifier>complex_inputs</ows:Identifier><wps:DataInputs><wps:Input>
<ows:Identifier>document</ows:Identifier><wps:Reference xlink:href="{href}" mimeType="text/plain"/>
</wps:Input></wps:DataInputs></wps:Execute>"""


@pytest.mark.parametrize(
    ("where", "code", "words", "requests_seen"),
    [
        ("outside", "InvalidParameterValue", "outside the folders this server may read", 0),
        ("host", "InvalidParameterValue", "host localhost is not among the hosts", 0),
        # this server's own download, stopped at the Content-Length; PyWPS fetching would be another
        ("large_url", "FileSizeExceeded", "over the limit ([inputs] max_reference_size)", 1),
        ("large_file", "FileSizeExceeded", "over the limit ([inputs] max_reference_size)", 0),
    ],
)
def test_a_reference_is_checked_by_this_server_and_never_fetched_by_pywps(
    servers: dict[str, str],
    files: Files,
    recorder: Recorder,
    tmp_path: Path,
    where: str,
    code: str,
    words: str,
    requests_seen: int,
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not in a data root\n")
    large = files.folder / "large.txt"
    large.write_bytes(b"x" * (REFERENCE_LIMIT + 1))
    href = {
        "outside": outside.as_uri(),
        "host": f"http://localhost:{recorder.port}/notes.txt",
        "large_url": f"http://127.0.0.1:{recorder.port}/large.txt",
        "large_file": large.as_uri(),
    }[where]
    answer = requests.post(servers["ours"], data=EXECUTE_REFERENCE.format(href=href), timeout=60)
    assert_valid(answer.content)
    root = etree.fromstring(answer.content)
    (exception,) = root.iter("{http://www.opengis.net/ows/1.1}Exception")
    text = "".join(exception.itertext())
    assert (exception.get("exceptionCode"), exception.get("locator")) == (code, "document"), text
    assert words in text, text
    assert b"ProcessSucceeded" not in answer.content
    assert len(recorder.hits) == requests_seen, recorder.hits


def _execute_literals(identifier: str, literals: list[tuple[str, str]]) -> str:
    given = "".join(
        f"<wps:Input><ows:Identifier>{name}</ows:Identifier><wps:Data><wps:LiteralData>{escape(text)}"
        "</wps:LiteralData></wps:Data></wps:Input>"
        for name, text in literals
    )
    return (
        '<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0" '
        f'xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>{identifier}</ows:Identifier>'
        f"<wps:DataInputs>{given}</wps:DataInputs></wps:Execute>"
    )


@pytest.mark.parametrize(
    ("identifier", "name", "text", "output", "coerced"),
    [
        ("literal_types", "flag", "yes", "flag_out", "True"),
        ("progress", "steps", "1.5", "done", "1"),
        ("literal_types", "rank", "0", "ranked", "0"),
    ],
)
def test_a_mistyped_literal_is_refused_where_stock_pywps_coerces_it(
    servers: dict[str, str], identifier: str, name: str, text: str, output: str, coerced: str
) -> None:
    others = [(k, v) for k, v in LITERALS if k != name] if identifier == "literal_types" else [("delay", "0")]
    body = _execute_literals(identifier, [*others, (name, text)])
    stock = etree.fromstring(requests.post(servers["stock"], data=body, timeout=60).content)
    found = stock.xpath(
        f"//wps:Output[ows:Identifier='{output}']//wps:LiteralData/text()",
        namespaces={"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"},
    )
    assert found == [coerced], etree.tostring(stock)
    ours = requests.post(servers["ours"], data=body, timeout=60)
    assert ours.status_code == 400, ours.text
    assert_valid(ours.content)
    assert f'locator="{name}"'.encode() in ours.content and text.encode() in ours.content
