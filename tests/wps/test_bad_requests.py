"""Every malformed or hostile request gets an ExceptionReport with the right code, a 4xx, and no trace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from lxml import etree
from pywps.tests import client_for

from tests.xsd import assert_valid
from wps_server.wps1.parse import OWS, WPS, XLINK
from wps_server.wps2.parse import OWS as OWS2
from wps_server.wps2.parse import WPS as WPS2

E = "/wps?service=WPS&version=1.0.0&request=Execute"
XXE = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f'<wps:GetCapabilities xmlns:wps="{WPS}" service="WPS">&xxe;</wps:GetCapabilities>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]>'
    f'<wps:GetCapabilities xmlns:wps="{WPS}" service="WPS">&lol3;</wps:GetCapabilities>'
)


def _execute_xml(inputs: str, identifier: str = "echo") -> str:
    return (
        f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" xmlns:xlink="{XLINK}" service="WPS" version="1.0.0">'
        f"<ows:Identifier>{identifier}</ows:Identifier><wps:DataInputs>{inputs}</wps:DataInputs></wps:Execute>"
    )


def _ref(href: str) -> str:
    return (
        f'<wps:Input><ows:Identifier>document</ows:Identifier><wps:Reference xlink:href="{href}" '
        'mimeType="text/plain"/></wps:Input>'
    )


# (name, method, target or body, expected code, expected HTTP status, expected locator)
CASES = [
    ("no service", "GET", "/wps?request=GetCapabilities", "MissingParameterValue", 400, "service"),
    (
        "wrong service",
        "GET",
        "/wps?service=WFS&request=GetCapabilities",
        "InvalidParameterValue",
        400,
        "service",
    ),
    ("no request", "GET", "/wps?service=WPS", "MissingParameterValue", 400, "request"),
    ("unknown operation", "GET", "/wps?service=WPS&request=Delete", "OperationNotSupported", 400, "request"),
    (
        "no version",
        "GET",
        "/wps?service=WPS&request=DescribeProcess&identifier=hello",
        "MissingParameterValue",
        400,
        "version",
    ),
    (
        "unknown version",
        "GET",
        "/wps?service=WPS&version=3.0.0&request=DescribeProcess&identifier=hello",
        "InvalidParameterValue",
        400,
        "version",
    ),
    (
        "no acceptable version",
        "GET",
        "/wps?service=WPS&request=GetCapabilities&AcceptVersions=0.9.0,3.0.0",
        "VersionNegotiationFailed",
        400,
        "AcceptVersions",
    ),
    (
        "unknown language",
        "GET",
        "/wps?service=WPS&request=GetCapabilities&language=xx-XX",
        "InvalidParameterValue",
        400,
        "language",
    ),
    (
        "describe unknown process",
        "GET",
        "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=nope",
        "InvalidParameterValue",
        400,
        "identifier",
    ),
    (
        "describe without identifier",
        "GET",
        "/wps?service=WPS&version=1.0.0&request=DescribeProcess",
        "MissingParameterValue",
        400,
        "identifier",
    ),
    ("execute unknown process", "GET", f"{E}&identifier=nope", "InvalidParameterValue", 400, "identifier"),
    ("missing required input", "GET", f"{E}&identifier=hello", "MissingParameterValue", 400, "name"),
    (
        "unknown input",
        "GET",
        f"{E}&identifier=hello&DataInputs=name=a;colour=red",
        "InvalidParameterValue",
        400,
        "colour",
    ),
    (
        "input without value syntax",
        "GET",
        f"{E}&identifier=hello&DataInputs=name",
        "InvalidParameterValue",
        400,
        "DataInputs",
    ),
    (
        "mistyped integer",
        "GET",
        f"{E}&identifier=echo&DataInputs=count=three",
        "InvalidParameterValue",
        400,
        "count",
    ),
    (
        "integer out of range",
        "GET",
        f"{E}&identifier=echo&DataInputs=count=5000",
        "InvalidParameterValue",
        400,
        "count",
    ),
    (
        "float not finite",
        "GET",
        f"{E}&identifier=echo&DataInputs=ratio=nan",
        "InvalidParameterValue",
        400,
        "ratio",
    ),
    (
        "bad boolean",
        "GET",
        f"{E}&identifier=echo&DataInputs=flag=maybe",
        "InvalidParameterValue",
        400,
        "flag",
    ),
    (
        "bad dateTime",
        "GET",
        f"{E}&identifier=echo&DataInputs=when=yesterday",
        "InvalidParameterValue",
        400,
        "when",
    ),
    (
        "value not allowed",
        "GET",
        f"{E}&identifier=echo&DataInputs=tag=z",
        "InvalidParameterValue",
        400,
        "tag",
    ),
    (
        "too many values",
        "GET",
        f"{E}&identifier=echo&DataInputs=tag=a;tag=b;tag=c;tag=a",
        "InvalidParameterValue",
        400,
        "tag",
    ),
    (
        "inverted bounding box",
        "GET",
        f"{E}&identifier=echo&DataInputs=bbox=3,4,1,2",
        "InvalidParameterValue",
        400,
        "bbox",
    ),
    (
        "unsupported CRS",
        "GET",
        f"{E}&identifier=echo&DataInputs=bbox=1,2,3,4,EPSG:3857",
        "InvalidParameterValue",
        400,
        "bbox",
    ),
    (
        "unsupported input format",
        "GET",
        f"{E}&identifier=echo&DataInputs=document=x@mimeType=image/png",
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "unknown output",
        "GET",
        f"{E}&identifier=hello&DataInputs=name=a&ResponseDocument=nothing",
        "InvalidParameterValue",
        400,
        "nothing",
    ),
    (
        "literal output by reference",
        "GET",
        f"{E}&identifier=hello&DataInputs=name=a&ResponseDocument=greeting@asReference=true",
        "InvalidParameterValue",
        400,
        "greeting",
    ),
    (
        "document and raw output",
        "GET",
        f"{E}&identifier=hello&DataInputs=name=a&ResponseDocument=greeting&RawDataOutput=greeting",
        "InvalidParameterValue",
        400,
        "RawDataOutput",
    ),
    (
        "bad storeExecuteResponse",
        "GET",
        f"{E}&identifier=hello&DataInputs=name=a&storeExecuteResponse=perhaps",
        "InvalidParameterValue",
        400,
        "storeexecuteresponse",
    ),
    (
        "literal by reference",
        "GET",
        f"{E}&identifier=hello&DataInputs=name=@xlink:href=http://example.org/x",
        "InvalidParameterValue",
        400,
        "name",
    ),
    ("malformed XML", "POST", "<wps:Execute", "InvalidParameterValue", 400, None),
    ("empty body", "POST", "", "InvalidParameterValue", 400, None),
    ("XML external entity", "POST", XXE, "InvalidParameterValue", 400, None),
    ("entity expansion bomb", "POST", LAUGHS, "InvalidParameterValue", 400, None),
    (
        "XML of another service",
        "POST",
        '<GetFeature service="WFS"/>',
        "OperationNotSupported",
        400,
        "request",
    ),
    (
        "XML input without data",
        "POST",
        _execute_xml("<wps:Input><ows:Identifier>count</ows:Identifier></wps:Input>"),
        "MissingParameterValue",
        400,
        "count",
    ),
    (
        "literal data for a complex input",
        "POST",
        _execute_xml(
            "<wps:Input><ows:Identifier>document</ows:Identifier><wps:Data><wps:LiteralData>x</wps:LiteralData>"
            "</wps:Data></wps:Input>"
        ),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "complex data for a literal input",
        "POST",
        _execute_xml(
            "<wps:Input><ows:Identifier>count</ows:Identifier><wps:Data><wps:ComplexData>1</wps:ComplexData>"
            "</wps:Data></wps:Input>"
        ),
        "InvalidParameterValue",
        400,
        "count",
    ),
    (
        "reference to /etc/passwd",
        "POST",
        _execute_xml(_ref("/etc/passwd")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "file URL to /etc/passwd",
        "POST",
        _execute_xml(_ref("file:///etc/passwd")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "dot-dot path",
        "POST",
        _execute_xml(_ref("../../../../etc/passwd")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "symlink out of data root",
        "POST",
        _execute_xml(_ref("escape/passwd")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "sibling folder with common prefix",
        "POST",
        _execute_xml(_ref("{root}-other/secret.txt")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "file URL with a host",
        "POST",
        _execute_xml(_ref("file://evil.example/etc/passwd")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "cloud metadata address",
        "POST",
        _execute_xml(_ref("http://169.254.169.254/latest/meta-data/")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "loopback address",
        "POST",
        _execute_xml(_ref("http://127.0.0.1:5000/wps")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "localhost by name",
        "POST",
        _execute_xml(_ref("http://localhost/")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "private address",
        "POST",
        _execute_xml(_ref("http://10.1.2.3/data.tif")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    ("IPv6 loopback", "POST", _execute_xml(_ref("http://[::1]/")), "InvalidParameterValue", 400, "document"),
    (
        "unsupported scheme",
        "POST",
        _execute_xml(_ref("gopher://example.org/x")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "host not allowed",
        "POST",
        _execute_xml(_ref("http://not-allowed.example.net/x")),
        "InvalidParameterValue",
        400,
        "document",
    ),
    (
        "oversize inline input",
        "POST",
        _execute_xml(
            '<wps:Input><ows:Identifier>document</ows:Identifier><wps:Data><wps:ComplexData mimeType="text/plain">'
            + "x" * 5000
            + "</wps:ComplexData></wps:Data></wps:Input>"
        ),
        "FileSizeExceeded",
        413,
        "document",
    ),
    ("oversize body", "POST", "<a>" + "x" * 70000 + "</a>", "FileSizeExceeded", 413, "request"),
    ("unsupported HTTP method", "PUT", "/wps", "OperationNotSupported", 405, "request"),
]

# WPS 2.0.0 requests refused before (or outside) their parser: an OWS 2.0 report of version 2.0.0
Q2 = "/wps?service=WPS&version=2.0.0&request=GetCapabilities"
CASES2 = [
    ("2.0 malformed XML", "POST", f'<wps:Execute xmlns:wps="{WPS2}"', "InvalidParameterValue", 400),
    ("2.0 oversize body", "POST", f'<wps:Execute xmlns:wps="{WPS2}">{"x" * 70000}', "FileSizeExceeded", 413),
    ("2.0 oversize body by query", f"POST {Q2}", "<a>" + "x" * 70000 + "</a>", "FileSizeExceeded", 413),
    ("2.0 HTTP method by query", f"PUT {Q2}", "x", "OperationNotSupported", 405),
    (
        "2.0 HTTP method by body",
        "PUT /wps",
        f'<wps:GetCapabilities xmlns:wps="{WPS2}"/>',
        "OperationNotSupported",
        405,
    ),
]


@pytest.fixture
def hostile_app(make_app: object, tmp_path: Path) -> Flask:
    app = make_app(  # type: ignore[operator]
        server={"max_request_size": "64kb"},
        inputs={
            "allowed_hosts": "*.example.org, example.org, 169.254.169.254, 127.0.0.1, localhost, 10.1.2.3, ::1",
            "max_inline_size": "4kb",
        },
    )
    root = app.extensions["wps"].settings.inputs.data_roots[0]
    os.symlink("/etc", root / "escape")
    other = Path(f"{root}-other")
    other.mkdir()
    (other / "secret.txt").write_text("secret")
    return app


def test_at_least_25_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(
    ("name", "method", "target", "code", "status", "locator"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_request(
    hostile_app: Flask, name: str, method: str, target: str, code: str, status: int, locator: str | None
) -> None:
    client = client_for(hostile_app)
    service = hostile_app.extensions["wps"]
    root = service.settings.inputs.data_roots[0]
    if method == "GET":
        response = client.get(target)
    elif method == "PUT":
        response = client.put(target, data="x")
    else:
        response = client.post("/wps", data=target.replace("{root}", str(root)), content_type="text/xml")
    body = response.get_data()
    assert response.status_code == status, body
    assert_valid(body)
    report = etree.fromstring(body)
    exception = report.find(f"{{{OWS}}}Exception")
    assert exception is not None and exception.get("exceptionCode") == code, body
    if locator is not None:
        assert exception.get("locator") == locator, body
    text = exception.findtext(f"{{{OWS}}}ExceptionText") or ""
    assert text and "Traceback" not in text and "root:" not in text
    assert service.store.list() == [], "a refused request must leave no job behind"
    assert not service.settings.outputs_dir.exists() or not any(service.settings.outputs_dir.iterdir())


@pytest.mark.parametrize(("name", "method", "body", "code", "status"), CASES2, ids=[c[0] for c in CASES2])
def test_bad_wps2_request(
    hostile_app: Flask, name: str, method: str, body: str, code: str, status: int
) -> None:
    verb, _, target = method.partition(" ")
    response = client_for(hostile_app).open(target or "/wps", method=verb, data=body, content_type="text/xml")
    assert response.status_code == status, response.get_data()
    assert_valid(response.get_data())
    report = etree.fromstring(response.get_data())
    assert report.tag == f"{{{OWS2}}}ExceptionReport" and report.get("version") == "2.0.0"
    exception = report.find(f"{{{OWS2}}}Exception")
    assert exception is not None and exception.get("exceptionCode") == code
    if status == 405:
        assert response.headers["Allow"] == "GET, POST"
