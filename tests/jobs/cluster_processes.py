"""A test-only process that asks the engine for a cluster of a named profile."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from wps_server.config import Settings
from wps_server.process import JobContext, LiteralInput, LiteralOutput, Process, ProcessInputs


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _cluster_sleep(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    tasks, seconds = inputs.one("tasks"), inputs.one("seconds")
    with ctx.cluster(inputs.one("cluster"), tasks, seconds, task_durations={"nap": seconds}) as client:
        futures = [client.submit(_nap, seconds, key=f"nap-{i}") for i in range(tasks)]
        return {"slept": sum(client.gather(futures))}


def cluster_processes(settings: Settings | None = None) -> list[Process]:
    return [
        Process(
            "cluster_sleep",
            "Sleeping tasks on a cluster of the profile asked for",
            _cluster_sleep,
            inputs=(
                LiteralInput("tasks", "Tasks", "integer", value_range=(1, 100)),
                LiteralInput("seconds", "Seconds per task", "float", value_range=(0, 10)),
                LiteralInput("cluster", "Cluster profile", min_occurs=0),
            ),
            outputs=(LiteralOutput("slept", "Task-seconds slept", "float"),),
        )
    ]
