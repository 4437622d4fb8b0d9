"""What the SSA processes share: formats, input definitions, input parsing, and the one place where
domain errors become WPS exceptions a user can act on (:func:`wps_error`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from processes.ssa.catalogue import Cone, TaskingRequest, get_sensor, list_sensors
from processes.ssa.epochs import format_epoch
from processes.ssa.errors import MessageError, MessageTooLargeError, SSAError, UnknownSensorError
from processes.ssa.passes import PassPredictionError, Site
from processes.ssa.records import MAX_NORAD_ID, ObservationType, Sensor
from wps_server.errors import FileSizeExceeded, MissingParameterValue, OWSError, ProcessError
from wps_server.inputs import find_format, same_mime
from wps_server.process import FORMATS, ComplexResult, Format, LiteralInput, ProcessInputs
from wps_server.spelling import did_you_mean

# -- formats ---------------------------------------------------------------------------------------
# CCSDS messages have no registered media types: a subtype parameter names them, as the GML formats
# do; a client asking plain text/plain or text/xml gets the first such format of the output.
JSON = FORMATS["json"]
CSV = FORMATS["csv"]
GEOJSON = FORMATS["geojson"]
TDM_KVN = Format("text/plain; subtype=tdm", extension=".kvn")
TDM_XML = Format("text/xml; subtype=tdm", extension=".xml")
OMM_KVN = Format("text/plain; subtype=omm", extension=".kvn")
OMM_XML = Format("text/xml; subtype=omm", extension=".xml")
TLE = Format("text/plain; subtype=tle", extension=".tle")
THREE_LE = Format("text/plain; subtype=3le", extension=".tle")

MESSAGE_FORMATS = (
    FORMATS["text"],  # TDM or OMM in KVN, TLE/3LE
    FORMATS["xml"],  # TDM or OMM in XML
    Format("application/xml", extension=".xml"),
    JSON,  # OMM JSON (CelesTrak, Space-Track)
    CSV,  # OMM CSV
)
OBJECT_FORMATS = {"json": JSON, "csv": CSV}
OBSERVATION_FORMATS = {"json": JSON, "csv": CSV, "tdm-kvn": TDM_KVN, "tdm-xml": TDM_XML}
ORBIT_FORMATS = {
    "omm-json": JSON,
    "omm-kvn": OMM_KVN,
    "omm-xml": OMM_XML,
    "omm-csv": CSV,
    "tle": TLE,
    "3le": THREE_LE,
    "geojson": GEOJSON,
}
PASS_FORMATS = {"json": JSON, "csv": CSV, "geojson": GEOJSON}
OBS_TYPES = tuple(t.value for t in ObservationType)
QUALITIES = ("RAW", "VALIDATED", "DEGRADED")


# -- input definitions -----------------------------------------------------------------------------
def start_input(abstract: str, min_occurs: int = 1) -> LiteralInput:
    return LiteralInput("start", "Start (UTC)", "dateTime", abstract=abstract, min_occurs=min_occurs)


def end_input(abstract: str, min_occurs: int = 1) -> LiteralInput:
    return LiteralInput("end", "End (UTC)", "dateTime", abstract=abstract, min_occurs=min_occurs)


def object_id_input(abstract: str, min_occurs: int = 0, max_occurs: int = 1) -> LiteralInput:
    return LiteralInput(
        "object_id",
        "Object (NORAD catalogue number)",
        "integer",
        abstract=abstract,
        min_occurs=min_occurs,
        max_occurs=max_occurs,
        value_range=(1, MAX_NORAD_ID),
    )


def format_input(formats: Mapping[str, Format]) -> LiteralInput:
    offered = ", ".join(f"{key} ({fmt.mime_type})" for key, fmt in formats.items())
    return LiteralInput(
        "format",
        "Output format",
        abstract=(
            "Format of the output result; the same as asking result's mimeType, which a client may do "
            f"instead (if both are given they must agree): {offered}. Default: {next(iter(formats))}."
        ),
        min_occurs=0,
        allowed_values=tuple(formats),
    )


def page_inputs(max_limit: int, default_limit: int = 1000) -> tuple[LiteralInput, LiteralInput]:
    return (
        LiteralInput(
            "limit",
            "Page size",
            "integer",
            abstract=f"At most this many records (1 to {max_limit}); the summary says where the next page starts.",
            min_occurs=0,
            default=min(default_limit, max_limit),
            value_range=(1, max_limit),
        ),
        LiteralInput(
            "offset",
            "Page start",
            "integer",
            abstract="Records to skip: the next_offset of the previous page's summary.",
            min_occurs=0,
            default=0,
            value_range=(0, None),
        ),
    )


# -- parsing ---------------------------------------------------------------------------------------
def required(inputs: ProcessInputs, identifier: str) -> Any:
    value = inputs.one(identifier)
    if value is None:
        raise MissingParameterValue(f"input {identifier} is required", identifier)
    return value


def integers(inputs: ProcessInputs, identifier: str) -> list[int]:
    """Every value of an integer input (the input repeated)."""
    return [v for v in inputs.all(identifier) if isinstance(v, int) and not isinstance(v, bool)]


def time_window(inputs: ProcessInputs, longest: timedelta) -> tuple[datetime, datetime]:
    """The mandatory [start, end) window, checked against ``longest``."""
    start, end = required(inputs, "start"), required(inputs, "end")
    if end <= start:
        raise ProcessError(
            f"end {utc_text(end)} must be after start {utc_text(start)}: give a window forward in time", "end"
        )
    if end - start > longest:
        raise ProcessError(
            f"the window from {utc_text(start)} to {utc_text(end)} is {_span(end - start)} long; "
            f"this service answers at most {_span(longest)} at once: split it",
            "end",
        )
    return start, end


def _span(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"


def numbers(text: str, count: tuple[int, ...], locator: str, shape: str) -> list[float]:
    """Comma-separated finite numbers, as many as one of ``count``."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ProcessError(f"{locator} must be {shape}, not {text[:80]!r}", locator) from None
    if len(values) not in count or not all(math.isfinite(v) for v in values):
        raise ProcessError(f"{locator} must be {shape}, not {text[:80]!r}", locator)
    return values


def parse_cone(text: str) -> Cone:
    """A sky cone "ra,dec,radius_deg" (degrees; RA/Dec observations only)."""
    shape = "'ra,dec,radius_deg' in degrees (RA 0..360, Dec -90..90, radius above 0 up to 180)"
    ra, dec, radius = numbers(text, (3,), "cone", shape)
    if not (0.0 <= ra <= 360.0 and -90.0 <= dec <= 90.0 and 0.0 < radius <= 180.0):
        raise ProcessError(f"cone must be {shape}, not {text[:80]!r}", "cone")
    return Cone(ra, dec, radius)


def parse_site(text: str) -> Site:
    """A ground site "lat,lon,height_m" (WGS-84 degrees and metres; the height may be left out)."""
    shape = "'lat,lon,height_m' (WGS-84 degrees, metres above the ellipsoid; height optional)"
    values = numbers(text, (2, 3), "site", shape)
    try:
        return Site(values[0], values[1], values[2] if len(values) == 3 else 0.0, "site")
    except PassPredictionError as exc:
        raise ProcessError(f"{exc}: site must be {shape}", "site") from None


def parse_ids(values: Sequence[object], locator: str) -> list[int]:
    """NORAD ids from values that may each hold several, separated by commas or blanks."""
    ids: list[int] = []
    for value in values:
        for part in str(value).replace(",", " ").split():
            if not part.isdigit() or not 0 < int(part) <= MAX_NORAD_ID:
                raise ProcessError(
                    f"{locator}: {part[:20]!r} is not a NORAD catalogue number (1 to {MAX_NORAD_ID}, "
                    "at most 9 digits)",
                    locator,
                )
            ids.append(int(part))
    return list(dict.fromkeys(ids))


def choose_format(
    inputs: ProcessInputs, formats: Mapping[str, Format], output: str = "result"
) -> tuple[str, Format]:
    """The format key and media type to write ``output`` in: from the ``format`` input, the mimeType
    the client asked for, or the first format; both given, they must agree."""
    asked = inputs.output_format(output)
    key = inputs.one("format")
    if key is not None:
        chosen = formats[key]
        if asked and not (same_mime(asked, chosen.mime_type) or same_mime(chosen.mime_type, asked)):
            raise ProcessError(
                f"format {key} is written as {chosen.mime_type}, but {output} was asked as {asked}: "
                "give the format or the mimeType, or make them agree",
                "format",
            )
        return key, chosen
    if asked:
        chosen = find_format(tuple(formats.values()), asked, output)
        return next(k for k, f in formats.items() if f == chosen), chosen
    return next(iter(formats.items()))


def known_sensor(engine: Engine, code: str, locator: str = "sensor") -> Sensor:
    """The registered sensor ``code``, or an error that lists the registered ones."""
    try:
        return get_sensor(engine, code)
    except UnknownSensorError:
        codes = [s.code for s in list_sensors(engine)]
        listed = ", ".join(codes[:20]) + (" ..." if len(codes) > 20 else "") if codes else "none yet"
        raise ProcessError(
            f"unknown sensor {code[:64]!r}{did_you_mean(code, codes)}; registered sensors: {listed}", locator
        ) from None


# -- outputs ---------------------------------------------------------------------------------------
def utc_text(moment: datetime) -> str:
    return format_epoch(moment) + "Z"


def json_text(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)


def tasking_record(request: TaskingRequest) -> dict[str, Any]:
    """A tasking request with its windows and event history, as plain JSON values."""
    return {
        "request_id": request.id,
        "object_id": request.norad_id,
        "sensor": request.sensor,
        "start": utc_text(request.start),
        "end": utc_text(request.end),
        "priority": request.priority,
        "obs_type": request.obs_type or None,
        "decision": request.decision.value,
        "status": request.status.value,
        "reason": request.reason,
        "windows": [{"start": utc_text(a), "end": utc_text(b)} for a, b in request.windows],
        "required_observations": request.required_observations,
        "collected_observations": request.collected_observations,
        "requester": request.requester,
        "events": [
            {"at": utc_text(e.at), "status": e.status.value, "detail": e.detail, "message_id": e.message_id}
            for e in request.events
        ],
    }


def written(content: str | bytes, fmt: Format) -> ComplexResult:
    return ComplexResult(content, fmt.mime_type)


# -- errors ----------------------------------------------------------------------------------------
def wps_error(exc: SSAError, locator: str, context: str = "", tail: str = "") -> OWSError:
    """The WPS exception for a domain error: a message too large is FileSizeExceeded, anything else
    the user sent is InvalidParameterValue on ``locator``; ``context`` says which value failed and
    ``tail`` what the user should know next."""
    detail = str(exc)
    if isinstance(exc, MessageError) and not exc.line:  # the whole message: no "line 0"
        detail = f"{exc.keyword}: {exc.reason}" if exc.keyword else exc.reason
    text = f"{context}{detail}{tail}"
    if isinstance(exc, MessageTooLargeError):
        return FileSizeExceeded(text, locator)
    return ProcessError(text, locator)


@contextmanager
def reported_on(locator: str, context: str = "", tail: str = "") -> Iterator[None]:
    """Domain errors raised inside become WPS exceptions located on ``locator`` (see :func:`wps_error`)."""
    try:
        yield
    except SSAError as exc:
        raise wps_error(exc, locator, context, tail) from None
