"""Predicted passes written out: JSON records, CSV rows and GeoJSON ground tracks (GIS layers).

Times are ISO 8601 UTC with a ``Z``; angles in degrees, ranges in km. The CSV carries the
sub-satellite point at culmination (``culmination_lat``, ``culmination_lon``) so that a GIS can
place each pass as a point; the GeoJSON has one MultiLineString per pass, the ground track from
rise to set, cut at the antimeridian.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from processes.ssa.catalogue.export import csv_text, split_antimeridian
from processes.ssa.epochs import format_epoch, to_us
from processes.ssa.errors import ExportError
from processes.ssa.passes import Interval, Pass, Site
from processes.ssa.propagation import ground_track
from processes.ssa.records import Orbit

TRACK_STEP_S = 10.0
MAX_POINTS_PER_PASS = 500
MAX_TRACK_POINTS = 200_000

CSV_FIELDS = (
    "norad_id",
    "name",
    "rise_time",
    "culmination_time",
    "set_time",
    "duration_s",
    "max_elevation_deg",
    "rise_azimuth_deg",
    "culmination_azimuth_deg",
    "set_azimuth_deg",
    "culmination_range_km",
    "rise_limit",
    "set_limit",
    "visible",
    "visible_start",
    "visible_end",
    "culmination_lat",
    "culmination_lon",
)


def utc_text(moment: datetime) -> str:
    return format_epoch(moment) + "Z"


def _intervals(intervals: tuple[Interval, ...] | None) -> list[dict[str, str]] | None:
    if intervals is None:
        return None
    return [{"start": utc_text(i.start), "end": utc_text(i.end)} for i in intervals]


def pass_record(found: Pass) -> dict[str, Any]:
    """One pass as plain JSON values."""
    return {
        "norad_id": found.norad_id,
        "name": found.name,
        "rise_time": utc_text(found.rise_time),
        "culmination_time": utc_text(found.culmination_time),
        "set_time": utc_text(found.set_time),
        "duration_s": round(found.duration_s, 3),
        "max_elevation_deg": round(found.max_elevation_deg, 4),
        "rise_azimuth_deg": round(found.rise_azimuth_deg, 4),
        "culmination_azimuth_deg": round(found.culmination_azimuth_deg, 4),
        "set_azimuth_deg": round(found.set_azimuth_deg, 4),
        "culmination_range_km": round(found.culmination_range_km, 3),
        "rise_limit": found.rise_limit.value,
        "set_limit": found.set_limit.value,
        "visible": found.visible,
        "visible_intervals": _intervals(found.visible_intervals),
        "dark_intervals": _intervals(found.dark_intervals),
        "sunlit_intervals": _intervals(found.sunlit_intervals),
    }


def passes_json(passes: Sequence[Pass]) -> str:
    """A JSON list of :func:`pass_record` objects, in the order given."""
    return json.dumps([pass_record(p) for p in passes], indent=1)


def _culmination_points(passes: Sequence[Pass], orbits: Mapping[int, Orbit]) -> list[tuple[float, float]]:
    """Sub-satellite (lat, lon) at each culmination, propagated per object in one call."""
    points: list[tuple[float, float]] = [(float("nan"), float("nan"))] * len(passes)
    by_object: dict[int, list[int]] = {}
    for index, found in enumerate(passes):
        by_object.setdefault(found.norad_id, []).append(index)
    for norad_id, indexes in by_object.items():
        orbit = orbits.get(norad_id)
        if orbit is None:
            raise ExportError(f"no orbit of object {norad_id} to place its passes")
        us = np.array([to_us(passes[i].culmination_time) for i in indexes], dtype=np.int64)
        lat, lon, _ = ground_track(orbit, us)
        for i, a, b in zip(indexes, lat.tolist(), lon.tolist(), strict=True):
            points[i] = (round(a, 6), round(b, 6))
    return points


def passes_csv(passes: Sequence[Pass], orbits: Mapping[int, Orbit]) -> str:
    """One row per pass (:data:`CSV_FIELDS`); visible_start/end span the visible intervals."""
    rows = []
    for found, (lat, lon) in zip(passes, _culmination_points(passes, orbits), strict=True):
        record = pass_record(found)
        visible = found.visible_intervals or ()
        rows.append(
            {
                **{k: v for k, v in record.items() if k in CSV_FIELDS},
                "visible": "" if found.visible is None else str(found.visible).lower(),
                "visible_start": utc_text(visible[0].start) if visible else None,
                "visible_end": utc_text(visible[-1].end) if visible else None,
                "culmination_lat": lat,
                "culmination_lon": lon,
            }
        )
    return csv_text(CSV_FIELDS, rows)


def passes_geojson(passes: Sequence[Pass], orbits: Mapping[int, Orbit], site: Site) -> str:
    """A FeatureCollection: each pass's ground track (rise to set) with the pass fields as properties."""
    counts = [min(MAX_POINTS_PER_PASS, max(2, int(p.duration_s // TRACK_STEP_S) + 2)) for p in passes]
    if sum(counts) > MAX_TRACK_POINTS:
        raise ExportError(
            f"{len(passes)} passes make more than {MAX_TRACK_POINTS} track points: "
            "ask for fewer objects or a shorter window"
        )
    features = []
    for found, count in zip(passes, counts, strict=True):
        orbit = orbits.get(found.norad_id)
        if orbit is None:
            raise ExportError(f"no orbit of object {found.norad_id} to draw its passes")
        us = np.linspace(to_us(found.rise_time), to_us(found.set_time), count).astype(np.int64)
        lat, lon, _ = ground_track(orbit, us)
        properties = {
            k: v
            for k, v in pass_record(found).items()
            if k not in ("visible_intervals", "dark_intervals", "sunlit_intervals")
        }
        properties |= {
            "site": site.name,
            "site_lat": site.latitude_deg,
            "site_lon": site.longitude_deg,
        }
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "MultiLineString",
                    "coordinates": split_antimeridian(lon.tolist(), lat.tolist()),
                },
                "properties": properties,
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features})
