"""ssa_update_tasking: accept a proposal, cancel a request, or report it failed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.ssa.catalogue import accept_proposal, cancel_tasking, fail_tasking, get_tasking
from processes.ssa_config import CatalogueConnection
from processes.ssa_wpsio import JSON, json_text, reported_on, required, tasking_record
from wps_server.access import audit
from wps_server.errors import ProcessError
from wps_server.process import ComplexOutput, Handler, JobContext, LiteralInput, Process, ProcessInputs

IDENTIFIER = "ssa_update_tasking"
ACTIONS = ("accept", "cancel", "fail")


def update_tasking_handler(catalogue: CatalogueConnection) -> Handler:
    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        engine = catalogue.engine()
        request_id = int(required(inputs, "request_id"))
        with reported_on("request_id"):
            get_tasking(engine, request_id, owner=ctx.owner)
        action = str(required(inputs, "action"))
        window = inputs.one("window")
        reason = str(inputs.one("reason") or "")
        if window is not None and action != "accept":
            raise ProcessError("window only goes with action=accept (the proposed window to take)", "window")
        with reported_on("window" if window is not None else "action"):
            if action == "accept":
                updated = accept_proposal(engine, request_id, window)
            elif action == "cancel":
                updated = cancel_tasking(engine, request_id, reason)
            else:
                updated = fail_tasking(engine, request_id, reason or "reported failed by the operator")
        audit("tasking update", "done", job_id=ctx.job_id, request_id=request_id, update=action)
        return {"result": json_text(tasking_record(updated))}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    return Process(
        IDENTIFIER,
        "Update a tasking request",
        update_tasking_handler(catalogue),
        abstract=(
            "Moves a tasking request on: accept (a PROPOSED request becomes SCHEDULED on all its proposed "
            "windows, or on the one numbered by window, from 0), cancel (PROPOSED or SCHEDULED), fail "
            "(SCHEDULED or COLLECTED, with a reason). The request's event history records each move."
        ),
        keywords=("SSA", "tasking"),
        inputs=(
            LiteralInput("request_id", "Request", "integer", value_range=(1, None)),
            LiteralInput("action", "Action", allowed_values=ACTIONS),
            LiteralInput(
                "window",
                "Proposed window",
                "integer",
                abstract="accept only: the index (from 0) of the proposed window to schedule.",
                min_occurs=0,
                value_range=(0, None),
            ),
            LiteralInput("reason", "Reason", abstract="Why (cancel, fail).", min_occurs=0),
        ),
        outputs=(ComplexOutput("result", "Request", (JSON,)),),
    )
