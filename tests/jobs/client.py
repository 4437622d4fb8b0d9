"""Small raw-HTTP helpers to submit asynchronous jobs and follow their status documents."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
from lxml import etree

from tests.e2e.server import Server
from tests.xsd import assert_valid
from wps_server.wps1.parse import OWS, WPS


@dataclass(frozen=True)
class Status:
    state: str
    percent: int | None
    message: str
    outputs: dict[str, str]


def submit(server: Server, process: str, inputs: str, output: str) -> str:
    """Start an asynchronous job; returns its id (the last part of its status location)."""
    response = requests.get(
        f"{server.url}/wps?service=WPS&version=1.0.0&request=Execute&identifier={process}"
        f"&DataInputs={inputs}&ResponseDocument={output}&storeExecuteResponse=true&status=true",
        timeout=30,
    )
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    assert root.find(f"{{{WPS}}}Status/{{{WPS}}}ProcessAccepted") is not None, response.text
    return str(root.get("statusLocation")).rsplit("/", 1)[-1]


def status(server: Server, job_id: str) -> Status:
    response = requests.get(f"{server.url}/wps/status/{job_id}", timeout=30)
    assert response.status_code == 200, response.text
    assert_valid(response.content)
    root = etree.fromstring(response.content)
    element = root.find(f"{{{WPS}}}Status")[0]  # type: ignore[index]
    percent = element.get("percentCompleted")
    texts = root.xpath("//ows:ExceptionText/text()", namespaces={"ows": OWS})
    outputs = {
        o.findtext(f"{{{OWS}}}Identifier"): "".join(o.find(f"{{{WPS}}}Data").itertext())  # type: ignore[union-attr]
        for o in root.iterfind(f"{{{WPS}}}ProcessOutputs/{{{WPS}}}Output")
    }
    return Status(
        etree.QName(element).localname,
        int(percent) if percent else None,
        texts[0] if texts else (element.text or ""),
        outputs,
    )


def wait(
    server: Server,
    job_id: str,
    timeout: float = 120,
    until: tuple[str, ...] = ("ProcessSucceeded", "ProcessFailed"),
) -> tuple[Status, list[Status]]:
    """Poll (riding out connection errors while the web workers restart) until a state in ``until``."""
    seen: list[Status] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            current = status(server, job_id)
        except requests.ConnectionError:
            time.sleep(0.2)
            continue
        seen.append(current)
        if current.state in until:
            return current, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {until} in {timeout} s; last: {seen[-1:]}")
