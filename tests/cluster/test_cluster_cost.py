"""compute_cost: billing rules on hand-made events, then on the events of a real local job."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cluster_testkit import timed_tile

from cluster.cost import compute_cost
from cluster.events import JobEventLog, JobEvents, TaskSpan, WorkerEvent
from cluster.lifecycle import open_cluster
from cluster.profiles import ClusterProfile, parse_profile


def profile(granularity: int = 1, minimum: int = 0, amount: float = 3.6, **price: Any) -> ClusterProfile:
    return parse_profile(
        "p",
        {
            "kind": "ec2",
            "shared": False,
            "max_workers": 4,
            "options": {"region": "eu-west-1", "security_groups": ["sg-1"]},
            "price": {"amount": amount, "currency": "USD", "as_of": "2025-01-15", **price},
            "billing": {"granularity_seconds": granularity, "minimum_seconds": minimum},
        },
        env={},
    )


def per_job_events(**overrides: Any) -> JobEvents:
    """Requested at 1000; A arrives at 1030 (30 s boot), B at 1040; closed at 1100."""
    base: dict[str, Any] = {
        "job_id": "j",
        "profile": "p",
        "shared": False,
        "requested_at": 1000.0,
        "finished_at": 1095.0,
        "closed_at": 1100.0,
        "workers": (WorkerEvent(1030.0, "A", "added", 1), WorkerEvent(1040.0, "B", "added", 1)),
        "tasks": (
            TaskSpan("tile-0", "A", 1031.0, 1061.0),
            TaskSpan("tile-1", "B", 1041.0, 1061.0),
            TaskSpan("tile-2", "A", 1061.0, 1071.0, "erred"),
        ),
    }
    return JobEvents(**{**base, **overrides})


def test_per_second_billing_includes_boot_and_idle_tail() -> None:
    report = compute_cost(per_job_events(), profile())
    bills = {b.worker: b for b in report.workers}
    assert report.boot_seconds == 30.0
    # A: asked for at 1000 (1030 - 30 s boot) until close at 1100; B: from 1010 to 1100
    assert (bills["A"].start, bills["A"].end, bills["A"].billed_seconds) == (1000.0, 1100.0, 100)
    assert (bills["B"].start, bills["B"].billed_seconds) == (1010.0, 90)
    assert report.billed_worker_seconds == 190
    assert report.busy_task_seconds == 60.0
    assert (bills["A"].busy_seconds, bills["B"].busy_seconds) == (40.0, 20.0)
    assert report.tasks == 3 and report.failed_tasks == 1
    assert report.efficiency == pytest.approx(60 / 190)
    assert report.cost == pytest.approx(190 / 3600 * 3.6)
    assert (report.currency, report.price_as_of, report.wall_seconds) == ("USD", "2025-01-15", 100.0)


def test_minimum_and_hourly_granularity() -> None:
    gcp = compute_cost(per_job_events(closed_at=1035.0, finished_at=1035.0), profile(1, 60))
    assert [b.billed_seconds for b in gcp.workers] == [60, 60]  # 35 s and 25 s, both pay the minute
    ovh = compute_cost(per_job_events(), profile(3600, 3600, amount=0.1))
    assert ovh.billed_worker_seconds == 7200
    assert ovh.cost == pytest.approx(0.2)
    assert ovh.efficiency == pytest.approx(60 / 7200)


def test_worker_removed_early_is_billed_until_it_left() -> None:
    events = per_job_events(workers=(*per_job_events().workers, WorkerEvent(1062.0, "B", "removed", 1)))
    bills = {b.worker: b for b in compute_cost(events, profile()).workers}
    assert (bills["B"].end, bills["B"].billed_seconds) == (1062.0, 52)


def test_scheduler_machine_is_billed_for_the_cluster_lifetime() -> None:
    report = compute_cost(per_job_events(), profile(1, 60, scheduler_amount=1.8))
    assert report.scheduler_billed_seconds == 100
    assert report.scheduler_cost == pytest.approx(100 / 3600 * 1.8)
    assert report.cost == pytest.approx(report.worker_cost + report.scheduler_cost)


def test_core_hour_price_uses_threads_per_worker() -> None:
    batch = parse_profile(
        "hpc",
        {
            "kind": "slurm",
            "max_workers": 4,
            "options": {"cores": 8, "memory": "8GiB"},
            "price": {"amount": 0.02, "currency": "EUR", "per": "core-hour", "as_of": "2025-01-15"},
        },
        env={},
    )
    report = compute_cost(per_job_events(), batch)
    assert report.price_per_worker_hour == pytest.approx(0.16)
    assert report.cost == pytest.approx(190 / 3600 * 0.16)


def test_shared_cluster_bills_the_time_the_job_held_each_worker() -> None:
    shared = parse_profile(
        "s", {"kind": "local", "price": {"amount": 3.6, "currency": "EUR", "as_of": "2025-01-15"}}, env={}
    )
    report = compute_cost(per_job_events(shared=True, closed_at=None, workers=()), shared)
    bills = {b.worker: b for b in report.workers}
    assert (bills["A"].start, bills["A"].end, bills["A"].billed_seconds) == (1031.0, 1071.0, 40)
    assert bills["B"].billed_seconds == 20
    assert report.scheduler_billed_seconds == 0 and report.boot_seconds == 0.0
    assert report.efficiency == pytest.approx(1.0)


def test_unpriced_profile_costs_nothing_but_still_measures() -> None:
    local = parse_profile("local", {"kind": "local"}, env={})
    report = compute_cost(per_job_events(), local)
    assert (report.priced, report.cost, report.currency) == (False, 0.0, None)
    assert report.billed_worker_seconds == 190


def test_memory_is_the_workers_limits_over_their_billed_time() -> None:
    report = compute_cost(per_job_events(memory_limits={"A": 2_000_000_000, "B": 500_000_000}), profile())
    bills = {b.worker: b for b in report.workers}
    assert (bills["A"].memory_limit, bills["B"].memory_limit) == (2_000_000_000, 500_000_000)
    # A held 2,000 MB for its 100 s, B 500 MB for 90 s
    assert report.memory_mb_seconds == pytest.approx(2000 * 100 + 500 * 90)
    assert compute_cost(per_job_events(), profile()).memory_mb_seconds == 0.0  # limits not known


def test_events_round_trip_through_json() -> None:
    events = per_job_events(memory_limits={"A": 2_000_000_000})
    assert JobEvents.from_json(events.to_json()) == events
    older = json.loads(events.to_json())
    del older["memory_limits"]  # recorded before memory was
    assert JobEvents.from_json(json.dumps(older)).memory_limits == {}


def test_cost_of_a_real_local_job_matches_its_events() -> None:
    """A per-job LocalCluster runs timed tasks; the collected spans match what the tasks measured."""
    real = parse_profile(
        "private",
        {
            "kind": "local",
            "shared": False,
            "max_workers": 2,
            "options": {"processes": True, "dashboard_address": ":0"},
            "price": {"amount": 0.72, "currency": "EUR", "as_of": "2025-01-15"},
            "billing": {"granularity_seconds": 1, "minimum_seconds": 60},
        },
        env={},
    )
    log = JobEventLog()
    before = time.time()
    with open_cluster(real, 2, "job-cost", events=log) as client:
        keys = [f"tile-{i}" for i in range(6)]
        measured = dict(
            zip(keys, client.gather(client.map(timed_tile, range(6), [0.3] * 6, key=keys)), strict=True)
        )
        client_memory = client.scheduler_info()["workers"]
    after = time.time()

    events = log.events
    assert log.error is None and events is not None
    spans = {s.key: s for s in events.tasks}
    assert sorted(spans) == sorted(keys)
    for key, (start, stop) in measured.items():
        # Dask shifts a worker's times by its estimate of the scheduler's clock offset, which a loaded
        # machine makes tens of milliseconds off: durations match tightly, instants more loosely
        assert spans[key].stop - spans[key].start == pytest.approx(stop - start, abs=0.05)
        assert spans[key].start == pytest.approx(start, abs=0.5)
    assert len({w.worker for w in events.workers if w.action == "added"}) == 2
    assert before <= events.requested_at and events.closed_at is not None and events.closed_at <= after

    limits = {w: s["memory_limit"] for w, s in client_memory.items()}
    assert events.memory_limits == limits and all(m > 0 for m in limits.values())
    report = compute_cost(events, real)
    assert report.memory_mb_seconds == pytest.approx(
        sum(b.memory_limit / 1e6 * b.raw_seconds for b in report.workers)
    )
    assert report.tasks == 6 and report.failed_tasks == 0
    assert report.busy_task_seconds == pytest.approx(sum(s.seconds for s in events.tasks))
    assert report.busy_task_seconds == pytest.approx(1.8, abs=0.2)
    assert len(report.workers) == 2
    for bill in report.workers:
        assert events.requested_at <= bill.start < bill.end == events.closed_at
        assert bill.raw_seconds <= report.wall_seconds
        assert bill.billed_seconds == 60  # a short job pays the minimum minute per worker
    assert report.billed_worker_seconds == 120
    assert report.efficiency == pytest.approx(report.busy_task_seconds / 120)
    assert report.cost == pytest.approx(120 / 3600 * 0.72)
