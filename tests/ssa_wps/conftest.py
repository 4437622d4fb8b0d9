"""Fixtures of the SSA WPS tests: the shipped processes behind the pywps test client, on SQLite (and
PostgreSQL where a test asks for ``database_url``), a Dask cluster in this process for ctx.client()."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pywps.tests import WpsClient, client_for
from sqlalchemy import Engine, func, select

from processes.ssa.catalogue import make_engine as catalogue_engine
from processes.ssa.catalogue.schema import metadata
from tests.xsd import assert_valid
from wps_server.app import create_app
from wps_server.config import Settings
from wps_server.database import make_engine, migrate

SSA_DATA = Path(__file__).resolve().parents[1] / "data" / "ssa"
SENSORS = SSA_DATA / "tdm" / "sensors.yaml"
SNAPSHOT = SSA_DATA / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"


@dataclass
class SSAApp:
    client: WpsClient
    engine: Engine
    settings: Settings

    def counts(self) -> dict[str, int]:
        """Row counts of every ssa_ table: compared before and after a refused request."""
        with self.engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables
            }


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """A Dask cluster in this process (threads), for the handlers' ctx.client()."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def checked_client(app: Any) -> WpsClient:
    """The pywps test client; every OGC XML answer it gets is schema-checked."""
    wps = client_for(app)
    original = wps.open

    def checked(*args: Any, **kwargs: Any) -> Any:
        response = original(*args, **kwargs)
        if b"http://www.opengis.net/" in response.get_data()[:400]:
            assert_valid(response.get_data())
        return response

    wps.open = checked  # type: ignore[method-assign]
    return wps


@pytest.fixture
def make_ssa_app(
    make_settings: Callable[..., Settings], dask_scheduler: str
) -> Iterator[Callable[..., SSAApp]]:
    engines: list[Engine] = []

    def make(database_url: str | None = None, **sections: dict[str, Any]) -> SSAApp:
        overrides: dict[str, dict[str, Any]] = {
            "server": {"processes": "processes:shipped_processes"},
            "dask": {"scheduler": dask_scheduler},
            "ssa": {"sensors_file": str(SENSORS)},
        }
        if database_url:
            overrides["database"] = {"url": database_url}
        for section, values in sections.items():
            overrides.setdefault(section, {}).update(values)
        settings = make_settings(**overrides)
        migrate(make_engine(settings.database_url))
        engines.append(catalogue_engine(settings.database_url))
        return SSAApp(checked_client(create_app(settings)), engines[-1], settings)

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def ssa(make_ssa_app: Callable[..., SSAApp]) -> SSAApp:
    """The SSA processes on an empty catalogue (SQLite), the fixture sensors registered on first use."""
    return make_ssa_app()
