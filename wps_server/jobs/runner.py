"""The job runner: one long-lived process, apart from the web workers, that drives queued jobs.

It claims accepted jobs in order up to ``max_concurrent`` (polling the store, and at once whenever
one of its jobs ends, so that a queue of short jobs never waits for the next poll), runs each in a
thread whose heavy work goes to the Dask cluster, beats a heartbeat for them, resumes or fails jobs
whose heartbeat stopped (a runner or web worker that died), and expires finished jobs after the
retention time. It also runs the periodic tasks the process package offers (see
:func:`periodic_tasks`), such as closing requests whose time is up, so that they happen without
anyone asking.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wps_server.access import OPERATOR, User, acting_as
from wps_server.budgets import budgets_for, job_spending
from wps_server.cluster_client import SchedulerConnection
from wps_server.clusters import JobClusters
from wps_server.config import Settings
from wps_server.execution import (
    RunContext,
    acting_owner,
    remove_job_files,
    remove_outputs,
    run_job,
    usable_profiles,
)
from wps_server.jobs.model import Job, Status
from wps_server.jobs.store import JobStore
from wps_server.process import Process
from wps_server.registry import entries, entry_module

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerTimings:
    poll: float = 0.2
    heartbeat: float = 5.0
    stale_after: float = 20.0
    sweep: float = 5.0
    max_attempts: int = 3
    retention_sweep: float = 600.0


@dataclass(frozen=True)
class PeriodicTask:
    """Work a process package wants done every ``interval`` seconds by the runner, first at its start.

    ``run`` is called in the runner's loop (keep it short); an exception is logged and the task is
    tried again at its next turn.
    """

    name: str
    interval: float
    run: Callable[[], object]


def periodic_tasks(settings: Settings) -> list[PeriodicTask]:
    """The tasks offered by the modules of ``[server] processes``: each one's
    ``periodic_tasks(settings)``, when it has one (a module of processes that need no upkeep has none)."""
    tasks: list[PeriodicTask] = []
    for name in dict.fromkeys(entry_module(entry) for entry in entries(settings)):
        factory = getattr(importlib.import_module(name), "periodic_tasks", None)
        tasks += [] if factory is None else list(factory(settings))
    return tasks


def sign_in_upkeep(settings: Settings, engine: Any) -> list[PeriodicTask]:
    """When users sign in: forget failed sign-ins once their window has passed."""
    from wps_server.access import AuthSettings
    from wps_server.login_failures import LoginThrottle

    auth = AuthSettings.from_settings(settings)
    if not auth.enabled:
        return []
    throttle = LoginThrottle(engine, auth.max_failed_logins, auth.failed_login_window)
    return [PeriodicTask("forget old failed sign-ins", auth.failed_login_window, throttle.purge)]


class Runner:
    """Drives jobs from the store until :meth:`stop` is called."""

    def __init__(
        self,
        settings: Settings,
        processes: list[Process],
        store: JobStore,
        scheduler: SchedulerConnection,
        timings: RunnerTimings | None = None,
        clusters: JobClusters | None = None,
        periodic: list[PeriodicTask] | None = None,
    ) -> None:
        """``periodic``: the tasks to run; ``None`` takes those of :func:`periodic_tasks`."""
        self.settings = settings
        self.processes = {p.identifier: p for p in processes}
        self.store = store
        self.scheduler = scheduler
        self.clusters = clusters
        self.budgets = budgets_for(settings, store.engine)
        self.timings = timings or RunnerTimings()
        self.periodic = periodic_tasks(settings) if periodic is None else list(periodic)
        self.periodic += sign_in_upkeep(settings, store.engine)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a job ended (or stop): claim the next without waiting

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        if not self._take_lease():
            return
        log.info(
            "runner started", extra={"runner": self.name, "max_concurrent": self.settings.jobs.max_concurrent}
        )
        try:
            self._loop()
        finally:
            self.store.release_lease(self.name)
        log.info("runner stopped", extra={"runner": self.name})

    def _take_lease(self) -> bool:
        """Become the store's one runner, waiting while another one may be alive (never two at
        once); False if stopped before."""
        said = False
        while not self._stop.is_set():
            holder = self.store.take_lease(self.name, self.timings.stale_after)
            if holder is None:
                return True
            if not said:
                log.warning(
                    "another job runner drives this job store; waiting until it stops",
                    extra={"holder": holder.runner, "host": holder.host, "pid": holder.pid},
                )
                said = True
            self._stop.wait(1.0)
        return False

    def _loop(self) -> None:
        last_beat = last_sweep = last_retention = 0.0
        next_periodic = [0.0] * len(self.periodic)
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_sweep >= self.timings.sweep:
                self._recover()
                last_sweep = now
            if now - last_beat >= self.timings.heartbeat:
                if not self.store.renew_lease(self.name):
                    log.error(
                        "this runner lost its lease on the job store; stopping", extra={"runner": self.name}
                    )
                    self.stop()
                self.store.beat(self.active())
                last_beat = now
            if now - last_retention >= self.timings.retention_sweep:
                self.expire()
                last_retention = now
            for i, task in enumerate(self.periodic):
                if now >= next_periodic[i]:
                    self._run_periodic(task)
                    next_periodic[i] = time.monotonic() + task.interval
            self._start_jobs()
            self._wake.wait(self.timings.poll)
            self._wake.clear()
        for thread in list(self._running.values()):
            thread.join(timeout=30)
        if self.clusters is not None:
            self.clusters.close()
        self.scheduler.close()

    def active(self) -> list[str]:
        """Ids of the jobs running here (each job's thread removes its own when it ends)."""
        with self._lock:
            return list(self._running)

    def _start_jobs(self) -> None:
        while len(self.active()) < self.settings.jobs.max_concurrent and not self._stop.is_set():
            job = self.store.claim_next(self.name)
            if job is None:
                return
            thread = threading.Thread(target=self._drive, args=(job,), name=f"job-{job.id}", daemon=True)
            with self._lock:
                self._running[job.id] = thread
            thread.start()

    def _drive(self, job: Job) -> None:
        try:
            self._run(job)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self._wake.set()

    def _run(self, job: Job) -> None:
        process = self.processes.get(job.process_id)
        if process is None:
            self.store.finish(job.id, Status.FAILED, f"process {job.process_id} is no longer offered")
            return
        context = RunContext(
            job_id=job.id,
            workdir=self.settings.jobs_dir / job.id,
            report=lambda percent, message: self.store.progress(job.id, percent, message),
            client_factory=self.scheduler.client,
            clusters=self.clusters,
            record_cost=lambda cost: self.store.record_cost(job.id, cost),
            cost_history=self.store.finished_costs,
            is_dismissed=lambda: self._dismissed(job.id),
            owner=acting_owner(job),
            profiles=usable_profiles(job),
            **job_spending(self.budgets, job.owner, job.id),
        )
        with acting_as(User(job.owner) if job.owner else OPERATOR):  # whom its audit lines name
            outcome = run_job(process, job, self.settings, context)
        if not self.store.finish(job.id, outcome.status, outcome.message, outcome.outputs, outcome.error):
            remove_outputs(self.settings, job.id)  # dismissed meanwhile: keep nothing of it

    def _dismissed(self, job_id: str) -> bool:
        job = self.store.get(job_id)
        return job is None or job.status == Status.DISMISSED

    def _run_periodic(self, task: PeriodicTask) -> None:
        try:
            task.run()
        except Exception:  # a failing task must not stop the jobs; it is tried again next time
            log.exception("periodic task failed", extra={"task": task.name})

    def _recover(self) -> None:
        for job_id, status in self.store.recover_stale(self.timings.stale_after, self.timings.max_attempts):
            log.warning("job lost its heartbeat", extra={"job_id": job_id, "now": status.value})
        if self.clusters is not None:
            self.clusters.sweep(set(self.store.running_ids()))

    def expire(self) -> list[str]:
        """Delete finished jobs older than the retention time, with their files (a job whose files a
        storage could not remove stays for the next sweep)."""
        before = time.time() - self.settings.jobs.retention_days * 86400
        expired = [job_id for job_id in self.store.expired(before) if remove_job_files(self.settings, job_id)]
        self.store.delete(expired)
        if expired:
            log.info("expired finished jobs", extra={"count": len(expired)})
        return expired
