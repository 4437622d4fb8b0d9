"""Helpers for the WPS 2.0.0 and OGC API tests: a checked Flask client, a job runner in a thread, and
WPS 2.0.0 request bodies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from tests.xsd import assert_valid
from wps_server.jobs.runner import Runner, RunnerTimings
from wps_server.service import WPSService
from wps_server.wps2.parse import OWS, WPS, XLINK

NS2 = {"wps": WPS, "ows": OWS, "xlink": XLINK}
EXPECTED_PROCESSES = ["hello", "echo", "sleep", "fail", "dask_sleep", "dask_program", "dask_sum"]


class CheckedClient(FlaskClient):
    """Flask's test client; every XML answer from the OGC namespaces is checked against the XSDs."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        data = response.get_data()
        if data.startswith(b"<?xml") and b"http://www.opengis.net/" in data[:600]:
            assert_valid(data)
        return response


def checked_client(app: Flask) -> CheckedClient:
    app.test_client_class = CheckedClient
    client = app.test_client()
    assert isinstance(client, CheckedClient)
    return client


@contextmanager
def running_jobs(app: Flask, with_clusters: bool = False) -> Iterator[Runner]:
    """The job runner of ``app``'s store, in a thread, for as long as the block runs (with the app's
    cluster profiles when ``with_clusters``)."""
    service: WPSService = app.extensions["wps"]
    runner = Runner(
        service.settings,
        list(service.processes.values()),
        service.store,
        service.scheduler,
        RunnerTimings(poll=0.02, sweep=60, heartbeat=1),
        service.engine.clusters if with_clusters else None,
    )
    thread = threading.Thread(target=runner.run, name="test-runner", daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop()
        thread.join(timeout=30)


def poll(check: Callable[[], Any], timeout: float = 20, every: float = 0.05) -> Any:
    """Call ``check`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"no result within {timeout} s")


def xml(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def execute2(
    identifier: str,
    inputs: str = "",
    outputs: str = "",
    mode: str = "sync",
    response: str = "document",
) -> bytes:
    """A WPS 2.0.0 Execute document; ``inputs`` and ``outputs`` are its wps:Input/wps:Output XML."""
    return (
        f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" xmlns:xlink="{XLINK}" service="WPS" '
        f'version="2.0.0" mode="{mode}" response="{response}">'
        f"<ows:Identifier>{identifier}</ows:Identifier>{inputs}{outputs}</wps:Execute>"
    ).encode()


def job_request2(operation: str, job_id: str) -> bytes:
    return (
        f'<wps:{operation} xmlns:wps="{WPS}" service="WPS" version="2.0.0">'
        f"<wps:JobID>{job_id}</wps:JobID></wps:{operation}>"
    ).encode()


def status2(client: FlaskClient, job_id: str) -> str:
    response = client.get(f"/wps?service=WPS&version=2.0.0&request=GetStatus&JobID={job_id}")
    assert response.status_code == 200, response.get_data()
    return str(xml(response.get_data()).findtext(f"{{{WPS}}}Status"))
