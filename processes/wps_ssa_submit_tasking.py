"""ssa_submit_tasking: ask for observations of an object; answered ACCEPTED, PROPOSED or REJECTED."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.ssa.catalogue import (
    DEFAULT_PRIORITY,
    MAX_REQUEST_WINDOW,
    PRIORITIES,
    choose_sensor,
    get_tasking,
    submit_tasking,
)
from processes.ssa.tasking_windows import observable_windows
from processes.ssa_config import CatalogueConnection
from processes.ssa_wpsio import (
    JSON,
    OBS_TYPES,
    end_input,
    json_text,
    object_id_input,
    reported_on,
    required,
    start_input,
    tasking_record,
)
from wps_server.access import audit
from wps_server.errors import ProcessError
from wps_server.process import ComplexOutput, Handler, JobContext, LiteralInput, Process, ProcessInputs

IDENTIFIER = "ssa_submit_tasking"
ANY_SENSOR = "any"


def submit_tasking_handler(catalogue: CatalogueConnection) -> Handler:
    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        norad_id = int(required(inputs, "object_id"))
        start, end = required(inputs, "start"), required(inputs, "end")
        if end <= start:
            raise ProcessError("end must be after start: the window to observe in", "end")
        obs_type = str(inputs.one("obs_type") or "")
        engine = catalogue.engine()
        sensor = str(inputs.one("sensor") or ANY_SENSOR).strip()
        if sensor.lower() == ANY_SENSOR:
            with reported_on("obs_type"):
                picked = choose_sensor(
                    engine,
                    norad_id=norad_id,
                    start=start,
                    end=end,
                    find_windows=observable_windows,
                    obs_type=obs_type,
                )
            if picked is None:
                raise ProcessError(
                    f"no registered sensor makes {obs_type or 'any'} measurements: register one first",
                    "sensor",
                )
            sensor = picked
        with reported_on("object_id"):
            decision = submit_tasking(
                engine,
                norad_id=norad_id,
                sensor=sensor,
                start=start,
                end=end,
                find_windows=observable_windows,
                requester=str(inputs.one("requester") or ""),
                owner=ctx.owner,
                required_observations=int(inputs.one("required_observations")),
                priority=int(inputs.one("priority")),
                obs_type=obs_type,
            )
        audit(
            "tasking submit",
            decision.decision.lower(),
            job_id=ctx.job_id,
            request_id=decision.request_id,
            norad_id=norad_id,
            sensor=sensor,
        )
        return {"result": json_text(tasking_record(get_tasking(engine, decision.request_id)))}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    days = MAX_REQUEST_WINDOW.days
    return Process(
        IDENTIFIER,
        "Submit a tasking request",
        submit_tasking_handler(catalogue),
        abstract=(
            "Asks a sensor (or any suitable one) to observe an object within a window of at most "
            f"{days} days. Feasibility comes from pass prediction on the object's newest orbit, within "
            "the sensor's elevation mask and range and, for optical sensors, while the site is dark and "
            "the object sunlit: ACCEPTED (status SCHEDULED, with the windows), PROPOSED (no pass in the "
            "window: the next ones within three days, to accept with ssa_update_tasking) or REJECTED "
            "with the reason. Every request is recorded; ingested observations of the object by the "
            "sensor inside a window move it to COLLECTED, then COMPLETED."
        ),
        keywords=("SSA", "tasking", "feasibility"),
        inputs=(
            object_id_input("The object to observe.", min_occurs=1),
            LiteralInput(
                "sensor",
                "Sensor",
                abstract=(
                    "A registered sensor's code, or 'any' (the default): the sensor of a suitable kind "
                    "that sees the object first."
                ),
                min_occurs=0,
            ),
            start_input("Window start (ISO 8601, UTC)."),
            end_input("Window end (ISO 8601, UTC)."),
            LiteralInput(
                "priority",
                "Priority",
                "integer",
                abstract="1 (most urgent) to 9.",
                min_occurs=0,
                default=DEFAULT_PRIORITY,
                value_range=(PRIORITIES[0], PRIORITIES[-1]),
            ),
            LiteralInput(
                "obs_type",
                "Measurement type",
                abstract="What to measure; RANGE, DOPPLER_INSTANTANEOUS and RCS need a radar, MAG an "
                "optical sensor. Default: any.",
                min_occurs=0,
                allowed_values=OBS_TYPES,
            ),
            LiteralInput(
                "required_observations",
                "Observations wanted",
                "integer",
                abstract="Observation epochs after which the request is COMPLETED.",
                min_occurs=0,
                default=1,
                value_range=(1, 1_000_000),
            ),
            LiteralInput(
                "requester", "Requester", abstract="Who asks (kept with the request).", min_occurs=0
            ),
        ),
        outputs=(
            ComplexOutput(
                "result",
                "Decision",
                (JSON,),
                abstract="request_id, decision, status, reason, windows, and the request's event history.",
            ),
        ),
    )
