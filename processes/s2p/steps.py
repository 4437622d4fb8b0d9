"""Worker side: run one s2p step on one tile (or one reduction), idempotently.

Each call
- installs the job's configuration into `s2p.config.cfg` in place (parsed once per
  worker process and cached by job directory),
- skips the step if a completion marker of the same configuration lists outputs
  that all exist (a resumed job skips finished tiles),
- otherwise runs s2p's step function under s2p's process lock and a watchdog
  (time limit, cancellation), then writes the marker atomically.

Steps exchange data through files in the job directory: here (`run_step`) it is on a
filesystem shared by all workers; `processes.s2p.staging` runs the same steps on workers
that share nothing but an object store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import s2p
import s2p.estimation
import s2p.pointing_accuracy
import s2p.rpc_utils
import s2p.sift

from .errors import StereoCancelledError, TileFailedError
from .plan import (
    CANCEL_FLAG_NAME,
    MARKERS_DIRNAME,
    PAIR_STAGES,
    REDUCTION_STAGES,
    JobPlan,
    Stage,
    Tile,
    load_job_config,
)
from .ransac_seed import reset_ransac_generator
from .s2p_state import S2P_LOCK, install_config, tool_output
from .watchdog import StepInterrupted, StepWatchdog

_LOCK_POLL_SECONDS = 0.2
_REASON_MAX_CHARS = 800


def step_name(stage: str, tile_index: int | None, pair: int | None) -> str:
    """Unique, file-name-safe name of a step within its job."""
    parts = [stage]
    if tile_index is not None:
        parts.append(f"tile{tile_index:05d}")
    if pair is not None:
        parts.append(f"pair{pair}")
    return "_".join(parts)


@dataclass(frozen=True)
class StepCall:
    """Static arguments of one task (one object, so Dask does not look inside for keys)."""

    stage: Stage
    job_dir: str
    config_path: str
    config_sha256: str
    out_dir: str
    run_id: str
    timeout_seconds: float
    tile: Tile | None = None
    pair: int | None = None
    #: All tiles: for reductions only.
    tiles: tuple[Tile, ...] = ()
    #: The job's folder in an object store (s3://bucket/prefix/jobs/<id>/s2p) when the workers do
    #: not share `job_dir`; None when they do.
    storage: str | None = None

    @property
    def name(self) -> str:
        """Unique, file-name-safe name of this step within its job."""
        return step_name(self.stage.value, None if self.tile is None else self.tile.index, self.pair)

    @property
    def where(self) -> str:
        """How messages name the step's tile."""
        if self.tile is None:
            return "all tiles"
        suffix = f", pair {self.pair}" if self.pair is not None else ""
        return self.tile.label + suffix

    @classmethod
    def for_plan(
        cls, plan: JobPlan, stage: Stage, run_id: str, timeout_seconds: float, **kw: Any
    ) -> StepCall:
        """A call of `stage` in the job of `plan`."""
        return cls(
            stage=stage,
            job_dir=plan.job_dir,
            config_path=plan.config_path,
            config_sha256=plan.config_sha256,
            out_dir=plan.out_dir,
            run_id=run_id,
            timeout_seconds=timeout_seconds,
            storage=plan.storage,
            **kw,
        )


@dataclass(frozen=True)
class StepReport:
    """What one task did (its result, gathered by the driver)."""

    stage: str
    tile_index: int | None
    pair: int | None
    skipped: bool
    #: Wall time of the step itself, excluding waits for locks and dependencies.
    seconds: float
    started_at: float
    finished_at: float
    #: 1 for the first try; more if Dask retried the task.
    attempt: int
    worker: str
    #: What the step wrote (relative to the job directory) with each file's SHA-256: for the steps
    #: that need them, on workers that share no filesystem (empty when they do).
    outputs: tuple[tuple[str, str], ...] = ()
    #: Bytes this step fetched from and put into an object store (0 on a shared filesystem).
    fetched_bytes: int = 0
    stored_bytes: int = 0


# --------------------------------------------------------------------------- steps running here

_running: Counter[str] = Counter()
_running_lock = threading.Lock()


@contextlib.contextmanager
def step_running(run_id: str) -> Iterator[None]:
    """Count this process's steps of run `run_id` while they run (see `running_steps`)."""
    with _running_lock:
        _running[run_id] += 1
    try:
        yield
    finally:
        with _running_lock:
            _running[run_id] -= 1
            if not _running[run_id]:
                del _running[run_id]


def running_steps(run_id: str) -> int:
    """Steps of run `run_id` still running in this process (a cancelled run waits for none to be
    left before its folder is cleaned: a step still running could write after the cleaning)."""
    with _running_lock:
        return _running.get(run_id, 0)


# --------------------------------------------------------------------------- configuration cache

_config_cache: dict[str, tuple[str, dict[str, Any]]] = {}
_config_cache_lock = threading.Lock()


def _job_config(call: StepCall) -> dict[str, Any]:
    """The job's s2p configuration, parsed once per process and job directory."""
    with _config_cache_lock:
        cached = _config_cache.get(call.job_dir)
        if cached is None or cached[0] != call.config_sha256:
            cached = (call.config_sha256, load_job_config(call.config_path))
            _config_cache[call.job_dir] = cached
        return cached[1]


# --------------------------------------------------------------------------- completion markers


def _markers_dir_of(job_dir: Path) -> Path:
    return job_dir / MARKERS_DIRNAME


def _markers_dir(call: StepCall) -> Path:
    return _markers_dir_of(Path(call.job_dir))


def _marker_path(call: StepCall) -> Path:
    return _markers_dir(call) / f"{call.name}.json"


def _output_scope(call: StepCall) -> tuple[Path, ...]:
    """Directories (not recursive) where this step writes."""
    if call.stage in REDUCTION_STAGES or call.tile is None:
        return (Path(call.out_dir),)
    if call.stage in PAIR_STAGES and call.pair is not None:
        return (Path(call.tile.dir) / f"pair_{call.pair}",)
    return (Path(call.tile.dir),)


def _snapshot(directories: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    state: dict[str, tuple[int, int]] = {}
    for directory in directories:
        with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    st = entry.stat()
                    state[entry.path] = (st.st_size, st.st_mtime_ns)
    return state


def _is_complete(call: StepCall) -> bool:
    """True if a marker of this configuration exists and all the outputs it lists exist."""
    try:
        marker = json.loads(_marker_path(call).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    if marker.get("config_sha256") != call.config_sha256:
        return False
    return all((Path(call.job_dir) / rel).is_file() for rel in marker.get("outputs", []))


def _write_marker(call: StepCall, outputs: list[str], seconds: float) -> None:
    job_dir = Path(call.job_dir)
    marker = {
        "stage": call.stage.value,
        "config_sha256": call.config_sha256,
        "outputs": sorted(os.path.relpath(p, job_dir) for p in outputs),
        "seconds": round(seconds, 3),
    }
    path = _marker_path(call)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(marker))
    tmp.replace(path)


def _count_attempt(call: StepCall) -> int:
    """Record one more attempt of this step in this run; return the attempt number."""
    directory = _markers_dir(call) / "attempts" / call.run_id
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / call.name, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{socket.gethostname()}:{os.getpid()} {time.time():.3f}\n")
        f.flush()
        f.seek(0)
        return len(f.read().splitlines())


@contextlib.contextmanager
def _exclusive(call: StepCall) -> Iterator[None]:
    """Hold this step's file lock: a cancelled run's task still running cannot race its rerun."""
    lock_path = _markers_dir(call) / f".{call.name}.lock"
    deadline = time.monotonic() + call.timeout_seconds
    with open(lock_path, "a") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TileFailedError(
                        call.where, call.stage.value, "another run of this step held its lock too long"
                    ) from None
                time.sleep(_LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- the steps


def _global_dsm(call: StepCall, cfg: dict[str, Any]) -> None:
    """s2p's global_dsm into a staging directory, then renamed: no half-written final DSM."""
    tiles = [t.as_s2p() for t in call.tiles]
    if not any(Path(t["dir"], "dsm.tif").exists() for t in tiles):
        raise TileFailedError(
            "all tiles",
            call.stage.value,
            "no tile produced 3D points: the images may not match (clouds, water, too different dates)",
        )
    out_dir = Path(call.out_dir)
    staging = out_dir / f".global_dsm.{os.getpid()}"
    staging.mkdir(exist_ok=True)
    try:
        install_config({**cfg, "out_dir": str(staging)})
        s2p.global_dsm(tiles)
        for name in ("dsm.tif", "confidence.tif"):
            if (staging / name).exists():
                (staging / name).replace(out_dir / name)
    finally:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()


#: s2p's first SIFT detection threshold; `s2p.sift.matches_on_rpc_roi` halves it once for a tile
#: with this few matches or fewer.
FIRST_THRESH_DOG = 0.0133
_FEW_MATCHES = 10


def keypoints_path(tile: Tile, pair: int | None) -> Path:
    """File of the SIFT keypoints of `tile` in the reference image (`pair` None) or in pair `pair`'s
    secondary image (on the region the RPC models map the tile to)."""
    if pair is None:
        return Path(tile.dir) / "keypoints_ref.npz"
    return Path(tile.dir) / f"pair_{pair}" / "keypoints_sec.npz"


def save_keypoints(path: Path, keypoints: np.ndarray) -> None:
    """Write s2p's keypoints (rows of y, x, scale, orientation and 128 descriptor values) to `path`,
    whole. The descriptors are whole numbers from 0 to 255 kept as float64: stored as bytes they take
    an eighth of the room, and read back they are the same numbers (one file in six as large, to
    write, and to carry between workers that share no filesystem)."""
    frames, descriptors = keypoints[:, :4], keypoints[:, 4:]
    compact = descriptors.size == 0 or (
        descriptors.min() >= 0
        and descriptors.max() <= 255
        and bool(np.all(descriptors == np.round(descriptors)))
    )
    arrays = (
        {"frames": frames, "descriptors": descriptors.astype(np.uint8)} if compact else {"all": keypoints}
    )
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def load_keypoints(path: Path) -> np.ndarray:
    """The keypoints `save_keypoints` wrote, exactly as they were given to it."""
    with np.load(path) as saved:
        if "all" in saved:
            return np.asarray(saved["all"])
        return np.hstack([saved["frames"], saved["descriptors"].astype(np.float64)])


def _sift_region(tile: Tile, pair: int | None, cfg: dict[str, Any]) -> tuple[str, tuple[int, int, int, int]]:
    """Image and pixel region s2p detects keypoints on, for the tile's pointing correction."""
    reference = cfg["images"][0]
    region = (tile.x, tile.y, tile.w, tile.h)
    if pair is None:
        return reference["img"], region
    secondary = cfg["images"][pair]
    return secondary["img"], s2p.rpc_utils.corresponding_roi(reference["rpcm"], secondary["rpcm"], *region)


def _image_keypoints(call: StepCall, cfg: dict[str, Any]) -> None:
    """SIFT keypoints of one image region, at s2p's first threshold (one half of a pointing step)."""
    assert call.tile is not None
    image, region = _sift_region(call.tile, call.pair, cfg)
    keypoints = s2p.sift.image_keypoints(image, *region, thresh_dog=FIRST_THRESH_DOG)
    save_keypoints(keypoints_path(call.tile, call.pair), keypoints)


def _pointing_correction(call: StepCall, cfg: dict[str, Any]) -> None:
    """s2p's `pointing_correction(tile, pair)`, its first SIFT detections read from the keypoint steps.

    The same calls in the same order as s2p (`sift.matches_on_rpc_roi`, then
    `pointing_accuracy.local_translation`), so the outputs are the same; only the two
    detections of the first try ran before, as tasks of their own.
    """
    tile, pair = call.tile, call.pair
    assert tile is not None and pair is not None
    reference, secondary = cfg["images"][0], cfg["images"][pair]
    x, y, w, h = tile.x, tile.y, tile.w, tile.h
    rpc_matches = s2p.rpc_utils.matches_from_rpc(reference["rpcm"], secondary["rpcm"], x, y, w, h, 5)
    fundamental = s2p.estimation.affine_fundamental_matrix(rpc_matches)
    method = "relative" if cfg["relative_sift_match_thresh"] is True else "absolute"
    keypoints = (load_keypoints(keypoints_path(tile, None)), load_keypoints(keypoints_path(tile, pair)))
    thresh_dog, matches = FIRST_THRESH_DOG, None
    for _ in range(2):
        found = s2p.sift.keypoints_match(
            *keypoints,
            method,
            cfg["sift_match_thresh"],
            fundamental,
            epipolar_threshold=cfg["max_pointing_error"],
            model="fundamental",
        )
        if found is not None and found.ndim == 2 and found.shape[0] > _FEW_MATCHES:
            matches = found
            break
        thresh_dog /= 2.0
        keypoints = tuple(
            s2p.sift.image_keypoints(image, *region, thresh_dog=thresh_dog)
            for image, region in (_sift_region(tile, None, cfg), _sift_region(tile, pair, cfg))
        )
    if matches is None:  # as s2p: no local correction, rectification will use the global one
        return
    correction = s2p.pointing_accuracy.local_translation(
        reference["rpcm"], secondary["rpcm"], x, y, w, h, matches
    )
    out_dir = Path(tile.dir) / f"pair_{pair}"
    np.savetxt(out_dir / "pointing.txt", correction, fmt="%6.3f")
    np.savetxt(out_dir / "sift_matches.txt", matches, fmt="%9.3f")
    np.savetxt(out_dir / "center_keypts_sec.txt", np.mean(matches[:, 2:], 0), fmt="%9.3f")


def _tile(call: StepCall) -> dict[str, Any]:
    assert call.tile is not None
    return call.tile.as_s2p()


_STEP_FUNCTIONS: dict[Stage, Callable[[StepCall, dict[str, Any]], None]] = {
    Stage.KEYPOINTS: _image_keypoints,
    Stage.POINTING: _pointing_correction,
    Stage.GLOBAL_POINTING: lambda c, _: s2p.global_pointing_correction([t.as_s2p() for t in c.tiles]),
    Stage.RECTIFICATION: lambda c, _: s2p.rectification_pair(_tile(c), c.pair),
    Stage.MATCHING: lambda c, _: s2p.stereo_matching(_tile(c), c.pair),
    Stage.TRIANGULATION: lambda c, _: s2p.disparity_to_ply(_tile(c)),
    Stage.HEIGHT_MAP: lambda c, _: s2p.disparity_to_height(_tile(c), c.pair),
    Stage.MEAN_HEIGHTS: lambda c, _: s2p.mean_heights(_tile(c)),
    Stage.GLOBAL_MEAN_HEIGHTS: lambda c, _: s2p.global_mean_heights([t.as_s2p() for t in c.tiles]),
    Stage.HEIGHTS_TO_PLY: lambda c, _: s2p.heights_to_ply(_tile(c)),
    Stage.TILE_DSM: lambda c, _: s2p.plys_to_dsm(_tile(c)),
    Stage.GLOBAL_DSM: _global_dsm,
}


def global_pointing_call(call: StepCall) -> StepCall:
    """The call of the global pointing reduction of `call`'s run."""
    return dataclasses.replace(call, stage=Stage.GLOBAL_POINTING, tile=None, pair=None)


def needs_global_pointing(call: StepCall) -> bool:
    """A rectification whose tile has no pointing correction of its own uses the global one."""
    assert call.tile is not None
    return not (Path(call.tile.dir) / f"pair_{call.pair}" / "pointing.txt").exists()


def wait_for_global_pointing(
    call: StepCall, reduction_done: Callable[[], bool], cancelled: Callable[[], bool]
) -> None:
    """A tile without its own pointing correction uses the global one: wait until it is complete.

    This is the one data-dependent edge of the graph: tiles with a local correction (the
    usual case) start as soon as their neighbours' matches exist, before the global
    reduction. The wait polls the reduction's completion marker and secedes from the
    worker's thread pool meanwhile, so the reduction itself can run.
    """
    deadline = time.monotonic() + call.timeout_seconds
    try:
        from distributed import rejoin, secede

        secede()
        seceded = True
    except ValueError:  # not in a Dask worker
        seceded = False
    try:
        while not reduction_done():
            if cancelled():
                raise StereoCancelledError(call.stage.value)
            if time.monotonic() > deadline:
                reason = "the global pointing correction it needs did not finish in time"
                raise TileFailedError(call.where, call.stage.value, reason)
            time.sleep(_LOCK_POLL_SECONDS)
    finally:
        if seceded:
            rejoin()


def log_path(call: StepCall) -> Path:
    """The file where a step's S2P output goes."""
    return _markers_dir(call) / f"{call.name}.log"


def fail_reason(exc: BaseException) -> str:
    """An exception as a short reason for a message."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _REASON_MAX_CHARS else text[: _REASON_MAX_CHARS - 3] + "..."


def run_s2p(call: StepCall, cfg: dict[str, Any], cancelled: Callable[[], bool]) -> tuple[float, list[str]]:
    """Run the step's s2p function with the job's configuration `cfg`, stopped once `cancelled()`;
    return its wall time and the files it wrote (absolute paths)."""
    with S2P_LOCK:
        install_config(cfg)
        scope = _output_scope(call)
        before = _snapshot(scope)
        step_started = time.monotonic()
        watchdog = StepWatchdog(call.timeout_seconds, cancelled)
        if call.stage is Stage.POINTING:
            reset_ransac_generator()  # same SIFT filtering whatever this worker ran before
        try:
            with watchdog, tool_output(log_path(call)):
                _STEP_FUNCTIONS[call.stage](call, cfg)
        except TileFailedError:
            raise
        except (Exception, SystemExit, StepInterrupted) as exc:
            if watchdog.reason == "cancelled":
                raise StereoCancelledError(call.stage.value) from None
            if watchdog.reason == "timeout":
                reason = f"timed out after {call.timeout_seconds:g} s (its processes were killed)"
                raise TileFailedError(call.where, call.stage.value, reason) from None
            raise TileFailedError(call.where, call.stage.value, fail_reason(exc)) from exc
        finally:
            s2p.common.garbage_cleanup()
        seconds = time.monotonic() - step_started
        after = _snapshot(scope)
    return seconds, [p for p, state in after.items() if before.get(p) != state]


def job_log(job_dir: Path) -> str:
    """What S2P and its programs printed in a job, step by step in the order the steps ran (steps
    that printed nothing left out), with the job's folder left out of the paths."""
    logs = sorted(_markers_dir_of(job_dir).glob("*.log"), key=lambda p: (p.stat().st_mtime, p.name))
    texts = ((log.stem, log.read_text(errors="replace").strip()) for log in logs)
    told = "".join(f"== {step} ==\n{text}\n\n" for step, text in texts if text)
    return told.replace(f"{job_dir}/", "")


def run_step(call: StepCall, *dependencies: object) -> StepReport:
    """Run (or skip) one s2p step; `dependencies` (upstream reports) only order the task for Dask."""
    del dependencies
    started = time.time()
    attempt = _count_attempt(call)
    cancel_flag = Path(call.job_dir) / CANCEL_FLAG_NAME
    try:
        with step_running(call.run_id), _exclusive(call):
            skipped = _is_complete(call)
            seconds = 0.0
            if not skipped:
                if call.stage is Stage.RECTIFICATION and needs_global_pointing(call):
                    reduction = global_pointing_call(call)
                    wait_for_global_pointing(call, lambda: _is_complete(reduction), cancel_flag.exists)
                seconds, written = run_s2p(call, _job_config(call), cancel_flag.exists)
                _write_marker(call, written, seconds)
    except StepInterrupted:  # the watchdog's last resort landed outside the step's own handler
        raise TileFailedError(call.where, call.stage.value, "interrupted by its watchdog") from None
    return StepReport(
        stage=call.stage.value,
        tile_index=call.tile.index if call.tile else None,
        pair=call.pair,
        skipped=skipped,
        seconds=seconds,
        started_at=started,
        finished_at=time.time(),
        attempt=attempt,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
