"""The OpenAPI document says how to sign in: its security schemes follow `[auth] methods`, discovery
stays open to anonymous requesters only when `anonymous = discovery`, and the API answers as it says
(schemathesis, signed in as a user, on /me and the jobs)."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.auth.conftest import basic


def _document(app: Flask, **headers: str) -> dict:  # type: ignore[type-arg]
    answer = app.test_client().get("/ogcapi/api?f=json", headers=headers)
    assert answer.status_code == 200
    return answer.get_json()  # type: ignore[no-any-return]


def test_schemes_follow_the_methods_and_discovery_stays_open(auth_app: Flask) -> None:
    document = _document(auth_app)
    schemes = document["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic", "description": "a user of the users file"}
    assert schemes["bearer"]["bearerFormat"] == "JWT"
    paths = document["paths"]
    assert {} in paths["/processes"]["get"]["security"]
    assert paths["/jobs"]["get"]["security"] == [{"basic": []}, {"bearer": []}]
    assert (
        "401" in paths["/me"]["get"]["responses"] and "403" in paths["/jobs/{jobId}"]["delete"]["responses"]
    )


def test_no_sign_in_no_schemes(make_auth_app: Callable[..., Flask]) -> None:
    document = _document(make_auth_app(auth={"methods": ""}))
    assert "securitySchemes" not in document["components"]
    assert "security" not in document["paths"]["/jobs"]["get"]


def test_closed_discovery_needs_a_scheme_everywhere(make_auth_app: Callable[..., Flask]) -> None:
    app = make_auth_app(auth={"anonymous": "none", "methods": "basic"})
    document = _document(app, **basic("alice"))
    assert set(document["components"]["securitySchemes"]) == {"basic"}
    assert all(
        operation["security"] == [{"basic": []}]
        for path in document["paths"].values()
        for operation in path.values()
    )


def test_signed_in_answers_conform_to_the_document(auth_app: Flask) -> None:
    headers = basic("alice")
    auth_app.test_client().post(
        "/ogcapi/processes/hello/execution", json={"inputs": {"name": "x"}}, headers=headers
    )
    schema = schemathesis.openapi.from_wsgi("/ogcapi/api", auth_app)
    for operation in (result.ok() for result in schema.get_all_operations()):
        if operation.path not in {"/me", "/jobs"}:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            # schemathesis's own wrong-credential probes are throttled (429) after a few: as they should be
            case.call_and_validate(headers=headers, excluded_checks=[checks.ignored_auth])

        check()
