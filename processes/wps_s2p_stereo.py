"""WPS process ``s2p_stereo``: satellite images with RPC models in, a digital surface model out.

The handler parses the inputs, asks the engine for a cluster of the requested profile sized for the
tiles, runs S2P's steps as one Dask graph there (:mod:`processes.s2p`), and writes the products.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from processes.s2p import errors
from processes.s2p.graph import (
    DEFAULT_RETRIES,
    DEFAULT_STEP_TIMEOUT_SECONDS,
    expected_task_durations,
    run_stereo,
)
from processes.s2p.inputs import ImageInput, InputLimits, LonLatBBox, build_request, parse_s2p_options
from processes.s2p.products import write_products
from wps_server.config import ConfigError, Settings
from wps_server.errors import ProcessError
from wps_server.execution import JobDismissed
from wps_server.process import (
    FORMATS,
    BoundingBox,
    BoundingBoxInput,
    ComplexInput,
    ComplexOutput,
    ComplexValue,
    Format,
    JobContext,
    LiteralInput,
    Process,
    ProcessInputs,
)

IMAGE_FORMATS = (FORMATS["geotiff"], Format("image/tiff", extension=".tif"))
RPC_FORMATS = (Format("text/plain", extension=".rpc"), Format("text/xml", extension=".xml"))
REPORT = Format("application/json", extension=".json")
#: Inputs a domain error may name, so the exception's locator points at what to change.
_LOCATED = {"images", "tile_size", "dsm_resolution", "matching_algorithm", "out_crs"}


@dataclass(frozen=True)
class S2PSettings:
    """The ``[s2p]`` section: what the deployment allows a request to ask for."""

    limits: InputLimits
    retries: int
    step_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> S2PSettings:
        section = settings.section("s2p")
        defaults = InputLimits()
        try:
            limits = InputLimits(
                max_roi_pixels=int(section.get("max_roi_pixels") or defaults.max_roi_pixels),
                allow_srtm=(section.get("allow_srtm") or "false").lower() == "true",
                max_images=int(section.get("max_images") or defaults.max_images),
            )
            return cls(
                limits,
                int(section.get("retries") or DEFAULT_RETRIES),
                float(section.get("step_timeout") or DEFAULT_STEP_TIMEOUT_SECONDS),
            )
        except ValueError as exc:
            raise ConfigError(f"[s2p] {exc}") from exc


def process(settings: Settings) -> Process:
    config = S2PSettings.from_settings(settings)

    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        return _stereo(inputs, ctx, config)

    return Process(
        "s2p_stereo",
        "Digital surface model from satellite stereo images (S2P)",
        handler,
        abstract=(
            "Two to ten GeoTIFF images of one scene with RPC camera models in, a DSM out. S2P's steps run "
            "tile by tile as one Dask task graph on the cluster profile asked for; the report gives the "
            "times per stage, the worker-seconds and the cost."
        ),
        version="1.0.0",
        keywords=("S2P", "stereo", "DSM", "RPC"),
        metadata=(("S2P (AGPL-3.0)", "https://github.com/centreborelli/s2p"),),
        inputs=(
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
            LiteralInput(
                "roi_pixels", "Region (pixels)", abstract="x,y,w,h on the first image.", min_occurs=0
            ),
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
            LiteralInput(
                "cluster",
                "Cluster profile",
                min_occurs=0,
                default="local",
                abstract="A profile of the server's clusters file; local is the server's own.",
            ),
            LiteralInput("max_workers", "Most workers", "integer", min_occurs=0, value_range=(1, 10000)),
            LiteralInput(
                "s2p_options",
                "Other S2P settings (JSON)",
                min_occurs=0,
                abstract="A JSON object of allowed S2P settings (no paths).",
            ),
        ),
        outputs=(
            ComplexOutput(
                "dsm",
                "Digital surface model",
                (FORMATS["cog"], FORMATS["geotiff"]),
                "Cloud-Optimized GeoTIFF, float32, NaN where no height was found.",
            ),
            ComplexOutput(
                "point_cloud", "Point cloud", (FORMATS["ply"],), "The merged cloud; only on request."
            ),
            ComplexOutput(
                "quicklook", "Quicklook", (FORMATS["png"],), "Hillshade over a colour ramp, with a scale."
            ),
            ComplexOutput(
                "report",
                "Report",
                (REPORT,),
                "Inputs, tiles, per-stage times, retries, worker-seconds, cluster, cost, versions.",
            ),
        ),
    )


def _stereo(inputs: ProcessInputs, ctx: JobContext, config: S2PSettings) -> Mapping[str, Any]:
    images: list[ComplexValue] = inputs.all("images")  # type: ignore[assignment]
    rpcs: list[ComplexValue] = inputs.all("rpc")  # type: ignore[assignment]
    if rpcs and len(rpcs) != len(images):
        raise ProcessError(f"give one rpc per image ({len(images)}), or none; got {len(rpcs)}", "rpc")
    bbox: BoundingBox | None = inputs.one("roi")
    try:
        request = build_request(
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
    tile_pixels = request.tile_size * request.tile_size
    durations = expected_task_durations(tile_pixels)
    tiles = math.ceil(request.roi.w / request.tile_size) * math.ceil(request.roi.h / request.tile_size)
    ctx.progress(1, f"S2P on {len(images)} images, about {tiles} tiles")
    try:
        with ctx.cluster(
            inputs.one("cluster"), tiles, sum(durations.values()), inputs.one("max_workers"), durations
        ) as client:
            result = run_stereo(
                request,
                ctx.workdir / "s2p",
                client,
                lambda p, m: ctx.progress(1 + 0.93 * p, m),
                ctx.cancelled,
                retries=config.retries,
                step_timeout_seconds=config.step_timeout,
            )
    except errors.StereoCancelledError:
        raise JobDismissed from None
    except errors.TileFailedError as exc:
        raise ProcessError(f"S2P failed: {exc}") from None
    ctx.progress(95, "writing the DSM, the quicklook and the report")
    wanted_cloud = "point_cloud" in ctx.requested_outputs
    products = write_products(request, result, ctx.workdir / "products", point_cloud=wanted_cloud)
    report = {**products.report, "cost": ctx.costs[-1] if ctx.costs else None}
    outputs: dict[str, Any] = {
        "dsm": products.dsm,
        "quicklook": products.quicklook,
        "report": json.dumps(report, indent=2, default=str),
    }
    if products.point_cloud is not None:
        outputs["point_cloud"] = products.point_cloud
    return outputs


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
