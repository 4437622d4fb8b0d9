"""What happened on a cluster during a job: worker arrivals and departures, and task compute spans.

:class:`JobEventsPlugin` runs inside the scheduler. It imports only the standard library and
``distributed`` so that it can be shipped by value to a scheduler that does not have this package
installed (a cloud VM). Tasks are attributed to jobs through the Client that submitted them
(:func:`bind_client`); on a per-job cluster every task belongs to the job anyway.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from distributed.diagnostics.plugin import SchedulerPlugin

PLUGIN_NAME = "space-wps-job-events"
WorkerAction = Literal["added", "removed"]


@dataclass(frozen=True)
class WorkerEvent:
    """A worker joined or left the scheduler at ``time`` (seconds since the epoch)."""

    time: float
    worker: str
    action: WorkerAction
    nthreads: int = 1


@dataclass(frozen=True)
class TaskSpan:
    """One execution of a task on a worker; ``state`` is ``memory`` (success) or ``erred``."""

    key: str
    worker: str
    start: float
    stop: float
    state: str = "memory"

    @property
    def seconds(self) -> float:
        return max(0.0, self.stop - self.start)


@dataclass(frozen=True)
class JobEvents:
    """Everything :func:`cluster.cost.compute_cost` needs about one job.

    ``requested_at``: when the job asked for its cluster; ``finished_at``: when its work ended;
    ``closed_at``: when a per-job cluster was closed (``None`` for shared clusters).
    """

    job_id: str
    profile: str
    shared: bool
    requested_at: float
    finished_at: float
    closed_at: float | None = None
    workers: tuple[WorkerEvent, ...] = ()
    tasks: tuple[TaskSpan, ...] = ()
    #: each worker's memory limit in bytes (0: none), as the scheduler knows it
    memory_limits: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobEvents:
        data = json.loads(text)
        return cls(
            job_id=data["job_id"],
            profile=data["profile"],
            shared=data["shared"],
            requested_at=data["requested_at"],
            finished_at=data["finished_at"],
            closed_at=data["closed_at"],
            workers=tuple(WorkerEvent(**w) for w in data["workers"]),
            tasks=tuple(TaskSpan(**t) for t in data["tasks"]),
            memory_limits=data.get("memory_limits", {}),
        )


@dataclass
class JobEventLog:
    """Filled by :func:`cluster.lifecycle.open_cluster` when the job's cluster is closed.

    ``events`` stays ``None`` if nothing could be collected (e.g. the cluster never started);
    ``error`` then says why.
    """

    events: JobEvents | None = None
    error: str | None = None


class JobEventsPlugin(SchedulerPlugin):
    """Scheduler plugin recording worker events and per-job task spans."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, max_events: int = 100_000) -> None:
        self.scheduler: Any = None
        self.worker_events: deque[tuple[float, str, str, int]] = deque(maxlen=max_events)
        self.client_jobs: dict[str, str] = {}
        self.key_jobs: dict[str, str] = {}
        self.spans: defaultdict[str, list[tuple[str, str, float, float, str]]] = defaultdict(list)
        # spans of clients bound to no job (other users of a shared scheduler): bounded
        self.unattributed: deque[tuple[str, str, float, float, str]] = deque(maxlen=max_events)
        self.memory_limits: dict[str, int] = {}

    async def start(self, scheduler: Any) -> None:
        """Backfill worker events that happened before the plugin was registered."""
        self.scheduler = scheduler
        for address, state in scheduler.workers.items():
            self.memory_limits[address] = int(state.memory_limit or 0)
        for stamp, msg in scheduler.get_events("all"):
            action = msg.get("action") if isinstance(msg, dict) else None
            worker = msg.get("worker") if isinstance(msg, dict) else None
            if worker and action in ("add-worker", "remove-worker"):
                self._worker_event(float(stamp), worker, "added" if action == "add-worker" else "removed")

    def _worker_event(self, stamp: float, worker: str, action: str) -> None:
        state = self.scheduler.workers.get(worker) if self.scheduler is not None else None
        nthreads = int(state.nthreads) if state is not None else 0
        self.worker_events.append((stamp, worker, action, nthreads))

    def add_worker(self, scheduler: Any, worker: str) -> None:
        self.scheduler = scheduler
        self._worker_event(time.time(), worker, "added")
        state = scheduler.workers.get(worker)
        if state is not None:
            self.memory_limits[worker] = int(state.memory_limit or 0)

    def remove_worker(self, scheduler: Any, worker: str, *, stimulus_id: str, **kwargs: Any) -> None:
        self.scheduler = scheduler
        self._worker_event(time.time(), worker, "removed")

    def update_graph(self, scheduler: Any, *, client: str, tasks: list[Any], **kwargs: Any) -> None:
        job = self.client_jobs.get(client)
        if job is not None:
            for key in tasks:
                self.key_jobs[str(key)] = job

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        skey = str(key)
        if start == "processing" and finish in ("memory", "erred"):
            job = self.key_jobs.get(skey)
            target = self.unattributed if job is None else self.spans[job]
            worker = str(kwargs.get("worker", ""))
            for span in kwargs.get("startstops", ()):
                if span.get("action") == "compute":
                    target.append((skey, worker, float(span["start"]), float(span["stop"]), finish))
        elif finish == "forgotten":
            self.key_jobs.pop(skey, None)

    def bind(self, client: str, job_id: str) -> None:
        self.client_jobs[client] = job_id

    def collect(self, job_id: str | None, since: float, forget: bool) -> dict[str, Any]:
        """Worker events since ``since`` and the task spans of ``job_id`` (all spans for ``None``)."""
        workers = [list(e) for e in self.worker_events if e[0] >= since]
        if job_id is None:
            spans = [list(s) for job in list(self.spans) for s in self.spans[job]]
            spans += [list(s) for s in self.unattributed]
            if forget:
                self.spans.clear()
                self.unattributed.clear()
        else:
            spans = [list(s) for s in self.spans.get(job_id, [])]
            if forget:
                self.spans.pop(job_id, None)
                self.client_jobs = {c: j for c, j in self.client_jobs.items() if j != job_id}
        used = {span[1] for span in spans} | {event[1] for event in workers}
        memory = {w: m for w, m in self.memory_limits.items() if w in used}
        return {"workers": workers, "spans": spans, "memory": memory, "now": time.time()}


def plugin_bind(dask_scheduler: Any, client_id: str, job_id: str) -> None:
    """Run on the scheduler: attribute the tasks of ``client_id`` to ``job_id``."""
    dask_scheduler.plugins[PLUGIN_NAME].bind(client_id, job_id)


def plugin_collect(dask_scheduler: Any, job_id: str | None, since: float, forget: bool) -> dict[str, Any]:
    """Run on the scheduler: the recorded events (see :meth:`JobEventsPlugin.collect`)."""
    plugin = dask_scheduler.plugins.get(PLUGIN_NAME)
    if plugin is None:
        return {"workers": [], "spans": [], "now": time.time()}
    result: dict[str, Any] = plugin.collect(job_id, since, forget)
    return result
