"""Offline checks of OGC API - Processes 1.0 process descriptions: each input's and output's ``schema``.

The official OGC API - Processes 1.0 JSON schemas are not available offline here. Their ``schema.yaml``
is the OpenAPI 3.0 Schema Object with three more keywords (``contentMediaType``, ``contentEncoding``,
``contentSchema``, each a string), so the Schema Object of the OpenAPI 3.0 meta-schema shipped with
``openapi-spec-validator`` is used with those three added: booleans for ``exclusiveMinimum`` and
``exclusiveMaximum``, no unknown keywords.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema

OGC_KEYWORDS = {name: {"type": "string"} for name in ("contentMediaType", "contentEncoding", "contentSchema")}


@cache
def _schema_object() -> dict[str, Any]:
    resource = files("openapi_spec_validator").joinpath("resources/schemas/v3.0/schema.json")
    meta = json.loads(resource.read_text(encoding="utf-8"))
    meta["definitions"]["Schema"]["properties"].update(OGC_KEYWORDS)
    return {"$ref": "#/definitions/Schema", "definitions": meta["definitions"]}


def assert_schemas_valid(described: dict[str, Any]) -> None:
    """Every input and output ``schema`` of a process description is an OGC API - Processes schema."""
    validator = jsonschema.Draft4Validator(_schema_object())
    for kind in ("inputs", "outputs"):
        for name, put in described[kind].items():
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(put["schema"])]
            assert not errors, (described["id"], kind, name, errors)
