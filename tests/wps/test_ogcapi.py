"""OGC API - Processes under /ogcapi through Flask's test client: every resource, JSON and HTML, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.ogcapi_schema import assert_schemas_valid
from tests.wps.interfaces import EXPECTED_PROCESSES, poll, running_jobs

EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def run(client: FlaskClient, process: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/ogcapi/processes/{process}/execution", json=body, headers=headers)


def rels(document: dict[str, Any]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in document["links"]}


def test_landing_conformance_and_openapi(client: FlaskClient) -> None:
    landing = client.get("/ogcapi").get_json()
    links = rels(landing)
    assert links["service-desc"] == "http://localhost/ogcapi/api"
    assert links["http://www.opengis.net/def/rel/ogc/1.0/processes"] == "http://localhost/ogcapi/processes"
    assert links["http://www.opengis.net/def/rel/ogc/1.0/job-list"] == "http://localhost/ogcapi/jobs"
    assert "AGPL" in json.dumps(landing)
    conformance = client.get("/ogcapi/conformance").get_json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in conformance
    api = client.get("/ogcapi/api")
    assert api.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    validate(api.get_json())
    assert set(api.get_json()["paths"]) >= {"/processes/{processId}/execution", "/jobs/{jobId}/results"}


def test_processes_and_descriptions_come_from_the_definitions(client: FlaskClient) -> None:
    listing = client.get("/ogcapi/processes").get_json()
    assert [p["id"] for p in listing["processes"]] == EXPECTED_PROCESSES
    for identifier in EXPECTED_PROCESSES:
        described = client.get(f"/ogcapi/processes/{identifier}").get_json()
        assert described["id"] == identifier and described["outputs"]
        assert_schemas_valid(described)
    echo = client.get("/ogcapi/processes/echo").get_json()
    assert echo["jobControlOptions"] == ["sync-execute", "async-execute", "dismiss"]
    assert echo["inputs"]["count"]["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 1000,
        "default": 1,
    }
    assert echo["inputs"]["tag"]["maxOccurs"] == 3 and echo["inputs"]["tag"]["schema"]["enum"] == [
        "a",
        "b",
        "c",
    ]
    assert echo["inputs"]["when"]["schema"] == {"type": "string", "format": "date-time"}
    assert echo["inputs"]["bbox"]["schema"]["format"] == "ogc-bbox"
    media = [s["contentMediaType"] for s in echo["inputs"]["document"]["schema"]["oneOf"]]
    assert media[0] == "application/json" and "image/tiff; application=geotiff" in media
    assert echo["outputs"]["area"]["schema"]["properties"]["crs"]["enum"] == ["EPSG:4326", "EPSG:32740"]


def test_html_for_humans_on_the_same_urls(client: FlaskClient) -> None:
    for path in (
        "/ogcapi",
        "/ogcapi/processes",
        "/ogcapi/processes/echo",
        "/ogcapi/jobs",
        "/ogcapi/conformance",
    ):
        by_accept = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        by_f = client.get(path + "?f=html")
        for page in (by_accept, by_f):
            assert page.status_code == 200 and page.mimetype == "text/html"
            assert page.get_data().startswith(b"<!doctype html>")
        assert client.get(path, headers={"Accept": "*/*"}).mimetype == "application/json"
        assert client.get(path + "?f=json", headers={"Accept": "text/html"}).mimetype == "application/json"
    page = client.get("/ogcapi/processes?f=html").get_data().decode()
    assert 'href="http://localhost/ogcapi/processes/echo"' in page


def test_execute_sync_raw_document_and_multipart(client: FlaskClient) -> None:
    raw = run(client, "hello", {"inputs": {"name": "World"}})
    assert raw.status_code == 200 and raw.get_data() == b"Hello World" and raw.mimetype == "text/plain"
    assert 'rel="monitor"' in raw.headers["Link"]
    document = run(
        client,
        "echo",
        {
            "inputs": {
                "count": 21,
                "ratio": 0.5,
                "flag": True,
                "when": "2026-01-02T03:04:05Z",
                "tag": ["a", "c"],
                "bbox": {"bbox": [1, 2, 3, 4], "crs": "EPSG:32740"},
                "document": {"a": [1, 2]},
            },
            "outputs": {
                "summary": {},
                "area": {},
                "doubled": {},
                "copy": {"format": {"mediaType": "application/json"}},
            },
            "response": "document",
        },
    )
    assert document.status_code == 200, document.get_data()
    results = document.get_json()
    summary = results["summary"]["value"]
    assert summary["count"] == 21 and summary["flag"] is True and summary["tags"] == ["a", "c"]
    assert summary["when"] == "2026-01-02T03:04:05+00:00"
    assert results["doubled"] == 42
    assert results["area"] == {"bbox": [1.0, 2.0, 3.0, 4.0], "crs": "EPSG:32740"}
    assert results["copy"] == {"value": {"a": [1, 2]}, "mediaType": "application/json"}
    several = run(client, "echo", {"outputs": {"summary": {}, "doubled": {}}})
    assert several.mimetype == "multipart/related" and b"Content-ID: <doubled>" in several.get_data()


def test_complex_inputs_inline_base64_and_by_reference(client: FlaskClient, app: Flask) -> None:
    root_dir = app.extensions["wps"].settings.inputs.data_roots[0]
    (root_dir / "doc.json").write_text('{"b": 2}')
    binary = run(
        client,
        "echo",
        {
            "inputs": {
                "document": {
                    "value": "AAH/",
                    "mediaType": "image/tiff; application=geotiff",
                    "encoding": "base64",
                }
            },
            "outputs": {"copy": {"format": {"mediaType": "image/tiff; application=geotiff"}}},
            "response": "document",
        },
    ).get_json()
    assert binary["copy"] == {
        "value": "AAH/",
        "mediaType": "image/tiff; application=geotiff",
        "encoding": "base64",
    }
    referenced = run(
        client,
        "echo",
        {
            "inputs": {"document": {"href": "doc.json", "type": "application/json"}},
            "outputs": {
                "copy": {"transmissionMode": "reference", "format": {"mediaType": "application/json"}}
            },
            "response": "document",
        },
    ).get_json()
    href = referenced["copy"]["href"]
    assert referenced["copy"]["type"] == "application/json"
    assert client.get(href.removeprefix("http://localhost")).get_data() == b'{"b": 2}'
    text = run(client, "echo", {"inputs": {"document": "plain text"}, "outputs": {"copy": {}}})
    assert text.get_data() == b"plain text"


def test_async_job_status_results_and_list(client: FlaskClient, app: Flask) -> None:
    accepted = run(
        client, "sleep", {"inputs": {"seconds": 0.2}, "response": "document"}, Prefer="respond-async"
    )
    assert accepted.status_code == 201
    assert accepted.headers["Preference-Applied"] == "respond-async"
    info = accepted.get_json()
    assert info["status"] == "accepted" and info["type"] == "process" and info["processID"] == "sleep"
    location = accepted.headers["Location"].removeprefix("http://localhost")
    assert location == f"/ogcapi/jobs/{info['jobID']}"
    not_ready = client.get(location + "/results")
    assert not_ready.status_code == 404 and not_ready.get_json()["type"] == EXC + "result-not-ready"
    with running_jobs(app):
        done = poll(lambda: (s := client.get(location).get_json())["status"] == "successful" and s)
    assert done["progress"] == 100 and "finished" in done
    assert rels(done)["http://www.opengis.net/def/rel/ogc/1.0/results"].endswith(location + "/results")
    assert client.get(location + "/results").get_json() == {"slept": 0.2}
    listed = client.get("/ogcapi/jobs").get_json()["jobs"]
    assert [j["jobID"] for j in listed] == [info["jobID"]]


def test_jobs_paging_and_filters(client: FlaskClient) -> None:
    for name in "abcde":
        run(client, "hello", {"inputs": {"name": name}})
    run(client, "fail", {"inputs": {"how": "input"}})
    run(client, "sleep", {"inputs": {"seconds": 1}}, Prefer="respond-async")
    first = client.get("/ogcapi/jobs?limit=3").get_json()
    assert len(first["jobs"]) == 3
    seen = [j["jobID"] for j in first["jobs"]]
    next_url = rels(first)["next"]
    while next_url:
        page = client.get(next_url.removeprefix("http://localhost")).get_json()
        seen += [j["jobID"] for j in page["jobs"]]
        next_url = rels(page).get("next", "")
    assert len(seen) == len(set(seen)) == 7
    hello = client.get("/ogcapi/jobs?processID=hello&limit=100").get_json()["jobs"]
    assert len(hello) == 5 and {j["processID"] for j in hello} == {"hello"}
    assert len(client.get("/ogcapi/jobs?processID=hello,fail").get_json()["jobs"]) == 6
    failed = client.get("/ogcapi/jobs?status=failed").get_json()["jobs"]
    assert [j["processID"] for j in failed] == ["fail"]
    waiting = client.get("/ogcapi/jobs?status=accepted&status=running").get_json()["jobs"]
    assert [j["processID"] for j in waiting] == ["sleep"]
    assert len(client.get("/ogcapi/jobs?type=process&limit=50").get_json()["jobs"]) == 7
    assert client.get("/ogcapi/jobs?type=other").status_code == 400


def test_dismiss(client: FlaskClient) -> None:
    job_id = run(client, "sleep", {"inputs": {"seconds": 5}}, Prefer="respond-async").get_json()["jobID"]
    dismissed = client.delete(f"/ogcapi/jobs/{job_id}")
    assert dismissed.status_code == 200 and dismissed.get_json()["status"] == "dismissed"
    assert client.get(f"/ogcapi/jobs/{job_id}").get_json()["status"] == "dismissed"
    gone = client.get(f"/ogcapi/jobs/{job_id}/results")
    assert gone.status_code == 404 and gone.get_json()["type"] == EXC + "no-such-job"


def test_failed_jobs_give_their_reason(client: FlaskClient) -> None:
    refused = run(client, "fail", {"inputs": {"how": "input"}})
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    assert "refused by this process" in refused.get_json()["detail"]
    crashed = run(client, "fail", {"inputs": {"how": "crash"}})
    assert crashed.status_code == 500 and "/etc/shadow" not in crashed.get_data(as_text=True)
    [job] = client.get("/ogcapi/jobs?status=failed&processID=fail&limit=1").get_json()["jobs"]
    assert client.get(f"/ogcapi/jobs/{job['jobID']}/results").status_code == 500


BAD = [
    ("unknown process", "/ogcapi/processes/nope", None, 404, "no-such-process"),
    ("unknown process execution", "/ogcapi/processes/nope/execution", {}, 404, "no-such-process"),
    ("unknown job", "/ogcapi/jobs/nope", None, 404, "no-such-job"),
    ("unknown job uuid", "/ogcapi/jobs/00000000-0000-0000-0000-000000000000", None, 404, "no-such-job"),
    ("unknown results", "/ogcapi/jobs/nope/results", None, 404, "no-such-job"),
    ("unknown path", "/ogcapi/nothing", None, 404, "no-such-resource"),
    ("bad limit", "/ogcapi/jobs?limit=0", None, 400, "invalid-parameter-value"),
    ("limit not a number", "/ogcapi/jobs?limit=ten", None, 400, "invalid-parameter-value"),
    ("bad status filter", "/ogcapi/jobs?status=done", None, 400, "invalid-parameter-value"),
    ("bad f", "/ogcapi/processes?f=xml", None, 400, "invalid-parameter-value"),
    ("missing input", "/ogcapi/processes/hello/execution", {"inputs": {}}, 400, "missing-parameter-value"),
    (
        "unknown input",
        "/ogcapi/processes/hello/execution",
        {"inputs": {"name": "a", "x": 1}},
        400,
        "invalid-parameter-value",
    ),
    (
        "wrong type",
        "/ogcapi/processes/echo/execution",
        {"inputs": {"count": "many"}},
        400,
        "invalid-parameter-value",
    ),
    (
        "out of range",
        "/ogcapi/processes/echo/execution",
        {"inputs": {"count": 5000}},
        400,
        "invalid-parameter-value",
    ),
    (
        "not in enum",
        "/ogcapi/processes/echo/execution",
        {"inputs": {"tag": "z"}},
        400,
        "invalid-parameter-value",
    ),
    (
        "object literal",
        "/ogcapi/processes/hello/execution",
        {"inputs": {"name": {"a": 1}}},
        400,
        "invalid-parameter-value",
    ),
    (
        "array for one",
        "/ogcapi/processes/hello/execution",
        {"inputs": {"name": ["a", "b"]}},
        400,
        "invalid-parameter-value",
    ),
    (
        "bad bbox",
        "/ogcapi/processes/echo/execution",
        {"inputs": {"bbox": {"bbox": [1, 2, 3]}}},
        400,
        "invalid-parameter-value",
    ),
    (
        "bad crs",
        "/ogcapi/processes/echo/execution",
        {"inputs": {"bbox": {"bbox": [1, 2, 3, 4], "crs": "EPSG:2154"}}},
        400,
        "invalid-parameter-value",
    ),
    (
        "bad format",
        "/ogcapi/processes/echo/execution",
        {"inputs": {"document": {"value": "x", "mediaType": "image/png"}}},
        400,
        "invalid-parameter-value",
    ),
    (
        "forbidden reference",
        "/ogcapi/processes/echo/execution",
        {"inputs": {"document": {"href": "/etc/passwd"}}},
        400,
        "invalid-parameter-value",
    ),
    (
        "unknown output",
        "/ogcapi/processes/hello/execution",
        {"inputs": {"name": "a"}, "outputs": {"x": {}}},
        400,
        "invalid-parameter-value",
    ),
    (
        "literal by reference",
        "/ogcapi/processes/hello/execution",
        {"inputs": {"name": "a"}, "outputs": {"greeting": {"transmissionMode": "reference"}}},
        400,
        "invalid-parameter-value",
    ),
    (
        "bad response",
        "/ogcapi/processes/hello/execution",
        {"inputs": {"name": "a"}, "response": "all"},
        400,
        "invalid-parameter-value",
    ),
    (
        "inputs not an object",
        "/ogcapi/processes/hello/execution",
        {"inputs": ["a"]},
        400,
        "invalid-parameter-value",
    ),
    ("body not an object", "/ogcapi/processes/hello/execution", ["a"], 400, "invalid-parameter-value"),
]


@pytest.mark.parametrize(("name", "path", "body", "status", "kind"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_problems(
    client: FlaskClient, name: str, path: str, body: Any, status: int, kind: str
) -> None:
    response = client.get(path) if body is None else client.post(path, json=body)
    assert response.status_code == status, response.get_data()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == EXC + kind and problem["status"] == status and problem["detail"]


def test_malformed_bodies_and_methods(client: FlaskClient) -> None:
    broken = client.post("/ogcapi/processes/hello/execution", data=b"{nope", content_type="application/json")
    assert broken.status_code == 400 and broken.mimetype == "application/problem+json"
    xml_body = client.post("/ogcapi/processes/hello/execution", data=b"<x/>", content_type="text/xml")
    assert xml_body.status_code == 415
    wrong = client.put("/ogcapi/jobs")
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert wrong.mimetype == "application/problem+json"
    assert client.delete("/ogcapi/jobs/nope").status_code == 404


def test_a_jobs_usage_counts_the_storage_its_outputs_take(client: FlaskClient) -> None:
    done = run(
        client,
        "echo",
        {
            "inputs": {"document": {"a": [1, 2]}},
            "outputs": {"summary": {}, "copy": {}},
            "response": "document",
        },
    )
    assert done.status_code == 200, done.get_data()
    job_id = done.headers["Link"].split("/jobs/")[1].split(">")[0]
    files = [o.file for o in client.application.extensions["wps"].engine.job(job_id).outputs if o.file]
    stored = sum(len(client.get(f"/outputs/{job_id}/{name}").get_data()) for name in files)
    usage = client.get(f"/ogcapi/jobs/{job_id}").get_json()["usage"]
    assert len(files) == 2 and usage["storage"] == {"value": stored / 1e6, "unit": "mb"}
    assert "cpu" not in usage  # no cluster ran it: no compute was measured
