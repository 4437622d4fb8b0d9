"""Tasking through WPS: submit (feasibility from pass prediction), status, update, and the lifecycle
moved by ingesting the observations that answer a request. Windows lie ahead of the real clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processes.ssa.catalogue import get_sensor, query_orbits
from tests.ssa_wps.conftest import SNAPSHOT, SSAApp
from tests.ssa_wps.observations import radar_tdm
from tests.ssa_wps.wps import Inline, Value, execute

OBJECT = 100689  # SENTINEL-3C: a sun-synchronous orbit that keeps well for months


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def catalogue(make_ssa_app: Callable[..., SSAApp]) -> SSAApp:
    app = make_ssa_app()
    assert execute(app.client, "ssa_ingest", [("messages", Inline(SNAPSHOT.read_text()))]).succeeded
    return app


def call(app: SSAApp, identifier: str, inputs: list[tuple[str, Value]]) -> dict[str, Any]:
    answer = execute(app.client, identifier, inputs, {"result": None})
    assert answer.status == 200 and answer.succeeded, answer.exception
    return json.loads(answer.text("result"))  # type: ignore[no-any-return]


def submit(app: SSAApp, start: datetime, end: datetime, *extra: tuple[str, Value]) -> dict[str, Any]:
    return call(
        app, "ssa_submit_tasking", [("object_id", OBJECT), ("start", iso(start)), ("end", iso(end)), *extra]
    )


def status(app: SSAApp, request_id: int) -> dict[str, Any]:
    (request,) = call(app, "ssa_tasking_status", [("request_id", request_id)])["requests"]
    return request


def test_accepted_requests_move_on_as_their_observations_are_ingested(catalogue: SSAApp) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    end = start + timedelta(days=1)
    quick = submit(catalogue, start, end, ("sensor", "TIRA"), ("required_observations", 5), ("priority", 2))
    assert (quick["decision"], quick["status"], quick["priority"]) == ("ACCEPTED", "SCHEDULED", 2)
    assert quick["windows"] and "pass(es)" in quick["reason"]
    slow = submit(
        catalogue, start, end, ("sensor", "TIRA"), ("required_observations", 100000), ("obs_type", "RANGE")
    )
    assert slow["decision"] == "ACCEPTED" and slow["obs_type"] == "RANGE"
    window = quick["windows"][0]
    (orbit,) = query_orbits(catalogue.engine, norad_ids=[OBJECT])
    tira = get_sensor(catalogue.engine, "TIRA")
    message = radar_tdm(orbit, tira, moment(window["start"]), moment(window["end"]))
    report = call(catalogue, "ssa_ingest", [("messages", Inline(message))])
    updates = {u["request_id"]: u["status"] for u in report["messages"][0]["tasking_updates"]}
    assert updates == {quick["request_id"]: "COMPLETED", slow["request_id"]: "COLLECTED"}
    done = status(catalogue, quick["request_id"])
    assert [e["status"] for e in done["events"]] == ["SCHEDULED", "COLLECTED", "COMPLETED"]
    assert done["events"][1]["message_id"] == report["messages"][0]["message_id"]
    collected = status(catalogue, slow["request_id"])
    assert collected["status"] == "COLLECTED" and collected["collected_observations"] > 5
    failed = call(
        catalogue,
        "ssa_update_tasking",
        [("request_id", slow["request_id"]), ("action", "fail"), ("reason", "radar down")],
    )
    assert failed["status"] == "FAILED" and failed["events"][-1]["detail"] == "radar down"
    listed = call(catalogue, "ssa_tasking_status", [("object_id", OBJECT)])["requests"]
    assert [r["status"] for r in listed] == ["COMPLETED", "FAILED"]


def test_proposals_are_accepted_then_cancelled(catalogue: SSAApp) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    first = submit(catalogue, start, start + timedelta(days=1), ("sensor", "TIRA"))
    windows = [(moment(w["start"]), moment(w["end"])) for w in first["windows"]]
    gap = (windows[0][1] + timedelta(seconds=30), windows[1][0] - timedelta(seconds=30))
    proposed = submit(catalogue, *gap, ("sensor", "TIRA"))
    assert (proposed["decision"], proposed["status"]) == ("PROPOSED", "PROPOSED")
    assert all(moment(w["start"]) >= gap[1] for w in proposed["windows"])
    request_id = proposed["request_id"]
    accepted = call(
        catalogue, "ssa_update_tasking", [("request_id", request_id), ("action", "accept"), ("window", 0)]
    )
    assert accepted["status"] == "SCHEDULED" and accepted["windows"] == proposed["windows"][:1]
    cancelled = call(catalogue, "ssa_update_tasking", [("request_id", request_id), ("action", "cancel")])
    assert [e["status"] for e in cancelled["events"]] == ["PROPOSED", "SCHEDULED", "CANCELLED"]
    again = execute(
        catalogue.client, "ssa_update_tasking", [("request_id", request_id), ("action", "cancel")]
    )
    assert again.exception[:2] == ("InvalidParameterValue", "action") and "CANCELLED" in again.exception[2]


def test_rejections_and_the_choice_of_sensor(catalogue: SSAApp) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    end = start + timedelta(days=1)
    wrong_kind = submit(catalogue, start, end, ("sensor", "OGS-TENERIFE"), ("obs_type", "RANGE"))
    assert wrong_kind["decision"] == "REJECTED" and "optical and cannot measure RANGE" in wrong_kind["reason"]
    past = submit(catalogue, start - timedelta(days=3), start - timedelta(days=2), ("sensor", "TIRA"))
    assert past["decision"] == "REJECTED" and "past" in past["reason"]
    radar = submit(catalogue, start, end, ("obs_type", "RCS"))  # any sensor that measures RCS
    assert radar["sensor"] == "TIRA"
    optical = submit(catalogue, start, end, ("sensor", "any"), ("obs_type", "MAG"))
    assert optical["sensor"] == "OGS-TENERIFE"


TASKING_ERRORS: list[tuple[str, str, list[tuple[str, Value]], str, str]] = [
    ("unknown request", "ssa_tasking_status", [("request_id", 4242)], "InvalidParameterValue", "request_id"),
    (
        "update unknown",
        "ssa_update_tasking",
        [("request_id", 4242), ("action", "cancel")],
        "InvalidParameterValue",
        "request_id",
    ),
    (
        "bad action",
        "ssa_update_tasking",
        [("request_id", 1), ("action", "delete")],
        "InvalidParameterValue",
        "action",
    ),
    (
        "no object",
        "ssa_submit_tasking",
        [("start", "2027-01-01T00:00:00Z"), ("end", "2027-01-02T00:00:00Z")],
        "MissingParameterValue",
        "object_id",
    ),
    (
        "end first",
        "ssa_submit_tasking",
        [("object_id", OBJECT), ("start", "2027-01-02T00:00:00Z"), ("end", "2027-01-01T00:00:00Z")],
        "InvalidParameterValue",
        "end",
    ),
    (
        "priority 10",
        "ssa_submit_tasking",
        [
            ("object_id", OBJECT),
            ("start", "2027-01-01T00:00:00Z"),
            ("end", "2027-01-02T00:00:00Z"),
            ("priority", 10),
        ],
        "InvalidParameterValue",
        "priority",
    ),
    (
        "bad obs_type",
        "ssa_submit_tasking",
        [
            ("object_id", OBJECT),
            ("start", "2027-01-01T00:00:00Z"),
            ("end", "2027-01-02T00:00:00Z"),
            ("obs_type", "X"),
        ],
        "InvalidParameterValue",
        "obs_type",
    ),
]


@pytest.mark.parametrize(
    ("case", "identifier", "inputs", "code", "locator"), TASKING_ERRORS, ids=[c[0] for c in TASKING_ERRORS]
)
def test_bad_tasking_requests(
    catalogue: SSAApp, case: str, identifier: str, inputs: list[tuple[str, Value]], code: str, locator: str
) -> None:
    before = catalogue.counts()
    answer = execute(catalogue.client, identifier, inputs)
    assert answer.status == 400 and answer.exception[:2] == (code, locator), answer.exception
    assert catalogue.counts() == before
