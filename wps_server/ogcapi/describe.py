"""Process summaries and descriptions in JSON, built from the same definitions as the WPS documents."""

from __future__ import annotations

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
    OutputDefinition,
    Process,
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


def _literal_schema(data_type: LiteralType) -> dict[str, Any]:
    if data_type == "integer":
        return {"type": "integer"}
    if data_type == "float":
        return {"type": "number"}
    if data_type == "boolean":
        return {"type": "boolean"}
    if data_type == "dateTime":
        return {"type": "string", "format": "date-time"}
    if data_type == "anyURI":
        return {"type": "string", "format": "uri"}
    return {"type": "string"}


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
    if isinstance(definition, LiteralInput):
        schema = _literal_schema(definition.data_type)
        if definition.allowed_values:
            schema["enum"] = list(definition.allowed_values)
        if definition.value_range:
            low, high = definition.value_range
            if low is not None:
                schema["minimum"] = low
            if high is not None:
                schema["maximum"] = high
        if definition.default is not None:
            schema["default"] = definition.default
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
    return {"title": definition.title, "description": definition.abstract, "schema": schema}
