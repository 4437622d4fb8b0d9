"""Ground footprints of images and regions from their RPC models, and their overlap.

Footprints are quadrilaterals in longitude/latitude, obtained by localising
pixel corners at one altitude. Areas are computed in a local equirectangular
projection, which is accurate enough at the scale of a satellite scene.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

LonLat = tuple[float, float]
Polygon = list[LonLat]

_EARTH_RADIUS_M = 6_371_008.8


class RpcModelLike(Protocol):
    """The part of `rpcm.RPCModel` used here."""

    alt_offset: float

    def localization(self, col: object, row: object, alt: object) -> tuple[object, object]: ...

    def projection(self, lon: object, lat: object, alt: object) -> tuple[object, object]: ...


def region_footprint(
    rpc: RpcModelLike, x: float, y: float, w: float, h: float, altitude: float | None = None
) -> Polygon:
    """Lon/lat corners of the pixel rectangle (x, y, w, h) localised at `altitude` (RPC offset if None)."""
    alt = rpc.alt_offset if altitude is None else altitude
    cols = [x, x + w, x + w, x]
    rows = [y, y, y + h, y + h]
    corners: Polygon = []
    for col, row in zip(cols, rows, strict=True):
        lon, lat = rpc.localization(col, row, alt)
        corners.append((float(lon), float(lat)))  # type: ignore[arg-type]
    return corners


def _to_local_metres(polygon: Sequence[LonLat], origin: LonLat) -> list[tuple[float, float]]:
    lon0, lat0 = origin
    scale_x = math.radians(1.0) * _EARTH_RADIUS_M * math.cos(math.radians(lat0))
    scale_y = math.radians(1.0) * _EARTH_RADIUS_M
    return [((lon - lon0) * scale_x, (lat - lat0) * scale_y) for lon, lat in polygon]


def _signed_area(points: Sequence[tuple[float, float]]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return total / 2.0


def _counter_clockwise(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return points if _signed_area(points) >= 0 else points[::-1]


def _clip(
    subject: list[tuple[float, float]], clipper: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of `subject` inside the convex counter-clockwise `clipper`."""

    def inside(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0

    def intersection(
        p: tuple[float, float], q: tuple[float, float], a: tuple[float, float], b: tuple[float, float]
    ) -> tuple[float, float]:
        dx_pq, dy_pq = q[0] - p[0], q[1] - p[1]
        dx_ab, dy_ab = b[0] - a[0], b[1] - a[1]
        denominator = dx_pq * dy_ab - dy_pq * dx_ab
        if denominator == 0:
            return q
        t = ((a[0] - p[0]) * dy_ab - (a[1] - p[1]) * dx_ab) / denominator
        return (p[0] + t * dx_pq, p[1] + t * dy_pq)

    output = subject
    for a, b in zip(clipper, [*clipper[1:], clipper[0]], strict=True):
        if not output:
            break
        points, output = output, []
        for p, q in zip([points[-1], *points[:-1]], points, strict=True):
            if inside(q, a, b):
                if not inside(p, a, b):
                    output.append(intersection(p, q, a, b))
                output.append(q)
            elif inside(p, a, b):
                output.append(intersection(p, q, a, b))
    return output


def area_m2(polygon: Sequence[LonLat]) -> float:
    """Approximate ground area of a lon/lat polygon, in square metres."""
    origin = polygon[0]
    return abs(_signed_area(_to_local_metres(polygon, origin)))


def overlap_fraction(region: Sequence[LonLat], other: Sequence[LonLat]) -> float:
    """Fraction of the area of `region` that lies inside the convex polygon `other` (0 to 1)."""
    origin = region[0]
    subject = _counter_clockwise(_to_local_metres(region, origin))
    clipper = _counter_clockwise(_to_local_metres(other, origin))
    region_area = abs(_signed_area(subject))
    if region_area == 0:
        return 0.0
    clipped = _clip(subject, clipper)
    if len(clipped) < 3:
        return 0.0
    return min(1.0, abs(_signed_area(clipped)) / region_area)


def _from_local_metres(points: Sequence[tuple[float, float]], origin: LonLat) -> Polygon:
    lon0, lat0 = origin
    scale_x = math.radians(1.0) * _EARTH_RADIUS_M * math.cos(math.radians(lat0))
    scale_y = math.radians(1.0) * _EARTH_RADIUS_M
    return [(lon0 + x / scale_x, lat0 + y / scale_y) for x, y in points]


def intersection(polygons: Sequence[Sequence[LonLat]]) -> Polygon:
    """The ground common to convex lon/lat polygons; empty when they do not all overlap."""
    origin = polygons[0][0]
    common = _counter_clockwise(_to_local_metres(polygons[0], origin))
    for other in polygons[1:]:
        common = _clip(common, _counter_clockwise(_to_local_metres(other, origin)))
    return _from_local_metres(common, origin) if len(common) >= 3 else []
