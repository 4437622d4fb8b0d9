"""Every job belongs to whoever submitted it: another user gets, in every dialect and on every route,
exactly what a job that does not exist gets; an admin sees and dismisses all; nobody signed in only
discovers."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask

from tests.auth.conftest import basic
from tests.wps import processes as wps_processes
from tests.wps.interfaces import (
    CheckedClient,
    checked_client,
    execute2,
    job_request2,
    poll,
    running_jobs,
    xml,
)
from tests.wps.test_stac_links import item_processes
from wps_server.config import Settings
from wps_server.process import Process
from wps_server.wps1.parse import WPS as WPS1
from wps_server.wps2.parse import WPS

MISSING = "0f4c2b9e-5d8a-4b8e-9a43-5d0b8c1e2f3a"


def _submit(
    web: CheckedClient,
    who: str,
    process: str,
    inputs: dict[str, object],
    outputs: dict[str, object],
    kept: str,
) -> tuple[str, str]:
    """An asynchronous job of ``who``, followed to its success; (job id, href path of output ``kept``)."""
    response = web.post(
        f"/ogcapi/processes/{process}/execution",
        json={"inputs": inputs, "outputs": outputs, "response": "document"},
        headers={"Prefer": "respond-async", **basic(who)},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    job_id = str(response.get_json()["jobID"])
    poll(lambda: web.get(f"/ogcapi/jobs/{job_id}", headers=basic(who)).get_json()["status"] == "successful")
    results = web.get(f"/ogcapi/jobs/{job_id}/results", headers=basic(who)).get_json()
    href = str(results[kept]["href"])
    return job_id, href[href.index("/outputs/") :]


def submit_item(web: CheckedClient, who: str) -> tuple[str, str]:
    """An asynchronous job of ``who`` that leaves a DSM and its STAC Item; (job id, DSM href path)."""
    by_reference = {"transmissionMode": "reference"}
    return _submit(web, who, "dsm_item", {}, {"dsm": by_reference, "stac": by_reference}, "dsm")


def submit_echo(web: CheckedClient, who: str) -> tuple[str, str]:
    """An asynchronous echo job of ``who`` that leaves an output file; (job id, output href path)."""
    inputs = {"count": 2, "document": {"value": "{}", "mediaType": "application/json"}}
    copy = {"transmissionMode": "reference", "format": {"mediaType": "application/json"}}
    return _submit(web, who, "echo", inputs, {"copy": copy}, "copy")


def routes(job_id: str, output: str) -> dict[str, tuple[str, str, bytes | None]]:
    name = output.rsplit("/", 1)[-1]
    return {
        "wps1 status": ("GET", f"/wps/status/{job_id}", None),
        "wps1 output": ("GET", f"/outputs/{job_id}/{name}", None),
        "wps2 GetStatus": ("GET", f"/wps?service=WPS&version=2.0.0&request=GetStatus&JobID={job_id}", None),
        "wps2 GetResult": ("POST", "/wps", job_request2("GetResult", job_id)),
        "ogcapi job": ("GET", f"/ogcapi/jobs/{job_id}", None),
        "ogcapi results": ("GET", f"/ogcapi/jobs/{job_id}/results", None),
        "ogcapi stac": ("GET", f"/ogcapi/jobs/{job_id}/stac", None),
        "ogcapi job page": ("GET", f"/ogcapi/jobs/{job_id}?f=html", None),
        "wps2 Dismiss": ("POST", "/wps", job_request2("Dismiss", job_id)),
        "ogcapi dismiss": ("DELETE", f"/ogcapi/jobs/{job_id}", None),
    }


def with_items(settings: Settings) -> list[Process]:
    return [*wps_processes.test_processes(settings), *item_processes()]


@pytest.fixture
def owned(make_auth_app: Callable[..., Flask]) -> tuple[CheckedClient, str, str]:
    """Alice's finished job with a DSM output and a STAC Item: every route has something to show."""
    app = make_auth_app(processes=with_items)
    web = checked_client(app)
    with running_jobs(app):
        job_id, output = submit_item(web, "alice")
    return web, job_id, output


def test_another_users_job_is_as_absent_as_a_missing_one(owned: tuple[CheckedClient, str, str]) -> None:
    web, job_id, output = owned
    for route, (method, path, body) in routes(job_id, output).items():
        theirs = web.open(path, method=method, data=body, headers=basic("bob"))
        absent_path = path.replace(job_id, MISSING)
        absent_body = body.replace(job_id.encode(), MISSING.encode()) if body else None
        absent = web.open(absent_path, method=method, data=absent_body, headers=basic("bob"))
        assert theirs.status_code == absent.status_code == 404, route
        assert theirs.get_data(as_text=True).replace(job_id, MISSING) == absent.get_data(as_text=True), route
        assert theirs.headers.get("Content-Type") == absent.headers.get("Content-Type"), route
    # nothing bob tried touched alice's job: she still reads it all
    for route, (method, path, _body) in routes(job_id, output).items():
        if method == "GET":
            assert web.get(path, headers=basic("alice")).status_code == 200, route


def test_an_admin_reads_and_dismisses_another_users_job(owned: tuple[CheckedClient, str, str]) -> None:
    web, job_id, output = owned
    for route, (method, path, body) in routes(job_id, output).items():
        if "ismiss" not in route:
            theirs = web.open(path, method=method, data=body, headers=basic("alice"))
            admins = web.open(path, method=method, data=body, headers=basic("root"))
            assert theirs.status_code == admins.status_code == 200, route
            assert admins.get_data() == theirs.get_data(), route
            assert job_id.encode() in admins.get_data() or route == "wps1 output", route
    dismissed = web.delete(f"/ogcapi/jobs/{job_id}", headers=basic("root"))
    assert dismissed.status_code == 200 and dismissed.get_json()["status"] == "dismissed"
    assert web.get(f"/ogcapi/jobs/{job_id}", headers=basic("alice")).get_json()["status"] == "dismissed"


def test_nobody_signed_in_gets_401_on_every_job_route(owned: tuple[CheckedClient, str, str]) -> None:
    web, job_id, output = owned
    for route, (method, path, body) in routes(job_id, output).items():
        response = web.open(path, method=method, data=body)
        assert response.status_code == 401, route
        assert job_id.encode() not in response.get_data() or route.startswith("ogcapi"), route


def test_lists_show_ones_own_jobs_and_admin_sees_all(owned: tuple[CheckedClient, str, str]) -> None:
    web, job_id, _output = owned
    listed = {
        who: [j["jobID"] for j in web.get("/ogcapi/jobs", headers=basic(who)).get_json()["jobs"]]
        for who in ("alice", "bob", "root")
    }
    assert listed == {"alice": [job_id], "bob": [], "root": [job_id]}


def test_the_owner_and_an_admin_may_dismiss(auth_app: Flask) -> None:
    web = checked_client(auth_app)
    with running_jobs(auth_app):
        mine, _ = submit_echo(web, "alice")
        theirs, _ = submit_echo(web, "alice")
    assert web.delete(f"/ogcapi/jobs/{mine}", headers=basic("alice")).get_json()["status"] == "dismissed"
    dismissed = web.post("/wps", data=job_request2("Dismiss", theirs), headers=basic("root"))
    assert dismissed.status_code == 200
    assert xml(dismissed.get_data()).findtext(f"{{{WPS}}}Status") == "Dismissed"


def test_wps_jobs_belong_to_their_submitter_too(auth_app: Flask) -> None:
    web = checked_client(auth_app)
    wps1 = web.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=hello&DataInputs=name=a"
        "&storeExecuteResponse=true&status=true",
        headers=basic("alice"),
    )
    job1 = str(xml(wps1.get_data()).get("statusLocation")).rsplit("/", 1)[-1]
    body = execute2("hello", '<wps:Input id="name"><wps:Data>b</wps:Data></wps:Input>', mode="async")
    job2 = str(
        xml(web.post("/wps", data=body, headers=basic("alice")).get_data()).findtext(f"{{{WPS}}}JobID")
    )
    for job_id in (job1, job2):
        assert web.get(f"/wps/status/{job_id}", headers=basic("alice")).status_code == 200
        assert web.get(f"/wps/status/{job_id}", headers=basic("bob")).status_code == 404
        assert web.get(f"/ogcapi/jobs/{job_id}", headers=basic("root")).status_code == 200
    assert xml(wps1.get_data()).tag == f"{{{WPS1}}}ExecuteResponse"
    assert json.loads(web.get("/ogcapi/me", headers=basic("alice")).get_data())["user_id"] == "alice"
