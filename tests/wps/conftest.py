from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from pywps.tests import WpsClient, client_for

from tests.wps.processes import test_processes
from tests.xsd import assert_valid
from wps_server.app import create_app
from wps_server.config import Settings
from wps_server.database import make_engine, migrate


@pytest.fixture
def make_app(make_settings: Callable[..., Settings]) -> Callable[..., Flask]:
    def make(**sections: dict[str, Any]) -> Flask:
        settings = make_settings(**sections)
        migrate(make_engine(settings.database_url))
        return create_app(settings, test_processes(settings))

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> WpsClient:
    """The pywps test client on our application; every XML answer it gets is schema-checked."""
    wps = client_for(app)
    original = wps.open

    def checked(*args: Any, **kwargs: Any) -> Any:
        response = original(*args, **kwargs)
        if b"http://www.opengis.net/" in response.get_data()[:400]:
            assert_valid(response.get_data())
        return response

    wps.open = checked  # type: ignore[method-assign]
    return wps
