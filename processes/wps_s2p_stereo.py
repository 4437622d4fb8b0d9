"""WPS process ``s2p_stereo``: satellite images with RPC models in, a digital surface model out.

The handler parses the inputs, asks the engine for a cluster of the requested profile sized for the
tiles, runs S2P's steps as one Dask graph there (:mod:`processes.s2p`), and writes the products; the
report puts the measured time and cost next to what the calibration predicted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster.estimate import Calibration, predict
from cluster.profiles import ClusterProfile
from cluster.storage import JobStorage, LocalFolder, StorageError
from processes.s2p import errors
from processes.s2p.calibration import measured_work
from processes.s2p.graph import StereoResult, expected_task_durations, run_stereo
from processes.s2p.inputs import StereoRequest
from processes.s2p.plan import TileGrid
from processes.s2p.products import write_products
from processes.s2p.stac import ITEM_MEDIA_TYPE, ITEM_SCHEMA, stereo_item
from processes.s2p.steps import job_log
from processes.s2p_wpsio import REQUEST_INPUTS, S2PSettings, job_calibration, request_grid, stereo_request
from wps_server.config import Settings
from wps_server.errors import ProcessError
from wps_server.execution import JobDismissed
from wps_server.process import (
    FORMATS,
    ComplexOutput,
    Format,
    JobContext,
    LiteralInput,
    Process,
    ProcessInputs,
)

REPORT = Format("application/json", extension=".json")
STAC_ITEM = Format(ITEM_MEDIA_TYPE, extension=".json", schema=ITEM_SCHEMA)
#: File name of each product among the job's outputs (the engine names them identifier + extension).
PRODUCT_FILES = {
    "dsm": f"dsm{FORMATS['cog'].extension}",
    "quicklook": f"quicklook{FORMATS['png'].extension}",
    "point_cloud": f"point_cloud{FORMATS['ply'].extension}",
    "report": f"report{REPORT.extension}",
}
log = logging.getLogger(__name__)


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
        keywords=("S2P", "stereo", "DSM", "RPC"),
        metadata=(("S2P (AGPL-3.0)", "https://github.com/centreborelli/s2p"),),
        inputs=(
            *REQUEST_INPUTS,
            LiteralInput(
                "cluster",
                "Cluster profile",
                min_occurs=0,
                default="local",
                abstract="One of the allowed values, the profiles you may use; local is the server's own cluster.",
            ),
            LiteralInput(
                "max_cost",
                "Cost cap",
                "float",
                min_occurs=0,
                value_range=(0, None),
                abstract="On a priced profile: refuse the job if its estimate is higher, and stop it (closing "
                "its cluster) when its running bill reaches this, in the profile's currency.",
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
                "Inputs, tiles, per-stage times, retries, worker-seconds, cluster, cost (measured and predicted).",
            ),
            ComplexOutput(
                "stac",
                "STAC Item",
                (STAC_ITEM,),
                "The products as a STAC Item: the DSM (COG, projection and raster extensions), the "
                "quicklook as thumbnail, the point cloud and the report, the footprint in WGS84 and the "
                "settings; asset links are relative to the item.",
            ),
            ComplexOutput(
                "log",
                "S2P's log",
                (FORMATS["text"],),
                "What S2P and its programs printed, step by step (kept out of the server's log).",
            ),
        ),
    )


def _stereo(inputs: ProcessInputs, ctx: JobContext, config: S2PSettings) -> Mapping[str, Any]:
    request = stereo_request(inputs, config)
    storage = config.job_storage(inputs.one("cluster"))
    if storage is None:  # the default: in the job's working folder, which the engine removes
        return _run(request, inputs, ctx, config, LocalFolder(ctx.workdir / "s2p"))
    name = f"jobs/{ctx.job_id}/s2p"
    try:
        return _run(request, inputs, ctx, config, storage.child(name))
    finally:
        # the job's folder goes with the job, whatever its end (after a crash it stays, for the resumed run)
        try:
            storage.delete(name)
        except StorageError as exc:
            log.warning("job folder not removed (retention will): %s", exc, extra={"job_id": ctx.job_id})


def _run(
    request: StereoRequest, inputs: ProcessInputs, ctx: JobContext, config: S2PSettings, folder: JobStorage
) -> Mapping[str, Any]:
    grid = request_grid(request)
    durations = expected_task_durations(grid.tile_pixels)
    tiles, pairs = grid.tiles, len(request.images) - 1
    # what an estimate made now would say: the prediction the report compares the bill with
    calibration = job_calibration(ctx, config, request)
    ctx.progress(
        1, f"S2P on {len(request.images)} images, {tiles} tiles of {grid.tile_width}x{grid.tile_height} px"
    )
    # on a folder the workers share, they work in it; on an object store, the driver keeps its copy
    # of the plan in the job's working folder and the workers stage through the store
    workdir = folder.root if isinstance(folder, LocalFolder) else ctx.workdir / "s2p"
    try:
        with ctx.cluster(
            inputs.one("cluster"),
            tiles,
            sum(durations.values()),
            inputs.one("max_workers"),
            durations,
            max_cost=inputs.one("max_cost"),
            predicted_cost=lambda profile, workers: _predicted_cost(
                profile, workers, grid, pairs, calibration
            ),
        ) as client:
            result = run_stereo(
                request,
                workdir,
                client,
                lambda percent, message: ctx.progress(1 + 0.93 * percent, message),
                ctx.cancelled,
                retries=config.retries,
                step_timeout_seconds=config.step_timeout,
                storage=None if isinstance(folder, LocalFolder) else folder,
            )
    except errors.StereoCancelledError:
        raise JobDismissed from None
    except errors.TileFailedError as exc:
        raise ProcessError(f"S2P failed: {exc}") from None
    except StorageError as exc:
        raise ProcessError(f"S2P failed: {exc}") from None
    # the point cloud only on request; the quicklook unless the request names outputs without it
    wanted = ctx.requested_outputs
    ctx.progress(95, "writing the products and the report")
    try:  # on an object store, the tiles' clouds for the merged PLY come from it
        products = write_products(
            request,
            result,
            ctx.workdir / "products",
            point_cloud="point_cloud" in wanted,
            quicklook=not wanted or bool({"quicklook", "stac"} & wanted),
            job_id=ctx.job_id,
        )
    except StorageError as exc:
        raise ProcessError(f"S2P failed while writing the products: {exc}") from None
    report = {
        **products.report,
        "cost": _measured_and_predicted(ctx, config, calibration, result),
        "budget": ctx.budget(),
    }
    outputs: dict[str, Any] = {
        "dsm": products.dsm,
        "report": json.dumps(report, indent=2, default=str),
        "log": job_log(Path(result.plan.job_dir)),
    }
    if products.quicklook is not None:
        outputs["quicklook"] = products.quicklook
    if products.point_cloud is not None:
        outputs["point_cloud"] = products.point_cloud
    files = {name: file for name, file in PRODUCT_FILES.items() if name in outputs}
    item = stereo_item(ctx.job_id, products.dsm, files, report, datetime.now(UTC))
    outputs["stac"] = json.dumps(item, indent=2)
    return outputs


def _predicted_cost(
    profile: ClusterProfile, workers: int, grid: TileGrid, pairs: int, calibration: Calibration
) -> float:
    """The price of the job on ``workers`` workers of the profile, as s2p_estimate puts it (from the
    calibration refined by the finished jobs)."""
    if profile.price is None:
        return 0.0
    _wall, _cpu_hours, billed = predict(
        profile, workers, grid.tiles, calibration, tile_pixels=grid.tile_pixels, pairs=pairs
    )
    return (workers * profile.worker_hour_price + profile.price.scheduler_amount) * billed / 3600.0


def _measured_and_predicted(
    ctx: JobContext, config: S2PSettings, calibration: Calibration, result: StereoResult
) -> dict[str, Any] | None:
    """The cluster's bill, with the prediction for the same profile and workers and the work measured
    beside it; kept as the job's cost, for later estimates to learn from (see cluster.refinement)."""
    if not ctx.costs:
        return None
    measured = dict(ctx.costs[-1])
    work = measured_work(result)
    profile = config.profiles.profiles.get(str(measured.get("profile")))
    if profile is not None:
        workers = max(1, len(measured.get("workers", ())) or int(measured.get("workers_requested", 1)))
        wall, cpu_hours, billed = predict(
            profile, workers, work.tiles, calibration, tile_pixels=work.tile_pixels, pairs=work.pairs
        )
        cost = workers * billed / 3600.0 * profile.worker_hour_price
        if profile.price is not None:
            cost += profile.price.scheduler_amount * billed / 3600.0
        measured["predicted"] = {
            "calibration": calibration.label,
            "refined": any(f is not None for f in calibration.fits_for(profile)),
            "workers": workers,
            "wall_seconds": wall,
            "cpu_hours": cpu_hours,
            "cost": cost,
        }
    measured["measured_work"] = work.to_dict()
    ctx.record_cost(measured)
    return measured
