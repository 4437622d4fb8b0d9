"""S2P steps on workers that share no filesystem with the server: the job's folder is in an object store.

A step (`run_staged_step`, the task function of such a job) works in a scratch folder of its
worker: it takes the files it reads from the store (the outputs its upstream steps listed,
with their SHA-256, in the reports Dask hands it; a file this worker already holds with that
digest is not fetched again), reads image windows straight from the store through GDAL
(`/vsis3/...`), runs s2p's step exactly as on a shared folder, and puts what it wrote back,
its completion marker last. A resumed job therefore skips a step whose marker is in the store,
as it skips one whose marker is in a shared folder.

Coordination that a shared folder gave goes through the Dask scheduler instead: cancellation
is a `distributed.Event` per run (the watchdog polls it), and the driver counts attempts from
one small object each attempt leaves under `markers/attempts/<run>/`. Store failures become
`TileFailedError`s naming the tile and stage (Dask retries the task first; a retry fetches
again what it needs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cluster.storage import JobStorage, StorageError, export_gdal_s3_environment, open_storage

from .errors import StereoCancelledError, TileFailedError
from .plan import (
    JOB_CONFIG_NAME,
    MARKERS_DIRNAME,
    S2P_OUT_DIRNAME,
    TEMP_DIRNAME,
    Stage,
    Tile,
    parse_job_config,
)
from .steps import (
    StepCall,
    StepReport,
    global_pointing_call,
    log_path,
    needs_global_pointing,
    run_s2p,
    step_running,
    wait_for_global_pointing,
)
from .watchdog import StepInterrupted

#: Files a step never reads among those its upstream steps wrote (they are not fetched for it).
UNREAD: Mapping[Stage, frozenset[str]] = {
    Stage.GLOBAL_POINTING: frozenset({"sift_matches.txt"}),
    Stage.RECTIFICATION: frozenset({"center_keypts_sec.txt"}),
    Stage.TRIANGULATION: frozenset({"rectified_sec.tif"}),
    Stage.HEIGHT_MAP: frozenset({"rectified_ref.tif", "rectified_sec.tif"}),
    Stage.TILE_DSM: frozenset({"rectified_ref.png", "ref.tif", "height_map.tif"}),
}
_POLL_SECONDS = 0.5
_TRANSFERS = 4
_transfers = ThreadPoolExecutor(_TRANSFERS, thread_name_prefix="s2p-store")


def cancel_event_name(run_id: str) -> str:
    """Name of the Dask event that cancels run `run_id`."""
    return f"s2p-cancel-{run_id}"


def attempts_prefix(run_id: str) -> str:
    """Where the attempts of run `run_id` leave their records, in the job's folder."""
    return f"{MARKERS_DIRNAME}/attempts/{run_id}"


def marker_key(call: StepCall) -> str:
    """Key of `call`'s completion marker in the job's folder."""
    return f"{MARKERS_DIRNAME}/{call.name}.json"


def file_digest(path: Path) -> str:
    """SHA-256 of a file, in hex."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_marker(store: JobStorage, call: StepCall) -> dict[str, Any] | None:
    """`call`'s completion marker if the store holds one of the same configuration."""
    text = store.read_bytes(marker_key(call))
    if text is None:
        return None
    try:
        marker: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:
        return None
    return marker if marker.get("config_sha256") == call.config_sha256 else None


def marker_outputs(marker: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (file, SHA-256) pairs a marker lists."""
    digests: Mapping[str, str] = marker.get("sha256", {})
    return tuple((name, digests.get(name, "")) for name in marker.get("outputs", []))


# --------------------------------------------------------------------------- the worker's side


class StagedJob:
    """One job's folder in the store and this worker's scratch copy of the parts it used."""

    def __init__(self, storage_url: str, config_sha256: str) -> None:
        self.store = open_storage(storage_url, Path())
        key = hashlib.sha256(storage_url.encode()).hexdigest()[:16]
        self.scratch = _scratch_root() / key
        text = self.store.read_bytes(JOB_CONFIG_NAME)
        if text is None:
            raise StorageError(self.store.url, f"{JOB_CONFIG_NAME} is missing: the job was not staged")
        config = parse_job_config(text.decode())
        config["out_dir"] = str(self.scratch / S2P_OUT_DIRNAME)
        config["temporary_dir"] = str(self.scratch / TEMP_DIRNAME)
        self.config = config
        self.config_sha256 = config_sha256
        #: Files of the scratch folder known to hold a digest: path -> (size, mtime_ns, sha256).
        self._known: dict[Path, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def local(self, call: StepCall) -> StepCall:
        """`call` with its folders moved from the driver's job directory into the scratch folder."""

        def moved(path: str) -> str:
            return str(self.scratch / Path(path).relative_to(call.job_dir))

        def tile(t: Tile | None) -> Tile | None:
            return None if t is None else dataclasses.replace(t, dir=moved(t.dir))

        for folder in (
            S2P_OUT_DIRNAME,
            TEMP_DIRNAME,
            MARKERS_DIRNAME,
        ):  # again: a retry finds them even if they went
            (self.scratch / folder).mkdir(parents=True, exist_ok=True)
        for t in (call.tile, *call.tiles):
            if t is not None:
                for pair in range(1, len(self.config["images"])):
                    Path(moved(t.dir), f"pair_{pair}").mkdir(parents=True, exist_ok=True)
        return dataclasses.replace(
            call,
            job_dir=str(self.scratch),
            out_dir=moved(call.out_dir),
            config_path=str(self.scratch / JOB_CONFIG_NAME),
            tile=tile(call.tile),
            tiles=tuple(t for t in map(tile, call.tiles) if t is not None),
        )

    def _holds(self, path: Path, digest: str) -> bool:
        with self._lock:
            known = self._known.get(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        return known == (st.st_size, st.st_mtime_ns, digest) and bool(digest)

    def _remember(self, path: Path, digest: str) -> None:
        st = path.stat()
        with self._lock:
            self._known[path] = (st.st_size, st.st_mtime_ns, digest)

    def fetch(self, files: Iterable[tuple[str, str]]) -> int:
        """Bring `files` (relative to the job folder, with their digests) into the scratch folder,
        those it does not already hold; returns the bytes fetched."""

        def one(name: str, digest: str) -> int:
            path = self.scratch / name
            if self._holds(path, digest):
                return 0
            size = self.store.get_file(name, path)
            self._remember(path, digest)
            return size

        return sum(f.result() for f in [_transfers.submit(one, n, d) for n, d in dict(files).items()])

    def put(self, written: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """Store files the step wrote (scratch paths); returns them relative to the job folder with
        their digests."""

        def one(path: Path) -> tuple[str, str]:
            digest = file_digest(path)
            name = path.relative_to(self.scratch).as_posix()
            self.store.put_file(path, name)
            self._remember(path, digest)
            return name, digest

        futures = [_transfers.submit(one, Path(p)) for p in sorted(written)]
        return tuple(f.result() for f in futures)

    def write_marker(self, call: StepCall, outputs: tuple[tuple[str, str], ...], seconds: float) -> None:
        marker = {
            "stage": call.stage.value,
            "config_sha256": call.config_sha256,
            "outputs": [name for name, _ in outputs],
            "sha256": dict(outputs),
            "seconds": round(seconds, 3),
        }
        self.store.put_bytes(json.dumps(marker).encode(), marker_key(call))


def _scratch_root() -> Path:
    """The worker's own local folder (removed with the worker), else the system's temporary folder."""
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory) / "s2p-jobs"
    except ValueError:
        return Path(tempfile.gettempdir()) / f"s2p-jobs-{os.getuid()}"


_jobs: dict[tuple[str, str], StagedJob] = {}
_jobs_lock = threading.Lock()


def staged_job(call: StepCall) -> StagedJob:
    """This process's view of `call`'s job (its configuration read once per job and configuration)."""
    assert call.storage is not None
    key = (call.storage, call.config_sha256)
    with _jobs_lock:
        job = _jobs.get(key)
        if job is None:
            export_gdal_s3_environment()
            job = _jobs[key] = StagedJob(call.storage, call.config_sha256)
        return job


def drop_scratch(storage_url: str) -> int:
    """Remove this process's scratch copy of a job (run on every worker when the job ends)."""
    dropped = 0
    with _jobs_lock:
        for key in [k for k in _jobs if k[0] == storage_url]:
            job = _jobs.pop(key)
            dropped += 1
            with contextlib.suppress(OSError):
                shutil.rmtree(job.scratch)
    return dropped


def _cancel_check(run_id: str) -> Callable[[], bool]:
    """True once the driver set the run's cancel event (False outside a Dask worker)."""
    try:
        from distributed import Event, get_client

        event = Event(cancel_event_name(run_id), client=get_client())
    except ValueError:
        return lambda: False

    def cancelled() -> bool:
        try:
            return bool(event.is_set())
        except Exception:  # a scheduler that does not answer stops nothing
            return False

    return cancelled


def _record_attempt(job: StagedJob, call: StepCall) -> Future[None]:
    """Leave this attempt's record in the store, beside the step (the driver counts them)."""
    name = f"{attempts_prefix(call.run_id)}/{call.name}/{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
    return _transfers.submit(job.store.put_bytes, b"", name)


def _inputs(call: StepCall, dependencies: Iterable[object]) -> list[tuple[str, str]]:
    unread = UNREAD.get(call.stage, frozenset())
    return [
        (name, digest)
        for report in dependencies
        if isinstance(report, StepReport)
        for name, digest in report.outputs
        if name.rsplit("/", 1)[-1] not in unread
    ]


def run_staged_step(call: StepCall, *dependencies: object) -> StepReport:
    """Run (or skip) one s2p step of a job whose folder is in an object store; `dependencies` are the
    upstream steps' reports, whose outputs this step fetches."""
    started = time.time()
    outputs: tuple[tuple[str, str], ...] = ()
    seconds = 0.0
    fetched = stored = 0
    try:
        with step_running(call.run_id):
            job = staged_job(call)
            recorded = _record_attempt(job, call)
            marker = read_marker(job.store, call)
            skipped = marker is not None
            if marker is not None:
                outputs = marker_outputs(marker)
            else:
                cancelled = _cancel_check(call.run_id)
                local = job.local(call)
                fetched = job.fetch(_inputs(call, dependencies))
                if call.stage is Stage.RECTIFICATION and needs_global_pointing(local):
                    reduction = global_pointing_call(call)
                    wait_for_global_pointing(
                        call, lambda: read_marker(job.store, reduction) is not None, cancelled
                    )
                    fetched += job.fetch(marker_outputs(read_marker(job.store, reduction) or {}))
                seconds, written = run_s2p(local, job.config, cancelled)
                if cancelled():  # a cancelled run writes nothing more
                    raise StereoCancelledError(call.stage.value)
                log = log_path(local)
                if log.exists():  # told without this worker's folders, as a shared folder's logs are
                    log.write_text(log.read_text(errors="replace").replace(f"{job.scratch}/", ""))
                stored_files = job.put([*written, *([str(log)] if log.exists() else [])])
                log_name = log.relative_to(job.scratch).as_posix()
                outputs = tuple((name, digest) for name, digest in stored_files if name != log_name)
                stored = sum(Path(p).stat().st_size for p in written)
                job.write_marker(call, outputs, seconds)
            recorded.result()
    except StorageError as exc:
        raise TileFailedError(call.where, call.stage.value, f"the job storage failed: {exc}") from None
    except StepInterrupted:
        raise TileFailedError(call.where, call.stage.value, "interrupted by its watchdog") from None
    return StepReport(
        stage=call.stage.value,
        tile_index=call.tile.index if call.tile else None,
        pair=call.pair,
        skipped=skipped,
        seconds=seconds,
        started_at=started,
        finished_at=time.time(),
        attempt=1,  # the driver counts the attempts' records
        worker=f"{socket.gethostname()}:{os.getpid()}",
        outputs=outputs,
        fetched_bytes=fetched,
        stored_bytes=stored,
    )


# --------------------------------------------------------------------------- the driver's side


def stage_job(store: JobStorage, job_dir: Path, images: Iterable[Path], image_names: Iterable[str]) -> int:
    """Put the job's images (once: not again when the store already holds them, as on a resumed
    job) and its configuration into the store; returns the bytes sent."""
    sent = 0
    for source, name in zip(images, image_names, strict=True):
        if store.size(name) != source.stat().st_size:
            sent += store.put_file(source, name)
    sent += store.put_file(job_dir / JOB_CONFIG_NAME, JOB_CONFIG_NAME)
    return sent


def count_attempts(store: JobStorage, run_id: str) -> dict[str, int]:
    """Attempts per step name of run `run_id`, from their records."""
    prefix = attempts_prefix(run_id)
    counts: dict[str, int] = {}
    for key in store.keys(prefix):
        name = key[len(prefix) + 1 :].split("/", 1)[0]
        counts[name] = counts.get(name, 0) + 1
    return counts
