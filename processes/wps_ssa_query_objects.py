"""ssa_query_objects: catalogue objects by NORAD id, name, COSPAR id or type, paged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.ssa.catalogue import export_objects, query_objects
from processes.ssa_config import CatalogueConnection
from processes.ssa_wpsio import (
    JSON,
    OBJECT_FORMATS,
    choose_format,
    format_input,
    integers,
    json_text,
    object_id_input,
    page_inputs,
    reported_on,
    written,
)
from wps_server.process import ComplexOutput, Handler, JobContext, LiteralInput, Process, ProcessInputs

IDENTIFIER = "ssa_query_objects"


def query_objects_handler(catalogue: CatalogueConnection) -> Handler:
    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        key, fmt = choose_format(inputs, OBJECT_FORMATS)
        ids = integers(inputs, "object_id") or None
        limit, offset = int(inputs.one("limit")), int(inputs.one("offset"))
        filters = {
            "norad_ids": ids,
            "name": inputs.one("name"),
            "cospar_id": inputs.one("cospar_id"),
            "object_type": inputs.one("object_type"),
        }
        with reported_on("limit"):
            found = query_objects(catalogue.engine(), **filters, limit=limit + 1, offset=offset)
        more = len(found) > limit
        found = found[:limit]
        summary = {
            "count": len(found),
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if more else None,
            "format": key,
            "filters": {k: v for k, v in filters.items() if v},
        }
        return {"result": written(export_objects(found, key), fmt), "summary": json_text(summary)}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    return Process(
        IDENTIFIER,
        "Query catalogue objects",
        query_objects_handler(catalogue),
        abstract=(
            "Objects of the catalogue (NORAD id, name, COSPAR id, type, country, launch and decay dates), "
            "ordered by NORAD id; every filter given must match. Without filters, the whole catalogue "
            "page by page."
        ),
        keywords=("SSA", "catalogue", "SATCAT"),
        inputs=(
            object_id_input("Only these objects.", max_occurs=1000),
            LiteralInput(
                "name", "Name contains", abstract="Case-insensitive part of the name.", min_occurs=0
            ),
            LiteralInput(
                "cospar_id", "COSPAR id", abstract="International designator, e.g. 1998-067A.", min_occurs=0
            ),
            LiteralInput(
                "object_type",
                "Object type",
                abstract="PAYLOAD, ROCKET BODY, DEBRIS or UNKNOWN, as the orbit records give it.",
                min_occurs=0,
            ),
            *page_inputs(catalogue.settings.max_query_limit),
            format_input(OBJECT_FORMATS),
        ),
        outputs=(
            ComplexOutput("result", "Objects", tuple(OBJECT_FORMATS.values())),
            ComplexOutput("summary", "Paging summary", (JSON,)),
        ),
    )
