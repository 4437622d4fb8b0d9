"""Schemathesis against the generated OpenAPI document, in-process on the WSGI app: no failure allowed.

Every operation of /ogcapi/api gets generated requests, positive and negative, whose answers are checked
against the document (status codes, content types, headers, response schemas, no 5xx). Beside random
identifiers, the process and job operations are also fuzzed on real ones (cheap test processes only).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks

EXAMPLES = 25
REAL_PROCESSES = ("hello", "echo")


def fuzz(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    excluded: tuple[Any, ...] = (),
    **fixed: Any,
) -> None:
    @given(case=operation.as_strategy(mode, **fixed))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(excluded_checks=list(excluded))

    try:
        check()
    except Unsatisfiable:
        # a bare string path parameter has no schema-violating value: nothing negative to send
        assert mode == schemathesis.GenerationMode.NEGATIVE and not operation.query and not operation.body


def test_api_conforms_to_its_openapi_document(app: Flask) -> None:
    client = app.test_client()
    job_id = (
        client.post(
            "/ogcapi/processes/hello/execution", json={"inputs": {"name": "x"}, "response": "document"}
        )
        .headers["Link"]
        .split("/jobs/")[1]
        .split(">")[0]
    )
    schema = schemathesis.openapi.from_wsgi("/ogcapi/api", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            # The HTML job list's filter form sends `status=` for "any status" (a form cannot leave a
            # field out without JavaScript): that page takes an empty filter as none, on purpose.
            html_list = operation.path == "/jobs" and mode == schemathesis.GenerationMode.NEGATIVE
            fuzz(operation, mode, (checks.negative_data_rejection,) if html_list else ())
            if "{processId}" in operation.path and mode == schemathesis.GenerationMode.POSITIVE:
                # The document's execute body is the same for every process, so a schema-valid body may
                # lack a required input or hold a box whose lower corner exceeds its upper one: such a
                # request is rightly refused (400), which is all positive_data_acceptance would flag.
                excluded = (checks.positive_data_acceptance,) if operation.method.upper() == "POST" else ()
                for identifier in REAL_PROCESSES:
                    fuzz(operation, mode, excluded, path_parameters={"processId": identifier})
            if "{jobId}" in operation.path and operation.method.upper() == "GET":
                fuzz(operation, mode, path_parameters={"jobId": job_id})
