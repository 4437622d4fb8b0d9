"""WPS 2.0.0 on /wps beside 1.0.0: every operation by KVP and XML, every document XSD-checked."""

from __future__ import annotations

import base64
import json

import pytest
from flask import Flask

from tests.wps.interfaces import (
    EXPECTED_PROCESSES,
    NS2,
    CheckedClient,
    checked_client,
    execute2,
    job_request2,
    poll,
    running_jobs,
    status2,
    xml,
)
from wps_server.wps1.parse import OWS as OWS1
from wps_server.wps1.parse import WPS as WPS1
from wps_server.wps2.parse import OWS, WPS

K = "/wps?service=WPS&version=2.0.0"


@pytest.fixture
def client(app: Flask) -> CheckedClient:
    return checked_client(app)


def root_of(client: CheckedClient, path: str) -> tuple[str | None, str]:
    response = client.get(path)
    root = xml(response.get_data())
    return root.nsmap.get(root.prefix), root.tag.split("}")[1]


def test_capabilities_version_negotiation(client: CheckedClient) -> None:
    caps = "/wps?service=WPS&request=GetCapabilities"
    assert root_of(client, caps) == (WPS1, "Capabilities")  # 1.0.0 clients send no AcceptVersions
    assert root_of(client, caps + "&AcceptVersions=2.0.0") == (WPS, "Capabilities")
    assert root_of(client, caps + "&AcceptVersions=2.0.0,1.0.0") == (WPS, "Capabilities")
    assert root_of(client, caps + "&AcceptVersions=1.0.0,2.0.0") == (WPS1, "Capabilities")
    assert root_of(client, caps + "&AcceptVersions=3.0.0,2.0.0") == (WPS, "Capabilities")
    assert root_of(client, caps + "&version=2.0.0") == (WPS, "Capabilities")
    assert root_of(client, caps + "&version=1.0.0") == (WPS1, "Capabilities")
    refused = client.get(caps + "&AcceptVersions=0.9.0,3.0.0")
    assert refused.status_code == 400
    assert xml(refused.get_data()).xpath("//ows:Exception/@exceptionCode", namespaces={"ows": OWS1}) == [
        "VersionNegotiationFailed"
    ]


def test_capabilities_by_xml_in_either_namespace(client: CheckedClient) -> None:
    body2 = (
        f'<wps:GetCapabilities xmlns:wps="{WPS}" xmlns:ows="{OWS}" service="WPS">'
        "<ows:AcceptVersions><ows:Version>2.0.0</ows:Version></ows:AcceptVersions></wps:GetCapabilities>"
    )
    root = xml(client.post("/wps", data=body2, content_type="text/xml").get_data())
    assert root.tag == f"{{{WPS}}}Capabilities"
    assert root.xpath("//wps:ProcessSummary/ows:Identifier/text()", namespaces=NS2) == EXPECTED_PROCESSES
    assert root.xpath("//wps:ProcessSummary/@jobControlOptions", namespaces=NS2)[0] == (
        "sync-execute async-execute dismiss"
    )
    body1 = (
        f'<wps:GetCapabilities xmlns:wps="{WPS1}" xmlns:ows="{OWS1}" service="WPS">'
        "<wps:AcceptVersions><ows:Version>2.0.0</ows:Version><ows:Version>1.0.0</ows:Version>"
        "</wps:AcceptVersions></wps:GetCapabilities>"
    )
    assert xml(client.post("/wps", data=body1).get_data()).tag == f"{{{WPS}}}Capabilities"
    body1_first = body1.replace("<ows:Version>2.0.0</ows:Version>", "")
    assert xml(client.post("/wps", data=body1_first).get_data()).tag == f"{{{WPS1}}}Capabilities"
    plain1 = f'<wps:GetCapabilities xmlns:wps="{WPS1}" service="WPS"/>'
    assert xml(client.post("/wps", data=plain1).get_data()).tag == f"{{{WPS1}}}Capabilities"


def test_describe_all_each_and_by_xml(client: CheckedClient) -> None:
    root = xml(client.get(f"{K}&request=DescribeProcess&identifier=ALL").get_data())
    assert root.tag == f"{{{WPS}}}ProcessOfferings"
    assert root.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS2) == EXPECTED_PROCESSES
    for identifier in EXPECTED_PROCESSES:
        one = xml(client.get(f"{K}&request=DescribeProcess&identifier={identifier}").get_data())
        assert one.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS2) == [identifier]
    echo = xml(client.get(f"{K}&request=DescribeProcess&identifier=echo").get_data())
    count = echo.xpath("//wps:Input[ows:Identifier='count']", namespaces=NS2)[0]
    assert count.get("minOccurs") == "0"
    assert count.xpath(".//ows:MaximumValue/text()", namespaces=NS2) == ["1000"]
    assert count.xpath(".//ows:DefaultValue/text()", namespaces=NS2) == ["1"]
    assert echo.xpath("//wps:Input[ows:Identifier='bbox']//wps:SupportedCRS/text()", namespaces=NS2) == [
        "EPSG:4326",
        "EPSG:32740",
    ]
    body = (
        f'<wps:DescribeProcess xmlns:wps="{WPS}" xmlns:ows="{OWS}" service="WPS" version="2.0.0">'
        "<ows:Identifier>hello</ows:Identifier><ows:Identifier>sleep</ows:Identifier></wps:DescribeProcess>"
    )
    posted = xml(client.post("/wps", data=body).get_data())
    assert posted.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS2) == ["hello", "sleep"]


def test_a_1_0_0_request_never_gets_a_2_0_document(client: CheckedClient) -> None:
    assert root_of(client, "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=hello") == (
        WPS1,
        "ProcessDescriptions",
    )
    for path in (
        "/wps?service=WPS&version=1.0.0&request=GetStatus&JobID=x",
        "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=nope",
    ):
        response = client.get(path)
        assert response.status_code == 400
        assert xml(response.get_data()).tag == f"{{{OWS1}}}ExceptionReport"
    response = client.get(f"{K}&request=DescribeProcess&identifier=nope")
    assert response.status_code == 400
    assert xml(response.get_data()).tag == f"{{{OWS}}}ExceptionReport"


def test_execute_sync_document_with_every_kind_of_input(client: CheckedClient, app: Flask) -> None:
    root_dir = app.extensions["wps"].settings.inputs.data_roots[0]
    (root_dir / "note.txt").write_text("a note")
    payload = base64.b64encode(b"\x00\x01binary\xff").decode()
    inputs = (
        '<wps:Input id="count"><wps:Data><wps:LiteralValue>21</wps:LiteralValue></wps:Data></wps:Input>'
        '<wps:Input id="ratio"><wps:Data>0.5</wps:Data></wps:Input>'
        '<wps:Input id="tag"><wps:Data>a</wps:Data></wps:Input><wps:Input id="tag"><wps:Data>b</wps:Data></wps:Input>'
        '<wps:Input id="bbox"><wps:Data><ows:BoundingBox crs="urn:ogc:def:crs:EPSG::32740">'
        "<ows:LowerCorner>1 2</ows:LowerCorner><ows:UpperCorner>3 4</ows:UpperCorner>"
        "</ows:BoundingBox></wps:Data></wps:Input>"
        f'<wps:Input id="document"><wps:Data mimeType="image/tiff; application=geotiff" encoding="base64">{payload}'
        "</wps:Data></wps:Input>"
    )
    outputs = (
        '<wps:Output id="summary"/><wps:Output id="area"/><wps:Output id="doubled"/>'
        '<wps:Output id="copy" mimeType="image/tiff; application=geotiff" transmission="value"/>'
    )
    response = client.post("/wps", data=execute2("echo", inputs, outputs))
    assert response.status_code == 200, response.get_data()
    root = xml(response.get_data())
    assert root.tag == f"{{{WPS}}}Result"
    summary = json.loads(root.xpath("//wps:Output[@id='summary']/wps:Data/text()", namespaces=NS2)[0])
    assert summary["count"] == 21 and summary["ratio"] == 0.5 and summary["tags"] == ["a", "b"]
    assert root.xpath("//wps:Output[@id='doubled']//wps:LiteralValue/text()", namespaces=NS2) == ["42"]
    assert root.xpath("//wps:Output[@id='area']//ows:BoundingBox/@crs", namespaces=NS2) == ["EPSG:32740"]
    copy = root.xpath("//wps:Output[@id='copy']/wps:Data", namespaces=NS2)[0]
    assert copy.get("encoding") == "base64" and base64.b64decode(copy.text) == b"\x00\x01binary\xff"

    by_reference = client.post(
        "/wps",
        data=execute2(
            "echo",
            '<wps:Input id="document"><wps:Reference xlink:href="note.txt" mimeType="text/plain"/></wps:Input>'
            '<wps:Input id="count"><wps:Data>2</wps:Data></wps:Input>',
            '<wps:Output id="copy" transmission="reference"/>',
        ),
    )
    href = xml(by_reference.get_data()).xpath("//wps:Reference/@xlink:href", namespaces=NS2)[0]
    assert client.get(href.removeprefix("http://localhost")).get_data() == b"a note"


def test_execute_inline_xml_and_raw_responses(client: CheckedClient) -> None:
    inline = '<wps:Input id="document"><wps:Data mimeType="text/xml"><doc><item>1</item></doc></wps:Data></wps:Input>'
    raw = client.post(
        "/wps", data=execute2("echo", inline, '<wps:Output id="copy" mimeType="text/xml"/>', response="raw")
    )
    assert raw.status_code == 200 and raw.headers["Content-Type"] == "text/xml"
    assert xml(raw.get_data()).tag == "doc"
    hello = client.post(
        "/wps",
        data=execute2("hello", '<wps:Input id="name"><wps:Data>World</wps:Data></wps:Input>', response="raw"),
    )
    assert hello.get_data() == b"Hello World" and hello.mimetype == "text/plain"
    several = client.post(
        "/wps",
        data=execute2("echo", "", '<wps:Output id="summary"/><wps:Output id="doubled"/>', response="raw"),
    )
    assert several.mimetype == "multipart/related"
    assert b"Content-ID: <summary>" in several.get_data() and b"Content-ID: <doubled>" in several.get_data()


def test_async_job_get_status_get_result_by_kvp_and_xml(client: CheckedClient, app: Flask) -> None:
    body = execute2(
        "sleep",
        '<wps:Input id="seconds"><wps:Data>0.3</wps:Data></wps:Input>',
        '<wps:Output id="slept"/>',
        mode="async",
    )
    accepted = xml(client.post("/wps", data=body).get_data())
    assert accepted.tag == f"{{{WPS}}}StatusInfo"
    assert accepted.findtext(f"{{{WPS}}}Status") == "Accepted"
    job_id = str(accepted.findtext(f"{{{WPS}}}JobID"))
    early = client.get(f"{K}&request=GetResult&JobID={job_id}")
    assert early.status_code == 400
    assert xml(early.get_data()).xpath("//ows:Exception/@exceptionCode", namespaces=NS2) == ["ResultNotReady"]
    with running_jobs(app):
        poll(lambda: status2(client, job_id) == "Succeeded")
    by_xml = xml(client.post("/wps", data=job_request2("GetStatus", job_id)).get_data())
    assert by_xml.findtext(f"{{{WPS}}}PercentCompleted") == "100"
    assert by_xml.find(f"{{{WPS}}}ExpirationDate") is not None
    for result in (
        xml(client.get(f"{K}&request=GetResult&JobID={job_id}").get_data()),
        xml(client.post("/wps", data=job_request2("GetResult", job_id)).get_data()),
    ):
        assert result.findtext(f"{{{WPS}}}JobID") == job_id
        assert result.xpath("//wps:Output[@id='slept']//wps:LiteralValue/text()", namespaces=NS2) == ["0.3"]


def test_auto_mode_runs_async_when_the_process_can(client: CheckedClient) -> None:
    name = '<wps:Input id="name"><wps:Data>x</wps:Data></wps:Input>'
    auto = xml(client.post("/wps", data=execute2("hello", name, mode="auto")).get_data())
    assert auto.tag == f"{{{WPS}}}StatusInfo"
    auto_raw = client.post("/wps", data=execute2("hello", name, mode="auto", response="raw"))
    assert auto_raw.get_data() == b"Hello x"


def test_dismiss_by_kvp_and_xml(client: CheckedClient) -> None:
    name = '<wps:Input id="name"><wps:Data>x</wps:Data></wps:Input>'
    ids = [
        str(
            xml(client.post("/wps", data=execute2("hello", name, mode="async")).get_data()).findtext(
                f"{{{WPS}}}JobID"
            )
        )
        for _ in range(2)
    ]
    kvp = xml(client.get(f"{K}&request=Dismiss&JobID={ids[0]}").get_data())
    posted = xml(client.post("/wps", data=job_request2("Dismiss", ids[1])).get_data())
    for answer in (kvp, posted):
        assert answer.tag == f"{{{WPS}}}StatusInfo" and answer.findtext(f"{{{WPS}}}Status") == "Dismissed"
    assert status2(client, ids[0]) == "Dismissed"
    gone = client.get(f"{K}&request=GetResult&JobID={ids[0]}")
    assert gone.status_code == 404
    assert xml(gone.get_data()).xpath("//ows:Exception/@exceptionCode", namespaces=NS2) == ["NoSuchJob"]


def test_failed_job_result_is_its_exception(client: CheckedClient, app: Flask) -> None:
    sync = client.post(
        "/wps", data=execute2("fail", '<wps:Input id="how"><wps:Data>input</wps:Data></wps:Input>')
    )
    assert sync.status_code == 400
    assert xml(sync.get_data()).xpath("//ows:Exception/@locator", namespaces=NS2) == ["how"]
    body = execute2("fail", '<wps:Input id="how"><wps:Data>crash</wps:Data></wps:Input>', mode="async")
    job_id = str(xml(client.post("/wps", data=body).get_data()).findtext(f"{{{WPS}}}JobID"))
    with running_jobs(app):
        poll(lambda: status2(client, job_id) == "Failed")
    result = client.get(f"{K}&request=GetResult&JobID={job_id}")
    assert result.status_code == 500
    text = xml(result.get_data()).xpath("//ows:ExceptionText/text()", namespaces=NS2)[0]
    assert "internal error" in text and "/etc/shadow" not in text


BAD = [
    ("no service", "/wps?version=2.0.0&request=GetStatus&JobID=x", "MissingParameterValue", 400, "service"),
    ("kvp execute", f"{K}&request=Execute&identifier=hello", "OperationNotSupported", 400, "request"),
    ("unknown operation", f"{K}&request=Delete", "OperationNotSupported", 400, "request"),
    ("no job id", f"{K}&request=GetStatus", "MissingParameterValue", 400, "JobID"),
    ("unknown job", f"{K}&request=GetStatus&JobID=nope", "NoSuchJob", 404, "JobID"),
    (
        "unknown uuid",
        f"{K}&request=GetResult&JobID=00000000-0000-0000-0000-000000000000",
        "NoSuchJob",
        404,
        "JobID",
    ),
    ("dismiss unknown", f"{K}&request=Dismiss&JobID=nope", "NoSuchJob", 404, "JobID"),
    ("describe unknown", f"{K}&request=DescribeProcess&identifier=nope", "NoSuchProcess", 400, "nope"),
    ("describe nothing", f"{K}&request=DescribeProcess", "MissingParameterValue", 400, "identifier"),
    (
        "bad language",
        f"{K}&request=DescribeProcess&identifier=hello&language=xx",
        "InvalidParameterValue",
        400,
        "language",
    ),
]


@pytest.mark.parametrize(("name", "path", "code", "status", "locator"), BAD, ids=[b[0] for b in BAD])
def test_bad_kvp_requests(
    client: CheckedClient, name: str, path: str, code: str, status: int, locator: str
) -> None:
    response = client.get(path)
    assert response.status_code == status, response.get_data()
    root = xml(response.get_data())
    assert root.tag == f"{{{OWS}}}ExceptionReport"
    assert root.xpath("//ows:Exception/@exceptionCode", namespaces=NS2) == [code]
    assert root.xpath("//ows:Exception/@locator", namespaces=NS2) == [locator]


BAD_XML = [
    ("unknown process", execute2("nope"), "NoSuchProcess", "nope"),
    ("bad mode", execute2("hello").replace(b'mode="sync"', b'mode="later"'), "InvalidParameterValue", "mode"),
    (
        "bad response",
        execute2("hello").replace(b'response="document"', b'response="all"'),
        "InvalidParameterValue",
        "response",
    ),
    ("missing input", execute2("hello"), "MissingParameterValue", "name"),
    (
        "unknown input",
        execute2(
            "hello",
            '<wps:Input id="name"><wps:Data>a</wps:Data></wps:Input><wps:Input id="x"><wps:Data>1</wps:Data></wps:Input>',
        ),
        "InvalidParameterValue",
        "x",
    ),
    (
        "unknown output",
        execute2(
            "hello", '<wps:Input id="name"><wps:Data>a</wps:Data></wps:Input>', '<wps:Output id="nope"/>'
        ),
        "InvalidParameterValue",
        "nope",
    ),
    (
        "async raw",
        execute2(
            "hello", '<wps:Input id="name"><wps:Data>a</wps:Data></wps:Input>', mode="async", response="raw"
        ),
        "InvalidParameterValue",
        "response",
    ),
    (
        "bad bbox",
        execute2(
            "echo",
            '<wps:Input id="bbox"><wps:Data><ows:BoundingBox><ows:LowerCorner>a b</ows:LowerCorner>'
            "<ows:UpperCorner>1 2</ows:UpperCorner></ows:BoundingBox></wps:Data></wps:Input>",
        ),
        "InvalidParameterValue",
        "bbox",
    ),
    (
        "reference outside data roots",
        execute2("echo", '<wps:Input id="document"><wps:Reference xlink:href="/etc/passwd"/></wps:Input>'),
        "InvalidParameterValue",
        "document",
    ),
    (
        "no job id",
        job_request2("GetStatus", "").replace(b"<wps:JobID></wps:JobID>", b""),
        "MissingParameterValue",
        "JobID",
    ),
    (
        "wrong version",
        job_request2("GetStatus", "x").replace(b'version="2.0.0"', b'version="1.0.0"'),
        "InvalidParameterValue",
        "version",
    ),
]


@pytest.mark.parametrize(("name", "body", "code", "locator"), BAD_XML, ids=[b[0] for b in BAD_XML])
def test_bad_xml_requests(client: CheckedClient, name: str, body: bytes, code: str, locator: str) -> None:
    response = client.post("/wps", data=body, content_type="text/xml")
    assert 400 <= response.status_code < 500, response.get_data()
    root = xml(response.get_data())
    assert root.tag == f"{{{OWS}}}ExceptionReport"
    assert root.xpath("//ows:Exception/@exceptionCode", namespaces=NS2) == [code]
    assert root.xpath("//ows:Exception/@locator", namespaces=NS2) == [locator]
