"""Catalogue queries: objects, orbits (latest or history) and observations (paged, bounded)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, Connection, Engine, Select, and_, func, or_, select

from processes.ssa.catalogue.schema import (
    OBSERVATION_MEASUREMENTS,
    QUALITY_CODES,
    QUALITY_NAMES,
    objects,
    observations,
    orbits,
    sensors,
    tracks,
)
from processes.ssa.epochs import ensure_utc, from_us, to_us
from processes.ssa.errors import QueryError
from processes.ssa.records import AngleFrame, ObjectInfo, Observation, ObservationType, Orbit
from processes.ssa.sky import angular_distance_deg, cone_cell_ranges

DEFAULT_MAX_WINDOW = timedelta(days=31)
MAX_LIMIT = 100_000
MAX_IN_CELLS = 2000
_TYPE_COLUMN = {
    ObservationType.ANGLE_1: "angle_1",
    ObservationType.ANGLE_2: "angle_2",
    ObservationType.RANGE: "range_km",
    ObservationType.DOPPLER_INSTANTANEOUS: "range_rate_km_s",
    ObservationType.MAG: "mag",
    ObservationType.RCS: "rcs_m2",
}
_SIGMA_OF = {
    "angle_1": "sigma_angle_deg",
    "angle_2": "sigma_angle_deg",
    "range_km": "sigma_range_km",
    "range_rate_km_s": "sigma_range_rate_km_s",
}


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit {limit} must be in 1..{MAX_LIMIT}")
    if offset < 0:
        raise QueryError(f"offset {offset} must not be negative")


# --------------------------------------------------------------------------- objects


def query_objects(
    engine: Engine,
    *,
    norad_ids: Iterable[int] | None = None,
    name: str | None = None,
    cospar_id: str | None = None,
    object_type: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[ObjectInfo]:
    """Objects by ids, name substring (case-insensitive), COSPAR id or type, ordered by NORAD id."""
    _check_page(limit, offset)
    query = select(objects).order_by(objects.c.norad_id).limit(limit).offset(offset)
    if norad_ids is not None:
        query = query.where(objects.c.norad_id.in_(list(norad_ids)))
    if name:
        query = query.where(func.lower(objects.c.name).contains(name.lower(), autoescape=True))
    if cospar_id:
        query = query.where(objects.c.cospar_id == cospar_id)
    if object_type:
        query = query.where(objects.c.object_type == object_type)
    with engine.connect() as conn:
        return [
            ObjectInfo(
                norad_id=int(r.norad_id),
                name=r.name,
                cospar_id=r.cospar_id,
                object_type=r.object_type,
                country=r.country,
                launch_date=r.launch_date,
                decay_date=r.decay_date,
            )
            for r in conn.execute(query)
        ]


# --------------------------------------------------------------------------- orbits


def orbit_from_row(r: Any) -> Orbit:
    return Orbit(
        epoch=from_us(r.epoch_us),
        mean_motion=r.mean_motion,
        eccentricity=r.eccentricity,
        inclination=r.inclination,
        ra_of_asc_node=r.ra_of_asc_node,
        arg_of_pericenter=r.arg_of_pericenter,
        mean_anomaly=r.mean_anomaly,
        norad_id=int(r.norad_id),
        object_name=r.object_name,
        object_id=r.object_id,
        bstar=r.bstar,
        mean_motion_dot=r.mean_motion_dot,
        mean_motion_ddot=r.mean_motion_ddot,
        ephemeris_type=int(r.ephemeris_type),
        classification=r.classification,
        element_set_no=int(r.element_set_no),
        rev_at_epoch=int(r.rev_at_epoch),
        center_name=r.center_name,
        ref_frame=r.ref_frame,
        time_system="UTC",
        mean_element_theory=r.mean_element_theory,
        creation_date=r.creation_date,
        originator=r.originator,
        comments=tuple(json.loads(r.comments)),
        extra=tuple((k, v) for k, v in json.loads(r.extra)),
        source=r.source,
    )


def query_orbits(
    engine: Engine,
    *,
    norad_ids: Iterable[int] | None = None,
    latest: bool = True,
    start: datetime | None = None,
    end: datetime | None = None,
    regime: str | None = None,
    source: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Orbit]:
    """Orbits with epochs in [start, end): the latest per object (``latest``) or the history."""
    _check_page(limit, offset)
    conds: list[ColumnElement[bool]] = []
    if norad_ids is not None:
        conds.append(orbits.c.norad_id.in_(list(norad_ids)))
    if start is not None:
        conds.append(orbits.c.epoch_us >= to_us(ensure_utc(start)))
    if end is not None:
        conds.append(orbits.c.epoch_us < to_us(ensure_utc(end)))
    if source is not None:
        conds.append(orbits.c.source == source)
    query: Select[Any]
    if latest:
        newest = (
            select(orbits.c.norad_id, func.max(orbits.c.epoch_us).label("epoch_us"))
            .where(*conds)
            .group_by(orbits.c.norad_id)
            .subquery()
        )
        query = (
            select(orbits)
            .join(
                newest, and_(orbits.c.norad_id == newest.c.norad_id, orbits.c.epoch_us == newest.c.epoch_us)
            )
            .where(*conds)
            .order_by(orbits.c.norad_id, orbits.c.id)
        )
    else:
        query = select(orbits).where(*conds).order_by(orbits.c.norad_id, orbits.c.epoch_us, orbits.c.id)
    if regime is not None:
        query = query.where(orbits.c.regime == regime)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit).offset(offset)).all()
    result, seen = [], set()
    for r in rows:
        if latest and r.norad_id in seen:  # two sources at the same epoch: keep the first
            continue
        seen.add(r.norad_id)
        result.append(orbit_from_row(r))
    return result


def latest_orbit(conn: Connection, norad_id: int, before: datetime | None = None) -> Orbit | None:
    """The newest orbit of an object with epoch before ``before`` (else the newest at all)."""
    query = select(orbits).where(orbits.c.norad_id == norad_id).order_by(orbits.c.epoch_us.desc()).limit(1)
    if before is not None:
        row = conn.execute(query.where(orbits.c.epoch_us <= to_us(ensure_utc(before)))).first()
        if row is not None:
            return orbit_from_row(row)
    row = conn.execute(query).first()
    return orbit_from_row(row) if row is not None else None


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True, slots=True)
class Cone:
    """A sky cone: centre RA/Dec and radius in degrees (RADEC observations only)."""

    ra_deg: float
    dec_deg: float
    radius_deg: float


class ObservationRow(NamedTuple):
    """One stored row: the measurements of one track at one epoch.

    A named tuple rather than a frozen dataclass: a page builds 1,000 of them, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost 5 us a row, half of a
    page's time in Python; a tuple is made in a fraction of that.
    """

    id: int
    track_id: int
    epoch: datetime
    sensor: str
    norad_id: int | None
    designator: str
    angle_frame: AngleFrame | None
    angle_1: float | None
    angle_2: float | None
    range_km: float | None
    range_rate_km_s: float | None
    mag: float | None
    rcs_m2: float | None
    sigma_angle_deg: float | None
    sigma_range_km: float | None
    sigma_range_rate_km_s: float | None
    quality: str
    uncorrelated: bool
    sky_cell: int | None

    def observations(self, types: Iterable[str] | None = None) -> list[Observation]:
        """The row as TDM-style measurements (one per non-empty column, in TDM order)."""
        wanted = set(types) if types is not None else None
        out = []
        for kind, col in _TYPE_COLUMN.items():
            value = getattr(self, col)
            if value is None or (wanted is not None and kind.value not in wanted):
                continue
            sigma = getattr(self, _SIGMA_OF[col]) if col in _SIGMA_OF else None
            out.append(
                Observation(
                    self.epoch,
                    kind.value,
                    value,
                    self.sensor,
                    self.designator,
                    self.angle_frame,
                    sigma,
                    str(self.track_id),
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class ObservationPage:
    rows: list[ObservationRow]
    offset: int
    limit: int
    next_offset: int | None  # None when this page is the last


def query_observations(
    engine: Engine,
    start: datetime,
    end: datetime,
    *,
    norad_id: int | None = None,
    sensor: str | None = None,
    types: Iterable[str] | None = None,
    quality: str | None = None,
    uncorrelated: bool | None = None,
    cone: Cone | None = None,
    limit: int = 1000,
    offset: int = 0,
    max_window: timedelta = DEFAULT_MAX_WINDOW,
) -> ObservationPage:
    """Observation rows with epochs in [start, end), ordered by epoch.

    The window is mandatory and at most ``max_window`` long. ``types`` keeps rows holding at
    least one of the given measurement types. ``cone`` selects candidate sky cells in SQL and
    then keeps rows within the exact angular distance; paging applies after that filter.
    """
    start, end = ensure_utc(start), ensure_utc(end)
    if end <= start:
        raise QueryError("end must be after start")
    if end - start > max_window:
        raise QueryError(f"window of {end - start} exceeds the maximum of {max_window}")
    _check_page(limit, offset)
    conds: list[ColumnElement[bool]] = [
        observations.c.epoch_us >= to_us(start),
        observations.c.epoch_us < to_us(end),
    ]
    if norad_id is not None:
        conds.append(observations.c.norad_id == norad_id)
    if uncorrelated is not None:
        conds.append(observations.c.uncorrelated == uncorrelated)
    if quality is not None:
        code = QUALITY_CODES.get(quality.upper())
        if code is None:
            raise QueryError(f"quality {quality!r} not one of {', '.join(QUALITY_CODES)}")
        conds.append(observations.c.quality == code)
    if types is not None:
        cols = []
        for t in types:
            try:
                cols.append(observations.c[_TYPE_COLUMN[ObservationType(t)]])
            except ValueError:
                raise QueryError(f"observation type {t!r} not one of {', '.join(_TYPE_COLUMN)}") from None
        if not cols:
            raise QueryError("types must not be empty")
        conds.append(or_(*(c.isnot(None) for c in cols)))
    if sensor is not None:  # an unknown code matches nothing (the subquery is NULL)
        sensor_id = select(sensors.c.id).where(sensors.c.code == sensor).scalar_subquery()
        conds.append(observations.c.sensor_id == sensor_id)
    # (epoch_us, id) is the order of the indexes on (norad_id, epoch_us, id), (sensor_id, epoch_us,
    # id) and (epoch_us, id): a page is read in order from one of them and stops after its rows.
    query = select(*_OBS_COLUMNS).where(*conds).order_by(observations.c.epoch_us, observations.c.id)
    rows: Sequence[Any]
    with engine.connect() as conn:
        if cone is None:
            # One statement: the page, then its sensors' codes and tracks' designators looked up by
            # primary key for the page's rows only (a join may be planned as a hash of all tracks).
            page = query.limit(limit + 1).offset(offset).subquery("page")
            sensor_code = select(sensors.c.code).where(sensors.c.id == page.c.sensor_id).scalar_subquery()
            designator = select(tracks.c.designator).where(tracks.c.id == page.c.track_id).scalar_subquery()
            rows = conn.execute(
                select(*(page.c[c.name] for c in _OBS_COLUMNS), sensor_code, designator).order_by(
                    page.c.epoch_us, page.c.id
                )
            ).all()
        else:
            try:
                ranges = cone_cell_ranges(cone.ra_deg, cone.dec_deg, cone.radius_deg)
            except ValueError as exc:
                raise QueryError(str(exc)) from None
            cells = [c for lo, hi in ranges for c in range(lo, hi + 1)]
            if len(cells) <= MAX_IN_CELLS:  # lets the planner seek (cell, epoch range) per cell
                query = query.where(observations.c.sky_cell.in_(cells))
            else:
                query = query.where(or_(*(observations.c.sky_cell.between(lo, hi) for lo, hi in ranges)))
            rows = _with_names(conn, _cone_page(conn, query, cone, offset, limit + 1))
    more = len(rows) > limit
    return ObservationPage(_observation_rows(rows[:limit]), offset, limit, offset + limit if more else None)


_OBS_COLUMNS = tuple(
    observations.c[name]
    for name in ("id", "track_id", "epoch_us", "sensor_id", "norad_id", *OBSERVATION_MEASUREMENTS)
)
_FRAMES = {f.value: f for f in AngleFrame}


def _with_names(conn: Connection, rows: list[Any]) -> list[tuple[Any, ...]]:
    """``_OBS_COLUMNS`` rows with their sensor's code and track's designator appended (a track and
    its rows have the same sensor: ingest writes them from one segment)."""
    track_ids = {r.track_id for r in rows}
    names: dict[int, tuple[str, str]] = {}
    if track_ids:
        found = conn.execute(
            select(tracks.c.id, sensors.c.code, tracks.c.designator)
            .join(sensors, sensors.c.id == tracks.c.sensor_id)
            .where(tracks.c.id.in_(track_ids))
        )
        names = {t.id: (t.code, t.designator) for t in found}
    return [(*r, *names.get(r.track_id, ("", ""))) for r in rows]


def _observation_rows(rows: Iterable[Any]) -> list[ObservationRow]:
    """``_OBS_COLUMNS`` + code + designator rows as ObservationRows (an epoch's rows share its datetime)."""
    epochs: dict[int, datetime] = {}
    out = []
    for (
        row_id,
        track_id,
        epoch_us,
        _sensor_id,
        norad,
        frame,
        a1,
        a2,
        rng,
        rate,
        mag,
        rcs,
        s_angle,
        s_range,
        s_rate,
        quality,
        uncorrelated,
        cell,
        code,
        designator,
    ) in rows:
        epoch = epochs.get(epoch_us)
        if epoch is None:
            epoch = epochs[epoch_us] = from_us(epoch_us)
        out.append(
            ObservationRow(
                row_id,
                track_id,
                epoch,
                code or "",
                norad,
                designator or "",
                _FRAMES.get(frame) if frame else None,
                a1,
                a2,
                rng,
                rate,
                mag,
                rcs,
                s_angle,
                s_range,
                s_rate,
                QUALITY_NAMES.get(quality, "RAW"),
                bool(uncorrelated),
                cell,
            )
        )
    return out


def _cone_page(conn: Connection, query: Select[Any], cone: Cone, offset: int, wanted: int) -> list[Any]:
    """Stream candidates in epoch order, keep exact matches, skip ``offset``, stop at ``wanted``."""
    kept: list[Any] = []
    skipped = 0
    result = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
    for batch in result.partitions():
        ra = np.array([r.angle_1 for r in batch], dtype=np.float64)
        dec = np.array([r.angle_2 for r in batch], dtype=np.float64)
        inside = angular_distance_deg(cone.ra_deg, cone.dec_deg, ra, dec) <= cone.radius_deg
        for row, ok in zip(batch, inside.tolist(), strict=True):
            if not ok:
                continue
            if skipped < offset:
                skipped += 1
                continue
            kept.append(row)
            if len(kept) >= wanted:
                result.close()
                return kept
    return kept
