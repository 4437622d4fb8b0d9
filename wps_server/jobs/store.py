"""The job store: SQLite (WAL, busy timeout) by default, PostgreSQL by URL; one schema for both."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wps_server.jobs.model import (
    Job,
    JobError,
    OutputRecord,
    Status,
    outputs_from_json,
    outputs_to_json,
    request_from_json,
    request_to_json,
)
from wps_server.timeutil import from_epoch

metadata = sa.MetaData()

jobs = sa.Table(
    "wps_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("process_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("percent", sa.Integer, nullable=False, default=0),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_locator", sa.String(200)),
    sa.Column("error_text", sa.Text),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("heartbeat", sa.Float),
    sa.Column("runner", sa.String(200)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("sync", sa.Boolean, nullable=False, default=False),
    sa.Column("cost", sa.Text),
    sa.Column("owner", sa.String(200)),
    sa.Index("ix_wps_jobs_status_created", "status", "created"),
    sa.Index("ix_wps_jobs_finished", "finished"),
    sa.Index("ix_wps_jobs_owner_created", "owner", "created"),
)

lease = sa.Table(
    "wps_runner_lease",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("runner", sa.String(200), nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class LeaseHolder:
    """The job runner that drives a store."""

    runner: str
    host: str
    pid: int
    heartbeat: float

    def alive(self, stale_after: float) -> bool:
        """Whether it may still be running: its heartbeat is recent, and on this machine its process
        exists (a runner killed here frees the store at once, not after ``stale_after``)."""
        if time.time() - self.heartbeat > stale_after:
            return False
        if self.host != socket.gethostname():
            return True
        try:  # a zombie (killed, and not yet reaped by whoever inherited it) is dead too
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


class JobStore:
    """Reads and writes job rows; every write is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def create(self, job: Job, sync: bool = False) -> None:
        now = time.time()
        with self._begin() as db:
            db.execute(
                jobs.insert().values(
                    id=job.id,
                    process_id=job.process_id,
                    status=job.status.value,
                    percent=job.percent,
                    message=job.message,
                    request=request_to_json(job.request),
                    created=now,
                    started=now if job.status == Status.RUNNING else None,
                    heartbeat=now,
                    attempts=job.attempts,
                    sync=sync,
                    owner=job.owner,
                )
            )

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as db:
            row = db.execute(jobs.select().where(jobs.c.id == job_id)).mappings().first()
        return _to_job(row) if row else None

    def progress(self, job_id: str, percent: int, message: str) -> bool:
        """Record progress of a running job (never backwards); False if the job is no longer running."""
        with self._begin() as db:
            result = db.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == Status.RUNNING.value)
                .values(
                    percent=sa.func.max(jobs.c.percent, percent)
                    if self.engine.dialect.name == "sqlite"
                    else sa.func.greatest(jobs.c.percent, percent),
                    message=message,
                    heartbeat=time.time(),
                )
            )
        return result.rowcount == 1

    def finish(
        self,
        job_id: str,
        status: Status,
        message: str,
        outputs: list[OutputRecord] | None = None,
        error: JobError | None = None,
    ) -> bool:
        """Move a job to a final state unless it already is in one (a dismissal wins)."""
        values: dict[str, Any] = {"status": status.value, "message": message, "finished": time.time()}
        if status == Status.SUCCESSFUL:
            values["percent"] = 100
        if outputs is not None:
            values["outputs"] = outputs_to_json(outputs)
        if error is not None:
            values |= {"error_code": error.code, "error_text": error.text, "error_locator": error.locator}
        finished = [s.value for s in Status if s.finished]
        with self._begin() as db:
            result = db.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.status.not_in(finished)).values(**values)
            )
        return result.rowcount == 1

    def dismiss(self, job_id: str, message: str) -> bool:
        """Mark a job dismissed, whatever state it is in; False if there is no such job."""
        with self._begin() as db:
            result = db.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(status=Status.DISMISSED.value, message=message, finished=time.time(), outputs=None)
            )
        return result.rowcount == 1

    def record_cost(self, job_id: str, cost: Mapping[str, Any]) -> None:
        """Keep the job's measured cluster use and cost (a JSON object)."""
        with self._begin() as db:
            db.execute(jobs.update().where(jobs.c.id == job_id).values(cost=json.dumps(cost, default=str)))

    def cost(self, job_id: str) -> dict[str, Any] | None:
        """The measured cost of one job, if it has one."""
        with self.engine.connect() as db:
            text = db.execute(sa.select(jobs.c.cost).where(jobs.c.id == job_id)).scalar()
        return json.loads(text) if text else None

    def costs(self, limit: int = 100) -> list[tuple[Job, dict[str, Any]]]:
        """The newest jobs that have a cost, with it."""
        query = jobs.select().where(jobs.c.cost.is_not(None)).order_by(jobs.c.created.desc()).limit(limit)
        with self.engine.connect() as db:
            return [(_to_job(row), json.loads(row["cost"])) for row in db.execute(query).mappings()]

    def ids_starting(self, prefix: str, limit: int = 2) -> list[str]:
        """Ids of jobs that start with ``prefix`` (hex digits and dashes only), at most ``limit``."""
        if not prefix or prefix.strip("0123456789abcdef-"):
            return []
        query = sa.select(jobs.c.id).where(jobs.c.id.startswith(prefix)).order_by(jobs.c.id).limit(limit)
        with self.engine.connect() as db:
            return list(db.execute(query).scalars())

    def running_ids(self) -> list[str]:
        with self.engine.connect() as db:
            return list(
                db.execute(sa.select(jobs.c.id).where(jobs.c.status == Status.RUNNING.value)).scalars()
            )

    def count(self, status: Status, owner: str | None = None) -> int:
        """Jobs in ``status``, of ``owner`` when given."""
        query = sa.select(sa.func.count()).where(jobs.c.status == status.value)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self.engine.connect() as db:
            return int(db.execute(query).scalar_one())

    def claim_next(self, runner: str) -> Job | None:
        """Take the oldest accepted job for ``runner``; safe when several runners compete."""
        with self._begin() as db:
            candidate = db.execute(
                sa.select(jobs.c.id)
                .where(jobs.c.status == Status.ACCEPTED.value)
                .order_by(jobs.c.created, jobs.c.id)
                .limit(1)
            ).scalar()
            if candidate is None:
                return None
            now = time.time()
            claimed = db.execute(
                jobs.update()
                .where(jobs.c.id == candidate, jobs.c.status == Status.ACCEPTED.value)
                .values(
                    status=Status.RUNNING.value,
                    runner=runner,
                    started=now,
                    heartbeat=now,
                    attempts=jobs.c.attempts + 1,
                    message="Started",
                )
            ).rowcount
        return self.get(candidate) if claimed == 1 else None

    # -- the runner lease ---------------------------------------------------------------------------
    def take_lease(self, runner: str, stale_after: float) -> LeaseHolder | None:
        """Make ``runner`` (of this host and process) the store's one runner, unless another that
        may be alive holds it: None when taken, else that holder."""
        me = {"runner": runner, "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}
        try:
            with self._begin() as db:
                row = db.execute(lease.select().where(lease.c.id == 1)).mappings().first()
                if row is None:
                    db.execute(lease.insert().values(id=1, **me))
                    return None
                holder = LeaseHolder(row["runner"], row["host"], row["pid"], row["heartbeat"])
                if holder.runner != runner and holder.alive(stale_after):
                    return holder
                # compare and swap: of two runners taking over a dead one's lease, one wins
                swapped = db.execute(
                    lease.update()
                    .where(
                        lease.c.id == 1,
                        lease.c.runner == holder.runner,
                        lease.c.heartbeat == holder.heartbeat,
                    )
                    .values(**me)
                ).rowcount
                return None if swapped == 1 else holder
        except sa.exc.IntegrityError:  # another runner inserted the lease first
            return self.lease_holder() or LeaseHolder("another runner", "", 0, time.time())

    def renew_lease(self, runner: str) -> bool:
        """Beat the lease's heartbeat; False if ``runner`` no longer holds it."""
        with self._begin() as db:
            return bool(
                db.execute(
                    lease.update()
                    .where(lease.c.id == 1, lease.c.runner == runner)
                    .values(heartbeat=time.time())
                ).rowcount
            )

    def release_lease(self, runner: str) -> None:
        with self._begin() as db:
            db.execute(lease.delete().where(lease.c.id == 1, lease.c.runner == runner))

    def lease_holder(self) -> LeaseHolder | None:
        with self.engine.connect() as db:
            row = db.execute(lease.select().where(lease.c.id == 1)).mappings().first()
        return LeaseHolder(row["runner"], row["host"], row["pid"], row["heartbeat"]) if row else None

    def beat(self, job_ids: list[str]) -> None:
        """Say these running jobs are alive."""
        if job_ids:
            with self._begin() as db:
                db.execute(
                    jobs.update()
                    .where(jobs.c.id.in_(job_ids), jobs.c.status == Status.RUNNING.value)
                    .values(heartbeat=time.time())
                )

    def recover_stale(self, stale_after: float, max_attempts: int) -> list[tuple[str, Status]]:
        """Jobs whose heartbeat stopped: asynchronous ones go back to the queue (or fail after too many
        attempts), synchronous ones fail since their client has gone with the web worker."""
        limit = time.time() - stale_after
        changed: list[tuple[str, Status]] = []
        with self._begin() as db:
            rows = db.execute(
                sa.select(jobs.c.id, jobs.c.sync, jobs.c.attempts).where(
                    jobs.c.status == Status.RUNNING.value, jobs.c.heartbeat < limit
                )
            ).all()
            for job_id, sync, attempts in rows:
                stale = (jobs.c.id == job_id, jobs.c.status == Status.RUNNING.value, jobs.c.heartbeat < limit)
                if sync or attempts >= max_attempts:
                    why = (
                        "the web worker running this synchronous job stopped"
                        if sync
                        else f"the server stopped {attempts} times while this job ran; it was not resumed again"
                    )
                    values: dict[str, Any] = {
                        "status": Status.FAILED.value,
                        "finished": time.time(),
                        "message": why,
                        "error_code": "NoApplicableCode",
                        "error_text": why,
                    }
                    new = Status.FAILED
                else:
                    values = {
                        "status": Status.ACCEPTED.value,
                        "runner": None,
                        "message": f"Resumed after the server stopped (attempt {attempts + 1})",
                    }
                    new = Status.ACCEPTED
                if db.execute(jobs.update().where(*stale).values(**values)).rowcount == 1:
                    changed.append((job_id, new))
        return changed

    def expired(self, before: float) -> list[str]:
        """Finished jobs older than ``before`` (epoch seconds): never a running or queued one."""
        finished = [s.value for s in Status if s.finished]
        with self.engine.connect() as db:
            return list(
                db.execute(
                    sa.select(jobs.c.id).where(jobs.c.status.in_(finished), jobs.c.finished < before)
                ).scalars()
            )

    def delete(self, job_ids: list[str]) -> None:
        finished = [s.value for s in Status if s.finished]
        with self._begin() as db:
            db.execute(jobs.delete().where(jobs.c.id.in_(job_ids), jobs.c.status.in_(finished)))

    def search(
        self,
        limit: int,
        offset: int = 0,
        process_ids: Sequence[str] = (),
        statuses: Sequence[Status] = (),
        owner: str | None = None,
    ) -> list[Job]:
        """One page of jobs, newest first, optionally only of these processes, in these states and
        of this owner."""
        query = jobs.select().order_by(jobs.c.created.desc(), jobs.c.id).limit(limit).offset(offset)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        if process_ids:
            query = query.where(jobs.c.process_id.in_(list(process_ids)))
        if statuses:
            query = query.where(jobs.c.status.in_([s.value for s in statuses]))
        with self.engine.connect() as db:
            return [_to_job(row) for row in db.execute(query).mappings()]

    def list(self, limit: int = 100, status: Status | None = None) -> list[Job]:
        query = jobs.select().order_by(jobs.c.created.desc()).limit(limit)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        with self.engine.connect() as db:
            return [_to_job(row) for row in db.execute(query).mappings()]

    def ping(self) -> None:
        with self.engine.connect() as db:
            db.execute(sa.select(1))


@contextmanager
def heartbeat(store: JobStore, job_id: str, interval: float = 5.0) -> Iterator[None]:
    """Beat the job's heartbeat from a thread while the block runs (for jobs run outside the runner)."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(interval):
            store.beat([job_id])

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _to_job(row: Any) -> Job:
    error = (
        JobError(row["error_code"], row["error_text"] or "", row["error_locator"])
        if row["error_code"]
        else None
    )
    return Job(
        id=row["id"],
        process_id=row["process_id"],
        request=request_from_json(row["request"]),
        status=Status(row["status"]),
        percent=row["percent"],
        message=row["message"],
        created=from_epoch(row["created"]),
        started=from_epoch(row["started"]),
        finished=from_epoch(row["finished"]),
        outputs=outputs_from_json(row["outputs"]),
        error=error,
        attempts=row["attempts"],
        owner=row["owner"],
    )
