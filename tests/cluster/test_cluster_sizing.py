"""Sizing from the tile count, and declared task durations reaching real schedulers."""

from __future__ import annotations

import time
from typing import Any

import dask.config
import pytest
from cluster_testkit import tile
from distributed import Client, LocalCluster

from cluster.profiles import parse_profile
from cluster.sizing import (
    DURATIONS_KEY,
    apply_task_durations,
    declare_task_durations,
    workers_for,
    workers_for_profile,
)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((4, 10.0), {"profile_max": 20}, 4),  # one worker per tile
        ((4, 10.0), {"profile_max": 20, "requested_max": 2}, 2),  # the request caps
        ((50, 10.0), {"profile_max": 8}, 8),  # the profile caps
        ((10, 10.0), {"profile_max": 20, "threads_per_worker": 4}, 3),  # ceil(10 / 4)
        ((100, 60.0), {"profile_max": 50, "deadline_s": 600}, 10),  # 10 waves of 60 s fit in 600 s
        ((100, 60.0), {"profile_max": 50, "deadline_s": 780, "startup_s": 180}, 10),
        ((100, 60.0), {"profile_max": 50, "deadline_s": 30}, 50),  # impossible: as many as allowed
        ((4, 10.0), {"profile_max": 20, "startup_s": 180}, 1),  # 40 s of work: one worker, not four
        ((40, 10.0), {"profile_max": 20, "startup_s": 100}, 4),  # each worker gets >= its start-up
        ((0, 10.0), {"profile_max": 20, "min_workers": 1}, 1),
        ((0, 10.0), {"profile_max": 20, "min_workers": 0}, 0),
    ],
)
def test_workers_for(args: tuple[int, float], kwargs: dict[str, Any], expected: int) -> None:
    assert workers_for(*args, **kwargs) == expected


def test_workers_for_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        workers_for(-1, 1.0, profile_max=2)
    with pytest.raises(ValueError):
        workers_for(1, 1.0, profile_max=0)


def test_workers_for_profile_uses_speed_threads_and_start_up() -> None:
    profile = parse_profile(
        "c",
        {
            "kind": "local",
            "max_workers": 16,
            "worker_threads": 2,
            "relative_speed": 2.0,
            "startup_seconds": 0,
        },
        env={},
    )
    # 64 tiles of 120 s on the calibration machine = 60 s here; 4 waves fit in 250 s: 64 / (2 x 4) = 8
    assert workers_for_profile(profile, 64, 120.0, deadline_s=250) == 8
    assert workers_for_profile(profile, 64, 120.0, requested_max=3) == 3


def _adaptive_target(client: Client, n_tasks: int) -> int:
    futures = client.map(tile, range(n_tasks), [3.0] * n_tasks, key=[f"tile-{i}" for i in range(n_tasks)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) >= n_tasks:
            break
        time.sleep(0.05)
    target = int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.adaptive_target()))
    client.cancel(futures)
    return target


def test_declared_durations_stop_adaptivity_from_under_provisioning() -> None:
    """Unknown tasks count as 500 ms: 20 minute-long tiles look like 10 s of work and ask for 2
    workers. Declared as 60 s each, the same tiles ask for one worker per tile."""
    options: dict[str, Any] = {
        "n_workers": 1,
        "threads_per_worker": 1,
        "processes": False,
        "dashboard_address": ":0",
    }
    with LocalCluster(**options) as cluster, Client(cluster) as client:
        undeclared = _adaptive_target(client, 20)
    with declare_task_durations({"tile": 60}), LocalCluster(**options) as cluster, Client(cluster) as client:
        declared = _adaptive_target(client, 20)
    assert undeclared <= 2
    assert declared == 20


def test_durations_reach_an_already_running_scheduler(cli_cluster: str) -> None:
    with Client(cli_cluster) as client:
        apply_task_durations(client, {"matching": 60, "pointing": 15.5})
        remote = client.run_on_scheduler(lambda dask_scheduler: dask.config.get(DURATIONS_KEY))
    assert remote["matching"] == "60.0s" and remote["pointing"] == "15.5s"


def test_prefixes_must_be_plain_stage_names() -> None:
    with pytest.raises(ValueError, match="prefixes have no '-'"), declare_task_durations({"tile-0": 1}):
        pass
