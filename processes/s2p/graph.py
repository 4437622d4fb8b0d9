"""The whole s2p pipeline of one job as one Dask task graph.

Edges are the real data dependencies between s2p's per-tile steps, not stage
barriers, so tiles of different stages overlap:

    keypoints(t, ref)       -- no dependency (SIFT on the tile in the reference image)
    keypoints(t, i)         -- no dependency (SIFT on the tile's region in secondary image i)
    pointing(t, i)          <- keypoints(t, ref), keypoints(t, i)
    global_pointing         <- pointing(all tiles, all pairs)
    rectification(t, i)     <- pointing(n, i) for the 3x3 neighbours n of t
                               (+ global_pointing, awaited inside the task only if t
                               has no local correction)
    matching(t, i)          <- rectification(t, i)
    pairs:      triangulation(t)   <- matching(t, 1), global_pointing
    3+ images:  height_map(t, i)   <- matching(t, i), global_pointing
                mean_heights(t)    <- height_map(t, all i)
                global_mean_heights <- mean_heights(all)
                heights_to_ply(t)  <- global_mean_heights, height_map(t, all i)
    tile_dsm(t)             <- point cloud of the 3x3 neighbours of t
    global_dsm              <- tile_dsm(all)

Priorities favour earlier stages, so idle workers pick later-stage work only
when no earlier-stage task is ready: the tails of stages fill with the next one.
s2p's pointing correction is split in three so that its two SIFT detections (nine
tenths of its time) run in parallel, and the reference image's is done once per
tile, not once per pair.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import distributed
from dask.delayed import Delayed

from cluster.monitors import QUIET_MONITORS
from cluster.storage import JobStorage

from .errors import S2PError, StereoCancelledError, TileFailedError
from .inputs import StereoRequest
from .plan import JobPlan, Stage, prepare_job
from .staging import cancel_event_name, count_attempts, drop_scratch, run_staged_step, stage_job
from .steps import StepCall, StepReport, run_step, running_steps, step_name

ProgressCallback = Callable[[float, str], None]
CancelledCallback = Callable[[], bool]

#: Task priority by stage: higher runs first among ready tasks.
STAGE_PRIORITY: Mapping[Stage, int] = {
    Stage.POINTING: 100,  # as soon as its keypoints exist: it unblocks its neighbours' rectification
    Stage.KEYPOINTS: 99,
    Stage.GLOBAL_POINTING: 95,
    Stage.RECTIFICATION: 90,
    Stage.MATCHING: 80,
    Stage.TRIANGULATION: 70,
    Stage.HEIGHT_MAP: 70,
    Stage.MEAN_HEIGHTS: 65,
    Stage.GLOBAL_MEAN_HEIGHTS: 60,
    Stage.HEIGHTS_TO_PLY: 55,
    Stage.TILE_DSM: 50,
    Stage.GLOBAL_DSM: 40,
}

#: Step cost in worker-seconds per megapixel of tile, measured on the test pair (mgm, one
#: core per worker): what the scheduler should expect before it has timed a task of the kind.
SECONDS_PER_MEGAPIXEL: Mapping[Stage, float] = {
    Stage.KEYPOINTS: 7.5,
    Stage.POINTING: 2.5,
    Stage.RECTIFICATION: 2.5,
    Stage.MATCHING: 60.0,
    Stage.TRIANGULATION: 11.0,
    Stage.HEIGHT_MAP: 10.0,
    Stage.MEAN_HEIGHTS: 0.5,
    Stage.HEIGHTS_TO_PLY: 12.0,
    Stage.TILE_DSM: 1.5,
}
#: Reductions: seconds, whatever the tile size.
REDUCTION_SECONDS: Mapping[Stage, float] = {
    Stage.GLOBAL_POINTING: 0.2,
    Stage.GLOBAL_MEAN_HEIGHTS: 0.2,
    Stage.GLOBAL_DSM: 2.0,
}

DEFAULT_RETRIES = 2
DEFAULT_STEP_TIMEOUT_SECONDS = 1800.0
_POLL_SECONDS = 0.5
#: How long a stopped run waits for its steps still running to notice (their watchdogs kill them).
_STOP_SECONDS = 30.0


def task_prefix(stage: Stage) -> str:
    """Dask task prefix of a stage (what the scheduler's duration estimates are keyed by)."""
    return f"s2p_{stage.value}"


def expected_task_durations(tile_pixels: int) -> dict[str, float]:
    """Expected seconds per task prefix for tiles of `tile_pixels` pixels."""
    megapixels = tile_pixels / 1e6
    durations = {task_prefix(s): max(0.1, rate * megapixels) for s, rate in SECONDS_PER_MEGAPIXEL.items()}
    durations.update({task_prefix(s): seconds for s, seconds in REDUCTION_SECONDS.items()})
    return durations


def task_duration_config(tile_pixels: int) -> dict[str, Any]:
    """`dask.config` entry for a scheduler's configuration (so adaptive scaling sizes s2p jobs right).

    Dask costs unknown tasks at 500 ms; a scheduler started with this entry knows that a tile
    step takes tens of seconds.
    """
    return {
        "distributed.scheduler.default-task-durations": {
            prefix: f"{seconds:.2f}s" for prefix, seconds in expected_task_durations(tile_pixels).items()
        }
    }


def cluster_dask_config(tile_pixels: int) -> dict[str, Any]:
    """Recommended `dask.config` for a cluster that runs s2p: quiet monitors and expected step durations."""
    return {**QUIET_MONITORS, **task_duration_config(tile_pixels)}


def _declare_durations(durations: dict[str, str], dask_scheduler: Any = None) -> None:
    """Runs on the scheduler: add durations for task prefixes it has not seen yet."""
    current = dict(dask.config.get("distributed.scheduler.default-task-durations", {}))
    for prefix, value in durations.items():
        current.setdefault(prefix, value)
    dask.config.set({"distributed.scheduler.default-task-durations": current})


def declare_task_durations(client: distributed.Client, tile_pixels: int) -> bool:
    """Tell a running scheduler what s2p steps cost; False if the scheduler cannot run our code."""
    config = task_duration_config(tile_pixels)["distributed.scheduler.default-task-durations"]
    try:
        client.run_on_scheduler(_declare_durations, config)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StageSummary:
    """Aggregated timing of one stage."""

    tasks: int
    skipped: int
    #: Sum of the steps' own run times (worker-seconds).
    worker_seconds: float
    longest_seconds: float
    #: Wall-clock span from the first start to the last end, relative to the run's start.
    first_start: float
    last_end: float


@dataclass(frozen=True)
class StereoResult:
    """What `run_stereo` produced."""

    plan: JobPlan
    run_id: str
    dsm_path: Path
    confidence_path: Path | None
    reports: tuple[StepReport, ...]
    started_at: float
    wall_seconds: float
    cluster: Mapping[str, Any] = field(default_factory=dict)
    #: The job's folder in an object store, when the workers shared no filesystem with the driver.
    storage: JobStorage | None = None
    #: Bytes of the images and configuration put into that store at the start.
    staged_bytes: int = 0

    @property
    def retries(self) -> int:
        """Task attempts beyond the first, over the whole run."""
        return sum(r.attempt - 1 for r in self.reports)

    @property
    def worker_seconds(self) -> float:
        """Sum of the steps' run times."""
        return sum(r.seconds for r in self.reports)

    @property
    def skipped(self) -> int:
        """Tasks skipped because a previous run had finished them."""
        return sum(r.skipped for r in self.reports)

    def stage_summaries(self) -> dict[str, StageSummary]:
        """Timing per stage, in pipeline order."""
        summaries: dict[str, StageSummary] = {}
        for stage in self.plan.stages:
            reports = [r for r in self.reports if r.stage == stage.value]
            if not reports:
                continue
            summaries[stage.value] = StageSummary(
                tasks=len(reports),
                skipped=sum(r.skipped for r in reports),
                worker_seconds=round(sum(r.seconds for r in reports), 3),
                longest_seconds=round(max(r.seconds for r in reports), 3),
                first_start=round(min(r.started_at for r in reports) - self.started_at, 3),
                last_end=round(max(r.finished_at for r in reports) - self.started_at, 3),
            )
        return summaries

    def tile_point_clouds(self) -> list[Path]:
        """The tiles' point clouds (inputs of a merged PLY), fetched from the object store if need be."""
        clouds = [Path(t.dir) / "cloud.ply" for t in self.plan.tiles]
        if self.storage is not None:
            for cloud in clouds:
                name = cloud.relative_to(self.plan.job_dir).as_posix()
                if not cloud.exists() and self.storage.size(name) is not None:
                    self.storage.get_file(name, cloud)
        return [p for p in clouds if p.exists()]

    def storage_traffic(self) -> dict[str, int]:
        """Bytes the steps fetched from and put into the object store, and those staged at the start."""
        return {
            "staged_bytes": self.staged_bytes,
            "fetched_bytes": sum(r.fetched_bytes for r in self.reports),
            "stored_bytes": sum(r.stored_bytes for r in self.reports),
        }


# --------------------------------------------------------------------------- graph


def build_graph(
    plan: JobPlan, run_id: str, step_timeout_seconds: float
) -> tuple[list[Delayed], dict[Any, StepCall]]:
    """One delayed task per (stage, tile[, pair]); returns them and the call of each key."""
    calls: dict[Any, StepCall] = {}
    tasks: list[Delayed] = []
    function = run_step if plan.storage is None else run_staged_step

    def add(stage: Stage, deps: Sequence[Delayed], ident: tuple[int, ...], **kw: Any) -> Delayed:
        key = (f"{task_prefix(stage)}-{run_id}", *ident)
        call = StepCall.for_plan(plan, stage, run_id, step_timeout_seconds, **kw)
        tile = kw.get("tile")
        # within a stage, bigger tiles first (they finish last otherwise)
        priority = STAGE_PRIORITY[stage] + (tile.area / 1e9 if tile is not None else 0.0)
        with dask.annotate(priority=priority):
            task = dask.delayed(function, pure=False)(call, *deps, dask_key_name=key)
        calls[key] = call
        tasks.append(task)
        return task

    tiles = plan.tiles
    pairs = list(plan.pairs)
    keypoints = {
        (t.index, i): add(Stage.KEYPOINTS, [], (t.index, i or 0), tile=t, pair=i)
        for t in tiles
        for i in (None, *pairs)
    }
    pointing = {
        (t.index, i): add(
            Stage.POINTING,
            [keypoints[(t.index, None)], keypoints[(t.index, i)]],
            (t.index, i),
            tile=t,
            pair=i,
        )
        for t in tiles
        for i in pairs
    }
    global_pointing = add(Stage.GLOBAL_POINTING, list(pointing.values()), (0,), tiles=tiles)
    matching: dict[tuple[int, int], Delayed] = {}
    rectified: dict[tuple[int, int], Delayed] = {}
    for t in tiles:
        for i in pairs:
            neighbours = [pointing[(n, i)] for n in t.neighbours]
            rect = rectified[(t.index, i)] = add(
                Stage.RECTIFICATION, neighbours, (t.index, i), tile=t, pair=i
            )
            matching[(t.index, i)] = add(Stage.MATCHING, [rect], (t.index, i), tile=t, pair=i)

    # heights read the rectification's homographies as well as the disparities (an edge matching
    # implies already, made explicit: workers that share no folder fetch what their edges name)
    clouds: dict[int, Delayed] = {}
    if plan.n_images == 2:
        for t in tiles:
            deps = [matching[(t.index, 1)], rectified[(t.index, 1)], global_pointing]
            clouds[t.index] = add(Stage.TRIANGULATION, deps, (t.index,), tile=t)
    else:
        heights = {
            (t.index, i): add(
                Stage.HEIGHT_MAP,
                [matching[(t.index, i)], rectified[(t.index, i)], global_pointing],
                (t.index, i),
                tile=t,
                pair=i,
            )
            for t in tiles
            for i in pairs
        }
        means = [
            add(Stage.MEAN_HEIGHTS, [heights[(t.index, i)] for i in pairs], (t.index,), tile=t) for t in tiles
        ]
        global_means = add(Stage.GLOBAL_MEAN_HEIGHTS, means, (0,), tiles=tiles)
        for t in tiles:
            deps = [global_means, *(heights[(t.index, i)] for i in pairs)]
            clouds[t.index] = add(Stage.HEIGHTS_TO_PLY, deps, (t.index,), tile=t)

    tile_dsms = [add(Stage.TILE_DSM, [clouds[n] for n in t.neighbours], (t.index,), tile=t) for t in tiles]
    add(Stage.GLOBAL_DSM, tile_dsms, (0,), tiles=tiles)
    return tasks, calls


class _Progress:
    """Percent of tasks finished (never decreasing) and a per-stage count message."""

    def __init__(
        self, calls: Mapping[Any, StepCall], stages: Sequence[Stage], callback: ProgressCallback
    ) -> None:
        self.callback = callback
        self.stages = list(stages)
        self.total = Counter(c.stage for c in calls.values())
        self.done: Counter[Stage] = Counter()
        self.percent = 0.0

    @property
    def active_stage(self) -> Stage:
        """The earliest stage with unfinished tasks."""
        for stage in self.stages:
            if self.done[stage] < self.total[stage]:
                return stage
        return self.stages[-1]

    def task_done(self, stage: Stage) -> None:
        self.done[stage] += 1
        self.report()

    def report(self) -> None:
        planned = sum(self.total.values())
        self.percent = max(self.percent, 100.0 * sum(self.done.values()) / planned)
        counts = ", ".join(f"{s.value} {self.done[s]}/{self.total[s]}" for s in self.stages)
        self.callback(round(self.percent, 1), f"{self.active_stage.value}: {counts} tasks done")


def _as_tile_failure(call: StepCall, exc: BaseException) -> S2PError:
    if isinstance(exc, S2PError):
        return exc
    if isinstance(exc, distributed.scheduler.KilledWorker):
        reason = "the worker running it died repeatedly (out of memory, or killed)"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return TileFailedError(call.where, call.stage.value, reason)


def _cluster_info(client: distributed.Client) -> dict[str, Any]:
    try:
        info = client.scheduler_info()
    except Exception:
        return {}
    workers = info.get("workers", {})
    return {
        "scheduler": info.get("address"),
        "workers": len(workers),
        "threads": sum(w.get("nthreads", 0) for w in workers.values()),
    }


def _prepare(request: StereoRequest, workdir: Path, storage: JobStorage | None) -> tuple[JobPlan, int]:
    """The job's plan; with an object store, its images and configuration put there (bytes sent)."""
    if storage is None:
        plan = prepare_job(request, Path(workdir))
        plan.cancel_flag.unlink(missing_ok=True)
        return plan, 0
    names = [f"inputs/image_{i + 1:02d}.tif" for i in range(len(request.images))]
    paths = [storage.gdal_path(name) for name in names]
    plan = prepare_job(request, Path(workdir), storage=storage.url, image_paths=paths)
    return plan, stage_job(storage, Path(plan.job_dir), [image.path for image in request.images], names)


def _stop(plan: JobPlan, client: distributed.Client, run_id: str) -> None:
    """Tell the run's running steps to stop, and wait (a while) until none of them runs any more."""
    if plan.storage is None:
        plan.cancel_flag.touch()
    else:
        with contextlib.suppress(Exception):
            distributed.Event(cancel_event_name(run_id), client=client).set()
    deadline = time.monotonic() + _STOP_SECONDS
    while time.monotonic() < deadline:
        try:
            if not any(client.run(running_steps, run_id).values()):
                return
        except Exception:  # workers gone: nothing of theirs runs any more
            return
        time.sleep(0.25)


def _fetch_results(
    plan: JobPlan, storage: JobStorage, reports: list[StepReport], run_id: str
) -> list[StepReport]:
    """From the object store: the DSM (and confidence) into the driver's folder, the steps' S2P logs
    (dated when their steps ended, the order `job_log` tells them in), and each step's attempts
    (counted from their records)."""
    for path in (plan.dsm_path, Path(plan.out_dir) / "confidence.tif"):
        name = path.relative_to(plan.job_dir).as_posix()
        if storage.size(name) is not None:
            storage.get_file(name, path)
    logs = set(storage.keys("markers"))
    for report in reports:
        name = f"markers/{step_name(report.stage, report.tile_index, report.pair)}.log"
        if name in logs:
            target = Path(plan.job_dir) / name
            storage.get_file(name, target)
            os.utime(target, (report.finished_at, report.finished_at))
    attempts = count_attempts(storage, run_id)
    return [
        dataclasses.replace(r, attempt=max(1, attempts.get(step_name(r.stage, r.tile_index, r.pair), 1)))
        for r in reports
    ]


def run_stereo(
    request: StereoRequest,
    workdir: Path,
    client: distributed.Client,
    progress: ProgressCallback,
    cancelled: CancelledCallback,
    *,
    retries: int = DEFAULT_RETRIES,
    step_timeout_seconds: float = DEFAULT_STEP_TIMEOUT_SECONDS,
    storage: JobStorage | None = None,
) -> StereoResult:
    """Run s2p on `request` in `workdir` on `client`'s cluster.

    Without `storage`, `workdir` is a directory shared with the workers. With `storage` (the
    job's folder in an object store), `workdir` is the driver's own: the images and the
    configuration are put into the store, the workers exchange files through it (see
    `processes.s2p.staging`) and the DSM comes back into `workdir`.

    Finished steps of an earlier run of the same job are skipped. `progress(percent, message)`
    is called as tasks finish; `cancelled()` is polled about twice a second and, once true, the
    futures are cancelled, running steps are stopped and `StereoCancelledError` is raised. A step
    that still fails after `retries` retries raises `TileFailedError`; a store that fails here
    raises `StorageError`.
    """
    started = time.time()
    plan, staged_bytes = _prepare(request, Path(workdir), storage)
    declare_task_durations(client, plan.tile_width * plan.tile_height)
    run_id = secrets.token_hex(4)
    tasks, calls = build_graph(plan, run_id, step_timeout_seconds)
    tracker = _Progress(calls, plan.stages, progress)
    tracker.report()

    futures: list[distributed.Future] = client.compute(tasks, optimize_graph=False, retries=retries)
    pending = set(futures)
    reports: list[StepReport] = []
    try:
        while pending:
            if cancelled():
                raise StereoCancelledError(tracker.active_stage.value)
            try:
                done, pending = distributed.wait(
                    pending, timeout=_POLL_SECONDS, return_when="FIRST_COMPLETED"
                )
            except TimeoutError:
                continue
            for future in done:
                call = calls[future.key]
                if future.status != "finished":
                    exc = (
                        future.exception()
                        if future.status == "error"
                        else RuntimeError("cancelled by the cluster")
                    )
                    raise _as_tile_failure(call, exc)
                report: StepReport = future.result()
                reports.append(report)
                tracker.task_done(call.stage)
        if storage is not None:
            reports = _fetch_results(plan, storage, reports, run_id)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(pending))
        _stop(plan, client, run_id)
        raise
    finally:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        if storage is not None:
            with contextlib.suppress(Exception):
                client.run(drop_scratch, storage.url)

    confidence = Path(plan.out_dir) / "confidence.tif"
    return StereoResult(
        plan=plan,
        run_id=run_id,
        dsm_path=plan.dsm_path,
        confidence_path=confidence if confidence.exists() else None,
        reports=tuple(sorted(reports, key=lambda r: r.started_at)),
        started_at=started,
        wall_seconds=time.time() - started,
        cluster=_cluster_info(client),
        storage=storage,
        staged_bytes=staged_bytes,
    )
