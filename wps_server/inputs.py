"""Check an Execute request against its process, then materialise the values a handler receives.

Checking is cheap and happens before a job is accepted, so bad input is refused at once;
materialising (writing inline data, downloading references) happens when the job runs.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from datetime import UTC, date, datetime, time
from pathlib import Path

from wps_server.config import InputPolicy
from wps_server.errors import FileSizeExceeded, InvalidParameterValue, MissingParameterValue, quoted
from wps_server.operations import Execute, InputSpec, OutputSpec
from wps_server.process import (
    BoundingBox,
    BoundingBoxInput,
    ComplexInput,
    ComplexOutput,
    ComplexValue,
    Format,
    InputValue,
    LiteralInput,
    Process,
    ProcessInputs,
    ValueRange,
)
from wps_server.references import check_reference, fetch
from wps_server.spelling import did_you_mean

# one line that starts as a path or URL does: content that was meant as a reference
_LOOKS_LIKE_REFERENCE = re.compile(
    r"^\s*(?:/|\.{1,2}/|~/|[A-Za-z]:[\\/]|(?:file|https?|s3|ftp)://)[^\n<>{}]*\s*$"
)
_INTEGERS = {"integer": -(2**63), "nonNegativeInteger": 0, "positiveInteger": 1}
_CRS_FORMS = (
    re.compile(r"^EPSG:(\d+)$", re.IGNORECASE),
    re.compile(r"^urn:ogc:def:crs:EPSG:[\d.]*:(\d+)$", re.IGNORECASE),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)$", re.IGNORECASE),
)


def normalise_crs(crs: str) -> str:
    """EPSG codes in any of their usual spellings become ``EPSG:<code>``; CRS84 stays as it is."""
    text = crs.strip()
    for form in _CRS_FORMS:
        match = form.match(text)
        if match:
            return f"EPSG:{match.group(1)}"
    if text.upper().endswith("CRS84"):
        return "OGC:CRS84"
    return text


def same_mime(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        return ";".join(part.strip().lower() for part in value.split(";"))

    return norm(a) == norm(b) or norm(a).split(";")[0] == norm(b)


def find_format(formats: tuple[Format, ...], mime_type: str | None, where: str) -> Format:
    """The format a client asked for, the default one when it named none."""
    if not mime_type:
        return formats[0]
    for candidate in formats:
        if same_mime(mime_type, candidate.mime_type) or same_mime(candidate.mime_type, mime_type):
            return candidate
    offered = ", ".join(f.mime_type for f in formats)
    raise InvalidParameterValue(
        f"{where}: format {mime_type!r} is not supported; use one of {offered}", where
    )


def check_execute(process: Process, request: Execute, policy: InputPolicy) -> None:
    """Refuse the request if any input or requested output does not fit the process."""
    counts = Counter(spec.identifier for spec in request.inputs)
    for identifier in counts:
        if process.input(identifier) is None:
            names = [i.identifier for i in process.inputs]
            raise InvalidParameterValue(
                f"process {process.identifier} has no input {quoted(identifier)}"
                f"{did_you_mean(identifier, names)} (inputs: {', '.join(names) or 'none'})",
                identifier,
            )
    for definition in process.inputs:
        count = counts.get(definition.identifier, 0)
        missing_default = not (isinstance(definition, LiteralInput) and definition.default is not None)
        if count < definition.min_occurs and missing_default:
            needed = (
                f"takes at least {definition.min_occurs} values, got {count}"
                if count
                else f"is required ({definition.title})"
            )
            raise MissingParameterValue(f"input {definition.identifier} {needed}", definition.identifier)
        if count > definition.max_occurs:
            raise InvalidParameterValue(
                f"input {definition.identifier} takes at most {definition.max_occurs} value(s), got {count}",
                definition.identifier,
            )
    for spec in request.inputs:
        _check_input(process, spec, policy)
    for output in (*request.outputs, *([request.raw_output] if request.raw_output else [])):
        check_output(process, output)
    if request.store and not process.store_supported:
        raise InvalidParameterValue(
            f"process {process.identifier} cannot store its response", "storeExecuteResponse"
        )


def check_output(process: Process, spec: OutputSpec) -> None:
    definition = process.output(spec.identifier)
    if definition is None:
        names = [o.identifier for o in process.outputs]
        raise InvalidParameterValue(
            f"process {process.identifier} has no output {quoted(spec.identifier)}"
            f"{did_you_mean(spec.identifier, names)} (outputs: {', '.join(names)})",
            spec.identifier,
        )
    if isinstance(definition, ComplexOutput):
        find_format(definition.formats, spec.mime_type, spec.identifier)
    elif spec.as_reference:
        raise InvalidParameterValue(
            f"only complex outputs can be returned by reference, not {spec.identifier}", spec.identifier
        )


def _check_input(process: Process, spec: InputSpec, policy: InputPolicy) -> None:
    definition = process.input(spec.identifier)
    assert definition is not None
    expected = {LiteralInput: "literal", ComplexInput: "complex", BoundingBoxInput: "bbox"}[type(definition)]
    if spec.kind is not None and spec.kind != expected:
        names = {"literal": "LiteralData", "complex": "ComplexData or a Reference", "bbox": "BoundingBoxData"}
        raise InvalidParameterValue(
            f"input {spec.identifier} takes {names[expected]}, not {names[spec.kind].split(' ')[0]}",
            spec.identifier,
        )
    if isinstance(definition, LiteralInput):
        literal_value(definition, spec)
    elif isinstance(definition, BoundingBoxInput):
        bounding_box(definition, spec)
    else:
        find_format(definition.formats, spec.mime_type, spec.identifier)
        if spec.href:
            check_reference(spec.href, policy, spec.identifier)
        else:
            inline_bytes(definition, spec, policy)


def materialise(process: Process, request: Execute, policy: InputPolicy, workdir: Path) -> ProcessInputs:
    """Checked values for the handler; inline data is written and references fetched into ``workdir``."""
    values: dict[str, list[InputValue]] = {}
    texts: dict[str, list[str]] = {}
    folder = workdir / "inputs"
    for index, spec in enumerate(request.inputs):
        definition = process.input(spec.identifier)
        assert definition is not None
        value: InputValue
        if isinstance(definition, LiteralInput):
            value = literal_value(definition, spec)
            texts.setdefault(spec.identifier, []).append(spec.value or "")
        elif isinstance(definition, BoundingBoxInput):
            value = bounding_box(definition, spec)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            fmt = find_format(definition.formats, spec.mime_type, spec.identifier)
            target = folder / f"{index:03d}_{spec.identifier}{fmt.extension}"
            if spec.href:
                reference = check_reference(spec.href, policy, spec.identifier)
                path = fetch(reference, policy, target, spec.identifier, spec.body)
            else:
                target.write_bytes(inline_bytes(definition, spec, policy))
                path = target
            value = ComplexValue(path, fmt.mime_type, spec.encoding, spec.schema, spec.href)
        values.setdefault(spec.identifier, []).append(value)
    for definition in process.inputs:
        missing = definition.identifier not in values
        if isinstance(definition, LiteralInput) and missing and definition.default is not None:
            values[definition.identifier] = [definition.default]
    asked = (*request.outputs, *([request.raw_output] if request.raw_output else []))
    return ProcessInputs(values, {o.identifier: o.mime_type for o in asked if o.mime_type}, texts)


def inline_bytes(definition: ComplexInput, spec: InputSpec, policy: InputPolicy) -> bytes:
    data = spec.xml if spec.xml is not None else (spec.value or "").encode()
    limit = min(policy.max_inline_size, (definition.max_megabytes or 1 << 20) * 1024 * 1024)
    if len(data) > limit:
        raise FileSizeExceeded(
            f"inline input {spec.identifier} is larger than {limit} bytes", spec.identifier
        )
    if (spec.encoding or "").lower() == "base64":
        try:
            return base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            raise InvalidParameterValue(
                f"input {spec.identifier} is not valid base64", spec.identifier
            ) from None
    if spec.encoding and spec.encoding.lower() not in {"utf-8", "utf8"}:
        raise InvalidParameterValue(
            f"encoding {spec.encoding!r} is not supported (base64 or UTF-8)", spec.identifier
        )
    if spec.xml is None and len(data) <= 4096 and _LOOKS_LIKE_REFERENCE.match(data.decode(errors="replace")):
        raise InvalidParameterValue(
            f"input {spec.identifier} came as content, but {quoted(data.decode(errors='replace'))} looks "
            "like a path or URL: send it as a reference (a file:// or http(s):// URL: xlink:href in "
            'WPS XML, @xlink:href= in KVP, {"href": ...} in OGC API, ComplexDataInput("file:///...") '
            "in OWSLib)",
            spec.identifier,
        )
    return data


def literal_value(
    definition: LiteralInput, spec: InputSpec
) -> str | int | float | bool | datetime | date | time:
    """Convert and range-check one literal value."""
    name = spec.identifier
    if spec.href:
        raise InvalidParameterValue(f"input {name} is a literal and cannot be given by reference", name)
    text = (spec.value or "").strip()
    if text == "" and definition.data_type != "string":
        raise MissingParameterValue(f"input {name} is empty", name)
    value: str | int | float | bool | datetime | date | time
    try:
        value = _convert(definition.data_type, text)
    except ValueError:
        raise InvalidParameterValue(
            f"input {name} must be of type {definition.data_type}, not {text[:80]!r}", name
        ) from None
    ranges = definition.all_ranges()
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if value in definition.allowed_values or not (definition.allowed_values or ranges):
        return value
    if not number and not definition.allowed_values:
        return value  # ranges bound numbers only
    if number and any(r.contains(value) for r in ranges):  # type: ignore[arg-type]
        return value
    if not ranges:
        allowed = ", ".join(map(str, definition.allowed_values))
        raise InvalidParameterValue(f"input {name} must be one of {allowed}, not {text[:80]!r}", name)
    if len(ranges) == 1 and not definition.allowed_values and not ranges[0].spacing:
        low, high = ranges[0].minimum, ranges[0].maximum
        raise InvalidParameterValue(f"input {name} must lie between {low} and {high}, not {value}", name)
    allowed = ", ".join([*map(str, definition.allowed_values), *map(_range_text, ranges)])
    raise InvalidParameterValue(f"input {name} must be one of {allowed}, not {text[:80]!r}", name)


def _range_text(allowed: ValueRange) -> str:
    low = "(" if allowed.closure in {"open", "open-closed"} else "["
    high = ")" if allowed.closure in {"open", "closed-open"} else "]"
    step = f" in steps of {allowed.spacing}" if allowed.spacing else ""
    return f"{low}{allowed.minimum}, {allowed.maximum}{high}{step}"


def _convert(data_type: str, text: str) -> str | int | float | bool | datetime | date | time:
    if data_type in _INTEGERS:
        whole = int(text)
        if whole < _INTEGERS[data_type]:
            raise ValueError(text)
        return whole
    if data_type in {"float", "scale", "angle"}:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    if data_type == "boolean":
        if text.lower() not in {"true", "false", "1", "0"}:
            raise ValueError(text)
        return text.lower() in {"true", "1"}
    if data_type == "dateTime":
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if data_type == "date":
        return date.fromisoformat(text)
    if data_type == "time":
        return time.fromisoformat(text)
    return text


def bounding_box(definition: BoundingBoxInput, spec: InputSpec) -> BoundingBox:
    """A bounding box from XML corners or the KVP form ``minx,miny,maxx,maxy[,crs]``."""
    name = spec.identifier
    crs = spec.crs
    if spec.bbox is not None:
        lower, upper = spec.bbox
    else:
        parts = [p.strip() for p in (spec.value or "").split(",") if p.strip()]
        numbers: list[float] = []
        for part in parts:
            try:
                numbers.append(float(part))
            except ValueError:
                crs = part
                break
        if len(numbers) % 2 or not numbers:
            raise InvalidParameterValue(f"bounding box {name} must be minx,miny,maxx,maxy[,crs]", name)
        half = len(numbers) // 2
        lower, upper = tuple(numbers[:half]), tuple(numbers[half:])
    if len(lower) != definition.dimensions or len(upper) != definition.dimensions:
        raise InvalidParameterValue(f"bounding box {name} must have {definition.dimensions} dimensions", name)
    if not all(math.isfinite(v) for v in (*lower, *upper)):
        raise InvalidParameterValue(f"bounding box {name} has a coordinate that is not a number", name)
    if any(lo > hi for lo, hi in zip(lower, upper, strict=True)):
        raise InvalidParameterValue(
            f"bounding box {name}: each lower corner value must not exceed the upper", name
        )
    chosen = normalise_crs(crs) if crs else normalise_crs(definition.crss[0])
    supported = [normalise_crs(c) for c in definition.crss]
    if chosen not in supported:
        raise InvalidParameterValue(
            f"bounding box {name}: CRS {crs} is not supported; use one of {', '.join(definition.crss)}", name
        )
    return BoundingBox(lower, upper, definition.crss[supported.index(chosen)])
