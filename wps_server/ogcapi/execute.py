"""An OGC API - Processes execute request (JSON) turned into the protocol-neutral :class:`Execute`.

Input values, by the kind of input:

- literal: a JSON string, number or boolean, or ``{"value": ...}``;
- complex: a string (inline, in the default format), ``{"value": ..., "mediaType": ..., "encoding":
  "base64"}``, ``{"href": ..., "type": ...}``, or any JSON object or array for a JSON format;
- bounding box: ``{"bbox": [minx, miny, maxx, maxy], "crs": ...}``;
- an array of those for an input that takes several values.
"""

from __future__ import annotations

import json
from typing import Any

from wps_server.inputs import find_format
from wps_server.ogcapi.problems import bad_request
from wps_server.operations import Execute, InputSpec, OutputSpec
from wps_server.process import BoundingBoxInput, ComplexInput, LiteralInput, Process

_SCALARS = (str, int, float, bool)


def parse_execute(process: Process, body: bytes) -> tuple[Execute, str]:
    """The request, and the response form asked for ("raw", the default, or "document")."""
    try:
        document = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"the execute request is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("the execute request nests too deeply") from None
    if not isinstance(document, dict):
        raise bad_request("the execute request must be a JSON object with inputs, outputs and response")
    inputs = document.get("inputs", {})
    outputs = document.get("outputs", {})
    response = document.get("response", "raw")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise bad_request("inputs must be an object that maps each input id to its value(s)")
    if outputs is None:
        outputs = {}
    if not isinstance(outputs, dict):
        raise bad_request("outputs must be an object that maps each output id to its options")
    if response not in {"raw", "document"}:
        raise bad_request(f"response must be raw or document, not {response!r}")
    specs: list[InputSpec] = []
    for identifier, given in inputs.items():
        specs.extend(_input_specs(process, str(identifier), given))
    request = Execute(
        identifier=process.identifier,
        version="1.0.0",
        inputs=tuple(specs),
        outputs=tuple(_output_spec(str(i), o) for i, o in outputs.items()),
        extra={"interface": "ogcapi", "response": response},
    )
    return request, response


def _input_specs(process: Process, identifier: str, given: Any) -> list[InputSpec]:
    definition = process.input(identifier)
    if definition is None:
        return [InputSpec(identifier, value=json.dumps(given))]  # the check names the known inputs
    if isinstance(given, list) and not (
        isinstance(definition, ComplexInput) and definition.max_occurs == 1 and _takes_json(definition)
    ):
        if definition.max_occurs == 1 and not isinstance(definition, BoundingBoxInput):
            raise bad_request(f"input {identifier} takes one value, not an array")
        if isinstance(definition, BoundingBoxInput) and given and not isinstance(given[0], dict):
            raise bad_request(f'input {identifier} is a bounding box: {{"bbox": [...], "crs": ...}}')
        return [_input_spec(definition, identifier, item) for item in given]
    return [_input_spec(definition, identifier, given)]


def _input_spec(
    definition: LiteralInput | ComplexInput | BoundingBoxInput, identifier: str, given: Any
) -> InputSpec:
    if isinstance(definition, LiteralInput):
        value = given.get("value") if isinstance(given, dict) else given
        if not isinstance(value, _SCALARS) or (isinstance(given, dict) and "value" not in given):
            raise bad_request(f"input {identifier} takes a string, number or boolean")
        uom = given.get("uom") if isinstance(given, dict) else None
        return InputSpec(
            identifier, value=_literal_text(value), uom=uom if isinstance(uom, str) else None, kind="literal"
        )
    if isinstance(definition, BoundingBoxInput):
        return _bbox_spec(identifier, given)
    return _complex_spec(definition, identifier, given)


def _literal_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _bbox_spec(identifier: str, given: Any) -> InputSpec:
    if not isinstance(given, dict) or not isinstance(given.get("bbox"), list):
        raise bad_request(f'input {identifier} is a bounding box: {{"bbox": [minx, miny, maxx, maxy]}}')
    numbers = given["bbox"]
    if (
        not numbers
        or len(numbers) % 2
        or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
    ):
        raise bad_request(f"input {identifier}: bbox must be an even count of numbers (lower, then upper)")
    crs = given.get("crs")
    if crs is not None and not isinstance(crs, str):
        raise bad_request(f"input {identifier}: crs must be a string")
    half = len(numbers) // 2
    corners = (tuple(float(n) for n in numbers[:half]), tuple(float(n) for n in numbers[half:]))
    return InputSpec(identifier, bbox=corners, crs=crs, kind="bbox")


def _takes_json(definition: ComplexInput) -> bool:
    return any(f.mime_type.split(";")[0].strip().endswith("json") for f in definition.formats)


def _json_format(definition: ComplexInput, identifier: str) -> str:
    for fmt in definition.formats:
        if fmt.mime_type.split(";")[0].strip().endswith("json"):
            return fmt.mime_type
    offered = ", ".join(f.mime_type for f in definition.formats)
    raise bad_request(
        f"input {identifier} takes {offered}; give a string or {{'value': ..., 'mediaType': ...}}"
    )


def _complex_spec(definition: ComplexInput, identifier: str, given: Any) -> InputSpec:
    if isinstance(given, str):
        return InputSpec(identifier, value=given, kind="complex")
    if isinstance(given, dict) and "href" in given:
        href, media = given["href"], given.get("type")
        if not isinstance(href, str) or not href or (media is not None and not isinstance(media, str)):
            raise bad_request(f"input {identifier}: href (and type) must be strings")
        return InputSpec(identifier, href=href, mime_type=media)
    if isinstance(given, dict) and "value" in given:
        media, encoding, value = given.get("mediaType"), given.get("encoding"), given["value"]
        if (media is not None and not isinstance(media, str)) or (
            encoding is not None and not isinstance(encoding, str)
        ):
            raise bad_request(f"input {identifier}: mediaType and encoding must be strings")
        if not isinstance(value, str):
            media = media or _json_format(definition, identifier)
            value = json.dumps(value)
        if media:
            find_format(definition.formats, media, identifier)
        return InputSpec(identifier, value=value, mime_type=media, encoding=encoding, kind="complex")
    if given is None or isinstance(given, dict | list | int | float | bool):
        return InputSpec(
            identifier,
            value=json.dumps(given),
            mime_type=_json_format(definition, identifier),
            kind="complex",
        )
    raise bad_request(f"input {identifier}: unexpected value")


def _output_spec(identifier: str, options: Any) -> OutputSpec:
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise bad_request(f"output {identifier}: its options must be an object")
    mode = options.get("transmissionMode", "value")
    if mode not in {"value", "reference"}:
        raise bad_request(f"output {identifier}: transmissionMode must be value or reference, not {mode!r}")
    fmt = options.get("format") or {}
    if not isinstance(fmt, dict):
        raise bad_request(f"output {identifier}: format must be an object with a mediaType")
    media, encoding, schema = fmt.get("mediaType"), fmt.get("encoding"), fmt.get("schema")
    for name, value in (("mediaType", media), ("encoding", encoding), ("schema", schema)):
        if value is not None and not isinstance(value, str):
            raise bad_request(f"output {identifier}: format.{name} must be a string")
    return OutputSpec(identifier, as_reference=mode == "reference", mime_type=media, encoding=encoding)
