"""Test-only processes: they exercise every kind of input and output, and never ship."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from typing import Any

from wps_server.config import Settings
from wps_server.errors import ProcessError
from wps_server.process import (
    FORMATS,
    BoundingBox,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    JobContext,
    LiteralInput,
    LiteralOutput,
    Process,
    ProcessInputs,
)
from wps_server.tasks import gather


def _hello(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    return {"greeting": f"Hello {inputs.one('name')}"}


def _echo(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    count = inputs.one("count")
    document = inputs.one("document")
    box = inputs.one("bbox")
    text = document.read_bytes() if document else b""
    summary = {
        "count": count,
        "ratio": inputs.one("ratio"),
        "flag": inputs.one("flag"),
        "when": inputs.one("when").isoformat() if inputs.one("when") else None,
        "document_bytes": len(text),
        "tags": inputs.all("tag"),
    }
    return {
        "summary": json.dumps(summary),
        "copy": text or b"empty",
        "area": box if isinstance(box, BoundingBox) else None,
        "doubled": (count or 0) * 2,
    }


def _sleep(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    seconds = inputs.one("seconds")
    steps = inputs.one("updates") or max(1, int(seconds * 10))
    for step in range(steps):
        if ctx.cancelled():
            raise ProcessError("cancelled")
        time.sleep(seconds / steps)
        ctx.progress(100 * (step + 1) / steps, f"slept {step + 1}/{steps}")
    return {"slept": seconds}


def _fail(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    if inputs.one("how") == "input":
        raise ProcessError("the value 'input' is refused by this process", locator="how")
    raise RuntimeError("an internal bug with a secret path /etc/shadow")


def _dask_sum(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    client = ctx.client()
    futures = client.map(lambda x: x * x, range(inputs.one("n")), pure=False)
    return {"total": sum(client.gather(futures))}


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _dask_sleep(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    client = ctx.client()
    futures = client.map(_nap, [inputs.one("seconds")] * inputs.one("tasks"), pure=False)
    return {"slept": sum(gather(futures, ctx, "napping"))}


def _run_program(seconds: float) -> float:
    """A task that runs an external program, as S2P's steps do."""
    subprocess.run(["sleep", str(seconds)], check=True)
    return seconds


def _dask_program(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    client = ctx.client()
    futures = client.map(_run_program, [inputs.one("seconds")] * inputs.one("tasks"), pure=False)
    return {"slept": sum(gather(futures, ctx, "running programs"))}


def test_processes(settings: Settings | None = None) -> list[Process]:
    return [
        Process(
            "hello",
            "Say hello",
            _hello,
            abstract="Greets a name.",
            inputs=(LiteralInput("name", "Name"),),
            outputs=(LiteralOutput("greeting", "Greeting"),),
        ),
        Process(
            "echo",
            "Echo every kind of input",
            _echo,
            inputs=(
                LiteralInput("count", "Count", "integer", value_range=(0, 1000), default=1, min_occurs=0),
                LiteralInput("ratio", "Ratio", "float", min_occurs=0, uom="m"),
                LiteralInput("flag", "Flag", "boolean", min_occurs=0),
                LiteralInput("when", "When", "dateTime", min_occurs=0),
                LiteralInput("tag", "Tag", allowed_values=("a", "b", "c"), min_occurs=0, max_occurs=3),
                ComplexInput(
                    "document",
                    "Document",
                    (FORMATS["json"], FORMATS["text"], FORMATS["xml"], FORMATS["geotiff"]),
                    min_occurs=0,
                    max_megabytes=5,
                ),
                BoundingBoxInput("bbox", "Area", ("EPSG:4326", "EPSG:32740"), min_occurs=0),
            ),
            outputs=(
                ComplexOutput("summary", "Summary", (FORMATS["json"],)),
                ComplexOutput(
                    "copy",
                    "Copy of the document",
                    (FORMATS["text"], FORMATS["json"], FORMATS["xml"], FORMATS["geotiff"]),
                ),
                BoundingBoxOutput("area", "Area", ("EPSG:4326", "EPSG:32740")),
                LiteralOutput("doubled", "Twice the count", "integer"),
            ),
        ),
        Process(
            "sleep",
            "Sleep and report progress",
            _sleep,
            inputs=(
                LiteralInput("seconds", "Seconds", "float", value_range=(0, 60)),
                LiteralInput("updates", "Progress updates", "integer", value_range=(1, 1000), min_occurs=0),
            ),
            outputs=(LiteralOutput("slept", "Seconds slept", "float"),),
        ),
        Process(
            "fail",
            "Fail on purpose",
            _fail,
            inputs=(LiteralInput("how", "How", allowed_values=("input", "crash")),),
            outputs=(LiteralOutput("never", "Never produced"),),
        ),
        Process(
            "dask_sleep",
            "Sleeping tasks on the Dask cluster",
            _dask_sleep,
            inputs=(
                LiteralInput("tasks", "Tasks", "integer", value_range=(1, 1000)),
                LiteralInput("seconds", "Seconds per task", "float", value_range=(0, 60)),
            ),
            outputs=(LiteralOutput("slept", "Task-seconds slept", "float"),),
        ),
        Process(
            "dask_program",
            "Tasks on the Dask cluster that each run an external program",
            _dask_program,
            inputs=(
                LiteralInput("tasks", "Tasks", "integer", value_range=(1, 100)),
                LiteralInput("seconds", "Seconds per program", "float", value_range=(0, 60)),
            ),
            outputs=(LiteralOutput("slept", "Program-seconds", "float"),),
        ),
        Process(
            "dask_sum",
            "Sum of squares on the Dask cluster",
            _dask_sum,
            inputs=(LiteralInput("n", "How many", "integer", value_range=(1, 10000)),),
            outputs=(LiteralOutput("total", "Sum of squares", "integer"),),
        ),
    ]
