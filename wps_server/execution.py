"""Running one job: materialise its inputs, call the handler, store its outputs, say how it ended."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.errors import ClusterError
from cluster.profiles import load_profiles
from cluster.storage import JobStorage, StorageError, open_storage
from wps_server.config import ConfigError, Settings
from wps_server.errors import OWSError, ProcessError
from wps_server.inputs import materialise
from wps_server.jobs.model import Job, JobError, OutputRecord, Status
from wps_server.jobs.store import JobStore
from wps_server.logs import job_logger
from wps_server.process import CostModel, Process
from wps_server.results import store_outputs

if TYPE_CHECKING:
    from distributed import Client

    from wps_server.clusters import JobClusters

log = logging.getLogger(__name__)


class JobDismissed(Exception):
    """The job was dismissed while it ran."""


@dataclass
class RunContext:
    """The :class:`wps_server.process.JobContext` the engine hands to a handler."""

    job_id: str
    workdir: Path
    report: Callable[[int, str], bool]
    client_factory: Callable[[], Client]
    is_dismissed: Callable[[], bool] = lambda: False
    clusters: JobClusters | None = None
    record_cost: Callable[[Mapping[str, Any]], None] = lambda cost: None
    cost_history: Callable[[str, int], Sequence[Mapping[str, Any]]] = lambda process_id, limit: []
    requested_outputs: frozenset[str] = frozenset()
    by_reference: frozenset[str] = frozenset()
    costs: list[Mapping[str, Any]] = field(default_factory=list)
    owner: str | None = None
    #: the cluster profiles the job's submitter may use (see :func:`usable_profiles`); None: all
    profiles: tuple[str, ...] | None = None
    #: the owner's budget: reserve a predicted cost (amount, currency); settle with the measured bill
    reserve: Callable[[float, str], None] | None = None
    settle: Callable[[float], None] | None = None
    standing: Callable[[], Mapping[str, Any] | None] = lambda: None
    #: why the job was stopped by its own max_cost (it then fails with PaymentRequired)
    stop_reason: str | None = field(default=None, init=False)
    _percent: int = field(default=0, init=False)
    _dismissed: bool = field(default=False, init=False)

    def stop(self, reason: str) -> None:
        self.stop_reason = reason
        self._dismissed = True

    def progress(self, percent: float, message: str) -> None:
        self._percent = max(self._percent, min(99, int(percent)))
        if not self.report(self._percent, message):
            self._dismissed = True

    def cancelled(self) -> bool:
        if not self._dismissed and self.is_dismissed():
            self._dismissed = True
        return self._dismissed

    def client(self) -> Client:
        return self.client_factory()

    def budget(self) -> Mapping[str, Any] | None:
        return self.standing()

    def finished_costs(self, process_id: str, limit: int = 100) -> Sequence[Mapping[str, Any]]:
        return self.cost_history(process_id, limit)

    def cluster(
        self,
        profile: str | None,
        tasks: int,
        seconds_per_task: float,
        max_workers: int | None = None,
        task_durations: Mapping[str, float] | None = None,
        *,
        max_cost: float | None = None,
        predicted_cost: CostModel | None = None,
    ) -> AbstractContextManager[Client]:
        if self.clusters is None:
            raise ProcessError("this server offers no cluster profiles", "cluster")
        from wps_server.clusters import Spending

        def record(cost: Mapping[str, Any]) -> None:
            self.costs.append(cost)
            self.record_cost(cost)

        spending = Spending(self.reserve, self.settle, self.stop, max_cost, predicted_cost)
        return self.clusters.open(
            self.job_id,
            profile,
            tasks,
            seconds_per_task,
            max_workers,
            task_durations,
            record,
            self.cancelled,
            spending,
            self.profiles,
        )


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str
    outputs: list[OutputRecord]
    error: JobError | None = None


def run_job(process: Process, job: Job, settings: Settings, context: RunContext) -> Outcome:
    """Run a job to its end; never raises for a failure of the job itself."""
    log = job_logger("wps_server.jobs", job.id, process.identifier)
    log.info("job started", extra={"attempt": job.attempts})
    context.workdir.mkdir(parents=True, exist_ok=True)
    request = job.request
    context.requested_outputs = frozenset(
        o.identifier for o in (*request.outputs, *([request.raw_output] if request.raw_output else []))
    )
    context.by_reference = frozenset(o.identifier for o in request.outputs if o.as_reference)
    try:
        inputs = materialise(process, job.request, settings.inputs, context.workdir)
        values = process.handler(inputs, context)
        if context.cancelled():
            raise JobDismissed
        outputs = store_outputs(process, job.request, values, server_storage(settings), f"outputs/{job.id}")
    except JobDismissed:
        if context.stop_reason is not None:
            text = f"the job was stopped: {context.stop_reason}; its cluster was closed"
            log.warning("job stopped at its max_cost", extra={"reason": context.stop_reason})
            return Outcome(Status.FAILED, text, [], JobError("PaymentRequired", text, "max_cost"))
        log.info("job dismissed")
        return Outcome(Status.DISMISSED, "The job was dismissed", [])
    except OWSError as exc:
        log.warning("job failed: %s", exc.message, extra={"code": exc.code, "locator": exc.locator})
        told = _without_server_paths(exc.message, settings, context.workdir)
        return Outcome(Status.FAILED, told, [], JobError(exc.code, told, exc.locator))
    except Exception:
        log.exception("job failed with an internal error")
        text = f"internal error in process {process.identifier}; the operator's log has the details of job {job.id}"
        return Outcome(Status.FAILED, text, [], JobError("NoApplicableCode", text))
    finally:
        shutil.rmtree(context.workdir, ignore_errors=True)
    log.info("job succeeded", extra={"outputs": [o.identifier for o in outputs]})
    return Outcome(Status.SUCCESSFUL, "Succeeded", outputs)


def acting_owner(job: Job) -> str | None:
    """Whose records a job may see: its owner's, or anyone's when an admin (or nobody) submitted it."""
    return None if job.request.extra.get(ADMIN_MARK) == "true" else job.owner


def usable_profiles(job: Job) -> tuple[str, ...] | None:
    """The cluster profiles the job's submitter could use when they submitted it (their roles are
    not kept with the job); None: every profile (an admin, the operator, or nobody signs in)."""
    marked = job.request.extra.get(PROFILES_MARK)
    return None if marked is None else tuple(name for name in marked.split(",") if name)


#: set in a request's ``extra`` when an admin submitted it
ADMIN_MARK = "submitted_by_admin"
#: set in a request's ``extra``: the profiles its submitter may use, separated by commas
PROFILES_MARK = "usable_profiles"


def _without_server_paths(message: str, settings: Settings, workdir: Path) -> str:
    """A message for the client, with the server's own folders (where a library named a file of
    the job) replaced by words: clients never see how the server lays out its files."""
    for folder, words in ((workdir, "the job's folder"), (settings.data_dir, "the server's data folder")):
        message = message.replace(str(folder), words)
    return message


def server_storage(settings: Settings) -> JobStorage:
    """The storage of ``[jobs] storage``: jobs' folders and outputs (the data_dir when it is empty)."""
    return open_storage(settings.jobs.storage, settings.data_dir)


def check_server_storage(settings: Settings) -> None:
    """Stop at start-up when ``[jobs] storage`` cannot be reached, written or cleaned, saying why."""
    storage = server_storage(settings)
    try:
        storage.check()
    except StorageError as exc:
        if not settings.jobs.storage:  # the jobs' folders live in the data folder
            raise ConfigError(
                f"[server] data_dir {storage.url} cannot be used: {exc.reason}; set it to a folder this user "
                "can write"
            ) from None
        raise ConfigError(f"[jobs] storage {storage.url} cannot be used: {exc.reason}") from None


def job_storages(settings: Settings) -> list[JobStorage]:
    """Every storage a job of this server may have files in: the server's, then the cluster profiles'."""
    storages = {s.url: s for s in [server_storage(settings), open_storage("", settings.data_dir)]}
    try:
        profiles = load_profiles(settings.section("cluster").get("profiles_file") or None, missing_ok=True)
    except ClusterError:  # the server refuses to start with bad profiles; nothing more to find here
        profiles = None
    for profile in profiles or ():
        if profile.storage:
            storage = open_storage(profile.storage, settings.data_dir)
            storages.setdefault(storage.url, storage)
    return list(storages.values())


def remove_outputs(settings: Settings, job_id: str) -> None:
    """Remove the job's outputs (what it returned by reference)."""
    remove_job_files(settings, job_id, folders=("outputs",))


def remove_job_files(settings: Settings, job_id: str, folders: tuple[str, ...] = ("jobs", "outputs")) -> bool:
    """Remove the job's folder and outputs from every storage; False if a storage failed (logged),
    so that the retention sweep tries again."""
    removed = True
    for storage in job_storages(settings):
        for folder in folders:
            try:
                storage.delete(f"{folder}/{job_id}")
            except StorageError as exc:
                log.warning("job files not removed: %s", exc, extra={"job_id": job_id})
                removed = False
    return removed


def dismiss_job(settings: Settings, store: JobStore, job_id: str, message: str) -> bool:
    """Mark the job dismissed (its runner sees it and stops its tasks) and remove its files."""
    if not store.dismiss(job_id, message):
        return False
    remove_job_files(settings, job_id)
    return True
