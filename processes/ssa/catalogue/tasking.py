"""Tasking requests: feasibility with an injected pass predictor, lifecycle and event history.

A request is answered ACCEPTED (passes exist in the asked window: status SCHEDULED), PROPOSED
(no pass in the window but some soon after: status PROPOSED until ``accept_proposal``) or
REJECTED with a reason. Ingested observations of the object by the sensor inside a scheduled
window move it to COLLECTED, then COMPLETED once ``required_observations`` epochs arrived;
``advance_tasking`` closes requests whose windows are over (COMPLETED, or FAILED without data).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Connection, Engine, select, update

from processes.ssa.catalogue.queries import latest_orbit
from processes.ssa.catalogue.schema import objects, tasking_events, tasking_requests
from processes.ssa.catalogue.sensors import sensor_ids
from processes.ssa.epochs import ensure_utc, from_us, to_us
from processes.ssa.errors import TaskingError
from processes.ssa.records import ObservationType, Orbit, Sensor, SensorKind

MAX_REQUEST_WINDOW = timedelta(days=14)
DEFAULT_LOOKAHEAD = timedelta(days=3)
MAX_PROPOSALS = 5
PRIORITIES = range(1, 10)  # 1 is the most urgent
DEFAULT_PRIORITY = 5
# The sensor kinds that can make each kind of measurement (angles: both, optical AZ/EL or RA/Dec).
MEASURED_BY = {
    ObservationType.ANGLE_1: (SensorKind.OPTICAL, SensorKind.RADAR),
    ObservationType.ANGLE_2: (SensorKind.OPTICAL, SensorKind.RADAR),
    ObservationType.MAG: (SensorKind.OPTICAL,),
    ObservationType.RANGE: (SensorKind.RADAR,),
    ObservationType.DOPPLER_INSTANTANEOUS: (SensorKind.RADAR,),
    ObservationType.RCS: (SensorKind.RADAR,),
}


class Decision(StrEnum):
    ACCEPTED = "ACCEPTED"
    PROPOSED = "PROPOSED"
    REJECTED = "REJECTED"


class TaskingStatus(StrEnum):
    PROPOSED = "PROPOSED"
    SCHEDULED = "SCHEDULED"
    COLLECTED = "COLLECTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


OPEN = (TaskingStatus.PROPOSED, TaskingStatus.SCHEDULED, TaskingStatus.COLLECTED)
Window = tuple[datetime, datetime]


class WindowFinder(Protocol):
    """Pass prediction: visibility windows of ``orbit`` from ``sensor`` between start and end."""

    def __call__(self, orbit: Orbit, sensor: Sensor, start: datetime, end: datetime) -> list[Window]: ...


@dataclass(frozen=True, slots=True)
class TaskingDecision:
    request_id: int
    decision: Decision
    status: TaskingStatus
    reason: str
    windows: list[Window]


@dataclass(frozen=True, slots=True)
class TaskingEvent:
    at: datetime
    status: TaskingStatus
    detail: str
    message_id: int | None


@dataclass(frozen=True, slots=True)
class TaskingRequest:
    id: int
    norad_id: int
    sensor: str
    start: datetime
    end: datetime
    decision: Decision
    status: TaskingStatus
    reason: str
    windows: list[Window]
    required_observations: int
    collected_observations: int
    requester: str
    priority: int = DEFAULT_PRIORITY
    obs_type: str = ""  # an ObservationType value, or '' for any
    events: list[TaskingEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CollectedTrack:
    """Epochs (us, sorted) of an ingested, correlated track: what ingest hands to tasking."""

    track_id: int
    norad_id: int
    sensor: str
    epochs_us: list[int]


def _windows_json(windows: list[Window]) -> str:
    return json.dumps([[to_us(a), to_us(b)] for a, b in windows])


def _windows(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in json.loads(text)]


def _event(
    conn: Connection, request_id: int, now_us: int, status: str, detail: str, message_id: int | None
) -> None:
    conn.execute(
        tasking_events.insert().values(
            request_id=request_id, at_us=now_us, status=status, detail=detail, message_id=message_id
        )
    )


def submit_tasking(
    engine: Engine,
    *,
    norad_id: int,
    sensor: str,
    start: datetime,
    end: datetime,
    find_windows: WindowFinder,
    requester: str = "",
    owner: str | None = None,
    required_observations: int = 1,
    priority: int = DEFAULT_PRIORITY,
    obs_type: str = "",
    lookahead: timedelta = DEFAULT_LOOKAHEAD,
    now: datetime | None = None,
) -> TaskingDecision:
    """Decide on a request to observe ``norad_id`` with ``sensor`` between ``start`` and ``end``.

    ``obs_type`` (an :class:`ObservationType` value, '' for any) must be a measurement the sensor's
    kind makes (:data:`MEASURED_BY`); ``priority`` runs from 1 (most urgent) to 9.
    Every request is recorded, rejected ones too, with its first event.
    """
    start, end = ensure_utc(start), ensure_utc(end)
    now_dt = ensure_utc(now) if now else datetime.now(UTC)
    now_us = to_us(now_dt)
    if required_observations < 1:
        raise TaskingError("required_observations must be at least 1")
    if priority not in PRIORITIES:
        raise TaskingError(f"priority {priority} must be 1 (most urgent) to 9")
    kinds = measuring_kinds(obs_type)
    decision, status, reason, windows = Decision.REJECTED, TaskingStatus.REJECTED, "", []
    with engine.begin() as conn:
        known = sensor_ids(conn)
        if sensor not in known:
            reason = f"unknown sensor {sensor!r}"
        elif known[sensor][1].kind not in kinds:
            reason = f"sensor {sensor} is {known[sensor][1].kind.value} and cannot measure {obs_type}"
        elif conn.execute(select(objects.c.norad_id).where(objects.c.norad_id == norad_id)).first() is None:
            reason = f"unknown object {norad_id}"
        elif end <= start:
            reason = "the window end must be after its start"
        elif end - start > MAX_REQUEST_WINDOW:
            reason = f"the window is longer than {MAX_REQUEST_WINDOW.days} days"
        elif end <= now_dt:
            reason = "the window is in the past"
        else:
            orbit = latest_orbit(conn, norad_id, before=end)
            if orbit is None:
                reason = f"no orbit known for object {norad_id}"
            else:
                site = known[sensor][1]
                begin = max(start, now_dt)
                windows = sorted(find_windows(orbit, site, begin, end))
                if windows:
                    decision, status = Decision.ACCEPTED, TaskingStatus.SCHEDULED
                    reason = f"{len(windows)} pass(es) of {norad_id} over {sensor} in the window"
                else:
                    later = sorted(find_windows(orbit, site, end, end + lookahead))[:MAX_PROPOSALS]
                    if later:
                        decision, status, windows = Decision.PROPOSED, TaskingStatus.PROPOSED, later
                        reason = (
                            f"no pass in the window; {len(later)} pass(es) proposed in the next {lookahead}"
                        )
                    else:
                        reason = f"no pass of {norad_id} over {sensor} before {(end + lookahead).isoformat()}"
        request_id = int(
            conn.execute(
                tasking_requests.insert()
                .values(
                    norad_id=norad_id,
                    sensor_code=sensor[:64],
                    start_us=to_us(start),
                    end_us=to_us(end),
                    decision=decision.value,
                    status=status.value,
                    reason=reason,
                    windows=_windows_json(windows),
                    required_observations=required_observations,
                    collected_observations=0,
                    requester=requester[:128],
                    owner=owner,
                    priority=priority,
                    obs_type=obs_type,
                    created_us=now_us,
                    updated_us=now_us,
                )
                .returning(tasking_requests.c.id)
            ).scalar_one()
        )
        _event(conn, request_id, now_us, status.value, f"{decision.value}: {reason}", None)
    return TaskingDecision(request_id, decision, status, reason, windows)


def choose_sensor(
    engine: Engine,
    *,
    norad_id: int,
    start: datetime,
    end: datetime,
    find_windows: WindowFinder,
    obs_type: str = "",
    lookahead: timedelta = DEFAULT_LOOKAHEAD,
    now: datetime | None = None,
) -> str | None:
    """The registered sensor to ask when a request names none: of the sensors whose kind makes
    ``obs_type``, the one that sees the object first in the window (else first after it, within
    ``lookahead``; else the first by code, which :func:`submit_tasking` will reject with the
    reason). None when no registered sensor makes such measurements.
    """
    kinds = measuring_kinds(obs_type)
    start, end = ensure_utc(start), ensure_utc(end)
    begin = max(start, ensure_utc(now) if now else datetime.now(UTC))
    with engine.connect() as conn:
        candidates = sorted((code, s) for code, (_, s) in sensor_ids(conn).items() if s.kind in kinds)
        orbit = latest_orbit(conn, norad_id, before=end)
    if not candidates:
        return None
    if orbit is None or not start < end or begin >= end or end - start > MAX_REQUEST_WINDOW:
        return candidates[0][0]
    for a, b in ((begin, end), (end, end + lookahead)):
        first = {code: min(found)[0] for code, s in candidates if (found := find_windows(orbit, s, a, b))}
        if first:
            return min(first, key=lambda code: (first[code], code))
    return candidates[0][0]


def measuring_kinds(obs_type: str) -> tuple[SensorKind, ...]:
    """The sensor kinds that make measurements of ``obs_type`` ('' : any kind)."""
    if not obs_type:
        return tuple(SensorKind)
    try:
        return MEASURED_BY[ObservationType(obs_type)]
    except ValueError:
        known = ", ".join(t.value for t in ObservationType)
        raise TaskingError(f"observation type {obs_type!r} is not one of {known}") from None


def _load(conn: Connection, request_id: int, owner: str | None = None) -> TaskingRequest:
    query = select(tasking_requests).where(tasking_requests.c.id == request_id)
    if owner is not None:
        query = query.where(tasking_requests.c.owner == owner)
    row = conn.execute(query).first()
    if row is None:  # another owner's request is as absent as one that never was
        raise TaskingError(f"no tasking request {request_id}")
    events = [
        TaskingEvent(from_us(e.at_us), TaskingStatus(e.status), e.detail, e.message_id)
        for e in conn.execute(
            select(tasking_events)
            .where(tasking_events.c.request_id == request_id)
            .order_by(tasking_events.c.at_us, tasking_events.c.id)
        )
    ]
    return TaskingRequest(
        id=int(row.id),
        norad_id=int(row.norad_id),
        sensor=row.sensor_code,
        start=from_us(row.start_us),
        end=from_us(row.end_us),
        decision=Decision(row.decision),
        status=TaskingStatus(row.status),
        reason=row.reason,
        windows=[(from_us(a), from_us(b)) for a, b in _windows(row.windows)],
        required_observations=int(row.required_observations),
        collected_observations=int(row.collected_observations),
        requester=row.requester,
        priority=int(row.priority),
        obs_type=row.obs_type,
        events=events,
    )


def get_tasking(engine: Engine, request_id: int, owner: str | None = None) -> TaskingRequest:
    """A request with its full event history; with ``owner``, only if it is theirs."""
    with engine.connect() as conn:
        return _load(conn, request_id, owner)


def list_tasking(
    engine: Engine,
    *,
    status: TaskingStatus | None = None,
    norad_id: int | None = None,
    limit: int = 1000,
    owner: str | None = None,
) -> list[TaskingRequest]:
    """Requests oldest first; with ``owner``, only theirs."""
    query = select(tasking_requests.c.id).order_by(tasking_requests.c.id).limit(limit)
    if owner is not None:
        query = query.where(tasking_requests.c.owner == owner)
    if status is not None:
        query = query.where(tasking_requests.c.status == status.value)
    if norad_id is not None:
        query = query.where(tasking_requests.c.norad_id == norad_id)
    with engine.connect() as conn:
        return [_load(conn, int(i)) for i in conn.execute(query).scalars()]


def _move(
    engine: Engine,
    request_id: int,
    allowed: tuple[TaskingStatus, ...],
    target: TaskingStatus,
    detail: str,
    now: datetime | None,
    windows: list[tuple[int, int]] | None = None,
) -> TaskingRequest:
    now_us = to_us(ensure_utc(now) if now else datetime.now(UTC))
    with engine.begin() as conn:
        current = _load(conn, request_id)
        if current.status not in allowed:
            raise TaskingError(
                f"request {request_id} is {current.status.value}: cannot become {target.value}"
            )
        values: dict[str, object] = {"status": target.value, "updated_us": now_us}
        if windows is not None:
            values["windows"] = json.dumps([list(w) for w in windows])
        conn.execute(
            update(tasking_requests)
            .where(tasking_requests.c.id == request_id, tasking_requests.c.status == current.status.value)
            .values(**values)
        )
        _event(conn, request_id, now_us, target.value, detail, None)
        return _load(conn, request_id)


def accept_proposal(
    engine: Engine, request_id: int, window_index: int | None = None, *, now: datetime | None = None
) -> TaskingRequest:
    """Schedule a PROPOSED request on all proposed windows, or on one of them."""
    current = get_tasking(engine, request_id)
    chosen = [(to_us(a), to_us(b)) for a, b in current.windows]
    if window_index is not None:
        if not 0 <= window_index < len(chosen):
            raise TaskingError(f"request {request_id} has no proposed window {window_index}")
        chosen = [chosen[window_index]]
    detail = f"proposal accepted: {len(chosen)} window(s)"
    return _move(engine, request_id, (TaskingStatus.PROPOSED,), TaskingStatus.SCHEDULED, detail, now, chosen)


def cancel_tasking(
    engine: Engine, request_id: int, reason: str = "", *, now: datetime | None = None
) -> TaskingRequest:
    allowed = (TaskingStatus.PROPOSED, TaskingStatus.SCHEDULED)
    return _move(engine, request_id, allowed, TaskingStatus.CANCELLED, reason or "cancelled", now)


def fail_tasking(
    engine: Engine, request_id: int, reason: str, *, now: datetime | None = None
) -> TaskingRequest:
    allowed = (TaskingStatus.SCHEDULED, TaskingStatus.COLLECTED)
    return _move(engine, request_id, allowed, TaskingStatus.FAILED, reason, now)


def advance_tasking(engine: Engine, *, now: datetime | None = None) -> list[tuple[int, TaskingStatus]]:
    """Close requests whose last window has ended: COLLECTED -> COMPLETED, SCHEDULED -> FAILED.

    Called by the job runner's periodic catalogue upkeep and before status queries, so two calls
    may overlap: a request moves (with one event) only if it is still as it was read, and the
    writing transaction starts with that update (SQLite then takes its write lock at once instead
    of failing to upgrade a read snapshot that another writer made stale).
    """
    now_us = to_us(ensure_utc(now) if now else datetime.now(UTC))
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                tasking_requests.c.id,
                tasking_requests.c.status,
                tasking_requests.c.windows,
                tasking_requests.c.end_us,
                tasking_requests.c.collected_observations,
            ).where(
                tasking_requests.c.status.in_([TaskingStatus.SCHEDULED.value, TaskingStatus.COLLECTED.value])
            )
        ).all()
    due = [r for r in rows if max((b for _, b in _windows(r.windows)), default=r.end_us) <= now_us]
    moved: list[tuple[int, TaskingStatus]] = []
    if not due:
        return moved
    with engine.begin() as conn:
        for row in due:
            if row.status == TaskingStatus.COLLECTED.value:
                target, detail = (
                    TaskingStatus.COMPLETED,
                    f"windows over with {row.collected_observations} epoch(s)",
                )
            else:
                target, detail = TaskingStatus.FAILED, "windows over without observations"
            done = conn.execute(
                update(tasking_requests)
                .where(
                    tasking_requests.c.id == row.id,
                    tasking_requests.c.status == row.status,
                    tasking_requests.c.collected_observations == row.collected_observations,
                )
                .values(status=target.value, updated_us=now_us)
            )
            if done.rowcount != 1:  # changed meanwhile (another call, an ingest, a user): next time
                continue
            _event(conn, int(row.id), now_us, target.value, detail, None)
            moved.append((int(row.id), target))
    return moved


def record_collection(
    conn: Connection, collected: list[CollectedTrack], message_id: int | None, now_us: int
) -> list[tuple[int, str]]:
    """Move open requests answered by ingested tracks (same object and sensor, inside a window)."""
    moved: list[tuple[int, str]] = []
    keys = {(t.norad_id, t.sensor) for t in collected}
    rows = conn.execute(
        select(tasking_requests).where(
            tasking_requests.c.norad_id.in_({k[0] for k in keys}),
            tasking_requests.c.status.in_([TaskingStatus.SCHEDULED.value, TaskingStatus.COLLECTED.value]),
        )
    ).all()
    for row in rows:
        windows = _windows(row.windows)
        count = 0
        for track in collected:
            if (track.norad_id, track.sensor) != (row.norad_id, row.sensor_code):
                continue
            for a, b in windows:
                count += bisect_right(track.epochs_us, b) - bisect_left(track.epochs_us, a)
        if not count:
            continue
        total = int(row.collected_observations) + count
        status = TaskingStatus(row.status)
        values: dict[str, object] = {"collected_observations": total, "updated_us": now_us}
        detail = f"{count} observation epoch(s) in window from message {message_id}"
        if status is TaskingStatus.SCHEDULED:
            status = TaskingStatus.COLLECTED
        _event(conn, int(row.id), now_us, TaskingStatus.COLLECTED.value, detail, message_id)
        if total >= int(row.required_observations):
            status = TaskingStatus.COMPLETED
            _event(conn, int(row.id), now_us, status.value, f"{total} epoch(s) collected", message_id)
        values["status"] = status.value
        conn.execute(update(tasking_requests).where(tasking_requests.c.id == row.id).values(**values))
        moved.append((int(row.id), status.value))
    return moved
