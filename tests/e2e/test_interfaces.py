"""End to end on a real `wps-server serve`: OWSLib's OGC API - Processes client, raw WPS 2.0.0 over HTTP
(every document XSD-checked), and one job seen through all three dialects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from lxml import etree
from owslib.ogcapi.processes import Processes

from tests.e2e.server import Server
from tests.e2e.test_owslib import CONFIG
from tests.xsd import assert_valid
from wps_server.wps2.parse import OWS, WPS, XLINK

NS2 = {"wps": WPS, "ows": OWS, "xlink": XLINK}
EXPECTED = ["hello", "echo", "sleep", "fail", "dask_sleep", "dask_program", "dask_sum"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve-interfaces")
    (folder / "data").mkdir()
    running = Server(folder, CONFIG.format(root=folder / "data")).start()
    yield running
    assert running.stop() == 0


def until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"nothing within {timeout} s")


def wps2(server: Server, body: bytes | None = None, **params: str) -> etree._Element:
    """A WPS 2.0.0 request (KVP when no body) whose answer is schema-checked."""
    if body is None:
        response = requests.get(
            f"{server.url}/wps", params={"service": "WPS", "version": "2.0.0", **params}, timeout=60
        )
    else:
        response = requests.post(
            f"{server.url}/wps", data=body, headers={"Content-Type": "text/xml"}, timeout=60
        )
    assert_valid(response.content)
    return etree.fromstring(response.content)


def execute2(identifier: str, inputs: dict[str, str], mode: str) -> bytes:
    given = "".join(f'<wps:Input id="{k}"><wps:Data>{v}</wps:Data></wps:Input>' for k, v in inputs.items())
    return (
        f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" service="WPS" version="2.0.0" mode="{mode}" '
        f'response="document"><ows:Identifier>{identifier}</ows:Identifier>{given}</wps:Execute>'
    ).encode()


def test_owslib_ogcapi_processes_client(server: Server) -> None:
    api = Processes(f"{server.url}/ogcapi")
    assert [p["id"] for p in api.processes()] == EXPECTED
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert api.api()["openapi"].startswith("3.0")
    echo = api.process("echo")
    assert echo["inputs"]["count"]["schema"]["maximum"] == 1000
    results = api.execute("hello", {"name": "OWSLib"})
    assert results == {"greeting": "Hello OWSLib"}
    on_cluster = api.execute("dask_sum", {"n": 10})
    assert on_cluster == {"total": 285}
    accepted = api.execute("dask_sleep", {"tasks": 4, "seconds": 0.2}, async_=True)
    assert accepted["status"] == "accepted"
    job_url = f"{server.url}/ogcapi/jobs/{accepted['jobID']}"
    done = until(lambda: (s := requests.get(job_url, timeout=30).json())["status"] == "successful" and s)
    assert done["progress"] == 100
    assert requests.get(f"{job_url}/results", timeout=30).json() == {"slept": 0.8}


def test_raw_wps2_capabilities_describe_execute_status_result_dismiss(server: Server) -> None:
    caps = wps2(server, request="GetCapabilities")
    assert caps.xpath("//wps:ProcessSummary/ows:Identifier/text()", namespaces=NS2) == EXPECTED
    offerings = wps2(server, request="DescribeProcess", identifier="ALL")
    assert len(offerings.xpath("//wps:ProcessOffering", namespaces=NS2)) == len(EXPECTED)
    result = wps2(server, execute2("dask_sum", {"n": "10"}, "sync"))
    assert result.xpath("//wps:Output[@id='total']//wps:LiteralValue/text()", namespaces=NS2) == ["285"]
    accepted = wps2(server, execute2("dask_sleep", {"tasks": "2", "seconds": "0.2"}, "async"))
    job_id = str(accepted.findtext(f"{{{WPS}}}JobID"))
    until(lambda: wps2(server, request="GetStatus", JobID=job_id).findtext(f"{{{WPS}}}Status") == "Succeeded")
    fetched = wps2(server, request="GetResult", JobID=job_id)
    assert fetched.xpath("//wps:LiteralValue/text()", namespaces=NS2) == ["0.4"]
    long = wps2(server, execute2("sleep", {"seconds": "30"}, "async")).findtext(f"{{{WPS}}}JobID")
    dismissed = wps2(server, request="Dismiss", JobID=str(long))
    assert dismissed.findtext(f"{{{WPS}}}Status") == "Dismissed"
    missing = wps2(server, request="GetStatus", JobID="00000000-0000-0000-0000-000000000000")
    assert missing.xpath("//ows:Exception/@exceptionCode", namespaces=NS2) == ["NoSuchJob"]


def test_wps1_job_followed_in_wps2_dismissed_in_ogcapi(server: Server) -> None:
    response = requests.get(
        f"{server.url}/wps?service=WPS&version=1.0.0&request=Execute&identifier=sleep"
        "&DataInputs=seconds=30;updates=60&storeExecuteResponse=true&status=true",
        timeout=30,
    )
    assert_valid(response.content)
    job_id = str(etree.fromstring(response.content).get("statusLocation")).rsplit("/", 1)[-1]
    until(lambda: wps2(server, request="GetStatus", JobID=job_id).findtext(f"{{{WPS}}}Status") == "Running")
    deleted = requests.delete(f"{server.url}/ogcapi/jobs/{job_id}", timeout=30)
    assert deleted.status_code == 200 and deleted.json()["status"] == "dismissed"
    assert wps2(server, request="GetStatus", JobID=job_id).findtext(f"{{{WPS}}}Status") == "Dismissed"
    status = requests.get(f"{server.url}/wps/status/{job_id}", timeout=30)
    assert_valid(status.content)
    assert b"dismissed" in status.content


def test_a_5000_character_job_id_is_no_such_job_in_every_dialect(server: Server) -> None:
    job_id = "a" * 5000  # longer than gunicorn's default request line: the service must still see it
    wps1 = requests.get(f"{server.url}/wps/status/{job_id}", timeout=30)
    query = {"service": "WPS", "version": "2.0.0", "request": "GetStatus", "JobID": job_id}
    wps2_status = requests.get(f"{server.url}/wps", params=query, timeout=30)
    for response, version in [(wps1, "1.0.0"), (wps2_status, "2.0.0")]:
        assert response.status_code == 404, response.text[:300]
        assert_valid(response.content)
        report = etree.fromstring(response.content)
        assert report.get("version") == version
        assert report.xpath("//*[local-name()='Exception']/@exceptionCode") == ["NoSuchJob"]
    job = requests.get(f"{server.url}/ogcapi/jobs/{job_id}", timeout=30)
    assert job.status_code == 404 and job.json()["type"].endswith("/no-such-job")
