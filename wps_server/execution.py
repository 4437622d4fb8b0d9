"""Running one job: materialise its inputs, call the handler, store its outputs, say how it ended."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wps_server.config import Settings
from wps_server.errors import OWSError, ProcessError
from wps_server.inputs import materialise
from wps_server.jobs.model import Job, JobError, OutputRecord, Status
from wps_server.jobs.store import JobStore
from wps_server.logs import job_logger
from wps_server.process import Process
from wps_server.results import store_outputs

if TYPE_CHECKING:
    from distributed import Client

    from wps_server.clusters import JobClusters


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
    requested_outputs: frozenset[str] = frozenset()
    by_reference: frozenset[str] = frozenset()
    costs: list[Mapping[str, Any]] = field(default_factory=list)
    _percent: int = field(default=0, init=False)
    _dismissed: bool = field(default=False, init=False)

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

    def cluster(
        self,
        profile: str | None,
        tasks: int,
        seconds_per_task: float,
        max_workers: int | None = None,
        task_durations: Mapping[str, float] | None = None,
    ) -> AbstractContextManager[Client]:
        if self.clusters is None:
            raise ProcessError("this server offers no cluster profiles", "cluster")

        def record(cost: Mapping[str, Any]) -> None:
            self.costs.append(cost)
            self.record_cost(cost)

        return self.clusters.open(
            self.job_id, profile, tasks, seconds_per_task, max_workers, task_durations, record, self.cancelled
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
        outputs = store_outputs(process, job.request, values, settings.outputs_dir / job.id)
    except JobDismissed:
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


def _without_server_paths(message: str, settings: Settings, workdir: Path) -> str:
    """A message for the client, with the server's own folders (where a library named a file of
    the job) replaced by words: clients never see how the server lays out its files."""
    for folder, words in ((workdir, "the job's folder"), (settings.data_dir, "the server's data folder")):
        message = message.replace(str(folder), words)
    return message


def remove_outputs(settings: Settings, job_id: str) -> None:
    shutil.rmtree(settings.outputs_dir / job_id, ignore_errors=True)


def dismiss_job(settings: Settings, store: JobStore, job_id: str, message: str) -> bool:
    """Mark the job dismissed (its runner sees it and stops its tasks) and remove its files."""
    if not store.dismiss(job_id, message):
        return False
    remove_outputs(settings, job_id)
    shutil.rmtree(settings.jobs_dir / job_id, ignore_errors=True)
    return True
