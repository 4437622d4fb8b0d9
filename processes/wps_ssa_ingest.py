"""ssa_ingest: store TDM, OMM and TLE messages in the catalogue, each message all or nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from processes.ssa.catalogue import IngestSummary, ingest
from processes.ssa.catalogue.maintenance import refresh_after_ingest
from processes.ssa.errors import SSAError
from processes.ssa.textio import check_size
from processes.ssa_config import CatalogueConnection
from processes.ssa_wpsio import JSON, MESSAGE_FORMATS, json_text, wps_error
from wps_server.access import audit
from wps_server.execution import JobDismissed
from wps_server.process import (
    ComplexInput,
    ComplexOutput,
    ComplexValue,
    Handler,
    JobContext,
    LiteralInput,
    Process,
    ProcessInputs,
)

IDENTIFIER = "ssa_ingest"
log = logging.getLogger(__name__)
TOTALS = (
    "n_tracks",
    "n_uncorrelated_tracks",
    "n_observations",
    "n_rows",
    "n_orbits",
    "n_objects_created",
)


def message_name(value: ComplexValue, index: int, job_id: str) -> str:
    """Provenance of a message: its URL's file name, or where in which job it came inline."""
    if value.href:
        return urlsplit(value.href).path.rsplit("/", 1)[-1] or value.href
    return f"inline message {index} of WPS job {job_id}"


def summary_record(summary: IngestSummary) -> dict[str, Any]:
    record = asdict(summary)
    record["tasking_updates"] = [
        {"request_id": request_id, "status": status} for request_id, status in summary.tasking_updates
    ]
    record["seconds"] = round(summary.seconds, 4)
    return record


def ingest_handler(catalogue: CatalogueConnection) -> Handler:
    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        values = [v for v in inputs.all("messages") if isinstance(v, ComplexValue)]
        source = str(inputs.one("source")).strip() or "wps"
        limit = catalogue.settings.max_message_bytes
        engine = catalogue.engine()
        done: list[IngestSummary] = []
        try:
            for index, value in enumerate(values, start=1):
                if ctx.cancelled():
                    raise JobDismissed
                name = message_name(value, index, ctx.job_id)
                try:
                    check_size(value.path.stat().st_size, limit)  # before it is read into memory
                    done.append(ingest(engine, value.read_bytes(), name, source, max_bytes=limit))
                except SSAError as exc:
                    kept = (
                        f" The {len(done)} message(s) before it were stored and stay stored: sending "
                        "them again changes nothing."
                    )
                    raise wps_error(
                        exc,
                        "messages",
                        f"message {index} of {len(values)} ({name}) was refused and nothing of it stored: ",
                        kept if done else "",
                    ) from None
                ctx.progress(100 * index / len(values), f"ingested message {index}/{len(values)}")
        finally:  # what was stored stays stored: after a large load, planner statistics at once
            analyzed = refresh_after_ingest(engine, done)
            if analyzed:
                log.info("analyzed catalogue tables after a large ingest", extra={"tables": analyzed})
        audit("ingest", "done", job_id=ctx.job_id, source=source, messages=len(done))
        report = {
            "messages": [summary_record(s) for s in done],
            "totals": {key: sum(getattr(s, key) for s in done) for key in TOTALS}
            | {"messages": len(done), "duplicates": sum(s.duplicate for s in done)},
        }
        return {"result": json_text(report)}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    settings = catalogue.settings
    return Process(
        IDENTIFIER,
        "Ingest SSA messages",
        ingest_handler(catalogue),
        abstract=(
            "Stores CCSDS Tracking Data Messages (TDM 1.0/2.0, KVN or XML: optical RA/Dec or AZ/EL, "
            "magnitude, radar range, Doppler, RCS), Orbit Mean-elements Messages (OMM: KVN, XML, JSON, CSV) "
            "and TLE/3LE sets (Alpha-5 numbers) in the catalogue. The kind of each message is read from "
            "its content. Each message is stored whole or not at all, in order; the same message sent "
            "again changes nothing. Tracks of known objects are linked to them, others flagged "
            "uncorrelated; observations answering a scheduled tasking request move it on. A message "
            "from an unregistered sensor is refused with the sensor's name."
        ),
        keywords=("SSA", "CCSDS", "TDM", "OMM", "TLE", "ingest"),
        inputs=(
            ComplexInput(
                "messages",
                "Messages",
                MESSAGE_FORMATS,
                abstract=(
                    "TDM, OMM or TLE messages, inline or by reference; one to "
                    f"{settings.max_messages}, each at most {settings.max_message_megabytes} MB."
                ),
                max_occurs=settings.max_messages,
                max_megabytes=settings.max_message_megabytes,
            ),
            LiteralInput(
                "source",
                "Source",
                abstract="Where the messages come from (e.g. celestrak, a sensor network); kept as provenance.",
                min_occurs=0,
                default="wps",
            ),
        ),
        outputs=(
            ComplexOutput(
                "result",
                "Ingest summary",
                (JSON,),
                abstract=(
                    "Per message: kind, format, duplicate, counts of segments, tracks, uncorrelated "
                    "tracks, observations, orbits and new objects, rejected segments with line numbers "
                    "and reasons, warnings, tasking requests moved; and the totals."
                ),
            ),
        ),
    )
