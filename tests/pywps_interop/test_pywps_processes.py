"""The PyWPS suite run in stock PyWPS and on this server (a real ``wps-server serve``), through
OWSLib, with the same outputs; descriptions checked against the OGC schemas in every dialect."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from owslib.wps import ASYNC, SYNC, BoundingBoxDataInput, ComplexDataInput, WebProcessingService

from tests.e2e.server import Server
from tests.pywps_interop.stock import StockPyWPS
from tests.pywps_interop.suite import PIXEL
from tests.xsd import assert_valid

pytestmark = pytest.mark.slow

CONFIG = """
[server]
processes = tests.pywps_interop.suite:processes
[inputs]
data_roots = {data}
allowed_hosts = 127.0.0.1
private_hosts = 127.0.0.1
[dask]
workers = 1
dashboard =
[logging]
format = text
"""
LITERALS = [
    ("count", "15"),
    ("ratio", "1.5"),
    ("day", "2026-09-20"),
    ("clock", "12:30:00"),
    ("moment", "2026-09-20T12:00:00"),
    ("link", "https://example.org/catalogue?id=7"),
    ("zoom", "0.25"),
    ("heading", "370"),
    ("size", "0"),
    ("rank", "3"),
    ("tags", "first"),
    ("tags", "second"),
]


class Files:
    """A folder served over HTTP on loopback: what inputs and outputs by URL point at."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    folder = tmp_path_factory.mktemp("files")
    (folder / "notes.txt").write_text("notes served over HTTP\n")
    (folder / "table.json").write_text('{"rows": [1, 2, 3]}')
    (folder / "pixel.png").write_bytes(PIXEL)
    served = Files(folder)
    yield served
    served.httpd.shutdown()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, files: Files) -> Iterator[dict[str, str]]:
    stock = StockPyWPS(
        tmp_path_factory.mktemp("stock"), "tests.pywps_interop.suite:processes", [files.folder]
    )
    stock.start()
    ours = Server(tmp_path_factory.mktemp("ours"), CONFIG.format(data=files.folder)).start()
    try:
        yield {"stock": f"{stock.url}/wps", "ours": f"{ours.url}/wps"}
    finally:
        stock.stop()
        assert ours.stop() == 0


def both(servers: dict[str, str]) -> dict[str, WebProcessingService]:
    return {name: WebProcessingService(url, skip_caps=True) for name, url in servers.items()}


def xml_text(text: str | bytes) -> str:
    """XML compared by content: parsed without blank text, exclusive canonical form."""
    root = etree.fromstring(text, etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, method="c14n", exclusive=True).decode()


def outputs(execution: Any) -> dict[str, Any]:
    """Each output as comparable data: literals and inline content as text, references downloaded."""
    found: dict[str, Any] = {}
    for output in execution.processOutputs:
        if output.reference:
            body = requests.get(output.reference, timeout=30)
            assert body.ok, output.reference
            found[output.identifier] = ("reference", output.mimeType, body.content)
        elif output.dataType == "BoundingBoxData":
            box = output.data[0]
            found[output.identifier] = (box.minx, box.miny, box.maxx, box.maxy, box.crs.getcodeurn())
        elif output.dataType == "ComplexData" and "xml" in (output.mimeType or ""):
            found[output.identifier] = ("xml", output.mimeType, xml_text(output.data[0]))
        else:
            found[output.identifier] = (output.dataType, output.mimeType, output.data)
    return found


XS_NAMES = {"float": "double"}  # PyWPS names its float XML Schema's float; this server says double


def _formats(put: Any) -> list[Any]:
    return [getattr(f, "mimeType", f) for f in put.supportedValues]


def _default(put: Any) -> Any:
    """A default value as text (PyWPS writes booleans as Python does), or a default format."""
    value = put.defaultValue
    if hasattr(value, "mimeType"):
        return (value.mimeType, value.encoding or None, value.schema or None)
    return None if value is None else str(value).lower()


def run_both(
    servers: dict[str, str], identifier: str, inputs: list[Any], output: Any = None, mode: str = SYNC
) -> dict[str, Any]:
    results = {}
    for name, wps in both(servers).items():
        execution = wps.execute(identifier, inputs, output=output, mode=mode)
        assert execution.status == ("ProcessAccepted" if mode == ASYNC else "ProcessSucceeded"), name
        seen = []
        while not execution.isComplete():
            time.sleep(0.3)
            execution.checkStatus(sleepSecs=0)
            seen.append(execution.percentCompleted)
        assert execution.isSucceded(), (name, [e.text for e in execution.errors])
        results[name] = (outputs(execution), seen)
    return results


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
