"""A job as the store keeps it, whatever interface it came through."""

from __future__ import annotations

import base64
import enum
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from wps_server.operations import Execute, InputSpec, OutputSpec


class Status(enum.StrEnum):
    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    DISMISSED = "dismissed"

    @property
    def finished(self) -> bool:
        return self in {Status.SUCCESSFUL, Status.FAILED, Status.DISMISSED}


@dataclass(frozen=True)
class OutputRecord:
    """One output of a finished job: a literal text, a stored file, or a bounding box."""

    identifier: str
    kind: str  # "literal", "complex" or "bbox"
    value: str | None = None
    data_type: str | None = None
    uom: str | None = None
    file: str | None = None  # relative to the job's output folder
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    lower: tuple[float, ...] = ()
    upper: tuple[float, ...] = ()
    crs: str | None = None
    href: str | None = None  # a complex output the process left elsewhere: its URL, returned by reference
    size: int | None = None  # bytes of a stored file


@dataclass(frozen=True)
class JobError:
    code: str
    text: str
    locator: str | None = None


@dataclass
class Job:
    id: str
    process_id: str
    request: Execute
    status: Status = Status.ACCEPTED
    percent: int = 0
    message: str = ""
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    outputs: list[OutputRecord] = field(default_factory=list)
    error: JobError | None = None
    attempts: int = 0
    #: the user who submitted it; None when nobody signs in (or the operator)
    owner: str | None = None


def request_to_json(request: Execute) -> str:
    data = asdict(request)
    for spec in data["inputs"]:
        for key in ("body", "xml"):
            if spec[key] is not None:
                spec[key] = base64.b64encode(spec[key]).decode()
    return json.dumps(data)


def request_from_json(text: str) -> Execute:
    data: dict[str, Any] = json.loads(text)
    inputs = []
    for spec in data.pop("inputs"):
        for key in ("body", "xml"):
            if spec[key] is not None:
                spec[key] = base64.b64decode(spec[key])
        if spec["bbox"] is not None:
            spec["bbox"] = (tuple(spec["bbox"][0]), tuple(spec["bbox"][1]))
        inputs.append(InputSpec(**spec))
    outputs = tuple(OutputSpec(**o) for o in data.pop("outputs"))
    raw = data.pop("raw_output")
    return Execute(
        inputs=tuple(inputs), outputs=outputs, raw_output=OutputSpec(**raw) if raw else None, **data
    )


def outputs_to_json(outputs: list[OutputRecord]) -> str:
    return json.dumps([asdict(o) for o in outputs])


def outputs_from_json(text: str | None) -> list[OutputRecord]:
    records = []
    for item in json.loads(text or "[]"):
        item["lower"], item["upper"] = tuple(item["lower"]), tuple(item["upper"])
        records.append(OutputRecord(**item))
    return records
