"""An S2P run's products as a STAC Item: the DSM (a COG, with the projection and raster extensions),
the quicklook as its thumbnail, the point cloud and the report, the DSM's footprint in WGS84 and the
run's settings as ``s2p:`` properties.

Asset hrefs are the products' file names, relative to the item's own location: whoever publishes
the item next to the products (or rewrites the hrefs into links of its own) makes them reachable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pystac
import rasterio
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension, Statistics
from rasterio.warp import transform_geom

#: Media type of a STAC Item.
ITEM_MEDIA_TYPE = "application/geo+json"
ITEM_SCHEMA = f"https://schemas.stacspec.org/v{pystac.get_stac_version()}/item-spec/json-schema/item.json"

_ASSETS: dict[str, tuple[str, list[str], str]] = {
    "quicklook": (pystac.MediaType.PNG, ["thumbnail", "overview"], "Quicklook: hillshaded heights"),
    "point_cloud": ("application/ply", ["data"], "Point cloud (PLY)"),
    "report": (pystac.MediaType.JSON, ["metadata"], "Run report: stages, tiles, cluster, cost"),
}


def footprint(dsm: Path) -> dict[str, Any]:
    """The DSM's extent as a GeoJSON polygon in WGS84 (edges densified, so that it follows the grid)."""
    with rasterio.open(dsm) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    steps = 4
    ring = (
        [(left + (right - left) * i / steps, top) for i in range(steps)]
        + [(right, top - (top - bottom) * i / steps) for i in range(steps)]
        + [(right - (right - left) * i / steps, bottom) for i in range(steps)]
        + [(left, bottom + (top - bottom) * i / steps) for i in range(steps)]
    )
    ring.append(ring[0])
    polygon = {"type": "Polygon", "coordinates": [ring]}
    wgs84 = transform_geom(crs, "EPSG:4326", polygon)
    # 1e-7 degree is about a centimetre
    return {
        "type": "Polygon",
        "coordinates": [[[round(x, 7), round(y, 7)] for x, y in wgs84["coordinates"][0]]],
    }


def _bbox(geometry: Mapping[str, Any]) -> list[float]:
    xs = [x for x, _ in geometry["coordinates"][0]]
    ys = [y for _, y in geometry["coordinates"][0]]
    return [min(xs), min(ys), max(xs), max(ys)]


def _add_dsm(item: pystac.Item, dsm: Path, href: str, statistics: Mapping[str, Any]) -> None:
    asset = pystac.Asset(href, "Digital surface model", media_type=pystac.MediaType.COG, roles=["data"])
    item.add_asset("dsm", asset)  # first: the extensions are declared on the item that owns it
    with rasterio.open(dsm) as src:
        epsg = src.crs.to_epsg() if src.crs else None
        projection = ProjectionExtension.ext(asset, add_if_missing=True)
        projection.apply(
            code=f"EPSG:{epsg}" if epsg else None,
            wkt2=None if epsg else src.crs.to_wkt(),
            bbox=list(src.bounds),
            shape=[src.height, src.width],
            transform=list(src.transform)[:6],
        )
        resolution = abs(src.transform.a)
    valid = statistics.get("valid_fraction")
    band = RasterBand.create(
        nodata=NoDataStrings.NAN,
        data_type=DataType.FLOAT32,
        spatial_resolution=resolution,
        unit="m",
        statistics=Statistics.create(
            minimum=statistics.get("height_min_m"),
            maximum=statistics.get("height_max_m"),
            valid_percent=None if valid is None else round(100 * float(valid), 2),
        ),
    )
    RasterExtension.ext(asset, add_if_missing=True).apply([band])


def stereo_item(
    item_id: str,
    dsm: Path,
    files: Mapping[str, str],
    report: Mapping[str, Any],
    produced: datetime,
) -> dict[str, Any]:
    """The STAC Item of one run: ``files`` maps product names (``dsm``, ``quicklook``, ``point_cloud``,
    ``report``) to their file names; ``report`` is the run's report (settings, DSM statistics)."""
    geometry = footprint(dsm)
    inputs = report.get("inputs", {})
    stats = report.get("dsm", {})
    properties: dict[str, Any] = {
        "title": f"S2P digital surface model {item_id}",
        "created": pystac.utils.datetime_to_str(produced),
        "gsd": stats.get("resolution_m"),
        "s2p:images": [image.get("name") for image in inputs.get("images", [])],
        "s2p:roi_pixels": inputs.get("roi_pixels"),
        "s2p:dsm_resolution": inputs.get("dsm_resolution"),
        "s2p:tile_size": inputs.get("tile_size"),
        "s2p:matching_algorithm": inputs.get("matching_algorithm"),
        "s2p:out_crs": inputs.get("out_crs"),
        "s2p:options": inputs.get("s2p_options") or {},
        "s2p:tiles": report.get("job", {}).get("tiles"),
        "s2p:version": report.get("software", {}).get("s2p"),
    }
    properties = {key: value for key, value in properties.items() if value is not None}
    item = pystac.Item(item_id, geometry, _bbox(geometry), produced, properties)
    _add_dsm(item, dsm, files["dsm"], stats)
    for name, (media, roles, title) in _ASSETS.items():
        if name in files:
            item.add_asset(name, pystac.Asset(files[name], title, media_type=media, roles=roles))
    document = item.to_dict(include_self_link=False, transform_hrefs=False)
    return _finite(document)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such numbers (an empty DSM's statistics) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
