"""How many workers a job gets, and what Dask is told about how long our tasks take.

Dask's adaptive scaling costs a task type it has never seen at 500 ms, so a job of minute-long tile
tasks looks tiny and gets too few workers. Two remedies, both here: size the cluster from the tile
count (:func:`workers_for`), and declare the expected durations of our task prefixes
(:func:`declare_task_durations`, :func:`apply_task_durations`).

Task keys must start with the stage name and a dash (``"matching-r0c1"``) so that Dask's
``key_split`` gives the stage as the task prefix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dask.config
from distributed import Client

from cluster.profiles import ClusterProfile

DURATIONS_KEY = "distributed.scheduler.default-task-durations"


def workers_for(
    tasks: int,
    seconds_per_task: float,
    *,
    profile_max: int,
    requested_max: int | None = None,
    threads_per_worker: int = 1,
    deadline_s: float | None = None,
    startup_s: float = 0.0,
    min_workers: int = 1,
) -> int:
    """Workers to ask for ``tasks`` independent tasks of ``seconds_per_task`` each.

    Never more than the profile's or the request's maximum, never more than there are tasks to run in
    parallel. With ``deadline_s``, the fewest workers that finish in time (waves of tasks after
    ``startup_s``); without it, enough workers to run every task at once, unless a worker would get
    less work than its own start-up time, in which case fewer.
    """
    if tasks < 0 or seconds_per_task < 0 or threads_per_worker < 1 or profile_max < 1:
        raise ValueError("tasks, seconds_per_task >= 0; threads_per_worker, profile_max >= 1")
    cap = profile_max if requested_max is None else max(1, min(profile_max, requested_max))
    if tasks == 0:
        return max(0, min(min_workers, cap))
    parallel = math.ceil(tasks / threads_per_worker)
    if deadline_s is not None:
        budget = deadline_s - startup_s
        waves = math.floor(budget / seconds_per_task) if seconds_per_task > 0 else tasks
        wanted = parallel if waves < 1 else math.ceil(tasks / (threads_per_worker * waves))
    else:
        wanted = parallel
        if startup_s > 0 and seconds_per_task > 0:
            per_worker_floor = max(1, math.floor(tasks * seconds_per_task / (startup_s * threads_per_worker)))
            wanted = min(wanted, per_worker_floor)
    return max(min(min_workers, cap), min(wanted, cap))


def workers_for_profile(
    profile: ClusterProfile,
    tasks: int,
    seconds_per_task: float,
    *,
    requested_max: int | None = None,
    deadline_s: float | None = None,
) -> int:
    """:func:`workers_for` with the profile's limits, threads, start-up time and relative speed."""
    return workers_for(
        tasks,
        seconds_per_task / profile.relative_speed,
        profile_max=profile.max_workers,
        requested_max=requested_max,
        threads_per_worker=profile.worker_threads,
        deadline_s=deadline_s,
        startup_s=profile.startup_seconds,
        min_workers=max(1, profile.min_workers),
    )


def duration_config(durations: Mapping[str, float]) -> dict[str, Any]:
    """The dask config that declares ``prefix -> seconds`` (merged with what is already declared)."""
    for prefix, seconds in durations.items():
        if not prefix or "-" in prefix or seconds < 0:
            raise ValueError(f"bad task duration {prefix!r}: {seconds!r} (prefixes have no '-')")
    current = dict(dask.config.get(DURATIONS_KEY, default={}) or {})
    current.update({prefix: f"{float(seconds)}s" for prefix, seconds in durations.items()})
    return {DURATIONS_KEY: current}


@contextmanager
def declare_task_durations(durations: Mapping[str, float]) -> Iterator[None]:
    """Declare durations to schedulers created in this process (LocalCluster, batch kinds) meanwhile.

    Cloud VM clusters copy the local dask config to their machines when they start, so a cluster
    created inside this block inherits it too.
    """
    with dask.config.set(duration_config(durations)):
        yield


def apply_task_durations(client: Client, durations: Mapping[str, float]) -> None:
    """Declare durations on the client's (possibly remote, already running) scheduler.

    Prefixes the scheduler has already measured keep their measurements.
    """
    config = duration_config(durations)[DURATIONS_KEY]

    def _apply(dask_scheduler: Any, config: dict[str, str]) -> None:
        import dask.config as remote_config
        from dask.utils import parse_timedelta

        remote_config.set({DURATIONS_KEY: config})
        for name, value in config.items():
            prefix = dask_scheduler.task_prefixes.get(name)
            if prefix is not None and prefix.duration_average < 0:
                prefix.duration_average = parse_timedelta(value)

    client.run_on_scheduler(_apply, config=config)
