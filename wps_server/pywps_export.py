"""This server's processes as ``pywps.Process`` objects, for a stock ``pywps.Service`` to serve.

:func:`as_pywps` translates a :class:`~wps_server.process.Process` definition into PyWPS's inputs and
outputs, and gives it a handler that does what this server's job runner does: it turns PyWPS's
request into this server's, checks it with the same rules (``[inputs]`` data roots, hosts and sizes
of the configuration given; PyWPS fetches nothing, a reference reaches the handler as its URL or
path), runs the process's handler with a job context whose progress is PyWPS's ``update_status``,
whose folder is PyWPS's working folder and whose Dask cluster and database are the configuration's,
and hands the outputs back to PyWPS to return as it returns any.

The configuration is always this server's own file, given explicitly: a PyWPS deployment's
``pywps.cfg`` and ``$PYWPS_CFG`` are PyWPS's and are never read here.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import ParseResult

import pywps
from owslib.crs import Crs
from pywps.app.Common import Metadata
from pywps.app.exceptions import ProcessError as PyWPSProcessError
from pywps.inout.formats import Format as PyWPSFormat
from pywps.inout.literaltypes import AllowedValue, AnyValue
from pywps.validator.mode import MODE

from cluster.storage import LocalFolder
from wps_server.cluster_client import SchedulerConnection
from wps_server.clusters import JobClusters
from wps_server.config import Settings
from wps_server.errors import OWSError
from wps_server.execution import RunContext
from wps_server.inputs import check_execute, materialise, same_mime
from wps_server.jobs.model import OutputRecord
from wps_server.operations import Execute, InputSpec, OutputSpec
from wps_server.process import (
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    Format,
    InputDefinition,
    LiteralInput,
    LiteralOutput,
    MetadataLink,
    OutputDefinition,
    Process,
)
from wps_server.results import store_outputs

#: Characters a PyWPS ProcessError keeps of this server's messages (PyWPS drops the others).
MESSAGE_CHARACTERS = ".:!?=,;-_/'\"()[]{}<>+*%#@&|~^$"


class Runtime:
    """What the processes of one configuration share in a PyWPS service: the Dask scheduler and the
    cluster profiles, opened on first use (after PyWPS forks for an asynchronous job, if it does)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.scheduler = SchedulerConnection(settings.dask.scheduler)
        self._clusters: JobClusters | None = None
        self._lock = threading.Lock()

    def clusters(self) -> JobClusters:
        with self._lock:
            if self._clusters is None:
                self._clusters = JobClusters(self.settings, self.settings.dask.scheduler)
            return self._clusters


def as_pywps(process: Process, settings: Settings, runtime: Runtime | None = None) -> pywps.Process:
    """``process`` as a ``pywps.Process`` whose jobs run with ``settings``."""
    shared = runtime or Runtime(settings)

    def handler(request: Any, response: Any) -> Any:  # a plain function: PyWPS deep-copies processes
        _run(process, shared, request, response)
        return response

    return pywps.Process(
        handler,
        identifier=process.identifier,
        title=process.title,
        abstract=process.abstract,
        keywords=list(process.keywords),
        metadata=_metadata(process.metadata),
        inputs=[_input(d) for d in process.inputs],
        outputs=[_output(d) for d in process.outputs],
        version=process.version,
        store_supported=process.store_supported,
        status_supported=process.status_supported,
    )


# -- definitions -------------------------------------------------------------------------------------
def _metadata(links: tuple[MetadataLink, ...]) -> list[Metadata]:
    return [Metadata(link[0], link[1] or None, link[2] if len(link) > 2 else None) for link in links]


def _formats(formats: tuple[Format, ...]) -> list[PyWPSFormat]:
    return [
        PyWPSFormat(f.mime_type, schema=f.schema, encoding=f.encoding, extension=f.extension) for f in formats
    ]


def _allowed(definition: LiteralInput) -> list[Any]:
    allowed: list[Any] = [AllowedValue(value=v) for v in definition.allowed_values]
    for bounds in definition.all_ranges():
        low = float("-inf") if bounds.minimum is None else bounds.minimum
        high = float("inf") if bounds.maximum is None else bounds.maximum
        allowed.append(
            AllowedValue(
                allowed_type="range",
                minval=low,
                maxval=high,
                spacing=bounds.spacing,
                range_closure=bounds.closure,
            )
        )
    return allowed or [AnyValue()]


def _input(definition: InputDefinition) -> Any:
    common: dict[str, Any] = {
        "abstract": definition.abstract,
        "keywords": list(definition.keywords),
        "metadata": _metadata(definition.metadata),
        "min_occurs": definition.min_occurs,
        "max_occurs": definition.max_occurs,
    }
    if isinstance(definition, LiteralInput):
        return pywps.LiteralInput(
            definition.identifier,
            definition.title,
            data_type=definition.data_type,
            uoms=[definition.uom] if definition.uom else None,
            allowed_values=_allowed(definition),
            default=definition.default,
            mode=MODE.SIMPLE,
            **common,
        )
    if isinstance(definition, ComplexInput):
        return pywps.ComplexInput(
            definition.identifier, definition.title, supported_formats=_formats(definition.formats), **common
        )
    return pywps.BoundingBoxInput(
        definition.identifier,
        definition.title,
        crss=list(definition.crss),
        dimensions=definition.dimensions,
        **common,
    )


def _output(definition: OutputDefinition) -> Any:
    common: dict[str, Any] = {
        "abstract": definition.abstract,
        "keywords": list(definition.keywords),
        "metadata": _metadata(definition.metadata),
    }
    if isinstance(definition, LiteralOutput):
        uoms = [definition.uom] if definition.uom else None
        return pywps.LiteralOutput(
            definition.identifier, definition.title, data_type=definition.data_type, uoms=uoms, **common
        )
    if isinstance(definition, ComplexOutput):
        return pywps.ComplexOutput(
            definition.identifier, definition.title, supported_formats=_formats(definition.formats), **common
        )
    assert isinstance(definition, BoundingBoxOutput)
    return pywps.BoundingBoxOutput(
        definition.identifier, definition.title, crss=list(definition.crss), **common
    )


# -- running -----------------------------------------------------------------------------------------
def _run(process: Process, runtime: Runtime, request: Any, response: Any) -> None:
    settings = runtime.settings
    execute = execute_request(process, request)
    folder = Path(response.process.workdir)
    try:
        check_execute(process, execute, settings.inputs)
        context = RunContext(
            job_id=str(response.uuid),
            workdir=folder / "job",
            report=_reporter(response),
            client_factory=runtime.scheduler.client,
            clusters=runtime.clusters(),
            requested_outputs=frozenset(o.identifier for o in execute.outputs),
            by_reference=frozenset(o.identifier for o in execute.outputs if o.as_reference),
        )
        context.workdir.mkdir(parents=True, exist_ok=True)
        inputs = materialise(process, execute, settings.inputs, context.workdir)
        values = process.handler(inputs, context)
        records = store_outputs(process, execute, values, LocalFolder(folder), "outputs")
    except OWSError as exc:
        raise PyWPSProcessError(exc.message, max_length=2000, allowed_chars=MESSAGE_CHARACTERS) from None
    for record in records:
        _set_output(response.outputs[record.identifier], record, folder / "outputs")


def _reporter(response: Any) -> Callable[[int, str], bool]:
    def report(percent: int, message: str) -> bool:
        response.update_status(message, percent)
        return True  # PyWPS jobs cannot be dismissed

    return report


def execute_request(process: Process, request: Any) -> Execute:
    """PyWPS's parsed request as this server's: literal values as text, references as their URL or
    path, inline data as text or base64, bounding boxes with their corners as the client wrote them."""
    specs: list[InputSpec] = []
    for identifier, puts in request.inputs.items():
        definition = process.input(identifier)
        for put in puts:
            if isinstance(definition, LiteralInput):
                specs.append(InputSpec(identifier, value=_literal_text(put.data), kind="literal"))
            elif isinstance(definition, BoundingBoxInput):
                specs.append(_bbox_spec(identifier, put, definition))
            elif isinstance(definition, ComplexInput):
                specs.append(_complex_spec(identifier, put))
    outputs = []
    for identifier, asked in (request.outputs or {}).items():
        mime = asked.get("mimetype") if isinstance(asked, Mapping) else None
        by_reference = (
            str(asked.get("asReference", "false")).lower() == "true" if isinstance(asked, Mapping) else False
        )
        outputs.append(
            OutputSpec(identifier, as_reference=by_reference and not request.raw, mime_type=mime or None)
        )
    return Execute(process.identifier, "1.0.0", tuple(specs), tuple(outputs))


def _literal_text(value: Any) -> str:
    """A value PyWPS converted, written back as the client would have written it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, ParseResult):
        return value.geturl()
    return "" if value is None else str(value)


def _complex_spec(identifier: str, put: Any) -> InputSpec:
    mime = put.data_format.mime_type if put.data_format else None
    if put.prop == "url":
        body = put.post_data
        return InputSpec(
            identifier,
            href=put.url,
            method="POST" if body is not None else "GET",
            body=body.encode() if isinstance(body, str) else body,
            mime_type=mime,
            kind="complex",
        )
    if put.prop == "file":  # a file:// reference PyWPS linked into its working folder
        return InputSpec(identifier, href=put.file, mime_type=mime, kind="complex")
    data = put.data
    if isinstance(data, bytes):
        return InputSpec(
            identifier,
            value=base64.b64encode(data).decode(),
            encoding="base64",
            mime_type=mime,
            kind="complex",
        )
    return InputSpec(identifier, value=str(data), mime_type=mime, kind="complex")


def _bbox_spec(identifier: str, put: Any, definition: BoundingBoxInput) -> InputSpec:
    """PyWPS reads corners with OWSLib, which swaps those of a lat/lon CRS: swapped back here."""
    crs = put.crs or definition.crss[0]
    lower, upper = list(put.ll), list(put.ur)
    if Crs(crs).axisorder == "yx":
        lower, upper = lower[::-1], upper[::-1]
    return InputSpec(identifier, crs=crs, bbox=(tuple(lower), tuple(upper)), kind="bbox")


def _set_output(put: Any, record: OutputRecord, folder: Path) -> None:
    if record.kind == "literal":
        put.data = record.value
    elif record.kind == "bbox":
        put.data = [*record.lower, *record.upper]
        put.crs = record.crs
    else:
        chosen = next(
            (f for f in put.supported_formats if same_mime(f.mime_type, record.mime_type or "")), None
        )
        if chosen is not None:
            put.data_format = chosen
        if record.href:
            put.url = record.href
        else:
            assert record.file is not None
            put.file = str(folder / record.file)
