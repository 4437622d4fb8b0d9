"""What the catalogue holds: row counts, the span of its observations, orbits by regime, tasking by status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, select

from processes.ssa.catalogue.schema import (
    messages,
    objects,
    observations,
    orbits,
    sensors,
    tasking_requests,
    tracks,
)
from processes.ssa.epochs import from_us


@dataclass(frozen=True, slots=True)
class CatalogueStats:
    objects: int
    sensors: int
    messages: int
    orbits: int
    tracks: int
    uncorrelated_tracks: int
    observation_rows: int
    first_observation: datetime | None
    last_observation: datetime | None
    orbits_by_regime: dict[str, int] = field(default_factory=dict)
    messages_by_kind: dict[str, int] = field(default_factory=dict)
    tasking_by_status: dict[str, int] = field(default_factory=dict)


def _count(conn: Connection, table: Table, *where: ColumnElement[bool]) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _grouped(conn: Connection, column: ColumnElement[Any]) -> dict[str, int]:
    query = select(column, func.count()).group_by(column).order_by(column)
    return {str(key): int(n) for key, n in conn.execute(query)}


def catalogue_stats(engine: Engine) -> CatalogueStats:
    """Counts over the whole catalogue (each an index or table scan: seconds on a large archive)."""
    with engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(observations.c.epoch_us), func.max(observations.c.epoch_us))
        ).one()
        return CatalogueStats(
            objects=_count(conn, objects),
            sensors=_count(conn, sensors),
            messages=_count(conn, messages),
            orbits=_count(conn, orbits),
            tracks=_count(conn, tracks),
            uncorrelated_tracks=_count(conn, tracks, tracks.c.uncorrelated.is_(True)),
            observation_rows=_count(conn, observations),
            first_observation=None if first is None else from_us(int(first)),
            last_observation=None if last is None else from_us(int(last)),
            orbits_by_regime=_grouped(conn, orbits.c.regime),
            messages_by_kind=_grouped(conn, messages.c.kind),
            tasking_by_status=_grouped(conn, tasking_requests.c.status),
        )
