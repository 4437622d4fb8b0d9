"""What S2P's steps cost per tile, for the estimates of ``s2p_estimate``: measured once by
``wps-server calibrate`` (:func:`measure`), and by every job (:func:`measured_work`, which the job keeps
with its bill so that later estimates refine themselves, see :mod:`cluster.refinement`).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cluster.estimate import Calibration, machine_info, write_calibration
from cluster.lifecycle import SharedClusters, open_cluster
from cluster.profiles import ClusterProfile
from cluster.refinement import MeasuredWork

from .graph import ProgressCallback, StereoResult, expected_task_durations, run_stereo, task_prefix
from .inputs import ImageInput, build_request
from .plan import REDUCTION_STAGES, Stage


def measured_work(result: StereoResult) -> MeasuredWork:
    """The seconds each stage's steps took in ``result`` (the report's figures), keyed by task prefix:
    per-tile stages apart from the job's reductions."""
    tiles: dict[str, float] = {}
    once: dict[str, float] = {}
    for report in result.reports:
        stage = Stage(report.stage)
        target = once if stage in REDUCTION_STAGES else tiles
        target[task_prefix(stage)] = target.get(task_prefix(stage), 0.0) + report.seconds
    plan = result.plan
    return MeasuredWork(
        tiles=len(plan.tiles),
        tile_pixels=plan.tile_width * plan.tile_height,
        pairs=len(plan.pairs),
        stages=tiles,
        job_stages=once,
        skipped=result.skipped,
    )


def calibration_from_work(
    work: MeasuredWork, tile_size_px: int, source: str, machine: Mapping[str, Any] | None = None
) -> Calibration:
    """Seconds per tile of ``tile_size_px`` squared pixels and one pair, from one run's measured work."""
    scale = work.tiles * work.tile_pixels / (tile_size_px * tile_size_px) * work.pairs
    return Calibration(
        stages={k: round(v / scale, 4) for k, v in work.stages.items()},
        job_stages={k: round(v, 4) for k, v in work.job_stages.items()},
        tile_size_px=tile_size_px,
        label="measured",
        source=source,
        measured=True,
        measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=dict(machine) if machine is not None else machine_info(),
        tiles=work.tiles,
    )


def measure(
    images: list[Path],
    output: Path,
    profile: ClusterProfile,
    *,
    roi_pixels: str | None = None,
    tile_size: int = 300,
    s2p_options: Mapping[str, Any] | None = None,
    progress: ProgressCallback = lambda percent, message: None,
) -> Calibration:
    """Run S2P once on ``profile`` and write the measured seconds per tile per stage to ``output``
    (per tile of the size S2P made of ``tile_size``)."""
    request = build_request(
        [ImageInput(path) for path in images],
        roi_pixels=roi_pixels,
        tile_size=tile_size,
        s2p_options=s2p_options,
    )
    durations = expected_task_durations(tile_size * tile_size)
    shared = SharedClusters()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="s2p-calibration-") as work,
            open_cluster(
                profile,
                profile.max_workers,
                f"calibration-{uuid.uuid4().hex[:8]}",
                shared=shared,
                task_durations=durations,
            ) as client,
        ):
            result = run_stereo(request, Path(work), client, progress, lambda: False)
    finally:
        shared.close_all()
    plan = result.plan
    source = (
        f"wps-server calibrate: S2P on {', '.join(p.name for p in images)}, region {request.roi}, "
        f"{len(plan.tiles)} tiles of {plan.tile_width}x{plan.tile_height} px, profile {profile.name} "
        f"({profile.max_workers} workers x {profile.worker_threads} threads)"
    )
    side = round(math.sqrt(plan.tile_width * plan.tile_height))
    calibration = calibration_from_work(measured_work(result), side, source)
    output.parent.mkdir(parents=True, exist_ok=True)
    return write_calibration(output, calibration)
