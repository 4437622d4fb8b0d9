"""WPS 1.0.0 through the pywps test client: every operation, every kind of input and output."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from pathlib import Path

from flask import Flask
from lxml import etree
from pywps.tests import WpsClient

from wps_server.jobs.model import Status
from wps_server.jobs.runner import Runner, RunnerTimings
from wps_server.service import WPSService
from wps_server.wps1.parse import OWS, WPS, XLINK

NS = {"wps": WPS, "ows": OWS, "xlink": XLINK}
EXPECTED_PROCESSES = ["hello", "echo", "sleep", "fail", "dask_sleep", "dask_program", "dask_sum"]


def xml(response: object) -> etree._Element:
    return etree.fromstring(response.get_data())  # type: ignore[attr-defined]


def execute(client: WpsClient, query: str) -> etree._Element:
    response = client.get(f"/wps?service=WPS&version=1.0.0&request=Execute&{query}")
    assert response.status_code == 200, response.get_data()
    return xml(response)


def test_capabilities_list_exactly_the_processes(client: WpsClient) -> None:
    response = client.get("/wps?service=WPS&request=GetCapabilities")
    assert response.status_code == 200
    root = xml(response)
    assert root.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS) == EXPECTED_PROCESSES
    get = root.xpath("//ows:Operation[@name='Execute']//ows:Get/@xlink:href", namespaces=NS)
    assert get == ["http://localhost/wps?"]
    assert b"AGPL" in response.get_data()


def test_capabilities_are_cached_and_not_logged(client: WpsClient, app: object) -> None:
    first = client.get("/wps?service=WPS&request=GetCapabilities").get_data()
    second = client.get("/wps?service=wps&request=getcapabilities&acceptversions=1.0.0").get_data()
    assert first is not None and first == second
    assert app.extensions["wps"].store.list() == []  # type: ignore[attr-defined]


def test_describe_all_and_each(client: WpsClient) -> None:
    root = xml(client.get("/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=all"))
    assert root.xpath("ProcessDescription/ows:Identifier/text()", namespaces=NS) == EXPECTED_PROCESSES
    for identifier in EXPECTED_PROCESSES:
        one = xml(
            client.get(f"/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier={identifier}")
        )
        assert one.xpath("ProcessDescription/ows:Identifier/text()", namespaces=NS) == [identifier]
    echo = xml(client.get("/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=echo"))
    assert echo.xpath("//Input[ows:Identifier='count']//ows:MaximumValue/text()", namespaces=NS) == ["1000"]
    assert echo.xpath("//Input[ows:Identifier='ratio']//ows:AnyValue", namespaces=NS)
    assert echo.xpath("//Input[ows:Identifier='tag']/@maxOccurs", namespaces=NS) == ["3"]


def test_describe_by_xml_post(client: WpsClient) -> None:
    body = (
        f'<wps:DescribeProcess xmlns:wps="{WPS}" xmlns:ows="{OWS}" service="WPS" version="1.0.0">'
        "<ows:Identifier>hello</ows:Identifier><ows:Identifier>echo</ows:Identifier></wps:DescribeProcess>"
    )
    root = xml(client.post("/wps", data=body, content_type="text/xml"))
    assert root.xpath("ProcessDescription/ows:Identifier/text()", namespaces=NS) == ["hello", "echo"]


def test_execute_literal_by_kvp(client: WpsClient) -> None:
    root = execute(client, "identifier=hello&DataInputs=name=World")
    assert root.xpath("//wps:ProcessSucceeded", namespaces=NS)
    assert root.xpath("//wps:LiteralData/text()", namespaces=NS) == ["Hello World"]


def test_execute_every_literal_type_and_default(client: WpsClient) -> None:
    root = execute(
        client,
        "identifier=echo&DataInputs=ratio=0.5;flag=true;when=2026-01-02T03:04:05Z;tag=a;tag=c"
        "&ResponseDocument=summary;doubled",
    )
    summary = json.loads(
        root.xpath("//wps:Output[ows:Identifier='summary']//wps:ComplexData/text()", namespaces=NS)[0]
    )
    assert summary == {
        "count": 1,
        "ratio": 0.5,
        "flag": True,
        "when": "2026-01-02T03:04:05+00:00",
        "document_bytes": 0,
        "tags": ["a", "c"],
    }
    assert root.xpath("//wps:Output[ows:Identifier='doubled']//wps:LiteralData/text()", namespaces=NS) == [
        "2"
    ]


def test_execute_xml_with_inline_xml_base64_and_bbox(client: WpsClient) -> None:
    payload = base64.b64encode(b"\x00\x01binary\xff").decode()
    body = f"""<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" xmlns:xlink="{XLINK}" service="WPS" version="1.0.0">
      <ows:Identifier>echo</ows:Identifier>
      <wps:DataInputs>
        <wps:Input><ows:Identifier>count</ows:Identifier><wps:Data><wps:LiteralData>21</wps:LiteralData></wps:Data></wps:Input>
        <wps:Input><ows:Identifier>document</ows:Identifier>
          <wps:Data><wps:ComplexData mimeType="image/tiff; application=geotiff" encoding="base64">{payload}</wps:ComplexData></wps:Data></wps:Input>
        <wps:Input><ows:Identifier>bbox</ows:Identifier>
          <wps:Data><wps:BoundingBoxData crs="urn:ogc:def:crs:EPSG::4326" dimensions="2">
            <ows:LowerCorner>55.1 -21.2</ows:LowerCorner><ows:UpperCorner>55.3 -21.0</ows:UpperCorner>
          </wps:BoundingBoxData></wps:Data></wps:Input>
      </wps:DataInputs>
      <wps:ResponseForm><wps:ResponseDocument lineage="true">
        <wps:Output><ows:Identifier>area</ows:Identifier></wps:Output>
        <wps:Output mimeType="image/tiff; application=geotiff"><ows:Identifier>copy</ows:Identifier></wps:Output>
        <wps:Output><ows:Identifier>doubled</ows:Identifier></wps:Output>
      </wps:ResponseDocument></wps:ResponseForm>
    </wps:Execute>"""
    response = client.post("/wps", data=body, content_type="text/xml")
    root = xml(response)
    assert root.xpath("//wps:ProcessOutputs//ows:LowerCorner/text()", namespaces=NS) == ["55.1 -21.2"]
    copy = root.xpath("//wps:Output[ows:Identifier='copy']//wps:ComplexData", namespaces=NS)[0]
    assert copy.get("encoding") == "base64"
    assert base64.b64decode(copy.text) == b"\x00\x01binary\xff"
    assert root.xpath("//wps:ProcessOutputs//wps:LiteralData/text()", namespaces=NS) == ["42"]
    assert root.xpath("//wps:DataInputs//wps:BoundingBoxData/@crs", namespaces=NS) == ["EPSG:4326"]


def test_execute_inline_xml_document(client: WpsClient) -> None:
    body = f"""<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" service="WPS" version="1.0.0">
      <ows:Identifier>echo</ows:Identifier><wps:DataInputs><wps:Input><ows:Identifier>document</ows:Identifier>
      <wps:Data><wps:ComplexData mimeType="text/xml"><doc><item>1</item></doc></wps:ComplexData></wps:Data>
      </wps:Input></wps:DataInputs>
      <wps:ResponseForm><wps:RawDataOutput mimeType="text/xml"><ows:Identifier>copy</ows:Identifier></wps:RawDataOutput></wps:ResponseForm>
    </wps:Execute>"""
    response = client.post("/wps", data=body, content_type="text/xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml"
    assert etree.fromstring(response.get_data()).tag == "doc"


def test_reference_inside_data_root_and_output_by_reference(client: WpsClient, app: object) -> None:
    root_dir = app.extensions["wps"].settings.inputs.data_roots[0]  # type: ignore[attr-defined]
    (root_dir / "sub").mkdir()
    (root_dir / "sub" / "doc.json").write_text('{"a": 1}')
    root = execute(
        client,
        "identifier=echo&DataInputs=document=@xlink:href=sub/doc.json@mimeType=application/json"
        "&ResponseDocument=copy@asReference=true@mimeType=application/json",
    )
    href = root.xpath("//wps:Reference/@href", namespaces=NS)[0]
    assert href.startswith("http://localhost/outputs/") and href.endswith("/copy.json")
    fetched = client.get(href.removeprefix("http://localhost"))
    assert fetched.status_code == 200 and fetched.get_data() == b'{"a": 1}'
    raw = client.get(
        f"/wps?service=WPS&version=1.0.0&request=Execute&identifier=echo&DataInputs=document="
        f"@xlink:href=file://{root_dir}/sub/doc.json@mimeType=application/json&RawDataOutput=summary"
    )
    assert json.loads(raw.get_data())["document_bytes"] == 8


def test_pywps_style_kvp_response_document_is_accepted(client: WpsClient) -> None:
    root = execute(
        client,
        "identifier=echo&DataInputs=document=x@mimeType=text/plain&ResponseDocument=copy=@asReference=true",
    )
    assert root.xpath("//wps:Reference/@href", namespaces=NS)


def test_raw_data_output(client: WpsClient) -> None:
    response = client.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=echo"
        "&DataInputs=count=4&RawDataOutput=summary"
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.get_data())["count"] == 4


def test_stored_response_is_accepted_with_a_status_location(client: WpsClient, app: object) -> None:
    response = client.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=hello&DataInputs=name=x"
        "&storeExecuteResponse=true&status=true"
    )
    root = xml(response)
    accepted = root.xpath("//wps:ProcessAccepted", namespaces=NS)
    assert accepted and accepted[0].get("percentCompleted") is None
    location = root.get("statusLocation")
    assert location and location.startswith("http://localhost/wps/status/")
    assert "&amp;amp;" not in response.get_data().decode()
    assert "schemas.opengis.net" in root.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation")
    again = xml(client.get(location.removeprefix("http://localhost")))
    assert again.xpath("//wps:ProcessAccepted", namespaces=NS)
    [job] = app.extensions["wps"].store.list()  # type: ignore[attr-defined]
    assert job.status.value == "accepted" and location.endswith(job.id)


def test_a_queue_of_short_jobs_does_not_wait_for_the_runner_s_poll(client: WpsClient, app: Flask) -> None:
    """A job that ends lets the runner claim the next at once: with a 60 s poll and one job at a time,
    four queued jobs still end within seconds."""
    service: WPSService = app.extensions["wps"]
    query = "identifier=hello&DataInputs=name=x&storeExecuteResponse=true&status=true"
    for _ in range(4):
        assert xml(client.get(f"/wps?service=WPS&version=1.0.0&request=Execute&{query}")).xpath(
            "//wps:ProcessAccepted", namespaces=NS
        )
    settings = dataclasses.replace(
        service.settings, jobs=dataclasses.replace(service.settings.jobs, max_concurrent=1)
    )
    runner = Runner(
        settings, list(service.processes.values()), service.store, service.scheduler, RunnerTimings(poll=60)
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30  # one poll would take 60 s: only the wake-up can get there
        while service.store.count(Status.SUCCESSFUL) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.store.count(Status.SUCCESSFUL) == 4
    finally:
        runner.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()  # stop wakes the loop too


def test_process_failure_is_reported_without_traceback(client: WpsClient) -> None:
    root = execute(client, "identifier=fail&DataInputs=how=crash")
    text = root.xpath("//wps:ProcessFailed//ows:ExceptionText/text()", namespaces=NS)[0]
    assert "internal error" in text and "/etc/shadow" not in text and "Traceback" not in text
    response = client.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=fail&DataInputs=how=input"
    )
    assert response.status_code == 400
    assert xml(response).xpath("//ows:Exception/@locator", namespaces=NS) == ["how"]


def test_jobs_are_recorded(client: WpsClient, app: object) -> None:
    execute(client, "identifier=hello&DataInputs=name=x")
    jobs = app.extensions["wps"].store.list()  # type: ignore[attr-defined]
    assert [(j.process_id, j.status.value, j.percent) for j in jobs] == [("hello", "successful", 100)]


def test_landing_page_links_the_source(client: WpsClient) -> None:
    page = client.get("/").get_data().decode()
    assert "AGPL-3.0" in page and "GetCapabilities" in page


def test_outputs_cannot_escape_their_folder(client: WpsClient, app: object) -> None:
    for path in (
        "/outputs/..%2F..%2Fetc/passwd",
        "/outputs/00000000-0000-0000-0000-000000000000/..%2Fjobs.sqlite",
        "/outputs/not-a-uuid/x",
        "/outputs/00000000-0000-0000-0000-000000000000/nothing.txt",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
    assert Path("/etc/passwd").exists()
