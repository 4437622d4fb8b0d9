"""ssa_tasking_status: tasking requests with their windows and event history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.ssa.catalogue import TaskingStatus, advance_tasking, get_tasking, list_tasking
from processes.ssa_config import CatalogueConnection
from processes.ssa_wpsio import JSON, json_text, object_id_input, reported_on, tasking_record
from wps_server.process import ComplexOutput, Handler, JobContext, LiteralInput, Process, ProcessInputs

IDENTIFIER = "ssa_tasking_status"


def tasking_status_handler(catalogue: CatalogueConnection) -> Handler:
    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        engine = catalogue.engine()
        advance_tasking(engine)  # requests whose windows are over are closed before they are shown
        request_id = inputs.one("request_id")
        if request_id is not None:
            with reported_on("request_id"):
                requests = [get_tasking(engine, int(request_id), owner=ctx.owner)]
        else:
            status = inputs.one("status")
            requests = list_tasking(
                engine,
                status=TaskingStatus(status) if status else None,
                norad_id=inputs.one("object_id"),
                limit=int(inputs.one("limit")),
                owner=ctx.owner,
            )
        return {"result": json_text({"requests": [tasking_record(r) for r in requests]})}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    return Process(
        IDENTIFIER,
        "Tasking status",
        tasking_status_handler(catalogue),
        abstract=(
            "One tasking request (request_id) or those of an object or in a status, oldest first, each "
            "with its decision, windows, observations collected and event history. Requests whose "
            "windows are over are closed first: COLLECTED ones become COMPLETED, SCHEDULED ones FAILED."
        ),
        keywords=("SSA", "tasking"),
        inputs=(
            LiteralInput(
                "request_id",
                "Request",
                "integer",
                abstract="The id ssa_submit_tasking returned.",
                min_occurs=0,
                value_range=(1, None),
            ),
            object_id_input("Requests for this object."),
            LiteralInput(
                "status",
                "Status",
                abstract="Requests in this status.",
                min_occurs=0,
                allowed_values=tuple(s.value for s in TaskingStatus),
            ),
            LiteralInput(
                "limit", "Most requests", "integer", min_occurs=0, default=100, value_range=(1, 10_000)
            ),
        ),
        outputs=(ComplexOutput("result", "Requests", (JSON,), abstract='{"requests": [...]}'),),
    )
