"""The cost of a job: billed machine time from its cluster's events, times the profile's price.

:func:`compute_cost` is a pure function of :class:`~cluster.events.JobEvents` and a profile.
:func:`install_collector` and :func:`fetch_events` gather those events from a real cluster (
:func:`cluster.lifecycle.open_cluster` calls them when given a :class:`~cluster.events.JobEventLog`).

Billing model
-------------
* Per-job cluster: each worker is billed from the moment its machine was asked for (its arrival at the
  scheduler minus the boot time of the first workers, never before the request) to its departure or
  the cluster's close, rounded up to the profile's granularity and never under its minimum. A
  separate scheduler machine (``price.scheduler_amount``) is billed from request to close.
* Shared cluster: the job is billed, per worker, from its first task start to its last task end there
  (the time it held the worker), with the same rounding; the scheduler is not billed to the job.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import cloudpickle
from distributed import Client

from cluster import events as events_module
from cluster.events import JobEvents, JobEventsPlugin, TaskSpan, WorkerEvent, plugin_bind, plugin_collect
from cluster.profiles import ClusterProfile


@dataclass(frozen=True)
class WorkerBill:
    """One worker's billed time."""

    worker: str
    start: float
    end: float
    nthreads: int
    raw_seconds: float
    billed_seconds: int
    busy_seconds: float
    #: its memory limit in bytes (what it held for the job), 0 where the scheduler knew none
    memory_limit: int = 0


@dataclass(frozen=True)
class CostReport:
    """What a job cost, and how well it used what it paid for.

    ``efficiency`` = busy task-seconds / (billed worker-seconds x threads per worker): 1.0 means every
    worker thread computed during all the time it was billed. ``cost`` is 0 with ``priced=False``
    when the profile has no price.
    """

    job_id: str
    profile: str
    kind: str
    shared: bool
    priced: bool
    currency: str | None
    price_per_worker_hour: float
    price_as_of: str | None
    wall_seconds: float
    boot_seconds: float
    workers: tuple[WorkerBill, ...]
    raw_worker_seconds: float
    billed_worker_seconds: int
    billed_thread_seconds: int
    scheduler_billed_seconds: int
    busy_task_seconds: float
    tasks: int
    failed_tasks: int
    efficiency: float | None
    worker_cost: float
    scheduler_cost: float
    cost: float
    #: the workers' memory limits times the seconds each was billed for the job, in MB-seconds
    memory_mb_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def predicted_cost(profile: ClusterProfile, workers: int, tasks: int, seconds_per_task: float) -> float:
    """What ``tasks`` tasks of ``seconds_per_task`` (on the calibration machine) should cost on
    ``workers`` workers of the profile: start-up plus waves of tasks, billed as the profile bills,
    workers and scheduler machine at list price (0 for an unpriced profile)."""
    if profile.price is None:
        return 0.0
    slots = max(1, workers * profile.worker_threads)
    waves = -(-tasks // slots)
    wall = profile.startup_seconds + waves * seconds_per_task / profile.relative_speed
    return running_bill(profile, workers, wall)


def running_bill(profile: ClusterProfile, workers: int, seconds: float) -> float:
    """The bill of ``workers`` workers (and the scheduler machine) kept for ``seconds``."""
    if profile.price is None:
        return 0.0
    billed = profile.billing.billed_seconds(seconds)
    return (workers * profile.worker_hour_price + profile.price.scheduler_amount) * billed / 3600.0


def compute_cost(events: JobEvents, profile: ClusterProfile) -> CostReport:
    """Bill ``events`` with ``profile``'s price and billing rules (see the module docstring)."""
    end_of_job = events.closed_at if events.closed_at is not None else events.finished_at
    if events.shared:
        bills, boot = _shared_bills(events, profile), 0.0
    else:
        bills, boot = _per_job_bills(events, end_of_job, profile)
    billed = sum(b.billed_seconds for b in bills)
    billed_threads = sum(b.billed_seconds * b.nthreads for b in bills)
    busy = sum(s.seconds for s in events.tasks)
    scheduler_billed = 0
    if not events.shared and profile.price is not None and profile.price.scheduler_amount > 0:
        scheduler_billed = profile.billing.billed_seconds(end_of_job - events.requested_at)
    worker_cost = billed / 3600.0 * profile.worker_hour_price
    scheduler_cost = (
        0.0 if profile.price is None else scheduler_billed / 3600.0 * profile.price.scheduler_amount
    )
    return CostReport(
        job_id=events.job_id,
        profile=profile.name,
        kind=profile.kind,
        shared=events.shared,
        priced=profile.price is not None,
        currency=profile.currency,
        price_per_worker_hour=profile.worker_hour_price,
        price_as_of=None if profile.price is None else profile.price.as_of.isoformat(),
        wall_seconds=max(0.0, end_of_job - events.requested_at),
        boot_seconds=boot,
        workers=tuple(bills),
        raw_worker_seconds=sum(b.raw_seconds for b in bills),
        billed_worker_seconds=billed,
        billed_thread_seconds=billed_threads,
        scheduler_billed_seconds=scheduler_billed,
        busy_task_seconds=busy,
        tasks=len(events.tasks),
        failed_tasks=sum(1 for s in events.tasks if s.state == "erred"),
        efficiency=busy / billed_threads if billed_threads > 0 else None,
        worker_cost=worker_cost,
        scheduler_cost=scheduler_cost,
        cost=worker_cost + scheduler_cost,
        memory_mb_seconds=sum(b.memory_limit / 1e6 * b.raw_seconds for b in bills),
    )


def _per_job_bills(
    events: JobEvents, end_of_job: float, profile: ClusterProfile
) -> tuple[list[WorkerBill], float]:
    """Bills of the workers of a per-job cluster, and the boot time they are charged."""
    intervals: defaultdict[str, list[list[float]]] = defaultdict(list)
    threads: dict[str, int] = {}
    for ev in sorted(events.workers, key=lambda e: e.time):
        if ev.action == "added":
            intervals[ev.worker].append([ev.time, end_of_job])
            if ev.nthreads > 0:
                threads[ev.worker] = ev.nthreads
        elif intervals[ev.worker] and intervals[ev.worker][-1][1] == end_of_job:
            intervals[ev.worker][-1][1] = min(ev.time, end_of_job)
        else:  # removed without a recorded arrival: it was there since the request
            intervals[ev.worker].append([events.requested_at, min(ev.time, end_of_job)])
    for span in events.tasks:  # a worker seen only through its tasks still existed
        if span.worker and span.worker not in intervals:
            intervals[span.worker].append([events.requested_at, end_of_job])
    arrivals = [iv[0][0] for iv in intervals.values() if iv]
    boot = max(0.0, min(arrivals) - events.requested_at) if arrivals else 0.0
    bills = []
    for worker, spans in sorted(intervals.items()):
        for start, stop in spans:
            begin = max(events.requested_at, start - boot)
            raw = max(0.0, stop - begin)
            bills.append(
                WorkerBill(
                    worker=worker,
                    start=begin,
                    end=stop,
                    nthreads=threads.get(worker, profile.worker_threads),
                    raw_seconds=raw,
                    billed_seconds=profile.billing.billed_seconds(raw),
                    busy_seconds=_busy(events.tasks, worker, begin, stop),
                    memory_limit=events.memory_limits.get(worker, 0),
                )
            )
    return bills, boot


def _busy(tasks: tuple[TaskSpan, ...], worker: str, start: float, stop: float) -> float:
    """Compute seconds of ``worker`` whose task started within [start, stop]."""
    return sum(s.seconds for s in tasks if s.worker == worker and start <= s.start <= stop)


def _shared_bills(events: JobEvents, profile: ClusterProfile) -> list[WorkerBill]:
    tasks = events.tasks
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for span in tasks:
        first[span.worker] = min(first.get(span.worker, span.start), span.start)
        last[span.worker] = max(last.get(span.worker, span.stop), span.stop)
    bills = []
    for worker in sorted(first):
        raw = max(0.0, last[worker] - first[worker])
        bills.append(
            WorkerBill(
                worker=worker,
                start=first[worker],
                end=last[worker],
                nthreads=profile.worker_threads,
                raw_seconds=raw,
                billed_seconds=profile.billing.billed_seconds(raw),
                busy_seconds=_busy(tasks, worker, first[worker], last[worker]),
                memory_limit=events.memory_limits.get(worker, 0),
            )
        )
    return bills


# --------------------------------------------------------------------------- collection from a cluster


def install_collector(client: Client, job_id: str) -> None:
    """Register the event plugin on the client's scheduler (once) and attribute this client to the job."""
    cloudpickle.register_pickle_by_value(sys.modules[events_module.__name__])
    client.register_plugin(JobEventsPlugin())
    client.run_on_scheduler(plugin_bind, client_id=client.id, job_id=job_id)


def fetch_events(
    client: Client,
    job_id: str,
    *,
    profile: str,
    shared: bool,
    requested_at: float,
    forget: bool = True,
) -> JobEvents:
    """The events of ``job_id`` recorded by :func:`install_collector`, as :class:`JobEvents`.

    On a per-job cluster every worker event and task span counts, whoever submitted it; on a shared one
    only the job's own spans (and no worker events: the job does not own the workers).
    ``finished_at`` is now; the caller sets ``closed_at`` after closing a per-job cluster.
    """
    raw = client.run_on_scheduler(
        plugin_collect,
        job_id=job_id if shared else None,
        since=0.0,
        forget=forget,
    )
    workers = tuple(WorkerEvent(time=t, worker=w, action=a, nthreads=n) for t, w, a, n in raw["workers"])
    spans = tuple(TaskSpan(key=k, worker=w, start=s, stop=e, state=st) for k, w, s, e, st in raw["spans"])
    return JobEvents(
        job_id=job_id,
        profile=profile,
        shared=shared,
        requested_at=requested_at,
        finished_at=time.time(),
        workers=workers if not shared else (),
        tasks=spans,
        memory_limits={str(w): int(m) for w, m in raw.get("memory", {}).items()},
    )
