"""Users A (alice), B (bob), an admin (root), a disabled user (carol), and a server that signs them in
with HTTP Basic and with OpenID Connect tokens of a real key publisher on loopback."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.auth.issuer import AUDIENCE, ISSUER, Issuer
from tests.wps.interfaces import CheckedClient, checked_client
from tests.wps.processes import test_processes
from wps_server.app import create_app
from wps_server.config import Settings
from wps_server.database import make_engine, migrate
from wps_server.process import Process
from wps_server.users import UsersFile

PASSWORDS = {
    "alice": "alice-secret-1",
    "bob": "bob-secret-22",
    "root": "root-secret-333",
    "carol": "carol-secret-4",
}


def basic(name: str, password: str | None = None) -> dict[str, str]:
    pair = f"{name}:{PASSWORDS.get(name, '') if password is None else password}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    server = Issuer().start()
    yield server
    server.stop()


def write_users(path: Path) -> UsersFile:
    users = UsersFile(path)
    users.add("alice", PASSWORDS["alice"], ("sleeper",), ("team",))
    users.add("bob", PASSWORDS["bob"], (), ())
    users.add("root", PASSWORDS["root"], ("admin",), ())
    users.add("carol", PASSWORDS["carol"], ("sleeper",), ())
    users.change("carol", disabled=True)
    return users


def auth_section(issuer: Issuer, **extra: Any) -> dict[str, Any]:
    return {
        "methods": "basic, oidc",
        "process_roles": "sleep = sleeper",
        "oidc_issuer": ISSUER,
        "oidc_audience": AUDIENCE,
        "oidc_jwks_url": issuer.jwks_url,
        "oidc_algorithms": "RS256",
        **extra,
    }


@pytest.fixture
def make_auth_app(make_settings: Callable[..., Settings], issuer: Issuer) -> Callable[..., Flask]:
    def make(
        auth: dict[str, Any] | None = None,
        processes: Callable[[Settings], list[Process]] = test_processes,
        **sections: dict[str, Any],
    ) -> Flask:
        settings = make_settings(auth=auth_section(issuer, **(auth or {})), **sections)
        write_users(settings.data_dir / "users.json")
        migrate(make_engine(settings.database_url))
        return create_app(settings, processes(settings))

    return make


@pytest.fixture
def auth_app(make_auth_app: Callable[..., Flask]) -> Flask:
    return make_auth_app()


@pytest.fixture
def web(auth_app: Flask) -> CheckedClient:
    return checked_client(auth_app)
