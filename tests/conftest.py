"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("WPS_TEST_DATABASE_URL")
    if not url:
        pytest.skip("WPS_TEST_DATABASE_URL is not set")
    return url
