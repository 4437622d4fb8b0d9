"""A hostile table: every way of not being who one claims, against every dialect, each answered
401/403/404 (or 429) with a clear message and nothing of the credentials in the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.auth.conftest import PASSWORDS, basic, bearer
from tests.auth.issuer import Issuer
from tests.wps.interfaces import CheckedClient, checked_client
from wps_server.config import Settings
from wps_server.login_failures import failures

EXECUTE_WPS1 = "/wps?service=WPS&version=1.0.0&request=Execute&identifier=hello&DataInputs=name=x"
ROUTES = {
    "wps1 execute": ("GET", EXECUTE_WPS1),
    "wps2 status": (
        "GET",
        "/wps?service=WPS&version=2.0.0&request=GetStatus&JobID=0f4c2b9e-5d8a-4b8e-9a43-5d0b8c1e2f3a",
    ),
    "ogcapi jobs": ("GET", "/ogcapi/jobs"),
    "ogcapi execute": ("POST", "/ogcapi/processes/hello/execution"),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key(issuer: Issuer) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = _b64(json.dumps(issuer.claims("mallory", ["admin"])).encode())
    mac = hmac.new(issuer.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(mac)}"


def _alg_none(issuer: Issuer) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    return f"{header}.{_b64(json.dumps(issuer.claims('mallory', ['admin'])).encode())}."


def _tampered(issuer: Issuer) -> str:
    header, _payload, signature = issuer.token("bob").split(".")
    forged = _b64(json.dumps(issuer.claims("bob", ["admin"])).encode())
    return f"{header}.{forged}.{signature}"


# case -> (headers maker, expected status, words the message must hold)
CASES: dict[str, tuple[Callable[[Issuer], dict[str, str]], int, str]] = {
    "no credentials": (lambda i: {}, 401, "sign in"),
    "wrong password": (lambda i: basic("alice", "not-her-password"), 401, "not accepted"),
    "unknown user": (lambda i: basic("nobody", "whatever-pass"), 401, "not accepted"),
    "disabled user": (lambda i: basic("carol"), 401, "not accepted"),
    "basic not base64": (lambda i: {"Authorization": "Basic %%%not-base64"}, 401, "base64"),
    "unknown scheme": (lambda i: {"Authorization": "Digest username=alice"}, 401, "accepts Basic or Bearer"),
    "expired token": (lambda i: bearer(i.token("alice", exp=1_000_000)), 401, "expired"),
    "token not yet valid": (lambda i: bearer(i.token("alice", nbf=4_000_000_000)), 401, "not valid yet"),
    "another issuer": (lambda i: bearer(i.token("alice", iss="https://evil.test")), 401, "another issuer"),
    "another audience": (lambda i: bearer(i.token("alice", aud="other-app")), 401, "another audience"),
    "alg none": (lambda i: bearer(_alg_none(i)), 401, "algorithm"),
    "HS256 signed with the public key": (lambda i: bearer(_hs256_with_public_key(i)), 401, "algorithm"),
    "unknown key id": (lambda i: bearer(i.token("alice", kid="k9")), 401, "key"),
    "signed by another key": (lambda i: bearer(i.token("alice", key=i.other_key)), 401, "signature"),
    "tampered payload": (lambda i: bearer(_tampered(i)), 401, "signature"),
    "roles claim of the wrong type": (
        lambda i: bearer(i.token("alice", realm_access={"roles": "admin"})),
        401,
        "list of role names",
    ),
    "not a JWT": (lambda i: bearer("garbage"), 401, "not a valid"),
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_credentials_are_refused(
    auth_app: Flask, issuer: Issuer, tmp_path: Path, case: str, route: str
) -> None:
    make_headers, status, words = CASES[case]
    headers = make_headers(issuer)
    method, path = ROUTES[route]
    body = json.dumps({"inputs": {"name": "x"}}) if method == "POST" else None
    web = checked_client(auth_app)
    response = web.open(path, method=method, headers=headers, data=body, content_type="application/json")
    assert response.status_code == status, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert words in text
    if route.startswith("ogcapi"):
        assert response.mimetype == "application/problem+json"
        assert json.loads(text)["status"] == status
    else:  # the report of the request's own version, even when refused before it is read
        version = "2.0.0" if route.startswith("wps2") else "1.0.0"
        assert "ExceptionReport" in text and f'version="{version}"' in text
    if status == 401:
        challenges = response.headers.getlist("WWW-Authenticate")
        assert any(c.startswith("Basic realm=") for c in challenges)
        assert any(c.startswith("Bearer realm=") for c in challenges)
    secret = headers.get("Authorization", "").partition(" ")[2]
    for leaked in (secret, *PASSWORDS.values(), "Traceback", str(tmp_path)):
        if leaked:
            assert leaked not in text


def test_a_role_missing_is_403_in_both_dialects(web: CheckedClient) -> None:
    wps = web.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=sleep&DataInputs=seconds=0.01",
        headers=basic("bob"),
    )
    ogc = web.post(
        "/ogcapi/processes/sleep/execution", json={"inputs": {"seconds": 0.01}}, headers=basic("bob")
    )
    assert (wps.status_code, ogc.status_code) == (403, 403)
    assert "needs the role sleeper" in wps.get_data(as_text=True)
    assert "needs the role sleeper" in ogc.get_json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/outputs/../users.json",
        "/outputs/..%2fusers.json",
        "/outputs/0f4c2b9e-5d8a-4b8e-9a43-5d0b8c1e2f3a/..%2f..%2fusers.json",
        "/outputs/0f4c2b9e-5d8a-4b8e-9a43-5d0b8c1e2f3a/%2e%2e",
    ],
)
def test_path_tricks_on_outputs_find_nothing(web: CheckedClient, path: str) -> None:
    response = web.get(path, headers=basic("alice"))
    assert response.status_code == 404
    assert b"argon2" not in response.get_data()


def test_valid_credentials_pass(web: CheckedClient, issuer: Issuer) -> None:
    assert web.get(EXECUTE_WPS1, headers=basic("alice")).status_code == 200
    token = bearer(issuer.token("dave", ["sleeper"]))
    assert (
        web.post(
            "/ogcapi/processes/hello/execution", json={"inputs": {"name": "x"}}, headers=token
        ).status_code
        == 200
    )


def test_discovery_is_open_and_nothing_else(web: CheckedClient) -> None:
    for path in (
        "/",
        "/ogcapi",
        "/ogcapi/conformance",
        "/ogcapi/api",
        "/ogcapi/processes",
        "/ogcapi/processes/hello",
        "/wps?service=WPS&request=GetCapabilities",
        "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=all",
        "/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=hello",
    ):
        assert web.get(path).status_code == 200, path
    assert web.get("/ogcapi/jobs").status_code == 401
    assert web.get("/ogcapi/me").status_code == 401


def test_anonymous_none_closes_discovery(make_auth_app: Callable[..., Flask]) -> None:
    web = checked_client(make_auth_app({"anonymous": "none"}))
    assert web.get("/wps?service=WPS&request=GetCapabilities").status_code == 401
    assert web.get("/ogcapi/processes").status_code == 401
    assert web.get("/health").status_code in {200, 503}


def test_repeated_failures_are_answered_429_across_workers(make_auth_app: Callable[..., Flask]) -> None:
    app = make_auth_app({"max_failed_logins": 3, "failed_login_window": 600})
    web = checked_client(app)
    for _ in range(3):
        assert web.get("/ogcapi/jobs", headers=basic("alice", "wrong-guess")).status_code == 401
    blocked = web.get("/ogcapi/jobs", headers=basic("alice"))  # even the right password now waits
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 600
    assert "too many failed sign-ins" in blocked.get_json()["detail"]
    wps = web.get(EXECUTE_WPS1, headers=basic("alice"))
    assert wps.status_code == 429 and b"ExceptionReport" in wps.get_data()
    # another address is not slowed down by these failures
    other = app.test_client().get(
        "/ogcapi/jobs", headers=basic("alice"), environ_base={"REMOTE_ADDR": "127.0.0.9"}
    )
    assert other.status_code == 200


def test_guessing_many_names_from_one_address_is_slowed_down(make_auth_app: Callable[..., Flask]) -> None:
    web = checked_client(make_auth_app({"max_failed_logins": 10, "max_failed_logins_per_address": 3}))
    for name in ("ann", "ben", "cat"):
        assert web.get("/ogcapi/jobs", headers=basic(name, "a-guess-123")).status_code == 401
    assert web.get("/ogcapi/jobs", headers=basic("alice")).status_code == 429
    assert (
        web.get("/ogcapi/jobs", headers=basic("alice"), environ_base={"REMOTE_ADDR": "127.0.0.7"}).status_code
        == 200
    )


def test_the_issuer_keys_are_fetched_once(make_auth_app: Callable[..., Flask], issuer: Issuer) -> None:
    web = checked_client(make_auth_app())
    before = issuer.requests
    for _ in range(3):
        assert web.get("/ogcapi/jobs", headers=bearer(issuer.token("dave"))).status_code == 200
    assert issuer.requests - before == 1


def test_bad_auth_settings_are_refused(make_settings: Callable[..., Settings]) -> None:
    from wps_server.access import AuthSettings
    from wps_server.config import ConfigError

    bad = [
        ({"methods": "kerberos"}, "kerberos"),
        ({"methods": "basic", "anonymous": "all"}, "anonymous"),
        ({"methods": "basic", "allow_unauthenticated_public": "yes"}, "allow_unauthenticated_public"),
        ({"methods": "basic", "process_roles": "s2p_stereo"}, "process = role"),
        ({"methods": "basic", "max_failed_logins": "0"}, "max_failed_logins"),
        ({"methods": "basic", "max_failed_logins_per_address": "many"}, "max_failed_logins_per_address"),
        ({"methods": "basic", "failed_login_window": "0"}, "failed_login_window"),
        ({"methods": "oidc"}, "oidc_issuer"),
        (
            {
                "methods": "oidc",
                "oidc_issuer": "x",
                "oidc_audience": "y",
                "oidc_jwks_url": "http://example.test/k",
            },
            "https",
        ),
        (
            {
                "methods": "oidc",
                "oidc_issuer": "x",
                "oidc_audience": "y",
                "oidc_jwks_url": "https://example.test/k",
                "oidc_algorithms": "HS256",
            },
            "HS256",
        ),
    ]
    for section, words in bad:
        with pytest.raises(ConfigError, match=words):
            AuthSettings.from_settings(make_settings(auth=section))


def test_old_failures_are_forgotten_by_the_runners_upkeep(make_settings: Callable[..., Settings]) -> None:
    import time

    from wps_server.database import make_engine, migrate
    from wps_server.jobs.runner import sign_in_upkeep
    from wps_server.login_failures import LoginThrottle

    settings = make_settings(auth={"methods": "basic", "failed_login_window": 1})
    engine = make_engine(settings.database_url)
    migrate(engine)
    throttle = LoginThrottle(engine, 1, 1)
    throttle.failed("basic|alice|127.0.0.1")
    assert throttle.retry_after("basic|alice|127.0.0.1") is not None
    [task] = sign_in_upkeep(settings, engine)
    task.run()
    assert throttle.retry_after("basic|alice|127.0.0.1") is not None  # still within its window
    time.sleep(1.1)
    task.run()
    with engine.connect() as db:
        assert db.execute(sa.select(sa.func.count()).select_from(failures)).scalar_one() == 0
    assert sign_in_upkeep(make_settings(), engine) == []


def test_no_cache_keeps_an_answer_for_another_requester(web: CheckedClient) -> None:
    """Answers depend on who asks: none may be stored by a proxy or by QGIS's cache (which ignores
    ``Vary`` and ``no-cache``), anonymous discovery included."""
    for headers in ({}, basic("alice")):
        answer = web.get("/wps?service=WPS&request=GetCapabilities", headers=headers)
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-store" and "Authorization" in answer.headers["Vary"]
