"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.s3server import S3Server
from wps_server.config import Settings, load_settings

DATA = Path(__file__).parent / "data"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: data under tmp_path, packaged defaults otherwise; sections as keywords."""

    def make(**sections: dict[str, Any]) -> Settings:
        roots = tmp_path / "data"
        roots.mkdir(exist_ok=True)
        overrides: dict[str, dict[str, str]] = {
            "server": {"data_dir": str(tmp_path / "var"), "processes": "tests.wps.processes:test_processes"},
            "inputs": {"data_roots": str(roots)},
        }
        for section, values in sections.items():
            overrides.setdefault(section, {}).update({k: str(v) for k, v in values.items()})
        return load_settings(files=[], environ={}, overrides=overrides)

    return make


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema of its own for one test, dropped afterwards."""
    url = os.environ.get("WPS_TEST_DATABASE_URL")
    if not url:
        pytest.skip("WPS_TEST_DATABASE_URL is not set")
    import sqlalchemy as sa

    from wps_server.database import make_engine

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as db:
        db.execute(sa.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as db:
        db.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 endpoint on 127.0.0.1 (moto's server, authentication on) for the whole session."""
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server, with its endpoint and administrator credentials in this test's environment."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
