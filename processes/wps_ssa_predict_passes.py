"""ssa_predict_passes: passes of catalogue objects over a site or a registered sensor, screened on the
Dask cluster in chunks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from processes.ssa.catalogue import query_objects, query_orbits
from processes.ssa.pass_export import passes_csv, passes_geojson, passes_json
from processes.ssa.passes import (
    OpticalConditions,
    PassOptions,
    PassPredictionCancelledError,
    PassPredictionError,
    Site,
    Window,
    predict_passes,
    resolve_site,
)
from processes.ssa.records import Orbit, Regime, Sensor, SensorKind
from processes.ssa_config import CatalogueConnection, SSASettings
from processes.ssa_wpsio import (
    JSON,
    PASS_FORMATS,
    choose_format,
    end_input,
    json_text,
    known_sensor,
    parse_ids,
    parse_site,
    reported_on,
    start_input,
    time_window,
    utc_text,
    written,
)
from wps_server.errors import MissingParameterValue, ProcessError
from wps_server.execution import JobDismissed
from wps_server.process import ComplexOutput, Handler, JobContext, LiteralInput, Process, ProcessInputs

if TYPE_CHECKING:
    from distributed import Client

IDENTIFIER = "ssa_predict_passes"


def select_orbits(
    engine: Engine, inputs: ProcessInputs, end: datetime, most: int
) -> tuple[list[Orbit], list[int]]:
    """The orbit of each object asked for (ids, or the query regime/name/object_type, or the whole
    catalogue): the newest before ``end``, else the newest. Returns them and the ids without one."""
    ids: list[int] | None = parse_ids(inputs.all("object_ids"), "object_ids") or None
    name, object_type = inputs.one("name"), inputs.one("object_type")
    if ids is None and (name or object_type):
        matched = query_objects(engine, name=name, object_type=object_type, limit=most + 1)
        if not matched:
            raise ProcessError("no catalogue object matches name and object_type", "name")
        ids = [o.norad_id for o in matched]
    if ids is not None and len(ids) > most:
        raise ProcessError(f"{len(ids)} objects asked for; at most {most} per request", "object_ids")
    regime = inputs.one("regime")
    chosen: dict[int, Orbit] = {}
    for bound in (None, end):  # the newest, replaced by the newest before the window's end
        found = query_orbits(engine, norad_ids=ids, latest=True, end=bound, regime=regime, limit=most + 1)
        chosen |= {o.norad_id: o for o in found if o.norad_id is not None}
    if len(chosen) > most:
        raise ProcessError(
            f"more than {most} objects have orbits: narrow the request with object_ids, regime, name "
            "or object_type",
            "object_ids",
        )
    missing = sorted(set(ids or ()) - set(chosen))
    if not chosen:
        asked = f"objects {', '.join(map(str, missing[:10]))}" if missing else "the objects asked for"
        raise ProcessError(f"no orbit is known for {asked}: ingest an OMM or TLE first", "object_ids")
    return [chosen[k] for k in sorted(chosen)], missing


def observer(
    engine: Engine, inputs: ProcessInputs, settings: SSASettings
) -> tuple[Site | Sensor, PassOptions]:
    """Where from, and the constraints: a site, or a registered sensor with its own limits."""
    site_text, code = inputs.one("site"), inputs.one("sensor")
    if site_text is None and code is None:
        raise MissingParameterValue(
            "give site ('lat,lon,height_m') or sensor (a registered sensor code)", "site"
        )
    if site_text is not None and code is not None:
        raise ProcessError("give site or sensor, not both", "site")
    optical = inputs.one("optical")
    with reported_on("min_elevation"):
        options = PassOptions(
            elevation_mask_deg=float(inputs.one("min_elevation")),
            max_range_km=inputs.one("max_range"),
            optical=OpticalConditions() if optical else None,
            max_window=settings.max_pass_window,
        )
    if code is None:
        return parse_site(site_text), options
    sensor = known_sensor(engine, code)
    if optical is False and sensor.kind is SensorKind.OPTICAL:  # geometry only, with its limits
        where, effective = resolve_site(sensor, options)
        return where, dataclasses.replace(effective, optical=None)
    return sensor, options


#: screening time of one object over one day of window, one core (SGP4 steps and event refinement):
#: a rough figure for sizing a per-job cluster, not a promise.
SECONDS_PER_OBJECT_DAY = 0.001


def screening_client(
    ctx: JobContext,
    profile: str | None,
    objects: int,
    chunk: int,
    window: timedelta,
    max_cost: float | None = None,
) -> AbstractContextManager[Client]:
    """The server's own cluster, or a cluster of the named profile sized for the chunks (and billed)."""
    if profile is None:
        return nullcontext(ctx.client())
    chunks = max(1, math.ceil(objects / chunk))
    seconds = min(objects, chunk) * window.total_seconds() / 86400 * SECONDS_PER_OBJECT_DAY
    return ctx.cluster(profile, chunks, seconds, max_cost=max_cost)


def predict_passes_handler(catalogue: CatalogueConnection) -> Handler:
    settings = catalogue.settings

    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        key, fmt = choose_format(inputs, PASS_FORMATS)
        start, end = time_window(inputs, settings.max_pass_window)
        engine = catalogue.engine()
        where, options = observer(engine, inputs, settings)
        ctx.progress(1, "loading orbits")
        orbits, missing = select_orbits(engine, inputs, end, settings.max_pass_objects)
        site, effective = resolve_site(where, options)
        chunk = settings.pass_chunk_size
        ctx.progress(5, f"screening {len(orbits)} objects")
        try:
            # predict_passes waits with distributed.wait, which looks for the current client
            with (
                screening_client(
                    ctx, inputs.one("cluster"), len(orbits), chunk, end - start, inputs.one("max_cost")
                ) as client,
                client.as_current(),
            ):
                passes = predict_passes(
                    orbits,
                    where,
                    Window(start, end),
                    options,
                    client=client,
                    chunk_size=chunk,
                    progress=lambda done, message: ctx.progress(5 + 90 * done, message),
                    cancelled=ctx.cancelled,
                )
        except PassPredictionCancelledError:
            raise JobDismissed from None
        except PassPredictionError as exc:
            if exc.record_index is None:
                raise ProcessError(str(exc)) from None
            norad_id = orbits[exc.record_index].norad_id
            raise ProcessError(
                f"object {norad_id}: {exc.reason}; leave it out of the request", "object_ids"
            ) from None
        ctx.progress(96, f"writing {len(passes)} passes")
        by_id = {o.norad_id: o for o in orbits if o.norad_id is not None}
        with reported_on("format"):
            if key == "csv":
                content = passes_csv(passes, by_id)
            elif key == "geojson":
                content = passes_geojson(passes, by_id, site)
            else:
                content = passes_json(passes)
        summary = {
            "count": len(passes),
            "objects_screened": len(orbits),
            "objects_without_orbit": missing,
            "chunks": math.ceil(len(orbits) / chunk),
            "start": utc_text(start),
            "end": utc_text(end),
            "site": {
                "name": site.name,
                "latitude_deg": site.latitude_deg,
                "longitude_deg": site.longitude_deg,
                "height_m": site.height_m,
            },
            "sensor": where.code if isinstance(where, Sensor) else None,
            "min_elevation_deg": effective.elevation_mask_deg,
            "max_range_km": effective.max_range_km,
            "optical": effective.optical is not None,
            "format": key,
        }
        return {"result": written(content, fmt), "summary": json_text(summary)}

    return handler


def process(catalogue: CatalogueConnection) -> Process:
    settings = catalogue.settings
    days = settings.max_pass_window.total_seconds() / 86400
    return Process(
        IDENTIFIER,
        "Predict passes",
        predict_passes_handler(catalogue),
        abstract=(
            "Rise, culmination and set (times, azimuths, elevation, range) of catalogue objects over a "
            f"ground site or a registered sensor, in a window of at most {days:g} days, above an "
            "elevation mask; optionally only when the site is dark and the object sunlit (optical), and "
            "within a range (radar). Objects are given by id, by a query (regime, name, object type) or "
            f"are the whole catalogue (up to {settings.max_pass_objects}), screened on the Dask cluster "
            f"in chunks of {settings.pass_chunk_size} with SGP4, each event refined to a millisecond."
        ),
        keywords=("SSA", "passes", "visibility", "SGP4"),
        inputs=(
            LiteralInput(
                "object_ids",
                "Objects",
                abstract="NORAD catalogue numbers, separated by commas (or the input repeated).",
                min_occurs=0,
                max_occurs=1000,
            ),
            LiteralInput(
                "regime",
                "Orbit regime",
                abstract="Query: objects whose newest orbit is LEO, MEO, GEO or HEO.",
                min_occurs=0,
                allowed_values=tuple(r.value for r in Regime),
            ),
            LiteralInput("name", "Name contains", abstract="Query: part of the object's name.", min_occurs=0),
            LiteralInput(
                "object_type", "Object type", abstract="Query: PAYLOAD, ROCKET BODY, DEBRIS...", min_occurs=0
            ),
            LiteralInput(
                "site",
                "Site",
                abstract="'lat,lon,height_m': WGS-84 degrees and metres (or give sensor instead).",
                min_occurs=0,
            ),
            LiteralInput(
                "sensor",
                "Sensor",
                abstract="A registered sensor's code: its site, elevation mask, range limit and, for an "
                "optical sensor, the darkness and sunlight conditions apply.",
                min_occurs=0,
            ),
            start_input("Window start (ISO 8601, UTC)."),
            end_input("Window end (ISO 8601, UTC)."),
            LiteralInput(
                "min_elevation",
                "Elevation mask",
                "float",
                abstract="Degrees above the horizon; a sensor's own mask applies when it is higher.",
                min_occurs=0,
                default=0.0,
                value_range=(0.0, 89.0),
                uom="deg",
            ),
            LiteralInput(
                "optical",
                "Optical conditions",
                "boolean",
                abstract="true: only passes while the site is dark (Sun below -12 deg) and the object "
                "sunlit; false: geometry only. Default: true for an optical sensor, false otherwise.",
                min_occurs=0,
            ),
            LiteralInput(
                "max_range",
                "Maximum range",
                "float",
                abstract="Kilometres (radar); a sensor's own limit applies when it is shorter.",
                min_occurs=0,
                value_range=(1.0, None),
                uom="km",
            ),
            LiteralInput(
                "format",
                "Output format",
                abstract="json, csv (one row per pass, with the sub-satellite point at culmination) or "
                "geojson (ground tracks from rise to set); the same as asking result's mimeType.",
                min_occurs=0,
                allowed_values=tuple(PASS_FORMATS),
            ),
            LiteralInput(
                "cluster",
                "Cluster profile",
                abstract="Screen on a cluster of this profile, sized for the chunks and billed to the job; "
                "default: the server's own cluster.",
                min_occurs=0,
            ),
            LiteralInput(
                "max_cost",
                "Cost cap",
                "float",
                min_occurs=0,
                value_range=(0, None),
                abstract="With a priced cluster profile: refuse the job if its estimate is higher, and stop it "
                "(closing its cluster) when its running bill reaches this, in the profile's currency.",
            ),
        ),
        outputs=(
            ComplexOutput("result", "Passes", tuple(PASS_FORMATS.values())),
            ComplexOutput(
                "summary",
                "Request summary",
                (JSON,),
                abstract="Count, objects screened and those without an orbit, site, effective limits.",
            ),
        ),
    )
