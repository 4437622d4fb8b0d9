"""One job store behind three dialects: a job submitted through one is followed and dismissed (or its
results read) through the other two."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from tests.wps.interfaces import (
    NS2,
    CheckedClient,
    checked_client,
    execute2,
    job_request2,
    poll,
    running_jobs,
    xml,
)
from wps_server.wps1.parse import OWS as OWS1
from wps_server.wps1.parse import WPS as WPS1
from wps_server.wps2.parse import WPS

NS1 = {"wps": WPS1, "ows": OWS1}
WPS1_STATES = {
    "ProcessAccepted": "accepted",
    "ProcessStarted": "running",
    "ProcessSucceeded": "succeeded",
    "ProcessFailed": "failed",
}
WPS2_STATES = {"Accepted": "accepted", "Running": "running", "Succeeded": "succeeded", "Failed": "failed"}
OGC_STATES = {"accepted": "accepted", "running": "running", "successful": "succeeded", "failed": "failed"}


@pytest.fixture
def client(app: Flask) -> CheckedClient:
    return checked_client(app)


def submit(client: CheckedClient, interface: str, seconds: float) -> str:
    if interface == "wps1":
        response = client.get(
            f"/wps?service=WPS&version=1.0.0&request=Execute&identifier=sleep&DataInputs=seconds={seconds};"
            "updates=50&ResponseDocument=slept&storeExecuteResponse=true&status=true"
        )
        return str(xml(response.get_data()).get("statusLocation")).rsplit("/", 1)[-1]
    if interface == "wps2":
        inputs = f'<wps:Input id="seconds"><wps:Data>{seconds}</wps:Data></wps:Input>'
        body = execute2("sleep", inputs, '<wps:Output id="slept"/>', mode="async")
        return str(xml(client.post("/wps", data=body).get_data()).findtext(f"{{{WPS}}}JobID"))
    response = client.post(
        "/ogcapi/processes/sleep/execution",
        json={"inputs": {"seconds": seconds, "updates": 50}, "response": "document"},
        headers={"Prefer": "respond-async"},
    )
    assert response.status_code == 201
    return str(response.get_json()["jobID"])


def state(client: CheckedClient, interface: str, job_id: str) -> str:
    if interface == "wps1":
        root = xml(client.get(f"/wps/status/{job_id}").get_data())
        element = root.find(f"{{{WPS1}}}Status")[0]  # type: ignore[index]
        name = WPS1_STATES[element.tag.split("}")[1]]
        texts = root.xpath("//ows:ExceptionText/text()", namespaces=NS1)
        return "dismissed" if name == "failed" and "dismissed" in " ".join(texts) else name
    if interface == "wps2":
        root = xml(client.post("/wps", data=job_request2("GetStatus", job_id)).get_data())
        text = str(root.findtext(f"{{{WPS}}}Status"))
        return WPS2_STATES.get(text, text.lower())
    status = client.get(f"/ogcapi/jobs/{job_id}").get_json()["status"]
    return OGC_STATES.get(status, status)


def dismiss(client: CheckedClient, interface: str, job_id: str) -> None:
    if interface == "wps2":
        response = client.get(f"/wps?service=WPS&version=2.0.0&request=Dismiss&JobID={job_id}")
        assert xml(response.get_data()).findtext(f"{{{WPS}}}Status") == "Dismissed"
    else:
        response = client.delete(f"/ogcapi/jobs/{job_id}")
        assert response.get_json()["status"] == "dismissed"
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("submitted", "followed", "dismissed"),
    [
        ("wps1", "wps2", "ogcapi"),
        ("wps1", "ogcapi", "wps2"),
        ("wps2", "wps1", "ogcapi"),
        ("ogcapi", "wps1", "wps2"),
    ],
)
def test_submit_follow_dismiss_across_interfaces(
    client: CheckedClient, app: Flask, submitted: str, followed: str, dismissed: str
) -> None:
    job_id = submit(client, submitted, seconds=20)
    assert {state(client, i, job_id) for i in ("wps1", "wps2", "ogcapi")} == {"accepted"}
    with running_jobs(app) as runner:
        poll(lambda: state(client, followed, job_id) == "running")
        dismiss(client, dismissed, job_id)
        for interface in ("wps1", "wps2", "ogcapi"):
            assert state(client, interface, job_id) == "dismissed"
        poll(lambda: runner.active() == [])  # the handler saw the dismissal and stopped long before 20 s
    assert app.extensions["wps"].store.get(job_id).status.value == "dismissed"
    assert client.get(f"/ogcapi/jobs/{job_id}/results").status_code == 404


@pytest.mark.parametrize("submitted", ["wps1", "wps2", "ogcapi"])
def test_results_of_one_interface_read_through_the_others(
    client: CheckedClient, app: Flask, submitted: str
) -> None:
    job_id = submit(client, submitted, seconds=0.1)
    with running_jobs(app):
        poll(lambda: state(client, "ogcapi", job_id) == "succeeded")
    assert {state(client, i, job_id) for i in ("wps1", "wps2", "ogcapi")} == {"succeeded"}
    assert client.get(f"/ogcapi/jobs/{job_id}/results").get_json() == {"slept": 0.1}
    result = xml(client.get(f"/wps?service=WPS&version=2.0.0&request=GetResult&JobID={job_id}").get_data())
    assert result.xpath("//wps:LiteralValue/text()", namespaces=NS2) == ["0.1"]
    status = xml(client.get(f"/wps/status/{job_id}").get_data())
    assert status.xpath("//wps:ProcessOutputs//wps:LiteralData/text()", namespaces=NS1) == ["0.1"]
    listed = client.get("/ogcapi/jobs?processID=sleep").get_json()["jobs"]
    assert [j["jobID"] for j in listed] == [job_id] and json.dumps(listed)
