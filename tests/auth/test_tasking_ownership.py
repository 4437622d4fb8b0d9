"""SSA tasking requests belong to whoever submitted them: another user's status and update requests
get what a request that does not exist gets, and lists show one's own; an admin acts on all."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests.auth.conftest import basic, write_users
from tests.ssa_wps.conftest import SNAPSHOT, SSAApp
from tests.ssa_wps.wps import Inline, execute_xml
from tests.wps.interfaces import poll, running_jobs, xml

OBJECT = 100689


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def catalogue(make_ssa_app: Callable[..., SSAApp], tmp_path: Any) -> SSAApp:
    write_users(tmp_path / "var" / "users.json")
    app = make_ssa_app(auth={"methods": "basic"})
    body = execute_xml("ssa_ingest", [("messages", Inline(SNAPSHOT.read_text()))])
    ingested = app.client.post("/wps", data=body, content_type="text/xml", headers=basic("root"))
    assert ingested.status_code == 200 and b"ProcessSucceeded" in ingested.get_data()
    return app


def call(app: SSAApp, who: str, identifier: str, inputs: str, address: str = "192.0.2.7") -> Any:
    return app.client.get(
        f"/wps?service=WPS&version=1.0.0&request=Execute&identifier={identifier}"
        f"&DataInputs={inputs}&RawDataOutput=result",
        headers=basic(who),
        environ_base={"REMOTE_ADDR": address},
    )


def test_another_users_tasking_request_is_absent(catalogue: SSAApp) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    submitted = call(
        catalogue,
        "alice",
        "ssa_submit_tasking",
        f"object_id={OBJECT};start={iso(start)};end={iso(start + timedelta(days=1))};sensor=TIRA",
    )
    assert submitted.status_code == 200, submitted.get_data(as_text=True)
    request_id = json.loads(submitted.get_data())["request_id"]
    missing = request_id + 1000
    for identifier, inputs in (
        ("ssa_tasking_status", "request_id={}"),
        ("ssa_update_tasking", "request_id={};action=cancel"),
    ):
        theirs = call(catalogue, "bob", identifier, inputs.format(request_id))
        absent = call(catalogue, "bob", identifier, inputs.format(missing))
        assert theirs.status_code == absent.status_code == 400
        named = theirs.get_data(as_text=True).replace(f"request {request_id}<", f"request {missing}<")
        assert named == absent.get_data(as_text=True)
        assert f"no tasking request {request_id}" in theirs.get_data(as_text=True)
    listed = {
        who: [
            r["request_id"]
            for r in json.loads(call(catalogue, who, "ssa_tasking_status", "limit=100").get_data())[
                "requests"
            ]
        ]
        for who in ("alice", "bob", "root")
    }
    assert listed == {"alice": [request_id], "bob": [], "root": [request_id]}
    # the owner still has it, untouched by bob; an admin may cancel it
    assert (
        json.loads(call(catalogue, "alice", "ssa_tasking_status", f"request_id={request_id}").get_data())[
            "requests"
        ][0]["status"]
        == "SCHEDULED"
    )
    cancelled = call(catalogue, "root", "ssa_update_tasking", f"request_id={request_id};action=cancel")
    assert json.loads(cancelled.get_data())["status"] == "CANCELLED"


def test_ingest_and_tasking_changes_are_audited_with_their_ids(
    catalogue: SSAApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wps_server.audit")
    body = execute_xml("ssa_ingest", [("messages", Inline(SNAPSHOT.read_text()))])
    ingested = catalogue.client.post(
        "/wps",
        data=body,
        content_type="text/xml",
        headers=basic("root"),
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    assert ingested.status_code == 200
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    window = f"start={iso(start)};end={iso(start + timedelta(days=1))};sensor=TIRA"
    submitted = call(catalogue, "alice", "ssa_submit_tasking", f"object_id={OBJECT};{window}")
    request_id = json.loads(submitted.get_data())["request_id"]
    call(catalogue, "alice", "ssa_update_tasking", f"request_id={request_id};action=cancel")
    # a queued submission runs in the job runner, which names its owner too (it has no client address)
    app: Flask = catalogue.client.application  # type: ignore[assignment]
    with running_jobs(app):
        queued = catalogue.client.get(
            f"/wps?service=WPS&version=1.0.0&request=Execute&identifier=ssa_submit_tasking"
            f"&DataInputs=object_id={OBJECT};{window}&storeExecuteResponse=true&status=true",
            headers=basic("bob"),
        )
        job_id = str(xml(queued.get_data()).get("statusLocation")).rsplit("/", 1)[-1]
        poll(
            lambda: any(
                getattr(r, "audit", {}).get("job_id") == job_id and r.audit["action"] == "tasking submit"
                for r in caplog.records
            )
        )
    entries = [r.audit for r in caplog.records if hasattr(r, "audit")]
    changes = [e for e in entries if e["action"] in {"ingest", "tasking submit", "tasking update"}]
    assert [(e["action"], e["user"], e["client"]) for e in changes] == [
        ("ingest", "root", "192.0.2.9"),
        ("tasking submit", "alice", "192.0.2.7"),
        ("tasking update", "alice", "192.0.2.7"),
        ("tasking submit", "bob", None),
    ]
    executed = {e["process_id"]: e["job_id"] for e in entries if e["action"] == "execute"}
    assert changes[0]["job_id"] == executed["ssa_ingest"] and changes[0]["messages"] == 1
    assert changes[1]["request_id"] == changes[2]["request_id"] == request_id
    assert changes[1]["outcome"] == "accepted" and changes[2]["update"] == "cancel"
    assert changes[3]["job_id"] == job_id and changes[3]["request_id"] != request_id
