"""Migrations build exactly the tables the code declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from processes.ssa.catalogue.schema import metadata as catalogue
from wps_server.budgets import metadata as budgets
from wps_server.database import make_engine, migrate
from wps_server.jobs.store import metadata as jobs
from wps_server.login_failures import metadata as login_failures


def test_migrated_schema_has_no_drift(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    declared = MetaData()
    for source in (jobs, catalogue, budgets, login_failures):
        for table in source.tables.values():
            table.to_metadata(declared)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = [d for d in compare_metadata(context, declared) if d[0] != "remove_table"]
    assert differences == []
