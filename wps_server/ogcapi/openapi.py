"""The OpenAPI 3.0 document of the OGC API, generated from this module's tables (not a static file)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
PROBLEM = "application/problem+json"
HTML = "text/html"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _response(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _document(description: str, schema: str, media: str = JSON, html: bool = True) -> dict[str, Any]:
    content: dict[str, Any] = {media: {"schema": _ref(schema)}}
    if html:
        content[HTML] = {"schema": {"type": "string"}}
    return {"description": description, "content": content}


SCHEMAS: dict[str, Any] = {
    "me": {
        "type": "object",
        "required": ["user_id", "roles", "links"],
        "properties": {
            "user_id": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}},
            "groups": {"type": "array", "items": {"type": "string"}},
            "admin": {"type": "boolean"},
            "budget": {
                "type": "object",
                "nullable": True,
                "description": "the month's budget of the user or their group: limit, spent and left",
                "properties": {
                    "account": {"type": "string"},
                    "currency": {"type": "string"},
                    "monthly": {"type": "number"},
                    "spent": {"type": "number"},
                    "budget": {"type": "number", "description": "what is left this month"},
                    "month": {"type": "string"},
                },
            },
            "links": _ref("links"),
        },
    },
    "link": {
        "type": "object",
        "required": ["href"],
        "properties": {
            "href": {"type": "string"},
            "rel": {"type": "string"},
            "type": {"type": "string"},
            "title": {"type": "string"},
            "hreflang": {"type": "string"},
        },
    },
    "links": {"type": "array", "items": _ref("link")},
    "exception": {
        "type": "object",
        "description": "RFC 7807 problem details",
        "required": ["type"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
        },
    },
    "landingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _ref("links"),
        },
    },
    "confClasses": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "jobControlOptions": {
        "type": "array",
        "items": {"type": "string", "enum": ["sync-execute", "async-execute", "dismiss"]},
    },
    "metadata": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "role": {"type": "string"},
                "href": {"type": "string"},
            },
        },
    },
    "processSummary": {
        "type": "object",
        "required": ["id", "version"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "version": {"type": "string"},
            "keywords": {"type": "array", "items": {"type": "string"}},
            "metadata": _ref("metadata"),
            "jobControlOptions": _ref("jobControlOptions"),
            "outputTransmission": {
                "type": "array",
                "items": {"type": "string", "enum": ["value", "reference"]},
            },
            "links": _ref("links"),
        },
    },
    "processList": {
        "type": "object",
        "required": ["processes", "links"],
        "properties": {
            "processes": {"type": "array", "items": _ref("processSummary")},
            "links": _ref("links"),
        },
    },
    "descriptionType": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "keywords": {"type": "array", "items": {"type": "string"}},
            "metadata": _ref("metadata"),
            "schema": {"type": "object"},
        },
    },
    "inputDescription": {
        "allOf": [
            _ref("descriptionType"),
            {
                "type": "object",
                "required": ["schema"],
                "properties": {
                    "minOccurs": {"type": "integer", "minimum": 0},
                    "maxOccurs": {
                        "oneOf": [
                            {"type": "integer", "minimum": 0},
                            {"type": "string", "enum": ["unbounded"]},
                        ]
                    },
                },
            },
        ]
    },
    "outputDescription": {"allOf": [_ref("descriptionType"), {"type": "object", "required": ["schema"]}]},
    "process": {
        "allOf": [
            _ref("processSummary"),
            {
                "type": "object",
                "properties": {
                    "inputs": {"type": "object", "additionalProperties": _ref("inputDescription")},
                    "outputs": {"type": "object", "additionalProperties": _ref("outputDescription")},
                },
            },
        ]
    },
    "statusInfo": {
        "type": "object",
        "required": ["jobID", "status", "type"],
        "properties": {
            "processID": {"type": "string"},
            "type": {"type": "string", "enum": ["process"]},
            "jobID": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["accepted", "running", "successful", "failed", "dismissed"],
            },
            "message": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "started": {"type": "string", "format": "date-time"},
            "finished": {"type": "string", "format": "date-time"},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "links": _ref("links"),
        },
    },
    "jobList": {
        "type": "object",
        "required": ["jobs", "links"],
        "properties": {"jobs": {"type": "array", "items": _ref("statusInfo")}, "links": _ref("links")},
    },
    "format": {
        "type": "object",
        "properties": {
            "mediaType": {"type": "string"},
            "encoding": {"type": "string"},
            "schema": {"type": "string"},
        },
    },
    "output": {
        "type": "object",
        "properties": {
            "format": _ref("format"),
            "transmissionMode": {"type": "string", "enum": ["value", "reference"], "default": "value"},
        },
    },
    "execute": {
        "type": "object",
        "description": (
            "inputs map each input id to a value: a literal, {value, mediaType, encoding}, "
            "{href, type}, {bbox, crs}, or an array of those"
        ),
        "properties": {
            "inputs": {"type": "object", "additionalProperties": True},
            "outputs": {"type": "object", "additionalProperties": _ref("output")},
            "response": {"type": "string", "enum": ["raw", "document"], "default": "raw"},
        },
    },
    "results": {
        "type": "object",
        "description": "each output id mapped to its value, {value, mediaType}, {href, type} or {bbox, crs}",
        "additionalProperties": True,
    },
}

PARAMETERS: dict[str, Any] = {
    "f": {
        "name": "f",
        "in": "query",
        "required": False,
        "description": "the format of the answer (instead of an Accept header)",
        "schema": {"type": "string", "enum": ["json", "html"]},
    },
    "processId": {"name": "processId", "in": "path", "required": True, "schema": {"type": "string"}},
    "jobId": {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}},
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "how many jobs to skip (the next link sets it)",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1000000000, "default": 0},
    },
    "processID": {
        "name": "processID",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[^,]+$"}},
    },
    "status": {
        "name": "status",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": ["accepted", "running", "successful", "failed", "dismissed"]},
        },
    },
    "type": {
        "name": "type",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["process"]}},
    },
    "prefer": {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": "respond-async to run the job asynchronously (answered 201 with a Location)",
        "schema": {"type": "string", "enum": ["respond-async", "respond-sync"]},
    },
}

RESPONSES: dict[str, Any] = {
    "BadRequest": {
        "description": "the request is not valid; the detail says what to change",
        "content": {PROBLEM: {"schema": _ref("exception")}},
    },
    "NotFound": {
        "description": "no such process, job or result",
        "content": {PROBLEM: {"schema": _ref("exception")}},
    },
    "ServerError": {
        "description": "the process failed, or the server is busy",
        "content": {PROBLEM: {"schema": _ref("exception")}},
    },
}


def _security(methods: frozenset[str], anonymous_discovery: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The security schemes of the sign-in methods, and each operation's requirement by its id:
    discovery may be anonymous, the rest needs one of the schemes."""
    schemes: dict[str, Any] = {}
    if "basic" in methods:
        schemes["basic"] = {"type": "http", "scheme": "basic", "description": "a user of the users file"}
    if "oidc" in methods:
        schemes["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "an OpenID Connect access token of the configured issuer",
        }
    signed_in: list[dict[str, list[str]]] = [{name: []} for name in schemes]
    discovery = [*signed_in, {}] if anonymous_discovery else signed_in
    return schemes, {"discovery": discovery, "signed_in": signed_in}


def openapi_document(
    title: str, base: str, methods: frozenset[str] = frozenset(), anonymous_discovery: bool = True
) -> dict[str, Any]:
    """The document; with sign-in ``methods``, its security schemes and the 401/403 answers."""
    f = _param("f")
    bad, missing, failed = _response("BadRequest"), _response("NotFound"), _response("ServerError")
    results = {
        "description": "the results: a JSON document, or one raw output (or several, multipart/related)",
        "content": {JSON: {"schema": _ref("results")}, "*/*": {"schema": {}}},
    }
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "operationId": "getLandingPage",
                "summary": "Landing page",
                "parameters": [f],
                "responses": {"200": _document("links to the API", "landingPage"), "400": bad},
            }
        },
        "/conformance": {
            "get": {
                "operationId": "getConformance",
                "summary": "Conformance classes",
                "parameters": [f],
                "responses": {"200": _document("the conformance classes", "confClasses"), "400": bad},
            }
        },
        "/api": {
            "get": {
                "operationId": "getAPI",
                "summary": "This OpenAPI document",
                "parameters": [f],
                "responses": {
                    "200": {
                        "description": "the API definition",
                        "content": {OPENAPI_JSON: {"schema": {"type": "object"}}, HTML: {"schema": {}}},
                    },
                    "400": bad,
                },
            }
        },
        "/processes": {
            "get": {
                "operationId": "getProcesses",
                "summary": "The processes",
                "parameters": [f],
                "responses": {"200": _document("the process list", "processList"), "400": bad},
            }
        },
        "/processes/{processId}": {
            "get": {
                "operationId": "getProcessDescription",
                "summary": "One process",
                "parameters": [_param("processId"), f],
                "responses": {"200": _document("the process", "process"), "400": bad, "404": missing},
            }
        },
        "/processes/{processId}/execution": {
            "post": {
                "operationId": "execute",
                "summary": "Run the process",
                "parameters": [_param("processId"), _param("prefer")],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("execute")}}},
                "responses": {
                    "200": results,
                    "201": {
                        "description": "the job was accepted (Prefer: respond-async)",
                        "headers": {
                            "Location": {"description": "the job's URL", "schema": {"type": "string"}}
                        },
                        "content": {JSON: {"schema": _ref("statusInfo")}},
                    },
                    "400": bad,
                    "404": missing,
                    "413": bad,
                    "500": failed,
                    "503": failed,
                },
            }
        },
        "/jobs": {
            "get": {
                "operationId": "getJobs",
                "summary": "The jobs, newest first",
                "parameters": [
                    _param("limit"),
                    _param("offset"),
                    _param("processID"),
                    _param("status"),
                    _param("type"),
                    f,
                ],
                "responses": {"200": _document("one page of jobs", "jobList"), "400": bad},
            }
        },
        "/jobs/{jobId}": {
            "get": {
                "operationId": "getStatus",
                "summary": "The status of a job",
                "parameters": [_param("jobId"), f],
                "responses": {"200": _document("the job", "statusInfo"), "400": bad, "404": missing},
            },
            "delete": {
                "operationId": "dismiss",
                "summary": "Dismiss a job: stop it and remove its files",
                "parameters": [_param("jobId")],
                "responses": {
                    "200": {
                        "description": "the job, dismissed",
                        "content": {JSON: {"schema": _ref("statusInfo")}},
                    },
                    "404": missing,
                },
            },
        },
        "/jobs/{jobId}/results": {
            "get": {
                "operationId": "getResult",
                "summary": "The results of a job",
                "parameters": [_param("jobId"), f],
                "responses": {"200": results, "400": bad, "404": missing, "500": failed},
            }
        },
        "/jobs/{jobId}/stac": {
            "get": {
                "operationId": "getResultItem",
                "summary": "The results of a successful job as a STAC Item (for processes that make one)",
                "parameters": [_param("jobId"), f],
                "responses": {
                    "200": {
                        "description": "a STAC 1.1 Item; links to outputs in an object store are pre-signed",
                        "content": {"application/geo+json": {"schema": {"type": "object"}}},
                    },
                    "400": bad,
                    "404": missing,
                    "500": failed,
                },
            }
        },
    }
    paths["/me"] = {
        "get": {
            "operationId": "getMe",
            "summary": "The signed-in user: roles, groups and what is left of their monthly budget",
            "parameters": [f],
            "responses": {"200": _document("the user", "me"), "400": bad},
        }
    }
    components: dict[str, Any] = {"schemas": SCHEMAS, "parameters": PARAMETERS, "responses": RESPONSES}
    if methods:
        schemes, requirements = _security(methods, anonymous_discovery)
        components["securitySchemes"] = schemes
        open_to_all = {"getLandingPage", "getConformance", "getAPI", "getProcesses", "getProcessDescription"}
        refused = {
            "description": "not signed in, or not allowed",
            "content": {PROBLEM: {"schema": _ref("exception")}},
        }
        for methods_of_path in paths.values():
            for operation in methods_of_path.values():
                discovery = operation["operationId"] in open_to_all
                operation["security"] = requirements["discovery" if discovery else "signed_in"]
                operation["responses"].setdefault("401", refused)
                operation["responses"].setdefault("429", refused)
                if not discovery:
                    operation["responses"].setdefault("403", refused)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{title}: OGC API - Processes",
            "version": "1.0.0",
            "description": "OGC API - Processes - Part 1: Core, on the same processes and jobs as WPS",
            "license": {"name": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": components,
    }
