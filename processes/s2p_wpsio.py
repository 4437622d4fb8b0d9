"""What the S2P processes share: their settings, the request inputs, the validated request built from
them, the cluster profiles and calibration, and the one place where domain errors become WPS errors."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from cluster.errors import ClusterError
from cluster.estimate import Calibration, load_calibration
from cluster.profiles import ProfileRegistry, load_profiles
from cluster.refinement import refine, samples_from_costs
from cluster.storage import JobStorage, StorageError, open_storage
from processes.s2p import errors
from processes.s2p.inputs import (
    ImageInput,
    InputLimits,
    LonLatBBox,
    StereoRequest,
    build_request,
    parse_s2p_options,
)
from processes.s2p.plan import TileGrid, tile_grid
from wps_server.config import ConfigError, Settings, section_number
from wps_server.errors import ProcessError
from wps_server.process import (
    FORMATS,
    BoundingBox,
    BoundingBoxInput,
    ComplexInput,
    ComplexValue,
    Format,
    InputDefinition,
    JobContext,
    LiteralInput,
    ProcessInputs,
)

IMAGE_FORMATS = (FORMATS["geotiff"], Format("image/tiff", extension=".tif"))
RPC_FORMATS = (Format("text/plain", extension=".rpc"), Format("text/xml", extension=".xml"))
#: Inputs a domain error may name, so the exception's locator points at what to change.
_LOCATED = {"images", "tile_size", "dsm_resolution", "matching_algorithm", "out_crs"}

#: The inputs that describe a stereo request, shared by s2p_stereo and s2p_estimate.
REQUEST_INPUTS: tuple[InputDefinition, ...] = (
    ComplexInput(
        "images",
        "Images",
        IMAGE_FORMATS,
        "GeoTIFFs with RPC tags, the reference first.",
        min_occurs=2,
        max_occurs=10,
        max_megabytes=4096,
    ),
    ComplexInput(
        "rpc",
        "RPC models",
        RPC_FORMATS,
        "One RPC file per image, in the order of the images, for images without RPC tags.",
        min_occurs=0,
        max_occurs=10,
        max_megabytes=1,
    ),
    BoundingBoxInput(
        "roi",
        "Region (lon/lat)",
        ("EPSG:4326",),
        "The area to reconstruct; neither roi nor roi_pixels: the whole overlap.",
        min_occurs=0,
    ),
    LiteralInput("roi_pixels", "Region (pixels)", abstract="x,y,w,h on the first image.", min_occurs=0),
    LiteralInput(
        "dsm_resolution",
        "DSM resolution",
        "float",
        min_occurs=0,
        default=0.5,
        value_range=(0.05, 100.0),
        uom="m",
    ),
    LiteralInput(
        "tile_size",
        "Tile size",
        "integer",
        min_occurs=0,
        default=500,
        value_range=(100, 5000),
        abstract="Tile side in pixels (S2P rounds it).",
    ),
    LiteralInput(
        "matching_algorithm",
        "Matching algorithm",
        min_occurs=0,
        default="mgm",
        allowed_values=("mgm", "mgm_multi", "tvl1"),
    ),
    LiteralInput(
        "out_crs",
        "Output CRS (EPSG code)",
        "integer",
        min_occurs=0,
        value_range=(1024, 999999),
        abstract="Default: the local UTM zone.",
    ),
    LiteralInput("max_workers", "Most workers", "integer", min_occurs=0, value_range=(1, 10000)),
    LiteralInput(
        "s2p_options",
        "Other S2P settings (JSON)",
        min_occurs=0,
        abstract="A JSON object of allowed S2P settings (no paths).",
    ),
)


@dataclass(frozen=True)
class S2PSettings:
    """The ``[s2p]`` section (what a request may ask for) and the ``[cluster]`` profiles and calibration."""

    limits: InputLimits
    retries: int
    step_timeout: float
    profiles: ProfileRegistry
    calibration: Calibration
    #: ``[jobs] storage`` and ``[server] data_dir``: where a profile without a storage of its own works.
    storage: str = ""
    data_dir: Path = Path("var")
    _checked: set[str] = field(default_factory=set, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def job_storage(self, profile_name: str | None) -> JobStorage | None:
        """The storage where the workers of a profile find their jobs' folders, checked (a write and a
        delete) at its first use by this process, a ProcessError naming the profile otherwise; None when
        neither the profile nor ``[jobs] storage`` names one: the job's own working folder, as always."""
        profile = self.profiles.profiles.get(profile_name or self.profiles.default)
        url = (profile.storage if profile else None) or self.storage
        if not url:
            return None
        storage = open_storage(url, self.data_dir)
        with self._lock:
            if storage.url in self._checked:
                return storage
            try:
                storage.check()
            except StorageError as exc:
                name = profile_name or self.profiles.default
                raise ProcessError(
                    f"cluster profile {name!r} cannot be used now: its job storage {storage.url} {exc.reason}",
                    "cluster",
                ) from None
            self._checked.add(storage.url)
        return storage

    @classmethod
    def from_settings(cls, settings: Settings) -> S2PSettings:
        # the packaged defaults (wps_server/default.cfg) give every key a value
        section, clusters = settings.section("s2p"), settings.section("cluster")

        def whole(key: str, low: int, high: int) -> int:
            return int(section_number("s2p", section, key, low, high, whole=True))

        srtm = section["allow_srtm"].strip().lower()
        if srtm not in ("true", "false"):
            raise ConfigError(f"[s2p] allow_srtm must be true or false, not {section['allow_srtm']!r}")
        limits = InputLimits(
            max_roi_pixels=whole("max_roi_pixels", 10_000, 10**12),
            allow_srtm=srtm == "true",
            max_images=whole("max_images", 2, 10),
        )
        retries = whole("retries", 0, 100)
        step_timeout = section_number("s2p", section, "step_timeout", 0.1, 7 * 86_400)
        try:
            profiles = load_profiles(clusters.get("profiles_file") or None, missing_ok=True)
            calibration = load_calibration(clusters.get("calibration_file") or None)
        except ClusterError as exc:
            raise ConfigError(f"[cluster] {exc}") from exc
        return cls(
            limits, retries, step_timeout, profiles, calibration, settings.jobs.storage, settings.data_dir
        )


def job_calibration(ctx: JobContext, config: S2PSettings, request: StereoRequest) -> Calibration:
    """The configured calibration refined by this server's finished ``s2p_stereo`` jobs (on each
    profile, by those of the same tiles and pairs as ``request`` when there are some)."""
    grid = request_grid(request)
    like = (grid.tiles, grid.tile_pixels, len(request.images) - 1)
    return refine(config.calibration, samples_from_costs(ctx.finished_costs("s2p_stereo")), like=like)


def stereo_request(inputs: ProcessInputs, config: S2PSettings) -> StereoRequest:
    """The validated request, or a ProcessError naming the input to change."""
    images: list[ComplexValue] = inputs.all("images")  # type: ignore[assignment]
    rpcs: list[ComplexValue] = inputs.all("rpc")  # type: ignore[assignment]
    if rpcs and len(rpcs) != len(images):
        raise ProcessError(f"give one rpc per image ({len(images)}), or none; got {len(rpcs)}", "rpc")
    bbox: BoundingBox | None = inputs.one("roi")
    try:
        return build_request(
            [
                ImageInput(image.path, rpcs[i].path if rpcs else None, label=_label(image, i))
                for i, image in enumerate(images)
            ],
            roi_pixels=inputs.one("roi_pixels"),
            roi_lonlat=LonLatBBox(bbox.lower[0], bbox.lower[1], bbox.upper[0], bbox.upper[1])
            if bbox
            else None,
            dsm_resolution=inputs.one("dsm_resolution"),
            tile_size=inputs.one("tile_size"),
            matching_algorithm=inputs.one("matching_algorithm"),
            out_crs=inputs.one("out_crs"),
            s2p_options=parse_s2p_options(inputs.one("s2p_options")) if inputs.one("s2p_options") else None,
            limits=config.limits,
        )
    except errors.InputError as exc:
        raise ProcessError(str(exc), _locator(exc, inputs)) from None


def request_grid(request: StereoRequest) -> TileGrid:
    """The tiles S2P will make of the request's region, its rounding of the tile size included."""
    return tile_grid(request.roi.w, request.roi.h, request.tile_size)


def tile_count(request: StereoRequest) -> int:
    """How many tiles S2P will make of the request's region."""
    return request_grid(request).tiles


def _label(image: ComplexValue, index: int) -> str:
    name = (image.href or "").rstrip("/").rsplit("/", 1)[-1] or image.path.name
    return f"image {index + 1} ({name})"


def _locator(exc: errors.InputError, inputs: ProcessInputs) -> str:
    if isinstance(exc, errors.InvalidImageError | errors.NoOverlapError):
        return "images"
    if isinstance(exc, errors.RoiOutsideError | errors.RoiTooLargeError | errors.InvalidRoiError):
        return "roi" if "roi" in inputs else "roi_pixels" if "roi_pixels" in inputs else "images"
    if isinstance(exc, errors.InvalidOptionValueError) and exc.option in _LOCATED:
        return exc.option
    return "s2p_options"
