"""Deliverables of a stereo run: COG DSM, merged point cloud, quicklook, JSON report.

Every file is written under a temporary name and renamed into place, so a reader
never sees a half-written product.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling

from .graph import StereoResult
from .inputs import StereoRequest
from .s2p_state import s2p_version

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PLY_TYPES = {
    "f4": "float",
    "f8": "double",
    "u1": "uchar",
    "i1": "char",
    "u2": "ushort",
    "i2": "short",
    "u4": "uint",
    "i4": "int",
}


def _temp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


@dataclass(frozen=True)
class StereoProducts:
    """Paths of the products written by `write_products`."""

    dsm: Path
    quicklook: Path | None
    point_cloud: Path | None
    report: dict[str, Any]


# --------------------------------------------------------------------------- DSM


def _normalised_copy(src_path: Path, dst_path: Path, crs: str | None) -> None:
    """Block-wise copy as float32 with NaN nodata (bounded memory for large DSMs)."""
    with rasterio.open(src_path) as src:
        profile = src.profile.copy()
        profile.update(driver="GTiff", dtype="float32", nodata=float("nan"), count=1, tiled=True)
        profile.update(blockxsize=512, blockysize=512, compress="deflate", bigtiff="IF_SAFER")
        if src.crs is None and crs is not None:
            profile["crs"] = crs
        with rasterio.open(dst_path, "w", **profile) as dst:
            for _, window in src.block_windows(1):
                data = src.read(1, window=window, masked=True).astype(np.float32)
                dst.write(np.ma.filled(data, np.nan), 1, window=window)


def write_dsm_cog(dsm: Path, destination: Path, *, crs: str | None = None) -> Path:
    """Write `dsm` as a Cloud-Optimized GeoTIFF: float32, nodata NaN, CRS set, deflate, overviews."""
    with rasterio.open(dsm) as src:
        ready = src.dtypes[0] == "float32" and src.nodata is not None and math.isnan(src.nodata)
        ready = ready and src.crs is not None
        if src.crs is None and crs is None:
            raise ValueError(f"{dsm} has no CRS and none was given")
    source = dsm
    normalised = _temp_sibling(destination.with_suffix(".norm.tif"))
    tmp = _temp_sibling(destination)
    try:
        if not ready:
            _normalised_copy(dsm, normalised, crs)
            source = normalised
        rasterio.shutil.copy(
            source,
            tmp,
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="FLOATING_POINT",
            BLOCKSIZE="512",
            OVERVIEWS="AUTO",
            RESAMPLING="AVERAGE",
            BIGTIFF="IF_SAFER",
        )
        tmp.replace(destination)
    finally:
        normalised.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return destination


# --------------------------------------------------------------------------- point cloud


def _ply_header(dtype: np.dtype, count: int, comments: Sequence[str]) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0"]
    lines += [f"comment {c}" for c in comments]
    lines.append(f"element vertex {count}")
    assert dtype.names is not None
    for name in dtype.names:
        field_type = dtype.fields[name][0] if dtype.fields else None
        assert field_type is not None
        lines.append(f"property {_PLY_TYPES[field_type.str[1:]]} {name}")
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def merge_point_clouds(clouds: Sequence[Path], destination: Path) -> int:
    """Concatenate the tiles' PLY vertex lists into one binary PLY, one tile in memory at a time.

    Returns the number of points. Tiles overlap by s2p's margins only in the rectified
    images, not in the reference tiles, so concatenating does not duplicate points.
    """
    from plyfile import PlyData

    counts: list[int] = []
    comments: list[str] = []
    dtype: np.dtype | None = None
    for cloud in clouds:
        header = PlyData.read(str(cloud), mmap=True)
        vertex = header["vertex"]
        counts.append(vertex.count)
        comments = comments or list(header.comments)
        this = vertex.data.dtype.newbyteorder("<")
        if dtype is None:
            dtype = this
        elif this != dtype:
            raise ValueError(f"{cloud} has vertex fields {this} unlike the other tiles' {dtype}")
    if dtype is None:
        raise ValueError("no point cloud to merge")
    tmp = _temp_sibling(destination)
    try:
        with open(tmp, "wb") as out:
            out.write(_ply_header(dtype, sum(counts), comments))
            for cloud in clouds:
                data = PlyData.read(str(cloud))["vertex"].data
                out.write(np.ascontiguousarray(data.astype(dtype)).tobytes())
        tmp.replace(destination)
    finally:
        tmp.unlink(missing_ok=True)
    return sum(counts)


# --------------------------------------------------------------------------- quicklook


def _hillshade(
    z: np.ndarray, pixel_m: float, azimuth_deg: float = 315.0, altitude_deg: float = 45.0
) -> np.ndarray:
    dz_dy, dz_dx = np.gradient(z, pixel_m)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(-dz_dx, dz_dy)
    az, alt = math.radians(azimuth_deg), math.radians(altitude_deg)
    shade = math.sin(alt) * np.cos(slope) + math.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(shade, 0.0, 1.0)


#: Colour of the pixels inside the DSM's footprint where S2P found no height (not in the ramp).
NO_DATA_COLOUR = (0.85, 0.0, 0.85)


def _holes(valid: np.ndarray) -> np.ndarray:
    """Pixels without a height inside the footprint: invalid regions that do not touch the grid's
    border (those that do are the area outside the region S2P was asked for)."""
    from scipy import ndimage

    labels, _ = ndimage.label(~valid)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return (labels > 0) & ~np.isin(labels, border[border > 0])


def write_quicklook(
    dsm: Path,
    destination: Path,
    *,
    max_side: int = 1024,
    job_id: str | None = None,
    made: datetime | None = None,
) -> Path:
    """The DSM's :func:`quicklook_figure` as a PNG file."""
    fig = quicklook_figure(dsm, max_side=max_side, job_id=job_id, made=made)
    tmp = _temp_sibling(destination)
    try:
        fig.savefig(tmp, format="png")
        tmp.replace(destination)
    finally:
        tmp.unlink(missing_ok=True)
    return destination


def quicklook_figure(
    dsm: Path, *, max_side: int = 1024, job_id: str | None = None, made: datetime | None = None
) -> Figure:
    """Preview: hillshade over a colour ramp, holes in a colour of their own (in the legend, with their
    share), a colour bar in metres, a scale bar, the job and the date it was made."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    with rasterio.open(dsm) as src:
        factor = max(1, math.ceil(max(src.width, src.height) / max_side))
        shape = (max(1, src.height // factor), max(1, src.width // factor))
        # nearest: a hole stays a hole in a reduced picture instead of being averaged away
        z = src.read(1, out_shape=shape, masked=True, resampling=Resampling.nearest).astype(np.float64)
        pixel_m = abs(src.transform.a) * src.width / shape[1]
        crs = src.crs.to_string() if src.crs else "no CRS"
    z = np.ma.filled(z, np.nan)
    valid = np.isfinite(z)
    when = (made or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig = Figure(figsize=(8, 7.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    fig.suptitle("S2P digital surface model" + (f", job {job_id}" if job_id else ""), fontsize=12)
    ax.set_title(f"{crs}, {pixel_m:.2g} m per pixel shown, made {when}", fontsize=9, color="#444444")
    if valid.any():
        low, high = np.percentile(z[valid], [2, 98])
        high = high if high > low else low + 1.0
        norm = Normalize(vmin=low, vmax=high)
        mappable = ScalarMappable(norm=norm, cmap="terrain")
        filled = np.where(valid, z, np.nanmedian(z[valid]))
        rgb = mappable.to_rgba(filled)[..., :3]
        shade = _hillshade(filled, pixel_m)[..., None]
        image = np.clip(rgb * (0.45 + 0.55 * shade) * 1.1, 0, 1)
        holes = _holes(valid)
        image[holes] = NO_DATA_COLOUR
        rgba = np.dstack([image, (valid | holes).astype(float)])
        ax.imshow(rgba, interpolation="nearest")
        colorbar = fig.colorbar(mappable, ax=ax, fraction=0.04, pad=0.02)
        colorbar.set_label("height (m)")
        inside = int(valid.sum() + holes.sum())
        share = 100.0 * holes.sum() / inside
        ax.legend(
            handles=[Patch(color=NO_DATA_COLOUR, label=f"no height found: {share:.1f} % of the area")],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.01),
            frameon=False,
            fontsize=9,
        )
        width_m = shape[1] * pixel_m
        bar_m = 10 ** math.floor(math.log10(max(width_m / 4, 1e-3)))
        bar_m = next(m for m in (5 * bar_m, 2 * bar_m, bar_m) if m <= width_m / 4)
        ax.add_artist(
            AnchoredSizeBar(
                ax.transData,
                bar_m / pixel_m,
                f"{bar_m:g} m",
                "lower left",
                pad=0.5,
                frameon=True,
                size_vertical=2,
            )
        )
    else:
        ax.text(0.5, 0.5, "no valid height", ha="center", va="center", transform=ax.transAxes)
    return fig


# --------------------------------------------------------------------------- report


def dsm_statistics(dsm: Path) -> dict[str, Any]:
    """Size, grid, CRS and height range of a DSM (read block by block)."""
    with rasterio.open(dsm) as src:
        valid = 0
        low, high = math.inf, -math.inf
        for _, window in src.block_windows(1):
            data = src.read(1, window=window, masked=True).astype(np.float64)
            values = np.ma.filled(data, np.nan)
            finite = values[np.isfinite(values)]
            if finite.size:
                valid += finite.size
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
        return {
            "width": src.width,
            "height": src.height,
            "crs": src.crs.to_string() if src.crs else None,
            "resolution_m": abs(src.transform.a),
            "bounds": list(src.bounds),
            "valid_fraction": round(valid / (src.width * src.height), 4),
            "height_min_m": low if valid else None,
            "height_max_m": high if valid else None,
        }


def build_report(
    request: StereoRequest,
    result: StereoResult,
    *,
    cluster_info: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """JSON-serialisable report: inputs, tiles, per-stage times, retries, worker-seconds, cluster."""
    import dask
    import distributed

    tile_seconds: dict[int, float] = {}
    tile_skipped: dict[int, int] = {}
    for r in result.reports:
        if r.tile_index is not None:
            tile_seconds[r.tile_index] = tile_seconds.get(r.tile_index, 0.0) + r.seconds
            tile_skipped[r.tile_index] = tile_skipped.get(r.tile_index, 0) + int(r.skipped)
    plan = result.plan
    return {
        "inputs": request.to_json_dict(),
        "software": {
            "s2p": s2p_version(),
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "rasterio": rasterio.__version__,
            "gdal": rasterio.__gdal_version__,
            "python": platform.python_version(),
        },
        "job": {
            "run_id": result.run_id,
            "out_crs": plan.out_crs,
            "tile_size_px": [plan.tile_width, plan.tile_height],
            "tiles": len(plan.tiles),
            "pairs": len(plan.pairs),
            "wall_seconds": round(result.wall_seconds, 3),
        },
        "tasks": {
            "planned": len(result.reports),
            "skipped_as_finished": result.skipped,
            "retries": result.retries,
            "worker_seconds": round(result.worker_seconds, 3),
        },
        "stages": {name: asdict(summary) for name, summary in result.stage_summaries().items()},
        "tiles": [
            {
                "index": t.index,
                "roi_pixels": f"{t.x},{t.y},{t.w},{t.h}",
                "worker_seconds": round(tile_seconds.get(t.index, 0.0), 3),
                "skipped_tasks": tile_skipped.get(t.index, 0),
            }
            for t in plan.tiles
        ],
        "cluster": {**result.cluster, **(cluster_info or {})},
        "dsm": dsm_statistics(result.dsm_path),
        "outputs": {
            name: {"file": path.name, "bytes": path.stat().st_size}
            for name, path in (outputs or {}).items()
            if path.exists()
        },
        **({"storage": {"url": result.storage.url, **result.storage_traffic()}} if result.storage else {}),
    }


def write_products(
    request: StereoRequest,
    result: StereoResult,
    destination: Path,
    *,
    point_cloud: bool = False,
    quicklook: bool = True,
    cluster_info: Mapping[str, Any] | None = None,
    job_id: str | None = None,
) -> StereoProducts:
    """The products of a run into `destination`: dsm.tif (COG), quicklook.png and cloud.ply if asked,
    and the report (returned; the caller decides how to publish it)."""
    destination.mkdir(parents=True, exist_ok=True)
    dsm = write_dsm_cog(result.dsm_path, destination / "dsm.tif", crs=result.plan.out_crs)
    picture = write_quicklook(dsm, destination / "quicklook.png", job_id=job_id) if quicklook else None
    cloud = None
    if point_cloud:
        cloud = destination / "cloud.ply"
        merge_point_clouds(result.tile_point_clouds(), cloud)
    made = {"dsm": dsm, "quicklook": picture, "point_cloud": cloud}
    outputs = {name: path for name, path in made.items() if path is not None}
    report = build_report(request, result, cluster_info=cluster_info, outputs=outputs)
    return StereoProducts(dsm=dsm, quicklook=picture, point_cloud=cloud, report=report)
