"""Real clusters end to end through open_cluster: per-job, shared, existing scheduler, orphan sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dask.config
import psutil
import pytest
from cluster_testkit import boom, start_scheduler, stop, tile
from distributed import Client

from cluster.errors import ClusterCloseError, ClusterStartError
from cluster.events import JobEventLog
from cluster.lifecycle import SharedClusters, open_cluster, sweep_orphans
from cluster.monitors import QUIET_MONITORS, as_environment
from cluster.profiles import ClusterProfile, parse_profile
from cluster.registry import ClusterRecord, ClusterRegistry, process_start

LOCAL_OPTIONS = {"processes": True, "dashboard_address": ":0"}
PRICE = {"amount": 0.36, "currency": "EUR", "as_of": "2025-01-15"}


def per_job_profile(**extra: Any) -> ClusterProfile:
    body = {"kind": "local", "shared": False, "max_workers": 2, "options": LOCAL_OPTIONS, "price": PRICE}
    return parse_profile("private", {**body, **extra}, env={})


def run_tiles(client: Client, n: int = 4) -> list[int]:
    return list(client.gather(client.map(tile, range(n), key=[f"tile-{i}" for i in range(n)])))


def test_per_job_cluster_runs_is_recorded_and_closed(tmp_path: Path) -> None:
    registry = ClusterRegistry(tmp_path / "open")
    events = JobEventLog()
    with open_cluster(per_job_profile(), 2, "job-a", registry=registry, events=events) as client:
        assert run_tiles(client) == [0, 1, 4, 9]
        assert len(client.scheduler_info()["workers"]) == 2
        [record] = registry.records()
        assert (record.job_id, record.kind, record.pid) == ("job-a", "local", os.getpid())
        cluster = client.cluster
    assert cluster.status.name == "closed"
    assert registry.records() == []
    assert events.error is None and events.events is not None
    assert events.events.closed_at is not None and len(events.events.tasks) == 4


@pytest.mark.parametrize("exc", [RuntimeError("job failed"), KeyboardInterrupt()])
def test_failure_or_cancellation_inside_the_job_still_closes(tmp_path: Path, exc: BaseException) -> None:
    registry = ClusterRegistry(tmp_path / "open")
    events = JobEventLog()
    clusters = []
    with (
        pytest.raises(type(exc)),
        open_cluster(per_job_profile(), 2, "job-b", registry=registry, events=events) as client,
    ):
        clusters.append(client.cluster)
        future = client.submit(boom, 1, key="tile-bad")
        with pytest.raises(ValueError, match="tile 1 failed"):
            future.result()
        raise exc
    assert clusters[0].status.name == "closed"
    assert registry.records() == []
    assert events.events is not None
    assert [t.state for t in events.events.tasks] == ["erred"]


def test_a_cluster_that_cannot_start_raises_a_cluster_error(tmp_path: Path) -> None:
    profile = per_job_profile(options={**LOCAL_OPTIONS, "no_such_argument": 1})
    registry = ClusterRegistry(tmp_path / "open")
    events = JobEventLog()
    with (
        pytest.raises(ClusterStartError, match="cannot start a local cluster"),
        open_cluster(profile, 1, "job-c", registry=registry, events=events),
    ):
        pytest.fail("the job must not run")
    assert registry.records() == []
    assert events.events is None and events.error == "the cluster never started"


def test_dask_config_is_restored_after_a_per_job_cluster() -> None:
    profile = per_job_profile(dask_config={"distributed.scheduler.work-stealing-interval": "7ms"})
    with open_cluster(profile, 1, "job-d", task_durations={"tile": 2.0}) as client:
        assert dask.config.get("distributed.scheduler.work-stealing-interval") == "7ms"
        assert client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.task_prefixes.get("tile") is None
        )  # nothing run yet
    assert dask.config.get("distributed.scheduler.work-stealing-interval") != "7ms"
    assert "tile" not in dask.config.get("distributed.scheduler.default-task-durations")


def worker_profiling() -> bool:
    return bool(dask.config.get("distributed.worker.profile.enabled"))


def test_per_job_workers_run_with_quiet_monitors_unless_the_profile_says_otherwise() -> None:
    with open_cluster(per_job_profile(), 1, "job-q") as client:
        assert list(client.run(worker_profiling).values()) == [False]
    loud = per_job_profile(dask_config={"distributed.worker.profile.enabled": True})
    with open_cluster(loud, 1, "job-l") as client:
        assert list(client.run(worker_profiling).values()) == [True]
    assert dask.config.get("distributed.worker.profile.enabled") is True  # the process's own, restored


def test_quiet_monitors_as_environment_reach_a_spawned_dask_process() -> None:
    env = {**os.environ, **as_environment(QUIET_MONITORS)}
    keys = sorted(QUIET_MONITORS)
    code = f"import dask.config, distributed, json; print(json.dumps({{k: dask.config.get(k) for k in {keys!r}}}))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == dict(QUIET_MONITORS)


def test_shared_local_cluster_adapts_and_scales_back_to_min() -> None:
    profile = parse_profile(
        "local", {"kind": "local", "min_workers": 0, "max_workers": 2, "options": LOCAL_OPTIONS}, env={}
    )
    shared = SharedClusters()
    fast = {"distributed.adaptive.interval": "100ms", "distributed.adaptive.wait-count": 2}
    try:
        with dask.config.set(fast):
            events = JobEventLog()
            with open_cluster(
                profile, 2, "job-e", shared=shared, events=events, task_durations={"tile": 1}
            ) as c:
                results = c.gather(c.map(tile, range(6), [0.5] * 6, key=[f"tile-{i}" for i in range(6)]))
            assert results == [i * i for i in range(6)]
            cluster = shared.cluster(profile)
            with open_cluster(profile, 2, "job-f", shared=shared) as c2:
                assert c2.scheduler.address == cluster.scheduler_address  # the same cluster
            deadline = time.monotonic() + 20
            while cluster.scheduler_info["workers"] and time.monotonic() < deadline:
                time.sleep(0.2)
            assert cluster.scheduler_info["workers"] == {}  # back to min_workers = 0 when idle
        assert events.events is not None and events.events.shared
        assert len(events.events.tasks) == 6 and events.events.workers == ()
    finally:
        shared.close_all()


def test_shared_profile_needs_the_process_holder() -> None:
    profile = parse_profile("local", {"kind": "local", "options": LOCAL_OPTIONS}, env={})
    with pytest.raises(ClusterStartError, match="shared=SharedClusters"), open_cluster(profile, 1, "job-g"):
        pass


def test_existing_scheduler_runs_jobs_and_attributes_tasks(cli_cluster: str) -> None:
    profile = parse_profile("onprem", {"kind": "scheduler", "options": {"address": cli_cluster}}, env={})
    first, second = JobEventLog(), JobEventLog()
    with (
        open_cluster(profile, 2, "job-h", events=first) as a,
        open_cluster(profile, 2, "job-i", events=second) as b,
    ):
        fa = a.map(tile, range(4), key=[f"tile-h{i}" for i in range(4)])
        fb = b.map(tile, range(3), key=[f"tile-i{i}" for i in range(3)])
        assert a.gather(fa) == [0, 1, 4, 9] and b.gather(fb) == [0, 1, 4]
        assert len(a.scheduler_info()["workers"]) == 2
    assert first.events is not None and second.events is not None
    assert sorted(t.key for t in first.events.tasks) == [f"tile-h{i}" for i in range(4)]
    assert sorted(t.key for t in second.events.tasks) == [f"tile-i{i}" for i in range(3)]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _record(kind: str, address: str, *, job: str, pid: int, name: str = "c") -> ClusterRecord:
    return ClusterRecord(
        record_id=f"{job}--x",
        job_id=job,
        profile=kind,
        kind=kind,
        name=name,
        scheduler_address=address,
        host=os.uname().nodename,
        pid=pid,
        pid_start=process_start(pid),
        created_at=time.time(),
    )


def test_sweep_closes_the_cluster_of_a_dead_process(tmp_path: Path) -> None:
    registry = ClusterRegistry(tmp_path / "open")
    scheduler, address = start_scheduler(tmp_path)
    try:
        dead = _dead_pid()
        registry.write(_record("ssh", address, job="orphan", pid=dead))
        registry.write(_record("local", "tcp://127.0.0.1:9", job="gone", pid=dead))
        registry.write(_record("ec2", "tls://127.0.0.1:9", job="cloud", pid=dead))
        registry.write(_record("local", "tcp://127.0.0.1:9", job="running", pid=dead))
        registry.write(_record("local", "tcp://127.0.0.1:9", job="owned", pid=os.getpid()))
        outcomes = {o.record.job_id: o for o in sweep_orphans(registry, {"running"}, timeout=2)}
        assert outcomes["orphan"].action == "closed"
        assert outcomes["gone"].action == "gone"
        assert outcomes["cloud"].action == "unreachable" and "check the provider" in outcomes["cloud"].detail
        assert outcomes["owned"].action == "owner-alive"
        assert "running" not in outcomes
        scheduler.wait(timeout=20)  # the orphaned scheduler really shut down
        left = sorted(r.job_id for r in registry.records())
        assert left == ["cloud", "owned", "running"]
    finally:
        stop(scheduler)


def test_a_record_the_provider_sweep_settled_is_forgotten_without_a_call(tmp_path: Path) -> None:
    registry = ClusterRegistry(tmp_path / "open")
    dead = _dead_pid()
    registry.write(_record("ec2", "tls://127.0.0.1:9", job="swept", pid=dead))
    registry.write(_record("ec2", "tls://127.0.0.1:9", job="kept", pid=dead))
    outcomes = sweep_orphans(registry, set(), timeout=2, settled=lambda r: r.job_id == "swept")
    assert {o.record.job_id: o.action for o in outcomes} == {"swept": "gone", "kept": "unreachable"}
    assert [r.job_id for r in registry.records()] == ["kept"]


def close_too_late(folder: str) -> None:
    """After a timed-out close the cluster object is unusable (its loop is stopped): the record stays
    for the sweep, and the job sees ClusterCloseError. Run in a process of its own (below): the cluster
    it leaves broken, and its loop thread, stay out of the test session's process."""
    registry = ClusterRegistry(Path(folder) / "open")
    started = time.time()
    opened = open_cluster(per_job_profile(), 1, "job-late", registry=registry, close_timeout=1e-6)
    with pytest.raises(ClusterCloseError, match="did not close"), opened as client:
        assert client.submit(tile, 2, key="tile-0").result() == 4
    try:
        [record] = registry.records()
        assert record.job_id == "job-late"
        # the owner (this process) is alive: the sweep leaves it alone
        [outcome] = sweep_orphans(registry, set(), timeout=2)
        assert outcome.action == "owner-alive"
    finally:  # reap the worker processes the interrupted close left behind
        workers = [
            child
            for child in psutil.Process().children(recursive=True)
            if child.create_time() >= started - 1 and "spawn_main" in " ".join(child.cmdline())
        ]
        for child in workers:
            child.kill()
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []


def test_a_cluster_that_does_not_close_in_time_stays_registered(tmp_path: Path) -> None:
    here = Path(__file__).resolve().parent
    code = f"import sys; sys.path[:0] = [{str(here)!r}]; import test_cluster_lifecycle as t; t.close_too_late({str(tmp_path)!r})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=here.parents[1],
        env={**os.environ, "PYTHONPATH": str(here.parents[1])},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
