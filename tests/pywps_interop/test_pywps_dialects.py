"""PyWPS processes on this server (a real ``wps-server serve``) through WPS 2.0.0 and OGC API - Processes
give the outputs WPS 1.0.0 gives; a PyWPS job's WPS 1.0.0 documents validate against the XSDs."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
import requests
from lxml import etree

from tests.pywps_interop.served import LITERALS, Files, xml_text
from tests.pywps_interop.suite import PIXEL
from tests.xsd import assert_valid

pytestmark = pytest.mark.slow

WPS1 = "http://www.opengis.net/wps/1.0.0"
WPS2 = "http://www.opengis.net/wps/2.0"
OWS1 = "http://www.opengis.net/ows/1.1"
OWS2 = "http://www.opengis.net/ows/2.0"
XLINK = "http://www.w3.org/1999/xlink"


@dataclass(frozen=True)
class Inline:
    """A complex value in the request: text, an XML document (``xml``) or base64 (``encoding``)."""

    content: str
    mime: str
    encoding: str | None = None
    xml: bool = False


@dataclass(frozen=True)
class Ref:
    href: str
    mime: str


@dataclass(frozen=True)
class Box:
    corners: tuple[float, float, float, float]
    crs: str


def cases(files: Files) -> dict[str, list[tuple[str, Any]]]:
    """The inputs of each process, whatever the dialect: text for literals, or one of the above."""
    return {
        "literal_types": list(LITERALS),
        "complex_inputs": [
            ("document", Inline("plain text, inline", "text/plain")),
            ("document", Ref(f"{files.url}/table.json", "application/json")),
            ("document", Inline("<root><a/><b/></root>", "text/xml", xml=True)),
            ("document", Ref((files.folder / "notes.txt").as_uri(), "text/plain")),
            ("blob", Inline(base64.b64encode(PIXEL).decode(), "image/png", "base64")),
            ("blob", Ref(f"{files.url}/pixel.png", "image/png")),
        ],
        "bounding_boxes": [
            ("area", Box((1.0, 2.0, 3.0, 4.0), "EPSG:4326")),
            ("area", Box((0.5, 2.5, 2.0, 8.0), "EPSG:3857")),
        ],
    }


def _attributes(value: Inline | Ref) -> str:
    encoding = (
        f" encoding={quoteattr(value.encoding)}" if isinstance(value, Inline) and value.encoding else ""
    )
    return f" mimeType={quoteattr(value.mime)}{encoding}"


def _content(value: Inline) -> str:
    return value.content if value.xml else escape(value.content)


def _corners(box: Box) -> str:
    lower, upper = box.corners[:2], box.corners[2:]
    return "".join(
        f"<ows:{name}Corner>{' '.join(map(str, corner))}</ows:{name}Corner>"
        for name, corner in (("Lower", lower), ("Upper", upper))
    )


def wps1_input(name: str, value: Any) -> str:
    if isinstance(value, Ref):
        data = f"<wps:Reference xlink:href={quoteattr(value.href)}{_attributes(value)}/>"
    elif isinstance(value, Inline):
        data = (
            f"<wps:Data><wps:ComplexData{_attributes(value)}>{_content(value)}</wps:ComplexData></wps:Data>"
        )
    elif isinstance(value, Box):
        data = f'<wps:Data><wps:BoundingBoxData crs="{value.crs}">{_corners(value)}</wps:BoundingBoxData></wps:Data>'
    else:
        data = f"<wps:Data><wps:LiteralData>{escape(value)}</wps:LiteralData></wps:Data>"
    return f"<wps:Input><ows:Identifier>{name}</ows:Identifier>{data}</wps:Input>"


def wps1_execute(identifier: str, inputs: list[tuple[str, Any]], form: str = "") -> bytes:
    given = "".join(wps1_input(name, value) for name, value in inputs)
    return (
        f'<wps:Execute service="WPS" version="1.0.0" xmlns:wps="{WPS1}" xmlns:ows="{OWS1}" '
        f'xmlns:xlink="{XLINK}"><ows:Identifier>{identifier}</ows:Identifier>'
        f"<wps:DataInputs>{given}</wps:DataInputs>{form}</wps:Execute>"
    ).encode()


def wps2_input(name: str, value: Any) -> str:
    if isinstance(value, Ref):
        data = f"<wps:Reference xlink:href={quoteattr(value.href)}{_attributes(value)}/>"
    elif isinstance(value, Inline):
        data = f"<wps:Data{_attributes(value)}>{_content(value)}</wps:Data>"
    elif isinstance(value, Box):
        data = f'<wps:Data><ows:BoundingBox crs="{value.crs}">{_corners(value)}</ows:BoundingBox></wps:Data>'
    else:
        data = f"<wps:Data><wps:LiteralValue>{escape(value)}</wps:LiteralValue></wps:Data>"
    return f'<wps:Input id="{name}">{data}</wps:Input>'


def wps2_execute(identifier: str, inputs: list[tuple[str, Any]]) -> bytes:
    given = "".join(wps2_input(name, value) for name, value in inputs)
    return (
        f'<wps:Execute service="WPS" version="2.0.0" mode="sync" response="document" xmlns:wps="{WPS2}" '
        f'xmlns:ows="{OWS2}" xmlns:xlink="{XLINK}"><ows:Identifier>{identifier}</ows:Identifier>'
        f"{given}</wps:Execute>"
    ).encode()


def ogcapi_value(value: Any) -> Any:
    if isinstance(value, Ref):
        return {"href": value.href, "type": value.mime}
    if isinstance(value, Inline):
        given = {"value": value.content, "mediaType": value.mime}
        return {**given, "encoding": value.encoding} if value.encoding else given
    if isinstance(value, Box):
        return {"bbox": list(value.corners), "crs": value.crs}
    try:  # numbers as JSON numbers, the rest as strings
        number = json.loads(value)
    except json.JSONDecodeError:
        return value
    return number if isinstance(number, int | float) else value


def ogcapi_execute(inputs: list[tuple[str, Any]]) -> dict[str, Any]:
    given: dict[str, list[Any]] = {}
    for name, value in inputs:
        given.setdefault(name, []).append(ogcapi_value(value))
    return {
        "inputs": {name: values[0] if len(values) == 1 else values for name, values in given.items()},
        "response": "document",
    }


def _complex(mime: str, text: str, element: etree._Element | None) -> Any:
    if element is not None:
        return xml_text(etree.tostring(element))
    if mime.endswith("json"):
        return json.loads(text)
    return text


def _box(element: etree._Element, ows: str) -> tuple[list[float], str]:
    corners = [
        float(n) for name in ("Lower", "Upper") for n in element.findtext(f"{{{ows}}}{name}Corner").split()
    ]
    return corners, str(element.get("crs"))


def wps1_outputs(document: bytes) -> dict[str, Any]:
    """Each output of an ExecuteResponse: literal text, complex content, bounding box corners and CRS."""
    found: dict[str, Any] = {}
    for output in etree.fromstring(document).iter(f"{{{WPS1}}}Output"):
        name = str(output.findtext(f"{{{OWS1}}}Identifier"))
        data = output.find(f"{{{WPS1}}}Data")
        (value,) = data
        if value.tag == f"{{{WPS1}}}LiteralData":
            found[name] = value.text or ""
        elif value.tag == f"{{{WPS1}}}BoundingBoxData":
            found[name] = _box(value, OWS1)
        else:
            children = [c for c in value if isinstance(c.tag, str)]
            found[name] = _complex(
                str(value.get("mimeType")), value.text or "", children[0] if children else None
            )
    return found


def wps2_outputs(document: bytes) -> dict[str, Any]:
    """Each output of a WPS 2.0.0 Result, as :func:`wps1_outputs` has it."""
    found: dict[str, Any] = {}
    for output in etree.fromstring(document).iter(f"{{{WPS2}}}Output"):
        data = output.find(f"{{{WPS2}}}Data")
        children = [c for c in data if isinstance(c.tag, str)]
        if children and children[0].tag == f"{{{WPS2}}}LiteralValue":
            found[output.get("id")] = children[0].text or ""
        elif children and children[0].tag == f"{{{OWS2}}}BoundingBox":
            found[output.get("id")] = _box(children[0], OWS2)
        else:
            mime = str(data.get("mimeType"))
            found[output.get("id")] = _complex(mime, data.text or "", children[0] if children else None)
    return found


def ogcapi_outputs(results: dict[str, Any]) -> dict[str, Any]:
    """Each output of an OGC API results document, literals as WPS writes them (PyWPS's booleans)."""
    found: dict[str, Any] = {}
    for name, value in results.items():
        if isinstance(value, dict) and "bbox" in value:
            found[name] = (value["bbox"], value["crs"])
        elif isinstance(value, dict) and not isinstance(value["value"], str):
            found[name] = value["value"]  # JSON content, inline as JSON
        elif isinstance(value, dict):
            mime = value["mediaType"]
            found[name] = _complex(
                mime, value["value"], etree.fromstring(value["value"]) if "xml" in mime else None
            )
        elif isinstance(value, bool):
            found[name] = str(value)
        else:
            found[name] = str(value) if isinstance(value, int | float) else value
    return found


@pytest.mark.parametrize("identifier", ["literal_types", "complex_inputs", "bounding_boxes"])
def test_wps2_and_ogcapi_give_what_wps1_gives(servers: dict[str, str], files: Files, identifier: str) -> None:
    inputs = cases(files)[identifier]
    url = servers["ours"]
    wps1 = requests.post(url, data=wps1_execute(identifier, inputs), timeout=120)
    assert_valid(wps1.content)
    expected = wps1_outputs(wps1.content)
    assert expected and b"ProcessSucceeded" in wps1.content
    wps2 = requests.post(
        url, data=wps2_execute(identifier, inputs), headers={"Content-Type": "text/xml"}, timeout=120
    )
    assert_valid(wps2.content)
    assert wps2_outputs(wps2.content) == expected
    ogcapi = requests.post(
        f"{url.rsplit('/', 1)[0]}/ogcapi/processes/{identifier}/execution",
        json=ogcapi_execute(inputs),
        timeout=120,
    )
    assert ogcapi.status_code == 200, ogcapi.text
    given = ogcapi_outputs(ogcapi.json())
    when = (expected.pop("when", None), given.pop("when", None))
    if identifier == "literal_types":
        # WPS 1.0.0 writes a PyWPS dateTime as stock PyWPS does; OGC API's date-time is ISO 8601
        assert when == ("2026-09-20 12:00:00", "2026-09-20T12:00:00")
    assert given == expected


def test_wps1_documents_of_an_asynchronous_pywps_job_validate(servers: dict[str, str]) -> None:
    form = (
        '<wps:ResponseForm><wps:ResponseDocument storeExecuteResponse="true" status="true">'
        "<wps:Output><ows:Identifier>done</ows:Identifier></wps:Output>"
        "</wps:ResponseDocument></wps:ResponseForm>"
    )
    accepted = requests.post(
        servers["ours"], data=wps1_execute("progress", [("steps", "4"), ("delay", "0.5")], form), timeout=60
    )
    assert_valid(accepted.content)
    location = etree.fromstring(accepted.content).get("statusLocation")
    seen = []
    deadline = time.monotonic() + 120
    while not seen or seen[-1] not in {"ProcessSucceeded", "ProcessFailed"}:
        assert time.monotonic() < deadline, seen
        document = requests.get(location, timeout=30).content
        assert_valid(document)
        status = etree.fromstring(document).find(f"{{{WPS1}}}Status")
        seen.append(etree.QName(status[0]).localname)
        time.sleep(0.2)
    assert seen[-1] == "ProcessSucceeded" and "ProcessStarted" in seen
    assert wps1_outputs(document) == {"done": "4"}
