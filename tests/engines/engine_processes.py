"""The shipped processes, and `engine_probe`: tasks on a named cluster that say where they ran.

A probe task reports its worker's address and process, the SSH session or SLURM batch job it runs in,
and can fail or run long, so that a test can show what really ran on an engine and that a failed or
dismissed job leaves nothing of its cluster behind.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from processes import shipped_processes
from wps_server.config import Settings
from wps_server.errors import ProcessError
from wps_server.execution import JobDismissed
from wps_server.process import (
    FORMATS,
    ComplexOutput,
    JobContext,
    LiteralInput,
    Process,
    ProcessInputs,
)


def where_am_i(i: int, seconds: float, fail: bool) -> dict[str, Any]:
    """A probe task: sleep, then say where it ran (or fail, as a broken step would)."""
    from distributed import get_worker

    time.sleep(seconds)
    if fail:
        raise ValueError(f"probe task {i} failed on purpose")
    return {
        "task": i,
        "worker": get_worker().address,
        "pid": os.getpid(),
        "ssh_connection": os.environ.get("SSH_CONNECTION"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def _probe(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    tasks, seconds, fail = inputs.one("tasks"), inputs.one("seconds"), inputs.one("fail", False)
    with ctx.cluster(inputs.one("cluster"), tasks, seconds, task_durations={"probe": seconds}) as client:
        futures = [client.submit(where_am_i, i, seconds, fail, key=f"probe-{i}") for i in range(tasks)]
        ctx.progress(10, f"{tasks} probe tasks submitted")
        while not all(f.done() for f in futures):
            if ctx.cancelled():
                client.cancel(futures, force=True)
                raise JobDismissed
            time.sleep(0.2)
        try:
            answers = client.gather(futures)
        except ValueError as exc:
            raise ProcessError(f"a probe task failed: {exc}") from None
    return {"result": json.dumps(answers)}


def probe_process() -> Process:
    return Process(
        "engine_probe",
        "Tasks on a cluster profile that say where they ran",
        _probe,
        inputs=(
            LiteralInput("tasks", "Tasks", "integer", value_range=(1, 16)),
            LiteralInput("seconds", "Seconds per task", "float", value_range=(0, 600)),
            LiteralInput("fail", "Fail every task", "boolean", min_occurs=0, default=False),
            LiteralInput("cluster", "Cluster profile", min_occurs=0),
        ),
        outputs=(ComplexOutput("result", "Where each task ran", (FORMATS["json"],)),),
    )


def engine_processes(settings: Settings) -> list[Process]:
    return [*shipped_processes(settings), probe_process()]
