"""Planner statistics of the catalogue tables, kept current after large ingests (PostgreSQL).

PostgreSQL chooses plans from statistics that ANALYZE gathers. Until a table has them, it guesses a
handful of rows for any filter: a page of a sensor's observations over an hour is then planned as
"fetch every match, sort, keep 1,000" (36,000 rows sorted at 10 million rows, 30 to 80 ms) instead of
reading the first 1,000 from the (sensor_id, epoch_us, id) index (2 ms). Autovacuum analyzes a table
once a tenth of it has changed, where it runs, and some time after; a catalogue that is bulk loaded,
or a server whose autovacuum is off, needs it done explicitly. :func:`refresh_statistics` does what
autovacuum would, for the catalogue's tables; the job runner calls it periodically. SQLite plans
these queries well without statistics, so nothing is done there.

A large ingest does not wait for that: :func:`refresh_after_ingest` (called by ``ssa_ingest`` and
``wps-server catalogue ingest`` once their messages are stored) analyzes each table the call grew by
at least ``INGEST_ANALYZE_MIN_ROWS`` rows and by more than ``INGEST_ANALYZE_FRACTION`` of the rows
the planner believes it has (``pg_class.reltuples``, from the last ANALYZE or VACUUM; none when it
was never analyzed). It counts the rows from the ingest summaries, not from ``pg_stat_user_tables``,
whose counters reach other sessions only some time after a commit. Smaller ingests are left to the
periodic refresh: below 10,000 rows a table without statistics is still read in milliseconds, and
an ANALYZE costs up to a second on a large table (0.5 to 0.7 s at 10 million observations).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import Engine, text

from processes.ssa.catalogue.ingest import IngestSummary
from processes.ssa.catalogue.schema import messages, metadata, objects, observations, orbits, tracks

# Autovacuum's defaults: analyze once 50 rows + 10 % of the table changed since the last ANALYZE.
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE_FACTOR = 0.1
# An ingest analyzes a table it grew by at least this many rows and by more than this fraction.
INGEST_ANALYZE_MIN_ROWS = 10_000
INGEST_ANALYZE_FRACTION = 0.1

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


def rows_added(summaries: Iterable[IngestSummary]) -> Counter[str]:
    """Rows the ingests of ``summaries`` added, by table name (duplicates add nothing)."""
    added: Counter[str] = Counter()
    for summary in summaries:
        if summary.duplicate or summary.message_id is None:
            continue
        added[messages.name] += 1
        added[tracks.name] += summary.n_tracks
        added[observations.name] += summary.n_rows
        added[orbits.name] += summary.n_orbits
        added[objects.name] += summary.n_objects_created
    return added


def refresh_after_ingest(engine: Engine, summaries: Iterable[IngestSummary]) -> list[str]:
    """ANALYZE the tables that the ingests of ``summaries`` grew by at least
    ``INGEST_ANALYZE_MIN_ROWS`` rows and by more than ``INGEST_ANALYZE_FRACTION`` of their planned
    size (``reltuples``; 0 when never analyzed); return their names. A no-op on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    added = {name: n for name, n in rows_added(summaries).items() if n >= INGEST_ANALYZE_MIN_ROWS}
    if not added:
        return []
    with engine.connect() as conn:
        planned = {
            name: float(tuples)
            for name, tuples in conn.execute(
                text(
                    "SELECT t, GREATEST(c.reltuples, 0) FROM unnest(CAST(:names AS text[])) t "
                    "JOIN pg_class c ON c.oid = to_regclass(t)"
                ),
                {"names": sorted(added)},
            )
        }
    grown = sorted(
        name for name, n in added.items() if name in planned and n > INGEST_ANALYZE_FRACTION * planned[name]
    )
    for name in grown:
        with engine.begin() as conn:
            conn.execute(text(f'ANALYZE "{name}"'))  # a name of metadata.tables, never user input
    return grown
