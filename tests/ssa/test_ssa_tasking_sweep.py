"""The job runner closes tasking requests whose windows have ended without anyone asking for them."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from processes.ssa.catalogue import TaskingStatus, get_tasking, ingest, load_sensors, submit_tasking
from wps_server.cluster_client import SchedulerConnection
from wps_server.config import Settings
from wps_server.database import make_engine, migrate
from wps_server.jobs.runner import PeriodicTask, Runner, RunnerTimings, periodic_tasks
from wps_server.jobs.store import JobStore

SNAPSHOT = Path("gpconf") / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"


@contextmanager
def running(runner: Runner) -> Iterator[None]:
    thread = threading.Thread(target=runner.run, name="test-runner", daemon=True)
    thread.start()
    try:
        yield
    finally:
        runner.stop()
        thread.join(timeout=30)


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_runner_closes_requests_whose_windows_ended(
    database_url: str,
    make_settings: Callable[..., Settings],
    ssa_data: Path,
    find_windows,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(
        server={"processes": "processes:shipped_processes"},
        database={"url": database_url},
        ssa={"maintenance_interval": "0.2"},
    )
    engine: Engine = make_engine(database_url)
    migrate(engine)  # the service's schema: jobs and catalogue
    load_sensors(engine, ssa_data / "tdm" / "sensors.yaml")
    ingest(engine, (ssa_data / SNAPSHOT).read_bytes(), "last-30-days.tle", "celestrak")
    now = datetime.now(UTC)
    start = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)  # windows from the snapshot's orbits, long over
    assert start + timedelta(days=1) < now
    over = submit_tasking(
        engine,
        norad_id=100404,
        sensor="TIRA",
        start=start,
        end=start + timedelta(days=1),
        find_windows=find_windows,
        now=start - timedelta(hours=1),
    )
    assert over.status is TaskingStatus.SCHEDULED and over.windows
    tasks = periodic_tasks(settings)  # what `wps-server runner` finds in the processes package
    assert [(t.name, t.interval) for t in tasks] == [("ssa catalogue maintenance", 0.2)]

    calls: list[float] = []
    counted = PeriodicTask("count", 0.2, lambda: calls.append(time.monotonic()))
    runner = Runner(
        settings,
        [],
        JobStore(engine),
        SchedulerConnection("local"),
        RunnerTimings(poll=0.02),
        periodic=[*tasks, counted],
    )
    with running(runner):
        # get_tasking only reads: nothing but the runner closes the request
        assert wait_for(lambda: get_tasking(engine, over.request_id).status is TaskingStatus.FAILED)
        assert wait_for(lambda: len(calls) >= 3)  # and it keeps going, every interval
    request = get_tasking(engine, over.request_id)
    assert [e.status for e in request.events] == [TaskingStatus.SCHEDULED, TaskingStatus.FAILED]
    assert request.events[-1].detail == "windows over without observations"
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.2 - 0.01
    engine.dispose()


def test_a_failing_periodic_task_does_not_stop_the_runner(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(database={"url": database_url})
    engine = make_engine(database_url)
    migrate(engine)
    calls: list[str] = []

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("no catalogue")

    runner = Runner(
        settings,
        [],
        JobStore(engine),
        SchedulerConnection("local"),
        RunnerTimings(poll=0.02),
        periodic=[
            PeriodicTask("broken", 0.1, broken),
            PeriodicTask("fine", 0.1, lambda: calls.append("fine")),
        ],
    )
    with running(runner):
        assert wait_for(lambda: calls.count("broken") >= 2 and calls.count("fine") >= 2)
    assert periodic_tasks(settings) == []  # the test processes' module offers none
    engine.dispose()
