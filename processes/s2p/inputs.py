"""Validation of a stereo request: images, region of interest, s2p options.

`build_request` is the single entry point: it checks everything a user can get
wrong before any tile is computed, and returns a typed `StereoRequest` or raises
an `InputError` subclass whose message says what to change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

import numpy as np
import pyproj
import rasterio
import rasterio.errors
import rpcm
from rasterio.windows import Window

from .errors import (
    InvalidImageError,
    InvalidOptionValueError,
    InvalidRoiError,
    NoOverlapError,
    RoiOutsideError,
    RoiTooLargeError,
    UnknownOptionError,
)
from .footprints import LonLat, RpcModelLike, area_m2, intersection, overlap_fraction, region_footprint

MatchingAlgorithm = Literal["mgm", "mgm_multi", "tvl1"]
MATCHING_ALGORITHMS: tuple[MatchingAlgorithm, ...] = ("mgm", "mgm_multi", "tvl1")

#: Smallest image side s2p can tile (its SIFT and matching need some context).
MIN_IMAGE_SIDE = 64


@dataclass(frozen=True)
class PixelRoi:
    """A rectangle in the pixels of the reference (first) image."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> PixelRoi:
        """Parse "x,y,w,h" (integers, w and h positive)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise InvalidRoiError(f"roi_pixels must be 'x,y,w,h' (4 integers), got {text!r}")
        try:
            x, y, w, h = (int(p) for p in parts)
        except ValueError:
            raise InvalidRoiError(f"roi_pixels must be 'x,y,w,h' (4 integers), got {text!r}") from None
        if w <= 0 or h <= 0:
            raise InvalidRoiError(f"roi_pixels width and height must be positive, got w={w}, h={h}")
        return cls(x, y, w, h)

    @property
    def area(self) -> int:
        """Number of pixels."""
        return self.w * self.h

    def as_s2p(self) -> dict[str, int]:
        """The `roi` entry of an s2p configuration."""
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


@dataclass(frozen=True)
class LonLatBBox:
    """A WGS84 longitude/latitude bounding box, in degrees."""

    lon_min: float
    lat_min: float
    lon_max: float
    lat_max: float

    def __post_init__(self) -> None:
        values = (self.lon_min, self.lat_min, self.lon_max, self.lat_max)
        if not all(math.isfinite(v) for v in values):
            raise InvalidRoiError(f"bounding box values must be finite numbers, got {values}")
        if not (-180 <= self.lon_min < self.lon_max <= 180 and -90 <= self.lat_min < self.lat_max <= 90):
            raise InvalidRoiError(
                "bounding box must be 'lon_min,lat_min,lon_max,lat_max' in degrees with min < max,"
                f" got {values}"
            )

    @classmethod
    def parse(cls, text: str) -> LonLatBBox:
        """Parse "lon_min,lat_min,lon_max,lat_max"."""
        parts = [p.strip() for p in text.split(",")]
        try:
            lon_min, lat_min, lon_max, lat_max = (float(p) for p in parts)
        except ValueError:
            raise InvalidRoiError(
                f"bounding box must be 'lon_min,lat_min,lon_max,lat_max' (4 numbers), got {text!r}"
            ) from None
        return cls(lon_min, lat_min, lon_max, lat_max)

    def corners(self) -> list[LonLat]:
        """Closed ring of the four corners, counter-clockwise."""
        return [
            (self.lon_min, self.lat_min),
            (self.lon_max, self.lat_min),
            (self.lon_max, self.lat_max),
            (self.lon_min, self.lat_max),
            (self.lon_min, self.lat_min),
        ]

    def as_geojson(self) -> dict[str, Any]:
        """A GeoJSON Polygon (what s2p's `roi_geojson` accepts)."""
        return {"type": "Polygon", "coordinates": [[list(c) for c in self.corners()]]}


@dataclass(frozen=True)
class ImageInput:
    """One input image: a GeoTIFF, with its RPC model in its tags or in a sidecar file."""

    path: Path
    rpc_path: Path | None = None
    #: Name shown to the user in messages (the WPS input name or file name); defaults to the file name.
    label: str = ""

    @property
    def name(self) -> str:
        """What messages call this image."""
        return self.label or self.path.name


@dataclass(frozen=True)
class ImageInfo:
    """What validation learned about one image."""

    image: ImageInput
    width: int
    height: int
    rpc: rpcm.RPCModel = field(repr=False, compare=False)


@dataclass(frozen=True)
class InputLimits:
    """Server-side limits on requests (the deployment's configuration)."""

    max_roi_pixels: int = 100_000_000
    allow_srtm: bool = False
    max_images: int = 10
    min_tile_size: int = 100
    max_tile_size: int = 5000
    min_dsm_resolution: float = 0.05
    max_dsm_resolution: float = 100.0


@dataclass(frozen=True)
class StereoRequest:
    """A validated stereo request, ready for `graph.run_stereo`."""

    images: tuple[ImageInput, ...]
    roi: PixelRoi
    dsm_resolution: float
    tile_size: int
    matching_algorithm: MatchingAlgorithm
    #: EPSG code of the DSM's CRS; None means the local UTM zone.
    out_crs: int | None
    #: Extra s2p options, already checked against the allow-list.
    s2p_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: The lon/lat box the ROI came from, if the user gave one (the DSM is then cropped to it).
    roi_lonlat: LonLatBBox | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (for reports and job records)."""
        return {
            "images": [
                {"path": str(i.path), "rpc_path": str(i.rpc_path) if i.rpc_path else None, "name": i.name}
                for i in self.images
            ],
            "roi_pixels": str(self.roi),
            "roi_lonlat": None
            if self.roi_lonlat is None
            else [
                self.roi_lonlat.lon_min,
                self.roi_lonlat.lat_min,
                self.roi_lonlat.lon_max,
                self.roi_lonlat.lat_max,
            ],
            "dsm_resolution": self.dsm_resolution,
            "tile_size": self.tile_size,
            "matching_algorithm": self.matching_algorithm,
            "out_crs": self.out_crs,
            "s2p_options": dict(self.s2p_options),
        }


# --------------------------------------------------------------------------- images


def _told(exc: BaseException, image: ImageInput) -> str:
    """A library's message about ``image``, with the server's paths of its files replaced by the
    image's name (GDAL names the file it could not read)."""
    text = str(exc)
    for path in (image.path, image.rpc_path):
        if path is not None:
            for spelling in {str(path), str(path.resolve())}:
                text = text.replace(spelling, image.name)
    return text


def _read_rpc(image: ImageInput, src: rasterio.DatasetReader) -> rpcm.RPCModel:
    if image.rpc_path is not None:
        if not image.rpc_path.is_file():
            raise InvalidImageError(image.name, f"its RPC file {image.rpc_path.name!r} does not exist")
        try:
            return rpcm.rpc_from_rpc_file(str(image.rpc_path))
        except Exception as exc:
            raise InvalidImageError(
                image.name,
                f"its RPC file {image.rpc_path.name!r} cannot be read as an RPC model ({_told(exc, image)})",
            ) from exc
    tags = src.tags(ns="RPC")
    if not tags:
        raise InvalidImageError(
            image.name,
            "it has no RPC camera model: the GeoTIFF carries no RPC metadata and no RPC file was given",
        )
    try:
        model = rpcm.RPCModel(tags)
    except (KeyError, ValueError) as exc:
        raise InvalidImageError(
            image.name, f"its RPC metadata is incomplete or malformed ({_told(exc, image)})"
        ) from exc
    if not all(
        math.isfinite(v) for v in (model.row_scale, model.col_scale, model.lat_scale, model.lon_scale)
    ):
        raise InvalidImageError(image.name, "its RPC metadata has non-finite scales")
    return model


def _check_readable_to_end(image: ImageInput, src: rasterio.DatasetReader) -> None:
    """Read the last block of full resolution and the smallest overview.

    GDAL writes full-resolution data last in COGs and overviews last in
    ordinary GeoTIFFs, so these two reads reach the end of the file in both
    layouts: a truncated file fails here instead of in the middle of a run.
    """
    block_h, block_w = src.block_shapes[0]
    last_row = ((src.height - 1) // block_h) * block_h
    last_col = ((src.width - 1) // block_w) * block_w
    window = Window(last_col, last_row, src.width - last_col, src.height - last_row)
    try:
        src.read(1, window=window)
        overviews = src.overviews(1)
        if overviews:
            factor = overviews[-1]
            src.read(1, out_shape=(max(1, src.height // factor), max(1, src.width // factor)))
    except rasterio.errors.RasterioError as exc:
        raise InvalidImageError(
            image.name, f"it is truncated or corrupt: its last block cannot be read ({_told(exc, image)})"
        ) from exc


def inspect_image(image: ImageInput) -> ImageInfo:
    """Check that an image is a readable single-band GeoTIFF with an RPC model; raise `InvalidImageError`."""
    if not image.path.is_file():
        raise InvalidImageError(image.name, "file not found")
    try:
        src = rasterio.open(image.path)
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidImageError(
            image.name, f"it cannot be opened as a GeoTIFF (not a TIFF, or truncated): {_told(exc, image)}"
        ) from exc
    with src:
        if src.driver != "GTiff":
            raise InvalidImageError(image.name, f"it is not a GeoTIFF (detected format {src.driver})")
        if src.count != 1:
            raise InvalidImageError(image.name, f"expected one band (panchromatic), found {src.count}")
        if min(src.width, src.height) < MIN_IMAGE_SIDE:
            raise InvalidImageError(
                image.name,
                f"it is too small ({src.width} x {src.height}); at least {MIN_IMAGE_SIDE} px a side",
            )
        model = _read_rpc(image, src)
        _check_readable_to_end(image, src)
        return ImageInfo(image=image, width=src.width, height=src.height, rpc=model)


# --------------------------------------------------------------------------- region of interest


def altitude_range(reference: ImageInfo, options: Mapping[str, Any]) -> tuple[float, float]:
    """Heights the ground may have: `alt_min`/`alt_max` options if both given, else the RPC's range."""
    low, high = options.get("alt_min"), options.get("alt_max")
    if low is not None and high is not None:
        return (float(min(low, high)), float(max(low, high)))
    rpc = reference.rpc
    return (rpc.alt_offset - rpc.alt_scale, rpc.alt_offset + rpc.alt_scale)


def roi_from_bbox(bbox: LonLatBBox, reference: ImageInfo, altitudes: tuple[float, float]) -> PixelRoi:
    """Pixels of the reference image that see `bbox` for any ground height in `altitudes`.

    A box projected at one height misses the ground in off-nadir views of mountains (1 km
    of height error shifts it by hundreds of metres), so the corners are projected at the
    lowest, middle and highest height and the union is taken; the DSM is cropped back to
    the box. The result is clipped to the image; a box that misses it raises `RoiOutsideError`.
    """
    rpc = cast(RpcModelLike, reference.rpc)
    corners = bbox.corners()[:4]
    low, high = altitudes
    cols_all: list[float] = []
    rows_all: list[float] = []
    for altitude in (low, (low + high) / 2, high):
        lons = np.array([c[0] for c in corners])
        lats = np.array([c[1] for c in corners])
        cols, rows = rpc.projection(lons, lats, np.full(4, altitude))
        cols_all += list(np.asarray(cols, dtype=float))
        rows_all += list(np.asarray(rows, dtype=float))
    x0, y0 = math.floor(min(cols_all)), math.floor(min(rows_all))
    x1, y1 = math.ceil(max(cols_all)), math.ceil(max(rows_all))
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, reference.width), min(y1, reference.height)
    if cx1 <= cx0 or cy1 <= cy0:
        raise RoiOutsideError((x0, y0, x1 - x0, y1 - y0), (reference.width, reference.height))
    return PixelRoi(cx0, cy0, cx1 - cx0, cy1 - cy0)


def check_roi(roi: PixelRoi, reference: ImageInfo, limits: InputLimits) -> None:
    """The ROI must lie inside the reference image and within the server's area limit."""
    inside = (
        roi.x >= 0 and roi.y >= 0 and roi.x + roi.w <= reference.width and roi.y + roi.h <= reference.height
    )
    if not inside:
        raise RoiOutsideError((roi.x, roi.y, roi.w, roi.h), (reference.width, reference.height))
    if roi.area > limits.max_roi_pixels:
        raise RoiTooLargeError(roi.area, limits.max_roi_pixels)


def overlap_roi(images: list[ImageInfo], altitudes: tuple[float, float]) -> PixelRoi:
    """The reference image's pixel rectangle around the ground every image sees.

    What a request with no region of interest processes: the whole overlap of the images. The
    ground height is unknown before the DSM exists and the overlap of oblique views moves with it,
    so the height range is sampled and the height with the largest common footprint is used.
    """
    reference = images[0]
    low, high = altitudes
    best: tuple[float, list[LonLat], float] = (0.0, [], low)
    for step in range(9):
        altitude = low + (high - low) * step / 8
        footprints = [
            region_footprint(cast(RpcModelLike, info.rpc), 0, 0, info.width, info.height, altitude=altitude)
            for info in images
        ]
        common = intersection(footprints)
        area = area_m2(common) if common else 0.0
        if area > best[0]:
            best = (area, common, altitude)
    _, common, altitude = best
    if not common:
        raise NoOverlapError(reference.image.name, images[1].image.name, 0.0)
    cols, rows = reference.rpc.projection(
        np.array([p[0] for p in common]), np.array([p[1] for p in common]), altitude
    )
    x0, y0 = max(0, math.floor(float(np.min(cols)))), max(0, math.floor(float(np.min(rows))))
    x1 = min(reference.width, math.ceil(float(np.max(cols))))
    y1 = min(reference.height, math.ceil(float(np.max(rows))))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise NoOverlapError(reference.image.name, images[1].image.name, 0.0)
    return PixelRoi(x0, y0, x1 - x0, y1 - y0)


def check_overlap(images: list[ImageInfo], roi: PixelRoi, altitudes: tuple[float, float]) -> dict[str, float]:
    """Fraction of the ROI's ground footprint seen by each other image; raise `NoOverlapError` at 0.

    The footprints are compared at the lowest, middle and highest ground height of `altitudes`;
    the best fraction counts (the true height is unknown before the DSM exists).
    """
    reference = images[0]
    low, high = altitudes
    fractions: dict[str, float] = {}
    for other in images[1:]:
        best = 0.0
        for altitude in (low, (low + high) / 2, high):
            roi_ground = region_footprint(
                cast(RpcModelLike, reference.rpc), roi.x, roi.y, roi.w, roi.h, altitude=altitude
            )
            other_ground = region_footprint(
                cast(RpcModelLike, other.rpc), 0, 0, other.width, other.height, altitude=altitude
            )
            best = max(best, overlap_fraction(roi_ground, other_ground))
        if best <= 0.0:
            raise NoOverlapError(reference.image.name, other.image.name, best)
        fractions[other.image.name] = best
    return fractions


# --------------------------------------------------------------------------- s2p options


@dataclass(frozen=True)
class OptionSpec:
    """Type and range of one allowed s2p option."""

    kind: type
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False

    def check(self, name: str, value: Any) -> Any:
        """Return the value (ints accepted for floats) or raise `InvalidOptionValueError`."""
        if value is None:
            if self.nullable:
                return None
            raise InvalidOptionValueError(name, value, "may not be null")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise InvalidOptionValueError(name, value, "expected true or false")
            return value
        if self.kind is str:
            if not isinstance(value, str) or value not in self.choices:
                raise InvalidOptionValueError(name, value, f"expected one of {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidOptionValueError(name, value, f"expected a {self.kind.__name__}")
        if self.kind is int and not float(value).is_integer():
            raise InvalidOptionValueError(name, value, "expected an integer")
        if not math.isfinite(value):
            raise InvalidOptionValueError(name, value, "expected a finite number")
        if self.minimum is not None and value < self.minimum:
            raise InvalidOptionValueError(name, value, f"must be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidOptionValueError(name, value, f"must be <= {self.maximum}")
        return int(value) if self.kind is int else float(value)


#: s2p options a user may set. No option takes a path; resources and clean-up stay server-side.
ALLOWED_S2P_OPTIONS: Mapping[str, OptionSpec] = MappingProxyType(
    {
        "horizontal_margin": OptionSpec(int, 0, 500),
        "vertical_margin": OptionSpec(int, 0, 500),
        "dsm_radius": OptionSpec(int, 0, 10),
        "dsm_sigma": OptionSpec(float, 0, 100, nullable=True),
        "relative_sift_match_thresh": OptionSpec(bool),
        "sift_match_thresh": OptionSpec(float, 0, 1000),
        "disp_range_extra_margin": OptionSpec(float, 0, 10),
        "max_disp_range": OptionSpec(int, 1, 100_000, nullable=True),
        "rectification_method": OptionSpec(str, choices=("rpc", "sift")),
        "register_with_shear": OptionSpec(bool),
        "n_gcp_per_axis": OptionSpec(int, 2, 50),
        "epipolar_thresh": OptionSpec(float, 0, 100),
        "max_pointing_error": OptionSpec(float, 0, 1000),
        "disp_range_method": OptionSpec(
            str, choices=("sift", "wider_sift_exogenous", "fixed_pixel_range", "fixed_altitude_range")
        ),
        "disp_min": OptionSpec(float, -100_000, 100_000, nullable=True),
        "disp_max": OptionSpec(float, -100_000, 100_000, nullable=True),
        "alt_min": OptionSpec(float, -1000, 10_000, nullable=True),
        "alt_max": OptionSpec(float, -1000, 10_000, nullable=True),
        "disp_range_exogenous_low_margin": OptionSpec(float, -10_000, 10_000),
        "disp_range_exogenous_high_margin": OptionSpec(float, -10_000, 10_000),
        "border_margin": OptionSpec(int, 0, 1000),
        "msk_erosion": OptionSpec(int, 0, 50),
        "fusion_operator": OptionSpec(str, choices=("average_if_close", "median", "min", "max")),
        "fusion_thresh": OptionSpec(float, 0, 1000),
        "rpc_alt_range_scale_factor": OptionSpec(float, 0, 100),
        "census_ncc_win": OptionSpec(int, 1, 21),
        "stereo_speckle_filter": OptionSpec(int, 0, 10_000),
        "stereo_regularity_multiplier": OptionSpec(float, 0, 100),
        "mgm_nb_directions": OptionSpec(int, 2, 16),
        "3d_filtering_r": OptionSpec(float, 0, 1000, nullable=True),
        "3d_filtering_n": OptionSpec(int, 0, 10_000, nullable=True),
        "cargarse_basura": OptionSpec(bool),
        "use_srtm": OptionSpec(bool),
    }
)

#: Options set through the request's own parameters, never through `s2p_options`.
_REQUEST_PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "images": "the image inputs",
        "roi": "roi_pixels or the lon/lat bounding box",
        "roi_geojson": "the lon/lat bounding box",
        "full_img": "roi_pixels",
        "tile_size": "tile_size",
        "dsm_resolution": "dsm_resolution",
        "matching_algorithm": "matching_algorithm",
        "out_crs": "out_crs",
    }
)


def parse_s2p_options(text: str) -> dict[str, Any]:
    """Parse `s2p_options` given as JSON text (an object)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidOptionValueError("s2p_options", text, f"not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise InvalidOptionValueError("s2p_options", text, "expected a JSON object")
    return value


def check_s2p_options(options: Mapping[str, Any], limits: InputLimits) -> dict[str, Any]:
    """Return the options checked against the allow-list; raise `UnknownOptionError` or
    `InvalidOptionValueError`."""
    allowed = tuple(k for k in ALLOWED_S2P_OPTIONS if k != "use_srtm" or limits.allow_srtm)
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name in _REQUEST_PARAMETERS:
            raise UnknownOptionError(
                name, allowed, f"set it with the request parameter {_REQUEST_PARAMETERS[name]}"
            )
        spec = ALLOWED_S2P_OPTIONS.get(name)
        if spec is None:
            raise UnknownOptionError(name, allowed)
        if name == "use_srtm" and value is True and not limits.allow_srtm:
            raise UnknownOptionError(name, allowed, "SRTM downloads are disabled on this server")
        checked[name] = spec.check(name, value)
    method = checked.get("disp_range_method")
    if method == "fixed_pixel_range" and (checked.get("disp_min") is None or checked.get("disp_max") is None):
        raise InvalidOptionValueError(
            "disp_range_method", method, "fixed_pixel_range needs disp_min and disp_max"
        )
    if method == "fixed_altitude_range" and (
        checked.get("alt_min") is None or checked.get("alt_max") is None
    ):
        raise InvalidOptionValueError(
            "disp_range_method", method, "fixed_altitude_range needs alt_min and alt_max"
        )
    return checked


# --------------------------------------------------------------------------- request


def _check_out_crs(out_crs: int | None) -> int | None:
    if out_crs is None:
        return None
    if isinstance(out_crs, bool) or not isinstance(out_crs, int):
        raise InvalidOptionValueError("out_crs", out_crs, "expected an EPSG code (integer)")
    try:
        crs = pyproj.CRS.from_epsg(out_crs)
    except pyproj.exceptions.CRSError:
        raise InvalidOptionValueError("out_crs", out_crs, "unknown EPSG code") from None
    units = {axis.unit_name for axis in crs.axis_info[:2]}
    if not crs.is_projected or not units <= {"metre", "meter"}:
        raise InvalidOptionValueError(
            "out_crs", out_crs, "must be a projected CRS in metres (e.g. a UTM zone), or empty for local UTM"
        )
    return out_crs


def build_request(
    images: list[ImageInput],
    *,
    roi_pixels: str | PixelRoi | None = None,
    roi_lonlat: LonLatBBox | None = None,
    dsm_resolution: float = 0.5,
    tile_size: int = 500,
    matching_algorithm: str = "mgm",
    out_crs: int | None = None,
    s2p_options: Mapping[str, Any] | None = None,
    limits: InputLimits | None = None,
) -> StereoRequest:
    """Validate every input of a stereo request; with neither `roi_pixels` nor `roi_lonlat`, the region
    is the whole overlap of the images."""
    limits = limits or InputLimits()
    if not 2 <= len(images) <= limits.max_images:
        raise InvalidOptionValueError(
            "images", len(images), f"give between 2 and {limits.max_images} images of the same scene"
        )
    if roi_pixels is not None and roi_lonlat is not None:
        raise InvalidRoiError("give at most one of roi_pixels ('x,y,w,h') and a lon/lat bounding box")
    if matching_algorithm not in MATCHING_ALGORITHMS:
        raise InvalidOptionValueError(
            "matching_algorithm", matching_algorithm, f"expected one of {', '.join(MATCHING_ALGORITHMS)}"
        )
    if isinstance(tile_size, bool) or not isinstance(tile_size, int):
        raise InvalidOptionValueError("tile_size", tile_size, "expected an integer number of pixels")
    if not limits.min_tile_size <= tile_size <= limits.max_tile_size:
        raise InvalidOptionValueError(
            "tile_size",
            tile_size,
            f"must be between {limits.min_tile_size} and {limits.max_tile_size} pixels",
        )
    if not (
        isinstance(dsm_resolution, int | float)
        and math.isfinite(dsm_resolution)
        and limits.min_dsm_resolution <= dsm_resolution <= limits.max_dsm_resolution
    ):
        raise InvalidOptionValueError(
            "dsm_resolution",
            dsm_resolution,
            f"must be between {limits.min_dsm_resolution} and {limits.max_dsm_resolution} metres",
        )
    crs = _check_out_crs(out_crs)
    options = check_s2p_options(s2p_options or {}, limits)

    infos = [inspect_image(image) for image in images]
    reference = infos[0]
    altitudes = altitude_range(reference, options)
    if roi_lonlat is not None:
        roi = roi_from_bbox(roi_lonlat, reference, altitudes)
    elif roi_pixels is not None:
        roi = roi_pixels if isinstance(roi_pixels, PixelRoi) else PixelRoi.parse(str(roi_pixels))
    else:
        roi = overlap_roi(infos, altitudes)
    check_roi(roi, reference, limits)
    check_overlap(infos, roi, altitudes)
    return StereoRequest(
        images=tuple(images),
        roi=roi,
        dsm_resolution=float(dsm_resolution),
        tile_size=tile_size,
        matching_algorithm=cast(MatchingAlgorithm, matching_algorithm),
        out_crs=crs,
        s2p_options=MappingProxyType(options),
        roi_lonlat=roi_lonlat,
    )
