"""Revision 0005 rebuilds a catalogue's observation indexes made before the row id joined them."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from wps_server.database import make_engine, migrate

PAGED = {
    "ix_ssa_obs_object_epoch": ["norad_id", "epoch_us", "id"],
    "ix_ssa_obs_sensor_epoch": ["sensor_id", "epoch_us", "id"],
    "ix_ssa_obs_epoch": ["epoch_us", "id"],
}


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    found = sa.inspect(engine).get_indexes("ssa_observations")
    return {i["name"]: i["column_names"] for i in found if i["name"] in PAGED}


def _to(engine: sa.Engine, revision: str, *, down: bool) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("wps_server") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_0005_rebuilds_indexes_without_the_id(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    assert _indexes(engine) == PAGED
    _to(engine, "0004", down=True)  # the indexes as revision 0002 first made them
    assert _indexes(engine) == {name: columns[:-1] for name, columns in PAGED.items()}
    _to(engine, "head", down=False)
    assert _indexes(engine) == PAGED
    engine.dispose()
