"""Output writers for query results: observations to JSON/CSV/TDM, orbits to OMM/TLE/GeoJSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np

from processes.ssa.catalogue.queries import ObservationRow
from processes.ssa.catalogue.schema import OBSERVATION_MEASUREMENTS
from processes.ssa.epochs import format_epoch, to_us
from processes.ssa.errors import ExportError
from processes.ssa.omm import write_omm_csv, write_omm_json, write_omm_kvn, write_omm_xml
from processes.ssa.propagation import ground_track
from processes.ssa.records import ObjectInfo, Orbit, Tdm
from processes.ssa.tdm import make_segment, write_tdm_kvn, write_tdm_xml
from processes.ssa.tle import write_tle

MAX_TRACK_POINTS = 100_000


class ObservationFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    TDM_KVN = "tdm-kvn"
    TDM_XML = "tdm-xml"


class OrbitFormat(StrEnum):
    OMM_KVN = "omm-kvn"
    OMM_XML = "omm-xml"
    OMM_JSON = "omm-json"
    OMM_CSV = "omm-csv"
    TLE = "tle"
    THREE_LE = "3le"
    GEOJSON = "geojson"


_ROW_FIELDS = (
    "id",
    "track_id",
    "epoch",
    "sensor",
    "norad_id",
    "designator",
    *OBSERVATION_MEASUREMENTS,
)


def _plain(row: ObservationRow) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in _ROW_FIELDS}
    out["epoch"] = format_epoch(row.epoch) + "Z"
    out["angle_frame"] = row.angle_frame.value if row.angle_frame else None
    return out


def observations_to_tdm(rows: Sequence[ObservationRow], *, originator: str = "space-wps") -> Tdm:
    """One TDM 2.0 segment per catalogue track, measurements in epoch then TDM keyword order."""
    by_track: dict[int, list[ObservationRow]] = {}
    for row in rows:
        by_track.setdefault(row.track_id, []).append(row)
    segments = []
    for track_id, members in by_track.items():
        members.sort(key=lambda r: (r.epoch, r.id))
        first = members[0]
        quality = first.quality if first.quality != "RAW" else ""
        obs = [o for r in members for o in r.observations()]
        segments.append(
            make_segment(
                obs,
                sensor=first.sensor,
                target=first.designator or str(first.norad_id or ""),
                angle_frame=first.angle_frame,
                track_id=str(track_id),
                quality=quality,
            )
        )
    if not segments:
        raise ExportError("no observations to write as a TDM")
    header = {"CREATION_DATE": format_epoch(datetime.now().astimezone()), "ORIGINATOR": originator}
    return Tdm(version="2.0", header=header, segments=segments)


def export_observations(rows: Sequence[ObservationRow], fmt: ObservationFormat | str) -> str | bytes:
    """Write observation rows as JSON (list of objects), CSV, TDM KVN or TDM XML."""
    fmt = ObservationFormat(fmt)
    if fmt is ObservationFormat.JSON:
        return json.dumps([_plain(r) for r in rows], indent=1)
    if fmt is ObservationFormat.CSV:
        return csv_text(_ROW_FIELDS, (_plain(r) for r in rows))
    tdm = observations_to_tdm(rows)
    return write_tdm_kvn(tdm) if fmt is ObservationFormat.TDM_KVN else write_tdm_xml(tdm)


_OBJECT_FIELDS = ("norad_id", "name", "cospar_id", "object_type", "country", "launch_date", "decay_date")


def export_objects(infos: Iterable[ObjectInfo], fmt: str = "json") -> str:
    """Objects as a JSON list or as CSV with a header (dates ISO 8601)."""
    rows = [
        {
            "norad_id": i.norad_id,
            "name": i.name,
            "cospar_id": i.cospar_id,
            "object_type": i.object_type,
            "country": i.country,
            "launch_date": i.launch_date.isoformat() if i.launch_date else None,
            "decay_date": i.decay_date.isoformat() if i.decay_date else None,
        }
        for i in infos
    ]
    if fmt == "json":
        return json.dumps(rows, indent=1)
    if fmt == "csv":
        return csv_text(_OBJECT_FIELDS, rows)
    raise ExportError(f"objects are written as json or csv, not {fmt!r}")


def csv_text(fields: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV with a header row; None is written as an empty cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def split_antimeridian(lon: list[float], lat: list[float]) -> list[list[list[float]]]:
    """[lon, lat] polylines of a track, cut where it crosses the antimeridian (MultiLineString parts)."""
    lines: list[list[list[float]]] = [[]]
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        if i and abs(x - lon[i - 1]) > 180.0:
            lines.append([])
        lines[-1].append([round(x, 6), round(y, 6)])
    return [ln for ln in lines if len(ln) >= 2]


def ground_tracks_geojson(
    orbits: Sequence[Orbit], start: datetime, end: datetime, step: timedelta = timedelta(seconds=60)
) -> dict[str, Any]:
    """A FeatureCollection with one MultiLineString ground track per orbit, cut at the antimeridian."""
    if end <= start or step <= timedelta(0):
        raise ExportError("ground tracks need start < end and a positive step")
    count = (end - start) // step + 1
    if count * max(1, len(orbits)) > MAX_TRACK_POINTS:
        raise ExportError(f"{count * len(orbits)} track points requested, more than {MAX_TRACK_POINTS}")
    us = to_us(start) + (step // timedelta(microseconds=1)) * np.arange(count, dtype=np.int64)
    features = []
    for orbit in orbits:
        lat, lon, height = ground_track(orbit, us)
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "MultiLineString",
                    "coordinates": split_antimeridian(lon.tolist(), lat.tolist()),
                },
                "properties": {
                    "norad_id": orbit.norad_id,
                    "name": orbit.object_name,
                    "cospar_id": orbit.object_id,
                    "orbit_epoch": format_epoch(orbit.epoch) + "Z",
                    "regime": orbit.regime.value,
                    "start": format_epoch(start) + "Z",
                    "end": format_epoch(end) + "Z",
                    "step_s": step.total_seconds(),
                    "mean_height_km": round(float(np.mean(height)), 3),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def export_orbits(
    orbits: Sequence[Orbit],
    fmt: OrbitFormat | str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    step: timedelta = timedelta(seconds=60),
) -> str | bytes:
    """Write orbits as OMM (KVN/XML/JSON/CSV), TLE/3LE, or GeoJSON ground tracks over [start, end].

    TLE refuses NORAD ids above 339,999 (Alpha-5 limit) with ExportError: use OMM for them.
    """
    fmt = OrbitFormat(fmt)
    if fmt is OrbitFormat.OMM_KVN:
        return write_omm_kvn(orbits)
    if fmt is OrbitFormat.OMM_XML:
        return write_omm_xml(orbits)
    if fmt is OrbitFormat.OMM_JSON:
        return write_omm_json(orbits)
    if fmt is OrbitFormat.OMM_CSV:
        return write_omm_csv(orbits)
    if fmt in (OrbitFormat.TLE, OrbitFormat.THREE_LE):
        return write_tle(list(orbits), names=fmt is OrbitFormat.THREE_LE)
    if start is None or end is None:
        raise ExportError("GeoJSON ground tracks need start and end")
    return json.dumps(ground_tracks_geojson(orbits, start, end, step))
