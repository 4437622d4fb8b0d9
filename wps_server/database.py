"""The server's database: engine creation and migrations to the newest schema."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine


class StoreUnavailable(Exception):
    """The database cannot be used as it is; the message says what to do."""


def make_engine(url: str) -> Engine:
    """An engine for the store; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe with several processes starting)."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def create_or_upgrade(url: str) -> Engine:
    """An engine on the store at the newest schema, made when it does not exist yet;
    :class:`StoreUnavailable`, naming ``[database] url``, when it cannot be reached or made."""
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    try:
        engine = make_engine(url)
        migrate(engine)
    except OSError as exc:  # the folder of an SQLite file cannot be made
        raise StoreUnavailable(
            f"cannot create the database {shown} ({exc.strerror or exc}): check [database] url, or pass --config"
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreUnavailable(
            f"cannot reach the database {shown} ({reason}): check [database] url, or pass --config"
        ) from None
    return engine


def open_existing(url: str) -> Engine:
    """An engine on a database that exists and has the newest schema, for commands that must create
    nothing: :class:`StoreUnavailable`, saying what to do, otherwise."""
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    fix = "run `wps-server migrate` (serve does it too), or pass --config to name your configuration"
    database = sa.engine.make_url(url).database or ":memory:"
    sqlite_file = url.startswith("sqlite") and database != ":memory:"
    if sqlite_file and not Path(database).is_file():
        raise StoreUnavailable(f"there is no job store at {database} yet: {fix}")
    # an SQLite file is looked at read-only: a file that is no store yet is left as it was (no WAL)
    probe = _read_only_sqlite(database) if sqlite_file else None
    engine = make_engine(url)
    try:
        with (probe or engine).connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StoreUnavailable(
            f"cannot reach the database {shown} ({reason}): check [database] url, or pass --config"
        ) from None
    finally:
        if probe is not None:
            probe.dispose()
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if current != head:
        engine.dispose()
        state = "has no tables yet" if current is None else f"has an older schema ({current})"
        raise StoreUnavailable(f"the database {shown} {state}: {fix}")
    return engine


def _read_only_sqlite(database: str) -> Engine:
    """An engine that opens the SQLite file ``database`` read-only and changes nothing in it."""
    location = f"file:{quote(str(Path(database).absolute()))}?mode=ro"
    return sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(location, uri=True), poolclass=sa.pool.NullPool
    )


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("wps_server") / "migrations"))
    return config
