"""Process summaries and descriptions in JSON, built from the same definitions as the WPS documents."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from wps_server.process import (
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    Format,
    InputDefinition,
    LiteralInput,
    LiteralOutput,
    LiteralType,
    MetadataLink,
    OutputDefinition,
    Process,
    ValueRange,
)

REL_EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"
REL_PROCESSES = "http://www.opengis.net/def/rel/ogc/1.0/processes"
REL_JOB_LIST = "http://www.opengis.net/def/rel/ogc/1.0/job-list"
REL_RESULTS = "http://www.opengis.net/def/rel/ogc/1.0/results"
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
JSON_TYPES = {"application/json", "application/geo+json"}
_TEXT_PREFIXES = ("text/",)


def job_control_options(process: Process) -> list[str]:
    options = ["sync-execute"]
    if process.store_supported and process.status_supported:
        options.append("async-execute")
    return [*options, "dismiss"]


def summary(process: Process, base: str) -> dict[str, Any]:
    url = f"{base}/processes/{process.identifier}"
    return {
        "id": process.identifier,
        "title": process.title,
        "description": process.abstract,
        "version": process.version,
        "keywords": list(process.keywords),
        "metadata": metadata(process.metadata),
        "jobControlOptions": job_control_options(process),
        "outputTransmission": ["value", "reference"],
        "links": [
            {"href": url, "rel": "self", "type": "application/json", "title": "process description"},
            {"href": f"{url}?f=html", "rel": "alternate", "type": "text/html", "title": "as HTML"},
            {"href": f"{url}/execution", "rel": REL_EXECUTE, "title": "execute"},
        ],
    }


def description(process: Process, base: str) -> dict[str, Any]:
    document = summary(process, base)
    document["inputs"] = {d.identifier: _input(d) for d in process.inputs}
    document["outputs"] = {d.identifier: _output(d) for d in process.outputs}
    return document


_LITERAL_SCHEMAS: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "nonNegativeInteger": {"type": "integer", "minimum": 0},
    "positiveInteger": {"type": "integer", "minimum": 1},
    "float": {"type": "number"},
    "scale": {"type": "number"},
    "angle": {"type": "number"},
    "boolean": {"type": "boolean"},
    "dateTime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "format": "time"},
    "anyURI": {"type": "string", "format": "uri"},
}


def _literal_schema(data_type: LiteralType) -> dict[str, Any]:
    return dict(_LITERAL_SCHEMAS.get(data_type, {"type": "string"}))


def metadata(links: tuple[MetadataLink, ...]) -> list[dict[str, str]]:
    """Metadata links as OGC API - Processes has them: title, role and href when given."""
    described = []
    for link in links:
        entry = {"title": link[0]}
        if link[1]:
            entry["href"] = link[1]
        if len(link) > 2 and link[2]:
            entry["role"] = link[2]
        described.append(entry)
    return described


def _range_schema(schema: dict[str, Any], bounds: ValueRange) -> dict[str, Any]:
    """The schema bounded as OpenAPI 3.0 has it: an open end is its bound with a boolean exclusive flag."""
    bounded = dict(schema)
    if bounds.minimum is not None:
        bounded["minimum"] = bounds.minimum
        if bounds.closure in {"open", "open-closed"}:
            bounded["exclusiveMinimum"] = True
    if bounds.maximum is not None:
        bounded["maximum"] = bounds.maximum
        if bounds.closure in {"open", "closed-open"}:
            bounded["exclusiveMaximum"] = True
    if bounds.spacing and bounds.minimum in {0, None}:
        bounded["multipleOf"] = bounds.spacing
    return bounded


def _allowed_schema(schema: dict[str, Any], definition: LiteralInput) -> dict[str, Any]:
    """The literal schema narrowed to the allowed values and ranges (a oneOf when there are several)."""
    choices: list[dict[str, Any]] = [_range_schema(schema, r) for r in definition.all_ranges()]
    if definition.allowed_values:
        choices.insert(0, {**schema, "enum": list(definition.allowed_values)})
    if not choices:
        return schema
    return choices[0] if len(choices) == 1 else {"oneOf": choices}


def _format_schema(fmt: Format) -> dict[str, Any]:
    mime = fmt.mime_type.split(";")[0].strip().lower()
    if mime in JSON_TYPES:
        return {"type": "object", "contentMediaType": fmt.mime_type}
    schema: dict[str, Any] = {"type": "string", "contentMediaType": fmt.mime_type}
    if not (mime.startswith(_TEXT_PREFIXES) or "xml" in mime or "csv" in mime):
        schema["contentEncoding"] = "binary"
    if fmt.schema:
        schema["contentSchema"] = fmt.schema
    return schema


def _formats_schema(formats: tuple[Format, ...]) -> dict[str, Any]:
    schemas = [_format_schema(f) for f in formats]
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


def bbox_schema(crss: tuple[str, ...], dimensions: int = 2) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["bbox"],
        "properties": {
            "bbox": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 2 * dimensions,
                "maxItems": 2 * dimensions,
            },
            "crs": {"type": "string", "enum": list(crss), "default": crss[0]},
        },
        "format": "ogc-bbox",
    }


def _input(definition: InputDefinition) -> dict[str, Any]:
    described: dict[str, Any] = {
        "title": definition.title,
        "description": definition.abstract,
        "minOccurs": definition.min_occurs,
        "maxOccurs": definition.max_occurs,
    }
    _keywords_and_metadata(described, definition)
    if isinstance(definition, LiteralInput):
        schema = _allowed_schema(_literal_schema(definition.data_type), definition)
        if definition.default is not None:
            schema["default"] = _json_value(definition.default)
        if definition.uom:
            described["additionalParameters"] = {"parameters": [{"name": "uom", "value": [definition.uom]}]}
    elif isinstance(definition, ComplexInput):
        schema = _formats_schema(definition.formats)
    else:
        schema = bbox_schema(definition.crss, definition.dimensions)
    described["schema"] = schema
    return described


def _output(definition: OutputDefinition) -> dict[str, Any]:
    if isinstance(definition, LiteralOutput):
        schema = _literal_schema(definition.data_type)
    elif isinstance(definition, ComplexOutput):
        schema = _formats_schema(definition.formats)
    elif isinstance(definition, BoundingBoxOutput):
        schema = bbox_schema(definition.crss)
    described = {"title": definition.title, "description": definition.abstract, "schema": schema}
    _keywords_and_metadata(described, definition)
    return described


def _keywords_and_metadata(described: dict[str, Any], definition: InputDefinition | OutputDefinition) -> None:
    if definition.keywords:
        described["keywords"] = list(definition.keywords)
    if definition.metadata:
        described["metadata"] = metadata(definition.metadata)


def _json_value(value: Any) -> Any:
    """A default as JSON has it: dates and times as ISO 8601 text."""
    return value.isoformat() if isinstance(value, date | time) else value
