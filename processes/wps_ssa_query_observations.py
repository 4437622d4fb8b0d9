"""ssa_query_observations: observations in a bounded time window, by object, sensor, type, quality,
correlation or sky cone, paged, as JSON, CSV or TDM."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.ssa.catalogue import export_observations, query_observations
from processes.ssa.epochs import ensure_utc
from processes.ssa_config import CatalogueConnection
from processes.ssa_wpsio import (
    JSON,
    OBS_TYPES,
    OBSERVATION_FORMATS,
    QUALITIES,
    choose_format,
    end_input,
    format_input,
    json_text,
    known_sensor,
    object_id_input,
    page_inputs,
    parse_cone,
    reported_on,
    start_input,
    time_window,
    utc_text,
    written,
)
from wps_server.errors import ProcessError
from wps_server.process import ComplexOutput, Handler, JobContext, LiteralInput, Process, ProcessInputs

IDENTIFIER = "ssa_query_observations"


def query_observations_handler(catalogue: CatalogueConnection) -> Handler:
    settings = catalogue.settings

    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        key, fmt = choose_format(inputs, OBSERVATION_FORMATS)
        start, end = time_window(inputs, settings.max_query_window)
        cone_text = inputs.one("cone")
        filters: dict[str, Any] = {
            "norad_id": inputs.one("object_id"),
            "sensor": inputs.one("sensor"),
            "types": [str(t) for t in inputs.all("obs_type")] or None,
            "quality": inputs.one("quality"),
            "uncorrelated": inputs.one("uncorrelated"),
            "cone": parse_cone(cone_text) if cone_text is not None else None,
        }
        limit, offset = int(inputs.one("limit")), int(inputs.one("offset"))
        if filters["sensor"] is not None:
            known_sensor(catalogue.engine(), filters["sensor"])
        with reported_on("start"):
            page = query_observations(
                catalogue.engine(),
                start,
                end,
                **filters,
                limit=limit,
                offset=offset,
                max_window=settings.max_query_window,
            )
        if key.startswith("tdm") and not page.rows:
            raise ProcessError(
                "no observation matches the query, and a TDM needs at least one: widen the query, "
                "or ask for json or csv",
                "format",
            )
        with reported_on("format"):
            content = export_observations(page.rows, key)
        shown = {k: v for k, v in filters.items() if v is not None}
        if "cone" in shown:
            shown["cone"] = cone_text
        summary = {
            "count": len(page.rows),
            "offset": page.offset,
            "limit": page.limit,
            "next_offset": page.next_offset,
            "start": utc_text(ensure_utc(start)),
            "end": utc_text(ensure_utc(end)),
            "format": key,
            "filters": shown,
        }
        return {"result": written(content, fmt), "summary": json_text(summary)}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    longest = catalogue.settings.max_query_window.total_seconds() / 86400
    return Process(
        IDENTIFIER,
        "Query observations",
        query_observations_handler(catalogue),
        abstract=(
            f"Observations with epochs in [start, end) (mandatory, at most {longest:g} days), ordered by "
            "epoch, each row the measurements of one track at one epoch. Filters: object, sensor, "
            "measurement type, quality, uncorrelated tracks only (or correlated only), and a cone on "
            "RA/Dec. Written as JSON, CSV or CCSDS TDM 2.0 (KVN or XML, one segment per track)."
        ),
        keywords=("SSA", "observations", "TDM", "cone search"),
        inputs=(
            start_input("Observations at or after this time (ISO 8601, UTC)."),
            end_input("Observations before this time (ISO 8601, UTC)."),
            object_id_input("Only observations correlated with this object."),
            LiteralInput(
                "sensor", "Sensor", abstract="Only this sensor's observations (its code).", min_occurs=0
            ),
            LiteralInput(
                "obs_type",
                "Measurement type",
                abstract="Rows holding at least one of these TDM measurement types.",
                min_occurs=0,
                max_occurs=len(OBS_TYPES),
                allowed_values=OBS_TYPES,
            ),
            LiteralInput(
                "quality",
                "Data quality",
                abstract="TDM DATA_QUALITY of the track.",
                min_occurs=0,
                allowed_values=QUALITIES,
            ),
            LiteralInput(
                "uncorrelated",
                "Uncorrelated",
                "boolean",
                abstract="true: only tracks not linked to a catalogue object; false: only linked ones.",
                min_occurs=0,
            ),
            LiteralInput(
                "cone",
                "Sky cone",
                abstract="'ra,dec,radius_deg' in degrees: RA/Dec observations within the cone.",
                min_occurs=0,
            ),
            *page_inputs(catalogue.settings.max_query_limit),
            format_input(OBSERVATION_FORMATS),
        ),
        outputs=(
            ComplexOutput("result", "Observations", tuple(OBSERVATION_FORMATS.values())),
            ComplexOutput(
                "summary",
                "Paging summary",
                (JSON,),
                abstract="count, offset, limit, next_offset (null on the last page), window, filters.",
            ),
        ),
    )
