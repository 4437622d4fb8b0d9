"""A test-only process that asks the engine for a cluster of a named profile."""

from __future__ import annotations

import json
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
        futures = [client.submit(_nap, seconds, key=f"nap-{ctx.job_id}-{i}") for i in range(tasks)]
        return {"slept": sum(client.gather(futures))}


def _cluster_spin(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    """Short tasks one after another, as S2P works through tiles, until done or stopped."""
    tasks, seconds = inputs.one("tasks"), inputs.one("seconds")
    done = 0.0
    declared = inputs.one("declared")
    told = seconds if declared is None else declared  # what the estimate believes a task takes
    with ctx.cluster(inputs.one("cluster"), tasks, told, max_cost=inputs.one("max_cost")) as client:
        for i in range(tasks):
            if ctx.cancelled():
                break
            done += client.submit(_nap, seconds, key=f"spin-{ctx.job_id}-{i}").result()
    return {"slept": done, "budget": json.dumps(ctx.budget())}


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
        ),
        Process(
            "cluster_spin",
            "Tasks one after another on a cluster, within a cost cap",
            _cluster_spin,
            inputs=(
                LiteralInput("tasks", "Tasks", "integer", value_range=(1, 10000)),
                LiteralInput("seconds", "Seconds per task", "float", value_range=(0, 10)),
                LiteralInput("cluster", "Cluster profile", min_occurs=0),
                LiteralInput("max_cost", "Cost cap", "float", min_occurs=0, value_range=(0, None)),
                LiteralInput("declared", "Seconds per task told to the estimate", "float", min_occurs=0),
            ),
            outputs=(
                LiteralOutput("slept", "Task-seconds slept", "float"),
                LiteralOutput("budget", "The owner's budget after the job (JSON)"),
            ),
        ),
    ]
