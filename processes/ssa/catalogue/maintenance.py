"""Planner statistics of the catalogue tables, kept current after large ingests (PostgreSQL).

PostgreSQL chooses plans from statistics that ANALYZE gathers. Until a table has them, it guesses a
handful of rows for any filter: a page of a sensor's observations over an hour is then planned as
"fetch every match, sort, keep 1,000" (36,000 rows sorted at 10 million rows, 30 to 80 ms) instead of
reading the first 1,000 from the (sensor_id, epoch_us, id) index (2 ms). Autovacuum analyzes a table
once a tenth of it has changed, where it runs, and some time after; a catalogue that is bulk loaded,
or a server whose autovacuum is off, needs it done explicitly. :func:`refresh_statistics` does what
autovacuum would, for the catalogue's tables; the job runner calls it periodically. SQLite plans
these queries well without statistics, so nothing is done there.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from processes.ssa.catalogue.schema import metadata

# Autovacuum's defaults: analyze once 50 rows + 10 % of the table changed since the last ANALYZE.
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE_FACTOR = 0.1

_STALE = text(
    """
    SELECT s.relname
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.relid = ANY(CAST(:tables AS regclass[]))
      AND (
        s.n_mod_since_analyze > :threshold + :scale * GREATEST(c.reltuples, 0)
        OR (s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AND c.relpages > 0)
      )
    ORDER BY s.relname
    """
)


def refresh_statistics(engine: Engine) -> list[str]:
    """ANALYZE the catalogue tables changed by more than autovacuum's threshold since their last
    ANALYZE, or never analyzed and not empty; return their names. A no-op on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        present = [
            name
            for (name,) in conn.execute(
                text("SELECT t FROM unnest(CAST(:names AS text[])) t WHERE to_regclass(t) IS NOT NULL"),
                {"names": sorted(metadata.tables)},
            )
        ]
        if not present:
            return []
        stale = [
            name
            for (name,) in conn.execute(
                _STALE,
                {"tables": present, "threshold": ANALYZE_THRESHOLD, "scale": ANALYZE_SCALE_FACTOR},
            )
        ]
    for name in stale:
        with engine.begin() as conn:
            conn.execute(text(f'ANALYZE "{name}"'))  # a name of metadata.tables, never user input
    return stale
