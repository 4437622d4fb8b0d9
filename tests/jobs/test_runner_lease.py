"""One job runner drives a store at a time: the lease, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tests.jobs.test_store import make_job
from wps_server.cluster_client import SchedulerConnection
from wps_server.config import Settings
from wps_server.database import make_engine, migrate
from wps_server.jobs.model import Status
from wps_server.jobs.runner import Runner, RunnerTimings
from wps_server.jobs.store import JobStore, jobs, lease


@pytest.fixture
def store(database_url: str) -> JobStore:
    engine = make_engine(database_url)
    migrate(engine)
    return JobStore(engine)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _set_holder(store: JobStore, host: str, pid: int, age: float) -> None:
    with store.engine.begin() as db:
        db.execute(lease.delete())
        db.execute(lease.insert().values(id=1, runner="old", host=host, pid=pid, heartbeat=time.time() - age))


def test_a_live_holder_keeps_the_store_and_a_released_one_frees_it(store: JobStore) -> None:
    assert store.take_lease("a", stale_after=20) is None
    holder = store.take_lease("b", stale_after=20)
    assert holder is not None and holder.runner == "a" and holder.host == socket.gethostname()
    assert store.renew_lease("a") and not store.renew_lease("b")
    store.release_lease("a")
    assert store.take_lease("b", stale_after=20) is None
    assert not store.renew_lease("a")


@pytest.mark.parametrize(
    ("host", "pid", "age", "taken"),
    [
        (socket.gethostname(), None, 1.0, True),  # killed here: freed at once
        ("elsewhere", 4242, 1.0, False),  # another machine, heartbeat fresh: it may be alive
        ("elsewhere", 4242, 60.0, True),  # another machine, heartbeat stale
        (socket.gethostname(), 1, 1.0, False),  # alive here (pid 1 always is)
    ],
)
def test_who_may_take_over(store: JobStore, host: str, pid: int | None, age: float, taken: bool) -> None:
    _set_holder(store, host, _dead_pid() if pid is None else pid, age)
    holder = store.take_lease("new", stale_after=20)
    assert (holder is None) is taken
    assert store.lease_holder().runner == ("new" if taken else "old")  # type: ignore[union-attr]


def test_of_runners_racing_for_a_dead_holder_exactly_one_wins(store: JobStore) -> None:
    for _ in range(5):
        _set_holder(store, socket.gethostname(), _dead_pid(), 1.0)
        results: dict[str, object] = {}
        barrier = threading.Barrier(4)

        def take(name: str, barrier: threading.Barrier, results: dict[str, object]) -> None:
            barrier.wait()
            results[name] = store.take_lease(name, stale_after=20)

        threads = [threading.Thread(target=take, args=(f"r{i}", barrier, results)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [name for name, holder in results.items() if holder is None]
        assert len(winners) == 1, results
        assert store.lease_holder().runner == winners[0]  # type: ignore[union-attr]


def test_a_second_runner_waits_and_runs_nothing_until_the_first_stops(
    store: JobStore, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    timings = RunnerTimings(poll=0.05, heartbeat=0.2)
    first = Runner(settings, [], store, SchedulerConnection("local"), timings=timings, periodic=[])
    second = Runner(settings, [], store, SchedulerConnection("local"), timings=timings, periodic=[])
    one = threading.Thread(target=first.run)
    one.start()
    while store.lease_holder() is None:
        time.sleep(0.02)
    two = threading.Thread(target=second.run)
    two.start()
    job = make_job("nothing_offered")
    store.create(job)
    deadline = time.monotonic() + 5
    while store.get(job.id).status in (Status.ACCEPTED, Status.RUNNING) and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    # the first runner took it (and failed it: no such process here); the second never ran
    assert store.get(job.id).status == Status.FAILED  # type: ignore[union-attr]
    with store.engine.connect() as db:
        assert db.execute(sa.select(jobs.c.runner).where(jobs.c.id == job.id)).scalar() == first.name
    assert store.lease_holder().runner == first.name  # type: ignore[union-attr]
    first.stop()
    one.join(30)
    deadline = time.monotonic() + 10
    while store.lease_holder() is None or store.lease_holder().runner != second.name:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the second runner never took over"
        time.sleep(0.05)
    second.stop()
    two.join(30)
    assert store.lease_holder() is None
