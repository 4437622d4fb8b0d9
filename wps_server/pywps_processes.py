"""PyWPS processes on this engine: a ``pywps.Process`` becomes a :class:`~wps_server.process.Process`.

Its definition is translated once (data types, allowed values and ranges, defaults, occurrences,
formats with encoding and schema, bounding boxes with their CRSs, metadata, keywords, version, store
and status support), so the three dialects describe it from the same model as every other process.
Its handler runs as a job like any other, under the job runner, with what PyWPS would have given it:

- a deep copy of the process, with its own working folder inside the job's;
- ``request.inputs``: clones of the input definitions carrying the values, as PyWPS's ``Service``
  makes them (literals converted and validated by PyWPS from the text the client sent; inline complex
  data as ``data``, text or, when base64, bytes; ``file://`` and data-root references as ``file``; http
  and s3 references as ``url``, whose ``file``, ``data`` and ``stream`` are the copy this server
  already fetched under its own rules: PyWPS fetches nothing);
- a ``response`` whose ``outputs`` are the output definitions (in the format and by the transmission
  the request asked for) and whose ``update_status(message, percent)`` reports progress (and stops a
  dismissed job).

Its outputs (``data``, ``file``, ``stream`` or ``url``) are then stored as this server stores any
other; a URL output is returned by reference as that URL, or fetched under the ``[inputs]`` rules when
asked by value. A ``pywps.app.exceptions.ProcessError`` fails the job with its message; any other
exception fails it naming the process, the details in the log only.

PyWPS keeps its configuration in a module-global; :func:`isolate_pywps_configuration` gives it
PyWPS's own defaults and the files of ``[pywps] config_files``, never this server's.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pywps
from owslib.crs import Crs
from pywps import configuration as pywps_configuration
from pywps.app.exceptions import ProcessError as PyWPSProcessError
from pywps.app.WPSRequest import WPSRequest
from pywps.exceptions import NoApplicableCode as PyWPSException
from pywps.inout import basic
from pywps.inout.literaltypes import AllowedValue
from pywps.response.status import WPS_STATUS
from pywps.validator.allowed_value import ALLOWEDVALUETYPE

from wps_server.config import ConfigError, InputPolicy, Settings
from wps_server.errors import InvalidParameterValue, OWSError, ProcessError
from wps_server.execution import JobDismissed
from wps_server.process import (
    BoundingBox,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    ComplexResult,
    ComplexValue,
    ExternalReference,
    Format,
    InputDefinition,
    JobContext,
    LiteralInput,
    LiteralOutput,
    LiteralType,
    MetadataLink,
    OutputDefinition,
    Process,
    ProcessInputs,
    ValueRange,
)
from wps_server.references import check_reference, fetch

log = logging.getLogger(__name__)
_LITERAL_TYPES = {
    "string",
    "integer",
    "float",
    "boolean",
    "dateTime",
    "anyURI",
    "date",
    "time",
    "scale",
    "angle",
    "nonNegativeInteger",
    "positiveInteger",
}


def isolate_pywps_configuration(settings: Settings) -> None:
    """PyWPS's configuration becomes its built-in defaults plus ``[pywps] config_files``.

    Importing pywps loads ``$PYWPS_CFG``, which for this server names this server's own file; that is
    undone here, before any PyWPS process runs.
    """
    files = [
        f.strip() for f in re.split(r"[,\n]", settings.section("pywps").get("config_files", "")) if f.strip()
    ]
    for name in files:
        if not Path(name).is_file():
            raise ConfigError(f"[pywps] config_files names {name}, which does not exist")
    pywps_configuration.load_hardcoded_configuration()
    assert pywps_configuration.CONFIG is not None
    pywps_configuration.CONFIG.read(files, encoding="utf-8")


# -- definitions -------------------------------------------------------------------------------------
def adapt(source: pywps.Process, settings: Settings, entry: str = "") -> Process:
    """This server's definition of ``source``, whose handler runs ``source``'s."""
    where = f"[server] processes = {entry}: PyWPS process {source.identifier}"
    return Process(
        identifier=source.identifier,
        title=_text(source.title) or source.identifier,
        handler=PyWPSHandler(source, settings.inputs, settings.language),
        abstract=_text(source.abstract),
        version=str(source.version),
        inputs=tuple(_input(i, where) for i in source.inputs),
        outputs=tuple(_output(o, where) for o in source.outputs),
        keywords=tuple(source.keywords or ()),
        metadata=_links(source.metadata),
        store_supported=str(source.store_supported).lower() == "true",
        status_supported=str(source.status_supported).lower() == "true",
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _links(metadata: Any) -> tuple[MetadataLink, ...]:
    links: list[MetadataLink] = []
    for item in metadata or ():
        title, href, role = _text(item.title), _text(item.href), _text(getattr(item, "role", None))
        links.append((title, href, role) if role else (title, href))
    return tuple(links)


def _format(fmt: Any) -> Format:
    return Format(fmt.mime_type, fmt.encoding or None, fmt.schema or None, fmt.extension or ".dat")


def _formats(put: Any, where: str) -> tuple[Format, ...]:
    """The default format (PyWPS's ``data_format``) first, then the other supported ones."""
    supported = list(put.supported_formats or ())
    if not supported:
        raise ConfigError(f"{where}: {put.identifier} has no supported formats")
    default = put.data_format or supported[0]
    return tuple(_format(f) for f in [default, *(f for f in supported if not f.same_as(default))])


def _data_type(put: Any, where: str) -> LiteralType:
    data_type = str(put.data_type or "string")
    if data_type not in _LITERAL_TYPES:
        raise ConfigError(f"{where}: {put.identifier} has data type {data_type}, which this server lacks")
    return data_type  # type: ignore[return-value]


def _occurs(put: Any) -> tuple[int, int]:
    minimum = int(put.min_occurs or 0)
    return minimum, int(put.max_occurs) if put.max_occurs else max(1, minimum)


def _common(put: Any) -> dict[str, Any]:
    return {
        "abstract": _text(put.abstract),
        "keywords": tuple(put.keywords or ()),
        "metadata": _links(getattr(put, "metadata", ())),
    }


def _input(put: Any, where: str) -> InputDefinition:
    title = _text(put.title) or put.identifier
    minimum, maximum = _occurs(put)
    occurs: dict[str, Any] = {"min_occurs": minimum, "max_occurs": maximum}
    if isinstance(put, pywps.LiteralInput):
        values: list[Any] = []
        ranges: list[ValueRange] = []
        if not put.any_value and put.values_reference is None:
            for allowed in put.allowed_values:
                if not isinstance(allowed, AllowedValue):
                    continue
                if allowed.allowed_type == ALLOWEDVALUETYPE.RANGE:
                    ranges.append(
                        ValueRange(allowed.minval, allowed.maxval, allowed.spacing, allowed.range_closure)
                    )
                else:
                    values.append(allowed.value)
        return LiteralInput(
            put.identifier,
            title,
            _data_type(put, where),
            default=put.data if put._default is not None else None,
            allowed_values=tuple(values),
            uom=put.uoms[0].uom if put.uoms else None,
            ranges=tuple(ranges),
            **occurs,
            **_common(put),
        )
    if isinstance(put, pywps.ComplexInput):
        return ComplexInput(put.identifier, title, _formats(put, where), **occurs, **_common(put))
    if isinstance(put, pywps.BoundingBoxInput):
        crss = tuple(put.crss or ("EPSG:4326",))
        return BoundingBoxInput(
            put.identifier, title, crss, dimensions=int(put.dimensions or 2), **occurs, **_common(put)
        )
    raise ConfigError(
        f"{where}: input {_name(put)} is not a PyWPS LiteralInput, ComplexInput or BoundingBoxInput"
    )


def _output(put: Any, where: str) -> OutputDefinition:
    title = _text(put.title) or put.identifier
    if isinstance(put, pywps.LiteralOutput):
        uom = put.uoms[0].uom if put.uoms else None
        return LiteralOutput(put.identifier, title, _data_type(put, where), uom=uom, **_common(put))
    if isinstance(put, pywps.ComplexOutput):
        return ComplexOutput(put.identifier, title, _formats(put, where), **_common(put))
    if isinstance(put, pywps.BoundingBoxOutput):
        return BoundingBoxOutput(put.identifier, title, tuple(put.crss or ("EPSG:4326",)), **_common(put))
    raise ConfigError(
        f"{where}: output {_name(put)} is not a PyWPS LiteralOutput, ComplexOutput or BoundingBoxOutput"
    )


def _name(put: Any) -> str:
    """An input's or output's identifier, or what it is when it has none."""
    identifier = getattr(put, "identifier", None)
    return str(identifier) if identifier else f"{type(put).__name__} object"


# -- running -----------------------------------------------------------------------------------------
class _Fetched(basic.UrlHandler):
    """A by-reference input as PyWPS holds it (``url`` is the reference), whose bytes this server has
    already fetched under its own rules: ``file``, ``data``, ``stream`` and ``size`` read that copy."""

    def __init__(self, url: str, ref: Any, path: Path) -> None:
        super().__init__(url, ref)
        self._file = str(path)

    @property
    def file(self) -> str:
        return str(self._file)

    @property
    def size(self) -> int:
        return Path(self._file).stat().st_size


class PyWPSResponse:
    """What a PyWPS handler's ``response`` offers: ``outputs`` to fill and ``update_status``."""

    def __init__(self, process: pywps.Process, request: WPSRequest, context: JobContext) -> None:
        self.process = process
        self.wps_request = request
        self.uuid = context.job_id
        self.outputs = {o.identifier: o for o in process.outputs}
        self.status = WPS_STATUS.STARTED
        self.message = ""
        self.status_percentage = 0
        self.store_status_file = False
        self._context = context

    def update_status(self, message: str, status_percentage: float | None = None) -> None:
        if status_percentage is not None:
            self.status_percentage = int(status_percentage)
        self.message = message
        self._context.progress(self.status_percentage, str(message))
        if self._context.cancelled():
            raise JobDismissed


class PyWPSHandler:
    """This server's handler for a PyWPS process: a fresh copy of it per job, run as PyWPS runs it."""

    def __init__(self, source: pywps.Process, policy: InputPolicy, language: str) -> None:
        self.source = source
        self.policy = policy
        self.language = language

    def __call__(self, inputs: ProcessInputs, context: JobContext) -> Mapping[str, Any]:
        process = copy.deepcopy(self.source)
        workdir = context.workdir / "pywps"
        workdir.mkdir(parents=True, exist_ok=True)
        process.set_workdir(str(workdir))
        process.uuid = context.job_id
        for put in (*process.inputs, *process.outputs):
            put.uuid = context.job_id
        request = WPSRequest()
        request.operation, request.version, request.language = "execute", "1.0.0", self.language
        request.identifier = process.identifier
        request.inputs = self._inputs(process, inputs, workdir)
        request.outputs = self._outputs(process, inputs, context)
        request.raw = False
        response = PyWPSResponse(process, request, context)
        response.update_status("PyWPS Process started", 0)
        try:
            process.handler(request, response)
        except PyWPSProcessError as exc:
            raise ProcessError(exc.message) from None
        return self._results(process, response, context, workdir)

    # -- inputs ----------------------------------------------------------------------------------------
    def _inputs(self, process: pywps.Process, inputs: ProcessInputs, workdir: Path) -> dict[str, Any]:
        given: dict[str, Any] = {}
        for source in process.inputs:
            try:
                if isinstance(source, pywps.LiteralInput):
                    values = [self._literal(source, text) for text in inputs.texts(source.identifier)]
                elif isinstance(source, pywps.ComplexInput):
                    values = [self._complex(source, v, workdir) for v in inputs.all(source.identifier)]
                else:
                    values = [self._bbox(source, v) for v in inputs.all(source.identifier)]
            except PyWPSException as exc:
                raise InvalidParameterValue(
                    f"input {source.identifier}: {exc.description}", source.identifier
                ) from None
            if values:
                given[source.identifier] = deque(values, maxlen=source.max_occurs)
            elif source._default is not None and source._default_type != basic.SOURCE_TYPE.URL:
                # PyWPS's Service hands the definition's default over (a URL default it would fetch
                # unchecked: such an input is left without a value here)
                if isinstance(source, pywps.ComplexInput) and not source.data_set:
                    source._set_default_value()
                given[source.identifier] = [source.clone()]
        return given

    @staticmethod
    def _literal(source: Any, text: str) -> Any:
        put = source.clone()
        put.data = text  # converted and validated by PyWPS, as its Service does
        return put

    @staticmethod
    def _complex(source: Any, value: Any, workdir: Path) -> Any:
        assert isinstance(value, ComplexValue)
        put = source.clone()
        put.data_format = source.get_format(value.mime_type) or source.data_format
        put.method = "GET"
        href = value.href
        if href and urlsplit(href).scheme.lower() in {"http", "https", "s3"}:
            link = Path(put._build_file_name(href=href))  # where PyWPS would have downloaded it
            link.symlink_to(value.path)
            put._iohandler = _Fetched(href, put, link)
            put._check_valid()
        elif href:  # a file of a data root: linked into the working folder, as PyWPS links file:// URLs
            link = _free_name(workdir, value.path.name)
            link.symlink_to(value.path)
            put.file = str(link)
        elif (value.encoding or "").lower() == "base64":
            put.data = value.read_bytes()
        else:
            raw = value.read_bytes()
            try:
                put.data = raw.decode("utf-8")
            except UnicodeDecodeError:
                put.data = raw
        return put

    @staticmethod
    def _bbox(source: Any, value: Any) -> Any:
        """Corners as PyWPS reads them with OWSLib: swapped for a CRS whose axes are lat/lon."""
        assert isinstance(value, BoundingBox)
        put = source.clone()
        crs = Crs(value.crs)
        lower, upper = list(value.lower), list(value.upper)
        if crs.axisorder == "yx" and value.dimensions >= 2:
            lower[:2], upper[:2] = lower[1::-1], upper[1::-1]
        put.data = [*lower[:2], *upper[:2]]
        put.crs = crs.getcodeurn()
        put.dimensions = value.dimensions
        return put

    @staticmethod
    def _outputs(process: pywps.Process, inputs: ProcessInputs, context: JobContext) -> dict[str, Any]:
        """The output definitions set up as PyWPS sets them from a request, and the request's view."""
        asked: dict[str, Any] = {}
        for put in process.outputs:
            mime = inputs.output_format(put.identifier)
            put.as_reference = put.identifier in context.by_reference
            if mime and isinstance(put, pywps.ComplexOutput):
                chosen = next((f for f in put.supported_formats if f.mime_type == mime), None)
                put.data_format = chosen or _closest(put, mime)
            if put.identifier in context.requested_outputs:
                asked[put.identifier] = {
                    "mimetype": mime or "",
                    "asReference": str(put.as_reference).lower(),
                }
        return asked

    # -- outputs ---------------------------------------------------------------------------------------
    def _results(
        self, process: pywps.Process, response: PyWPSResponse, context: JobContext, workdir: Path
    ) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for put in process.outputs:
            if isinstance(put, pywps.BoundingBoxOutput):
                if put.data:
                    results[put.identifier] = BoundingBox(tuple(put.ll), tuple(put.ur), _text(put.crs))
            elif put.prop is None:
                continue
            elif isinstance(put, pywps.LiteralOutput):
                results[put.identifier] = _text(put.data)  # as PyWPS writes it
            else:
                results[put.identifier] = self._complex_result(put, context, workdir)
        return results

    def _complex_result(self, put: Any, context: JobContext, workdir: Path) -> Any:
        mime = put.data_format.mime_type
        if put.prop == "url":
            if put.identifier in context.by_reference:
                return ExternalReference(put.url, mime)
            try:  # the process's URL, fetched under the rules of inputs by reference
                reference = check_reference(put.url, self.policy, put.identifier)
                target = _free_name(workdir, f"{put.identifier}.download")
                return ComplexResult(fetch(reference, self.policy, target, put.identifier), mime)
            except OWSError as exc:
                raise ProcessError(
                    f"output {put.identifier} cannot be returned by value: {exc.message}"
                ) from None
        if put.prop == "file":
            return ComplexResult(Path(put.file), mime)
        data = put.data
        if not isinstance(data, str | bytes):
            data = json.dumps(data)  # as PyWPS writes such data to a file
        return ComplexResult(data, mime)


def _closest(put: Any, mime: str) -> Any:
    """The supported format a mimeType written otherwise (spaces, case) names."""
    plain = mime.replace(" ", "").lower()
    return next(f for f in put.supported_formats if f.mime_type.replace(" ", "").lower().startswith(plain))


def _free_name(folder: Path, name: str) -> Path:
    candidate, number = folder / name, 1
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / f"{number}_{name}"
        number += 1
    return candidate
