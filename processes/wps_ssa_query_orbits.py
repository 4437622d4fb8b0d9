"""ssa_query_orbits: the latest orbit of each object, or the history, as OMM, TLE or ground tracks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from processes.ssa.catalogue import export_orbits, query_orbits
from processes.ssa.records import Regime
from processes.ssa_config import CatalogueConnection
from processes.ssa_wpsio import (
    JSON,
    ORBIT_FORMATS,
    choose_format,
    end_input,
    format_input,
    integers,
    json_text,
    object_id_input,
    page_inputs,
    reported_on,
    start_input,
    utc_text,
    written,
)
from wps_server.errors import ProcessError
from wps_server.process import ComplexOutput, Handler, JobContext, LiteralInput, Process, ProcessInputs

IDENTIFIER = "ssa_query_orbits"
TRACK_STEP = timedelta(seconds=60)


def query_orbits_handler(catalogue: CatalogueConnection) -> Handler:
    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        key, fmt = choose_format(inputs, ORBIT_FORMATS)
        limit, offset = int(inputs.one("limit")), int(inputs.one("offset"))
        start, end = inputs.one("start"), inputs.one("end")
        if start is not None and end is not None and end <= start:
            raise ProcessError("end must be after start (they bound the orbits' epochs)", "end")
        history = bool(inputs.one("history"))
        filters = {
            "norad_ids": integers(inputs, "object_id") or None,
            "latest": not history,
            "start": start,
            "end": end,
            "regime": inputs.one("regime"),
            "source": inputs.one("source"),
        }
        with reported_on("limit"):
            found = query_orbits(catalogue.engine(), **filters, limit=limit + 1, offset=offset)
        more = len(found) > limit
        found = found[:limit]
        track: dict[str, Any] = {}
        if key == "geojson" and found:
            begin = inputs.one("track_start") or max(o.epoch for o in found)
            minutes = int(inputs.one("track_minutes"))
            track = {"start": begin, "end": begin + timedelta(minutes=minutes), "step": TRACK_STEP}
        if key == "geojson" and not found:
            content: str | bytes = json_text({"type": "FeatureCollection", "features": []})
        else:
            if key == "geojson":
                where, hint = "track_minutes", ": ask for fewer objects (limit) or fewer track_minutes"
            else:
                where, hint = "format", ": ask for an OMM format (omm-json, omm-kvn, omm-xml, omm-csv)"
            with reported_on(where, f"the orbits found cannot be written as {key}: ", hint):
                content = export_orbits(found, key, **track)
        summary = {
            "count": len(found),
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if more else None,
            "format": key,
            "history": history,
            "filters": {k: utc_text(v) if k in ("start", "end") else v for k, v in filters.items() if v},
        }
        if track:
            summary["ground_track"] = {"start": utc_text(track["start"]), "end": utc_text(track["end"])}
        return {"result": written(content, fmt), "summary": json_text(summary)}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    return Process(
        IDENTIFIER,
        "Query orbits",
        query_orbits_handler(catalogue),
        abstract=(
            "SGP4 mean element sets of catalogue objects: the newest per object (default) or every one "
            "(history=true), epochs optionally within [start, end). Written as OMM (JSON, KVN, XML, CSV), "
            "TLE or 3LE (catalogue numbers up to 339999, Alpha-5), or GeoJSON ground tracks "
            "(track_minutes from track_start, by default from the newest epoch found)."
        ),
        keywords=("SSA", "orbits", "OMM", "TLE", "GeoJSON"),
        inputs=(
            object_id_input("Only these objects.", max_occurs=1000),
            LiteralInput(
                "history",
                "Every orbit",
                "boolean",
                abstract="false: the newest orbit of each object; true: all its orbits, oldest first.",
                min_occurs=0,
                default=False,
            ),
            start_input("Only orbits with epochs at or after this time.", min_occurs=0),
            end_input("Only orbits with epochs before this time.", min_occurs=0),
            LiteralInput(
                "regime",
                "Orbit regime",
                abstract="LEO, MEO, GEO or HEO.",
                min_occurs=0,
                allowed_values=tuple(r.value for r in Regime),
            ),
            LiteralInput("source", "Source", abstract="Only orbits ingested from this source.", min_occurs=0),
            *page_inputs(catalogue.settings.max_query_limit),
            format_input(ORBIT_FORMATS),
            LiteralInput(
                "track_start",
                "Ground track start (UTC)",
                "dateTime",
                abstract="GeoJSON only: where the ground tracks begin (default: the newest epoch found).",
                min_occurs=0,
            ),
            LiteralInput(
                "track_minutes",
                "Ground track length",
                "integer",
                abstract="GeoJSON only: minutes of ground track, sampled every minute.",
                min_occurs=0,
                default=100,
                value_range=(1, 1440),
                uom="min",
            ),
        ),
        outputs=(
            ComplexOutput("result", "Orbits", tuple(ORBIT_FORMATS.values())),
            ComplexOutput("summary", "Paging summary", (JSON,)),
        ),
    )
