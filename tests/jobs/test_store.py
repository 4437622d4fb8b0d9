"""The job store on SQLite and PostgreSQL: same schema by migration, same behaviour."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from wps_server.cluster_client import SchedulerConnection
from wps_server.config import Settings
from wps_server.database import make_engine, migrate
from wps_server.jobs.model import Job, JobError, OutputRecord, Status
from wps_server.jobs.runner import Runner
from wps_server.jobs.store import JobStore, jobs
from wps_server.operations import Execute, InputSpec, OutputSpec


def make_job(process: str = "hello") -> Job:
    request = Execute(
        identifier=process,
        version="1.0.0",
        store=True,
        status=True,
        inputs=(
            InputSpec("name", value="x"),
            InputSpec("doc", xml=b"<a/>", kind="complex"),
            InputSpec("bbox", bbox=((1.0, 2.0), (3.0, 4.0)), crs="EPSG:4326"),
        ),
        outputs=(OutputSpec("greeting", as_reference=True),),
    )
    return Job(id=str(uuid.uuid4()), process_id=process, request=request)


@pytest.fixture
def store(database_url: str) -> JobStore:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent
    return JobStore(engine)


def test_migrated_schema_matches_the_table(store: JobStore) -> None:
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("wps_jobs")}
    assert columns == {c.name for c in jobs.columns}


def test_round_trip_keeps_the_request(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    again = store.get(job.id)
    assert again is not None and again.request == job.request and again.status == Status.ACCEPTED


def test_claims_in_order_and_progress_never_goes_back(store: JobStore) -> None:
    first, second = make_job(), make_job()
    store.create(first)
    time.sleep(0.01)
    store.create(second)
    claimed = store.claim_next("r1")
    assert claimed is not None and claimed.id == first.id and claimed.attempts == 1
    assert store.progress(first.id, 40, "stage a")
    assert store.progress(first.id, 30, "stage b")
    job = store.get(first.id)
    assert job is not None and (job.percent, job.message) == (40, "stage b")
    assert store.claim_next("r2").id == second.id  # type: ignore[union-attr]
    assert store.claim_next("r3") is None


def test_finish_does_not_override_a_dismissal(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    store.claim_next("r")
    assert store.dismiss(job.id, "Dismissed")
    assert not store.finish(
        job.id, Status.SUCCESSFUL, "done", [OutputRecord("greeting", "literal", value="x")]
    )
    assert not store.progress(job.id, 50, "late")
    assert store.get(job.id).status == Status.DISMISSED  # type: ignore[union-attr]


def test_stale_jobs_are_resumed_then_failed(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    for attempt in (1, 2, 3):
        claimed = store.claim_next("dead-runner")
        assert claimed is not None and claimed.attempts == attempt
        with store.engine.begin() as db:
            db.execute(jobs.update().values(heartbeat=time.time() - 100))
        expected = Status.ACCEPTED if attempt < 3 else Status.FAILED
        assert store.recover_stale(20, max_attempts=3) == [(job.id, expected)]
    failed = store.get(job.id)
    assert failed is not None and failed.status == Status.FAILED and "3 times" in failed.message
    assert failed.error == JobError("NoApplicableCode", failed.message, None)


def test_stale_sync_job_fails_at_once(store: JobStore) -> None:
    job = make_job()
    job.status = Status.RUNNING
    store.create(job, sync=True)
    with store.engine.begin() as db:
        db.execute(jobs.update().values(heartbeat=time.time() - 100))
    assert store.recover_stale(20, max_attempts=3) == [(job.id, Status.FAILED)]


def test_retention_never_touches_running_jobs(
    store: JobStore, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(jobs={"retention_days": "1"})
    old, running = make_job(), make_job()
    store.create(old)
    store.create(running)
    store.claim_next("r")  # old is claimed first...
    store.finish(old.id, Status.SUCCESSFUL, "done", [])
    store.claim_next("r")
    with store.engine.begin() as db:
        db.execute(jobs.update().values(created=time.time() - 10 * 86400, finished=time.time() - 9 * 86400))
        db.execute(jobs.update().where(jobs.c.id == running.id).values(finished=None))
    folder: Path = settings.outputs_dir / old.id
    folder.mkdir(parents=True)
    (folder / "x.txt").write_text("x")
    runner = Runner(settings, [], store, SchedulerConnection("local"))
    assert runner.expire() == [old.id]
    assert store.get(old.id) is None and not folder.exists()
    assert store.get(running.id).status == Status.RUNNING  # type: ignore[union-attr]


def test_search_pages_newest_first_with_filters(store: JobStore) -> None:
    made = []
    for index in range(7):
        job = make_job("hello" if index % 2 else "echo")
        store.create(job)
        made.append(job.id)
        time.sleep(0.002)  # distinct creation times
    store.finish(made[0], Status.FAILED, "failed")
    newest_first = list(reversed(made))
    pages = [store.search(3, offset) for offset in (0, 3, 6)]
    assert [j.id for page in pages for j in page] == newest_first
    assert [j.id for j in store.search(10, process_ids=["hello"])] == [
        i for n, i in enumerate(made) if n % 2
    ][::-1]
    assert [j.id for j in store.search(10, statuses=[Status.FAILED])] == [made[0]]
    both = store.search(10, process_ids=["echo", "hello"], statuses=[Status.ACCEPTED, Status.FAILED])
    assert len(both) == 7
    assert store.search(10, process_ids=["nope"]) == []


def test_finished_costs_are_those_of_the_successful_jobs_of_one_process_newest_first(store: JobStore) -> None:
    process = f"estimated-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared by the tests
    recorded = []
    for i, status in enumerate([Status.SUCCESSFUL, Status.FAILED, Status.SUCCESSFUL, Status.SUCCESSFUL]):
        job = make_job(process)
        store.create(job)
        store.record_cost(job.id, {"profile": "aws", "wall_seconds": float(i)})
        store.finish(job.id, status, "done")
        recorded.append(job.id)
        time.sleep(0.01)  # distinct finish times: the order under test, not a timing assertion
    unfinished, other = make_job(process), make_job(f"other-{process}")
    for job in (unfinished, other):
        store.create(job)
        store.record_cost(job.id, {"profile": "aws", "wall_seconds": 9.0})
    store.finish(other.id, Status.SUCCESSFUL, "done")
    without_cost = make_job(process)
    store.create(without_cost)
    store.finish(without_cost.id, Status.SUCCESSFUL, "done")
    assert [c["wall_seconds"] for c in store.finished_costs(process)] == [3.0, 2.0, 0.0]
    assert [c["wall_seconds"] for c in store.finished_costs(process, limit=2)] == [3.0, 2.0]
    assert store.finished_costs(f"absent-{process}") == []
