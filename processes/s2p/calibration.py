"""Measure what S2P's steps cost per tile on a cluster, for the estimates of ``s2p_estimate``.

A real run of the given images on the given profile; the seconds each stage's tasks took, per tile,
are written as the calibration (see :mod:`cluster.estimate`).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cluster.estimate import Calibration, refresh_calibration
from cluster.events import JobEventLog
from cluster.lifecycle import SharedClusters, open_cluster
from cluster.profiles import ClusterProfile

from .graph import ProgressCallback, expected_task_durations, run_stereo
from .inputs import ImageInput, build_request


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
    """Run S2P once on ``profile`` and write the measured seconds per tile per stage to ``output``."""
    request = build_request(
        [ImageInput(path) for path in images],
        roi_pixels=roi_pixels,
        tile_size=tile_size,
        s2p_options=s2p_options,
    )
    durations = expected_task_durations(tile_size * tile_size)
    events = JobEventLog()
    shared = SharedClusters()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="s2p-calibration-") as work,
            open_cluster(
                profile,
                profile.max_workers,
                f"calibration-{uuid.uuid4().hex[:8]}",
                shared=shared,
                events=events,
                task_durations=durations,
            ) as client,
        ):
            result = run_stereo(request, Path(work), client, progress, lambda: False)
    finally:
        shared.close_all()
    if events.events is None:
        raise RuntimeError("the cluster reported no task events to measure")
    output.parent.mkdir(parents=True, exist_ok=True)
    source = f"S2P on {', '.join(p.name for p in images)}, region {request.roi}, profile {profile.name}"
    return refresh_calibration(
        output, events.events, len(result.plan.tiles), tile_size_px=tile_size, source=source
    )
