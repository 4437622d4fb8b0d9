"""Behind a proxy: with `[server] trusted_proxies` set, sign-in throttling and the audit log use the
client address the proxy forwards (and links its scheme and host); unset, the forwarded headers are
ignored, so that a client cannot dodge the throttle or blame another address by sending them."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.auth.conftest import basic
from tests.wps.interfaces import CheckedClient, checked_client

PROXY = "10.0.0.1"
LIMITS = {"max_failed_logins": 2, "failed_login_window": 600}


def via_proxy(web: CheckedClient, path: str, client: str, headers: dict[str, str]) -> TestResponse:
    """GET ``path`` as the proxy sends it on behalf of ``client``."""
    return web.get(path, environ_base={"REMOTE_ADDR": PROXY}, headers={"X-Forwarded-For": client, **headers})


def audited_clients(caplog: pytest.LogCaptureFixture) -> list[object]:
    return [r.audit["client"] for r in caplog.records if hasattr(r, "audit")]


def test_a_trusted_proxys_client_address_is_throttled_and_audited(
    make_auth_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wps_server.audit")
    web = checked_client(make_auth_app(LIMITS, server={"trusted_proxies": 1}))
    wrong, right = basic("alice", "wrong-guess"), basic("alice")
    for _ in range(2):
        refused = via_proxy(web, "/ogcapi/jobs", "203.0.113.5", wrong)
        assert refused.status_code == 401
    assert audited_clients(caplog) == ["203.0.113.5", "203.0.113.5"]
    assert via_proxy(web, "/ogcapi/jobs", "203.0.113.5", right).status_code == 429
    # another client behind the same proxy is not slowed down by the first one's failures
    assert via_proxy(web, "/ogcapi/jobs", "198.51.100.7", right).status_code == 200
    capabilities = via_proxy(
        web,
        "/wps?service=WPS&request=GetCapabilities",
        "198.51.100.7",
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "wps.example.org"},
    )
    assert "https://wps.example.org/wps" in capabilities.get_data(as_text=True)


def test_without_trusted_proxies_forwarded_headers_are_ignored(
    make_auth_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wps_server.audit")
    web = checked_client(make_auth_app(LIMITS))
    wrong, right = basic("alice", "wrong-guess"), basic("alice")
    for forged in ("203.0.113.5", "203.0.113.6"):  # a new forged address for each guess
        assert via_proxy(web, "/ogcapi/jobs", forged, wrong).status_code == 401
    assert audited_clients(caplog) == [PROXY, PROXY]
    assert via_proxy(web, "/ogcapi/jobs", "198.51.100.7", right).status_code == 429
    capabilities = via_proxy(
        web,
        "/wps?service=WPS&request=GetCapabilities",
        "198.51.100.7",
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
    )
    assert "evil.example" not in capabilities.get_data(as_text=True)
