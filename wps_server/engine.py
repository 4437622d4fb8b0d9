"""What every interface does with processes and jobs, free of any dialect: check a request, run it now
or queue it, look a job up, list jobs, dismiss one, and read an output back.

WPS 1.0.0, WPS 2.0.0 and OGC API - Processes build their documents on this: one store and one
process list serve all three.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cluster.storage import StorageError
from wps_server.access import Policy, User, audit, requester
from wps_server.budgets import Budgets, job_spending
from wps_server.cluster_client import SchedulerConnection
from wps_server.clusters import JobClusters
from wps_server.config import Settings
from wps_server.errors import (
    AccessDenied,
    InvalidParameterValue,
    NoApplicableCode,
    PaymentRequired,
    ServerBusy,
    quoted,
)
from wps_server.execution import (
    ADMIN_MARK,
    PROFILES_MARK,
    RunContext,
    acting_owner,
    dismiss_job,
    run_job,
    server_storage,
    usable_profiles,
)
from wps_server.inputs import check_execute
from wps_server.jobs.model import Job, OutputRecord, Status
from wps_server.jobs.store import JobStore, heartbeat
from wps_server.operations import Execute
from wps_server.process import LiteralInput, Process
from wps_server.spelling import did_you_mean

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawOutput:
    """One output as bytes with its media type, for raw responses."""

    identifier: str
    content_type: str
    body: bytes
    filename: str | None = None


class Engine:
    """The processes and the job store behind every interface."""

    def __init__(
        self,
        settings: Settings,
        processes: Mapping[str, Process],
        store: JobStore,
        scheduler: SchedulerConnection,
        clusters: JobClusters | None = None,
        policy: Policy | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.settings = settings
        self.processes = dict(processes)
        self.store = store
        self.scheduler = scheduler
        self.clusters = clusters
        self.storage = server_storage(settings)
        self.policy = policy
        self.budgets = budgets

    def process(self, identifier: str, *, described: bool = False) -> Process | None:
        """The process; to describe it, only if the requester may see it (to run one they may not
        see, :meth:`check` says which role it needs)."""
        process = self.processes.get(identifier)
        if process is not None and described and not self.visible(identifier):
            return None
        return process

    def visible(self, identifier: str) -> bool:
        return self.policy is None or self.policy.visible(requester(), identifier)

    def offered(self) -> dict[str, Process]:
        """The processes the requester may see (those they may run), in the server's order."""
        return {i: p for i, p in self.processes.items() if self.visible(i)}

    def narrowed(self, process: Process) -> Process:
        """The process as the requester sees it: its ``cluster`` input offers only their profiles
        (every profile when nobody signs in)."""
        if self.clusters is None or process.input("cluster") is None:
            return process
        names = self.usable_profiles(requester())
        inputs = tuple(
            replace(i, allowed_values=names)
            if isinstance(i, LiteralInput) and i.identifier == "cluster"
            else i
            for i in process.inputs
        )
        return replace(process, inputs=inputs)

    def usable_profiles(self, user: User) -> tuple[str, ...]:
        """The names of the cluster profiles the user may spend on, in the profiles file's order."""
        if self.clusters is None:
            return ()
        return tuple(n for n in self.clusters.profiles.names() if self.profile_allowed(user, n))

    def profile_allowed(self, user: User, name: str) -> bool:
        """Whether the user may spend on the cluster profile ``name`` (its ``roles``)."""
        if self.policy is None or self.clusters is None or name not in self.clusters.profiles.names():
            return True
        return self.policy.may_use_profile(user, self.clusters.profiles.get(name).roles)

    def unknown_process(self, identifier: str) -> str:
        """What to tell a client that named a process this server does not offer."""
        return f"there is no process {quoted(identifier)}{did_you_mean(identifier, self.processes)}"

    # -- running -----------------------------------------------------------------------------------
    def check(self, process: Process, request: Execute) -> None:
        """Refuse a request the requester may not make, or whose inputs are not valid."""
        user = requester()
        if self.policy is not None and not self.policy.may_run(user, process.identifier):
            roles = ", ".join(sorted(self.policy.needed_roles(process.identifier))) or "a signed-in user"
            audit("execute", "refused", process_id=process.identifier, reason="role")
            raise AccessDenied(f"running {process.identifier} needs the role {roles}; {user.shown} lacks it")
        check_execute(process, request, self.settings.inputs)
        for spec in request.inputs:
            if spec.identifier == "cluster" and spec.value and not self.profile_allowed(user, spec.value):
                audit("execute", "refused", process_id=process.identifier, reason="profile")
                raise AccessDenied(
                    f"cluster profile {quoted(spec.value)} needs a role {user.shown} lacks; "
                    "DescribeProcess lists the profiles you may use",
                    "cluster",
                )
        self._check_affordable(user, process, request)

    def _check_affordable(self, user: User, process: Process, request: Execute) -> None:
        """Refuse (402) at submission a job on a priced profile when its owner's budget has nothing left
        or is kept in another currency; the job's own estimate is reserved when its cluster starts."""
        if self.budgets is None or self.clusters is None:
            return
        if process.input("cluster") is None:
            return
        named = next((s.value for s in request.inputs if s.identifier == "cluster" and s.value), None)
        profiles = self.clusters.profiles
        if named is not None and named not in profiles.names():
            return  # the process names the unknown profile with the ones it knows
        profile = profiles.get(named)
        standing = self.budgets.standing(user) if profile.price is not None else None
        if profile.price is None or standing is None:
            return
        if profile.price.currency != standing.budget.currency:
            message = (
                f"the cluster profile {profile.name} is priced in {profile.price.currency} but the budget "
                f"of {standing.account} is in {standing.budget.currency}: choose a profile priced in "
                f"{standing.budget.currency}"
            )
        elif standing.left <= 0:
            message = (
                f"nothing is left of the monthly budget of {standing.account} ({standing.budget.amount} "
                f"{standing.budget.currency}, {standing.spent} spent) for the priced profile "
                f"{profile.name}: choose an unpriced profile, or wait for next month"
            )
        else:
            return
        audit("execute", "refused", process_id=process.identifier, reason="budget")
        raise PaymentRequired(message, "cluster")

    def submit(self, process: Process, request: Execute) -> Job:
        """Queue an asynchronous job for the runner; the request must have been checked."""
        if not (process.status_supported and process.store_supported):
            raise InvalidParameterValue(f"process {process.identifier} runs synchronously only", "mode")
        if self.store.count(Status.ACCEPTED) >= self.settings.jobs.max_queued:
            raise ServerBusy(f"{self.settings.jobs.max_queued} jobs are already waiting; try again later")
        job = Job(
            id=str(uuid.uuid4()),
            process_id=process.identifier,
            request=self._marked(request),
            message="Accepted, waiting in the queue",
            owner=requester().name,
        )
        self.store.create(job)
        log.info("job accepted", extra={"job_id": job.id, "process_id": process.identifier})
        audit("execute", "accepted", job_id=job.id, process_id=process.identifier)
        stored = self.store.get(job.id)
        if stored is None:
            return job
        # the runner may have claimed it already: the answer to a submission is that it was accepted
        return replace(job, created=stored.created)

    def run(self, process: Process, request: Execute) -> Job:
        """Run a job in this worker and return it finished, as the store has it."""
        job = Job(
            id=str(uuid.uuid4()),
            process_id=process.identifier,
            request=self._marked(request),
            status=Status.RUNNING,
            message="Running",
            owner=requester().name,
        )
        self.store.create(job, sync=True)
        audit("execute", "running", job_id=job.id, process_id=process.identifier)
        context = RunContext(
            job_id=job.id,
            workdir=self.settings.jobs_dir / job.id,
            report=lambda percent, message: self.store.progress(job.id, percent, message),
            client_factory=self.scheduler.client,
            clusters=self.clusters,
            record_cost=lambda cost: self.store.record_cost(job.id, cost),
            owner=acting_owner(job),
            profiles=usable_profiles(job),
            cost_history=self.store.finished_costs,
            **job_spending(self.budgets, job.owner, job.id),
        )
        with heartbeat(self.store, job.id):
            outcome = run_job(process, job, self.settings, context)
        self.store.finish(job.id, outcome.status, outcome.message, outcome.outputs, outcome.error)
        finished = self.store.get(job.id)
        assert finished is not None
        return finished

    # -- jobs --------------------------------------------------------------------------------------
    def job(self, job_id: str) -> Job | None:
        """The job with this id, if it exists, its process is still offered and the requester owns
        it (or is an admin): another user's job is as absent as one that never was."""
        if not is_uuid(job_id):
            return None
        job = self.store.get(job_id)
        if job is None or job.process_id not in self.processes:
            return None
        if self.policy is not None and not self.policy.owns(requester(), job.owner):
            return None
        return job

    def dismiss(self, job_id: str) -> Job | None:
        """Dismiss a job (whatever its state) and remove its files; None if there is no such job."""
        if self.job(job_id) is None:
            audit("dismiss", "not found", job_id=job_id[:40])
            return None
        dismiss_job(self.settings, self.store, job_id, "The job was dismissed")
        audit("dismiss", "done", job_id=job_id)
        return self.store.get(job_id)

    def jobs(
        self,
        limit: int,
        offset: int = 0,
        process_ids: Sequence[str] = (),
        statuses: Sequence[Status] = (),
    ) -> list[Job]:
        """A page of the jobs the requester may see: their own, or all for an admin."""
        user = requester()
        if self.policy is None or user.is_admin:
            return self.store.search(limit, offset, process_ids, statuses)
        if user.name is None:
            return []
        return self.store.search(limit, offset, process_ids, statuses, owner=user.name)

    def job_counts(self, statuses: Mapping[str, Status]) -> dict[str, int]:
        """How many jobs the requester may see are in each of ``statuses`` (by name): their own, all
        for an admin or when nobody signs in, none for someone not signed in."""
        user = requester()
        if self.policy is None or user.is_admin:
            return {name: self.store.count(status) for name, status in statuses.items()}
        if user.name is None:
            return {}
        return {name: self.store.count(status, owner=user.name) for name, status in statuses.items()}

    def expiration(self, job: Job) -> datetime | None:
        """When a finished job and its outputs will be deleted."""
        if job.finished is None or not job.status.finished:
            return None
        return job.finished + timedelta(days=self.settings.jobs.retention_days)

    def read_output(self, job_id: str, name: str) -> bytes:
        """The bytes of a stored output file (from the job storage: a folder or an object store)."""
        try:
            body = self.storage.read_bytes(f"outputs/{job_id}/{name}")
        except StorageError as exc:
            log.error("output not read: %s", exc, extra={"job_id": job_id})
            raise NoApplicableCode("the job's outputs cannot be read now; try again later") from None
        if body is None:
            raise NoApplicableCode(f"the output {name} of job {job_id} is no longer stored")
        return body

    def raw_output(self, job: Job, record: OutputRecord) -> RawOutput:
        if record.kind == "complex" and record.file:
            body = self.read_output(job.id, record.file)
            return RawOutput(
                record.identifier, record.mime_type or "application/octet-stream", body, record.file
            )
        if record.kind == "literal":
            return RawOutput(record.identifier, "text/plain; charset=utf-8", (record.value or "").encode())
        corners = " ".join(map(str, (*record.lower, *record.upper)))
        return RawOutput(record.identifier, "text/plain; charset=utf-8", f"{corners} {record.crs}".encode())

    def selected_outputs(self, job: Job) -> list[OutputRecord]:
        """The outputs the request asked for (all of them when it named none), in process order."""
        wanted = {o.identifier for o in job.request.outputs}
        if job.request.raw_output is not None:
            wanted.add(job.request.raw_output.identifier)
        return [o for o in job.outputs if not wanted or o.identifier in wanted]

    def _marked(self, request: Execute) -> Execute:
        """The request, marked when an admin (who may act on anyone's records) submits it, or with
        the profiles its submitter may use when sign-in limits them."""
        user = requester()
        if user.is_admin and user.name is not None:
            return replace(request, extra={**request.extra, ADMIN_MARK: "true"})
        if self.policy is not None and not user.is_admin and self.clusters is not None:
            usable = ",".join(self.usable_profiles(user))
            return replace(request, extra={**request.extra, PROFILES_MARK: usable})
        return request


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def utc_text(moment: datetime | None) -> str:
    """ISO 8601 with a Z, to the second, as both XML and JSON documents print times."""
    value = moment or datetime.now(UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def multipart(parts: Sequence[RawOutput]) -> tuple[str, bytes]:
    """Several raw outputs in one multipart/related body, each part named by its output id."""
    boundary = f"wps-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for part in parts:
        head = (
            f"--{boundary}\r\nContent-Type: {part.content_type}\r\nContent-ID: <{part.identifier}>\r\n"
            f"Content-Length: {len(part.body)}\r\n\r\n"
        )
        chunks += [head.encode(), part.body, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return f'multipart/related; boundary="{boundary}"', b"".join(chunks)
