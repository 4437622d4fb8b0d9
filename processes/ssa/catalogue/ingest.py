"""Ingest of TDM, OMM and TLE messages: all or nothing per message, idempotent by content hash."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from processes.ssa.catalogue import tasking
from processes.ssa.catalogue.schema import (
    OBSERVATION_MEASUREMENTS,
    QUALITY_CODES,
    messages,
    objects,
    observations,
    orbits,
    tracks,
)
from processes.ssa.catalogue.sensors import sensor_ids
from processes.ssa.epochs import to_us
from processes.ssa.errors import MessageError, UnknownSensorError
from processes.ssa.omm import read_omm
from processes.ssa.records import MAX_NORAD_ID, AngleFrame, ObjectInfo, Orbit, Sensor, Tdm, TdmSegment
from processes.ssa.sky import cell_of
from processes.ssa.tdm import read_tdm
from processes.ssa.textio import DEFAULT_MAX_BYTES, check_size
from processes.ssa.tle import read_tle

INSERT_CHUNK = 20_000
_COLUMN = {
    "ANGLE_1": "angle_1",
    "ANGLE_2": "angle_2",
    "RANGE": "range_km",
    "DOPPLER_INSTANTANEOUS": "range_rate_km_s",
    "MAG": "mag",
    "RCS": "rcs_m2",
}
_SIGMA = {"angle_1": "sigma_angle_deg", "angle_2": "sigma_angle_deg", "range_km": "sigma_range_km"}
_SIGMA["range_rate_km_s"] = "sigma_range_rate_km_s"
_RADEC_FRAMES = frozenset({"EME2000", "ICRF", "GCRF", "ICRF3"})
_ROOT_RE = re.compile(rb"<([A-Za-z_][\w.-]*)")
_COSPAR_RE = re.compile(r"\d{4}-\d{3}[A-Z]{1,3}")


@dataclass(slots=True)
class RejectedPart:
    """A segment (TDM) or record (OMM/TLE) that was not stored, and why."""

    index: int
    line: int
    reason: str


@dataclass(slots=True)
class IngestSummary:
    """What one ``ingest`` call did. ``duplicate`` means the same bytes were already ingested."""

    name: str
    sha256: str
    kind: str = ""
    format: str = ""
    message_id: int | None = None
    duplicate: bool = False
    n_segments: int = 0
    n_tracks: int = 0
    n_uncorrelated_tracks: int = 0
    n_observations: int = 0  # measurements stored
    n_rows: int = 0  # observation rows (one per track and epoch)
    n_orbits: int = 0
    n_objects_created: int = 0
    rejected: list[RejectedPart] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tasking_updates: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def detect_kind(data: bytes) -> tuple[str, str]:
    """(kind, format) of a message: TDM/OMM/TLE and KVN/XML/JSON/CSV/TLE."""
    head = data[:65536].lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if head.startswith(b"<"):
        for m in _ROOT_RE.finditer(head):
            tag = m.group(1)
            if tag in (b"tdm", b"omm"):
                return tag.decode().upper(), "XML"
        raise MessageError(1, "", "XML message is neither a TDM nor an OMM")
    first = head.split(b"\n", 1)[0].strip()
    if first.startswith(b"CCSDS_TDM_VERS"):
        return "TDM", "KVN"
    if first.startswith(b"CCSDS_OMM_VERS"):
        return "OMM", "KVN"
    if head[:1] in (b"[", b"{"):
        return "OMM", "JSON"
    lines = [ln.rstrip() for ln in head.split(b"\n")[:3]]
    if any(ln.startswith(b"1 ") and len(ln) >= 69 for ln in lines):
        return "TLE", "TLE"
    if b"EPOCH" in first and b"," in first:
        return "OMM", "CSV"
    raise MessageError(1, "", "unrecognised message: expected a TDM, an OMM (KVN, XML, JSON, CSV) or TLEs")


def ingest(
    engine: Engine,
    message: bytes | str,
    name: str,
    source: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: datetime | None = None,
) -> IngestSummary:
    """Parse and store one message in one transaction.

    Raises MessageError (malformed: nothing stored) or UnknownSensorError (a TDM names an
    unregistered sensor: nothing stored). The same bytes ingested again change nothing and
    return a summary with ``duplicate=True``.
    """
    t0 = time.perf_counter()
    data = message.encode("utf-8") if isinstance(message, str) else message
    check_size(len(data), max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    summary = IngestSummary(name=name, sha256=digest)
    if _existing(engine, digest, summary):
        return summary
    summary.kind, summary.format = detect_kind(data)
    parsed: Tdm | list[Orbit]
    if summary.kind == "TDM":
        parsed = read_tdm(data, max_bytes=max_bytes)
    elif summary.kind == "OMM":
        parsed = read_omm(data, max_bytes=max_bytes)
    else:
        parsed = read_tle(data, max_bytes=max_bytes)
    now_us = to_us(now or datetime.now(UTC))
    try:
        with engine.begin() as conn:
            header = (
                parsed.header | {"COMMENT": "\n".join(parsed.header_comments), "VERSION": parsed.version}
                if isinstance(parsed, Tdm)
                else {}
            )
            summary.message_id = int(
                conn.execute(
                    messages.insert()
                    .values(
                        sha256=digest,
                        name=name[:255],
                        source=source[:255],
                        kind=summary.kind,
                        format=summary.format,
                        size_bytes=len(data),
                        received_us=now_us,
                        header=json.dumps(header),
                        summary="{}",
                    )
                    .returning(messages.c.id)
                ).scalar_one()
            )
            if isinstance(parsed, Tdm):
                _store_tdm(conn, parsed, summary, now_us)
            else:
                _store_orbits(conn, parsed, source, summary, now_us)
            summary.seconds = time.perf_counter() - t0
            conn.execute(
                update(messages)
                .where(messages.c.id == summary.message_id)
                .values(
                    n_observations=summary.n_observations,
                    n_orbits=summary.n_orbits,
                    summary=summary.to_json(),
                )
            )
    except IntegrityError:
        # Another writer stored the same content meanwhile: report it as the duplicate it is.
        if _existing(engine, digest, summary):
            return summary
        raise
    return summary


def _existing(engine: Engine, digest: str, summary: IngestSummary) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            select(messages.c.id, messages.c.name, messages.c.kind, messages.c.format).where(
                messages.c.sha256 == digest
            )
        ).first()
    if row is None:
        return False
    summary.message_id, summary.kind, summary.format = int(row.id), row.kind, row.format
    summary.duplicate = True
    summary.warnings.append(
        f"same content already ingested as message {row.id} ({row.name!r}): nothing changed"
    )
    return True


# --------------------------------------------------------------------------- TDM


def _norad_of(designator: str, line: int) -> int | None:
    text = designator.strip()
    if text.isdigit():
        digits = len(text.lstrip("0") or "0")
        if digits > 9 or int(text) > MAX_NORAD_ID:
            raise MessageError(
                line, "PARTICIPANT_2", f"object {text} has {digits} digits: NORAD ids have at most 9"
            )
        return int(text) or None
    return None


def _segment_problem(seg: TdmSegment, types: set[str]) -> str:
    if not types & set(_COLUMN):
        kinds = ", ".join(sorted(types))
        return f"no storable measurement (ANGLE_1/2, RANGE, DOPPLER_INSTANTANEOUS, MAG, RCS); found {kinds}"
    if types & {"ANGLE_1", "ANGLE_2"} and seg.angle_frame is None:
        angle_type = seg.metadata.get("ANGLE_TYPE")
        return (
            f"ANGLE_TYPE {angle_type} not supported (RADEC or AZEL)"
            if angle_type
            else "angles without ANGLE_TYPE"
        )
    if "RANGE" in types and seg.metadata.get("RANGE_UNITS", "km").lower() != "km":
        return f"RANGE_UNITS {seg.metadata['RANGE_UNITS']} not supported (km)"
    return ""


def _store_tdm(conn: Connection, tdm: Tdm, summary: IngestSummary, now_us: int) -> None:
    known = sensor_ids(conn)
    for seg in tdm.segments:
        if seg.sensor not in known:
            raise UnknownSensorError(seg.sensor, seg.meta_line)
    summary.n_segments = len(tdm.segments)
    numeric = {n for seg in tdm.segments if (n := _norad_of(seg.target, seg.meta_line)) is not None}
    cospars = {seg.target.strip() for seg in tdm.segments if _COSPAR_RE.fullmatch(seg.target.strip())}
    known_norad: set[int] = set()
    if numeric:
        known_norad = set(
            conn.execute(select(objects.c.norad_id).where(objects.c.norad_id.in_(numeric))).scalars()
        )
    by_cospar: dict[str, int] = {}
    if cospars:
        found = conn.execute(
            select(objects.c.cospar_id, objects.c.norad_id).where(objects.c.cospar_id.in_(cospars))
        )
        by_cospar = {r.cospar_id: int(r.norad_id) for r in found}
    collected: list[tasking.CollectedTrack] = []
    for index, seg in enumerate(tdm.segments):
        types = set(seg.keywords)
        problem = _segment_problem(seg, types)
        if problem:
            summary.rejected.append(RejectedPart(index, seg.meta_line, problem))
            continue
        frame = seg.angle_frame
        if frame is AngleFrame.RADEC:
            ref = seg.metadata.get("REFERENCE_FRAME", "EME2000").upper()
            if ref not in _RADEC_FRAMES:
                summary.warnings.append(
                    f"segment {index} (line {seg.meta_line}): RA/Dec in {ref}, stored as given"
                )
        skipped = Counter(k for k in seg.keywords if k not in _COLUMN)
        for kw, n in sorted(skipped.items()):
            summary.warnings.append(f"segment {index} (line {seg.meta_line}): {n} {kw} lines not stored")
        sensor_id, sensor = known[seg.sensor]
        norad = _norad_of(seg.target, seg.meta_line)
        if norad is None or norad not in known_norad:
            norad = by_cospar.get(seg.target.strip()) if norad is None else None
        uncorrelated = norad is None
        n_meas = sum(1 for k in seg.keywords if k in _COLUMN)
        meta = {"metadata": seg.metadata, "metadata_comments": seg.metadata_comments}
        meta["data_comments"] = seg.data_comments
        rows = _rows(seg, 0, sensor_id, sensor, norad, uncorrelated)
        epochs = [r[_EPOCH] for r in rows]
        track_id = int(
            conn.execute(
                tracks.insert()
                .values(
                    message_id=summary.message_id,
                    segment_index=index,
                    sensor_id=sensor_id,
                    norad_id=norad,
                    designator=seg.target[:64],
                    uncorrelated=uncorrelated,
                    angle_frame=frame.value if frame else None,
                    quality=seg.quality,
                    start_us=min(epochs),
                    stop_us=max(epochs),
                    n_measurements=n_meas,
                    meta_line=seg.meta_line,
                    tdm_metadata=json.dumps(meta),
                )
                .returning(tracks.c.id)
            ).scalar_one()
        )
        for row in rows:
            row[0] = track_id
        _insert_rows(conn, rows, _used_columns(seg, sensor, norad))
        summary.n_tracks += 1
        summary.n_uncorrelated_tracks += uncorrelated
        summary.n_rows += len(rows)
        summary.n_observations += n_meas
        if norad is not None:
            collected.append(tasking.CollectedTrack(track_id, norad, seg.sensor, sorted(epochs)))
    if not summary.n_tracks:
        first = summary.rejected[0]
        raise MessageError(first.line, "META_START", f"no segment could be stored: {first.reason}")
    if collected:
        summary.tasking_updates = tasking.record_collection(conn, collected, summary.message_id, now_us)


OBS_COLUMNS = (
    "track_id",
    "sensor_id",
    "norad_id",
    "epoch_us",
    *OBSERVATION_MEASUREMENTS,
)
_POS = {name: i for i, name in enumerate(OBS_COLUMNS)}
_EPOCH = _POS["epoch_us"]
_VALUE_POS = {kw: _POS[col] for kw, col in _COLUMN.items()}
_SIGMA_POS = {_POS[col]: _POS[sig] for col, sig in _SIGMA.items()}


def _rows(
    seg: TdmSegment, track_id: int, sensor_id: int, sensor: Sensor, norad: int | None, uncorrelated: bool
) -> list[list[Any]]:
    """Wide rows (in OBS_COLUMNS order): measurements of one epoch share a row unless a value
    would be overwritten (then the epoch gets a second row)."""
    frame = seg.angle_frame.value if seg.angle_frame else None
    template: list[Any] = [None] * len(OBS_COLUMNS)
    template[_POS["track_id"]] = track_id
    template[_POS["sensor_id"]] = sensor_id
    template[_POS["norad_id"]] = norad
    template[_POS["angle_frame"]] = frame
    template[_POS["quality"]] = QUALITY_CODES.get(seg.quality, 0)
    template[_POS["uncorrelated"]] = uncorrelated
    default_sigma = {
        _POS["sigma_angle_deg"]: sensor.angle_sigma_deg,
        _POS["sigma_range_km"]: sensor.range_sigma_km,
        _POS["sigma_range_rate_km_s"]: sensor.doppler_sigma_km_s,
    }
    epoch_pos = _POS["epoch_us"]
    sigma_of = [_SIGMA_POS.get(i) for i in range(len(OBS_COLUMNS))]
    rows: list[list[Any]] = []
    open_rows: dict[int, list[list[Any]]] = {}
    last: object = None
    row: list[Any] = template
    for epoch, key, value, sigma in zip(seg.epochs, seg.keywords, seg.values, seg.uncertainties, strict=True):
        i = _VALUE_POS.get(key)
        if i is None:
            continue
        if epoch is not last:  # the reader shares one datetime between lines of one epoch
            last = epoch
            us = to_us(epoch)
            bucket = open_rows.get(us)
            if bucket is None:
                row = template.copy()
                row[epoch_pos] = us
                rows.append(row)
                open_rows[us] = [row]
            else:
                row = bucket[-1]
        if row[i] is not None:  # a second value for this epoch: the next row of the epoch
            bucket = open_rows[row[epoch_pos]]
            found = next((r for r in bucket if r[i] is None), None)
            if found is None:
                found = template.copy()
                found[epoch_pos] = row[epoch_pos]
                rows.append(found)
                bucket.append(found)
            row = found
        row[i] = value
        s = sigma_of[i]
        if s is not None:
            row[s] = sigma if sigma is not None else default_sigma[s]
    if frame == "RADEC" and rows:
        a1, a2, cell = _POS["angle_1"], _POS["angle_2"], _POS["sky_cell"]
        paired = [r for r in rows if r[a1] is not None and r[a2] is not None]
        if paired:
            cells = cell_of(np.array([r[a1] for r in paired]), np.array([r[a2] for r in paired])).tolist()
            for r, c in zip(paired, cells, strict=True):
                r[cell] = c
    return rows


def _used_columns(seg: TdmSegment, sensor: Sensor, norad: int | None) -> tuple[int, ...]:
    """Positions of the columns a segment's rows can fill (the others are NULL in every row)."""
    kinds = set(seg.keywords)
    present = {_POS[col] for kw, col in _COLUMN.items() if kw in kinds}
    given = any(u is not None for u in seg.uncertainties)
    defaults = {
        "angle_1": sensor.angle_sigma_deg,
        "angle_2": sensor.angle_sigma_deg,
        "range_km": sensor.range_sigma_km,
        "range_rate_km_s": sensor.doppler_sigma_km_s,
    }
    for col, sig in _SIGMA.items():
        if _POS[col] in present and (given or defaults[col] is not None):
            present.add(_POS[sig])
    if seg.angle_frame is not None:
        present.add(_POS["angle_frame"])
        if seg.angle_frame is AngleFrame.RADEC:
            present.add(_POS["sky_cell"])
    if norad is not None:
        present.add(_POS["norad_id"])
    fixed = ("track_id", "sensor_id", "epoch_us", "quality", "uncorrelated")
    return tuple(sorted(present | {_POS[c] for c in fixed}))


def _insert_rows(conn: Connection, rows: list[list[Any]], used: tuple[int, ...]) -> None:
    """Insert observation rows within the caller's transaction, by the fastest bulk path.

    SQLite: the Core INSERT of the ``used`` columns compiled once, run by the driver's
    executemany on plain tuples. SQLAlchemy's per-row dict processing would cost more than
    SQLite itself, and so would binding the always-NULL columns (Python's sqlite3 binds None
    through its adapter lookup).
    PostgreSQL (psycopg 3): COPY FROM STDIN on the same connection and transaction.
    Other dialects: Core executemany.
    """
    name = conn.dialect.name
    if name == "sqlite":
        keys = [OBS_COLUMNS[i] for i in used]
        sql = str(observations.insert().compile(dialect=conn.dialect, column_keys=keys))
        pick = itemgetter(*used)
        for start in range(0, len(rows), INSERT_CHUNK):
            conn.exec_driver_sql(sql, [pick(r) for r in rows[start : start + INSERT_CHUNK]])
    elif name == "postgresql" and conn.dialect.driver == "psycopg":
        raw: Any = conn.connection.dbapi_connection  # a psycopg.Connection
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {observations.name} ({', '.join(OBS_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            conn.execute(observations.insert(), [dict(zip(OBS_COLUMNS, r, strict=True)) for r in chunk])


# --------------------------------------------------------------------------- OMM / TLE


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10]) if text.strip() else None
    except ValueError:
        return None


def object_info(orbit: Orbit, norad_id: int) -> ObjectInfo:
    """SATCAT-like fields of an orbit record (Space-Track OBJECT_TYPE, COUNTRY_CODE, dates)."""
    extra = dict(orbit.extra)
    return ObjectInfo(
        norad_id=norad_id,
        name=orbit.object_name[:128],
        cospar_id=orbit.object_id[:16],
        object_type=extra.get("OBJECT_TYPE", "")[:32],
        country=extra.get("COUNTRY_CODE", "")[:16],
        launch_date=_date(extra.get("LAUNCH_DATE", "")),
        decay_date=_date(extra.get("DECAY_DATE", "")),
    )


def upsert_objects(conn: Connection, infos: list[ObjectInfo], now_us: int) -> int:
    """Insert unknown objects; fill empty fields of known ones. Returns the number created."""
    if not infos:
        return 0
    latest = {info.norad_id: info for info in infos}
    rows = conn.execute(select(objects).where(objects.c.norad_id.in_(latest))).all()
    existing = {int(r.norad_id): r for r in rows}
    new = [{**asdict(info), "updated_us": now_us} for norad, info in latest.items() if norad not in existing]
    if new:
        conn.execute(objects.insert(), new)
    for norad, row in existing.items():
        info = latest[norad]
        changes = {
            k: getattr(info, k)
            for k in ("name", "cospar_id", "object_type", "country", "launch_date", "decay_date")
            if getattr(info, k) and getattr(info, k) != getattr(row, k)
        }
        if changes:
            conn.execute(
                update(objects).where(objects.c.norad_id == norad).values(**changes, updated_us=now_us)
            )
    return len(new)


def add_objects(engine: Engine, infos: list[ObjectInfo]) -> int:
    """Register or update catalogue objects (SATCAT records); returns how many were new."""
    with engine.begin() as conn:
        return upsert_objects(conn, infos, to_us(datetime.now(UTC)))


def orbit_row(orbit: Orbit, norad_id: int, message_id: int | None, source: str) -> dict[str, Any]:
    return {
        "norad_id": norad_id,
        "epoch_us": to_us(orbit.epoch),
        "message_id": message_id,
        "source": source[:255],
        "object_name": orbit.object_name[:128],
        "object_id": orbit.object_id[:16],
        "mean_motion": orbit.mean_motion,
        "eccentricity": orbit.eccentricity,
        "inclination": orbit.inclination,
        "ra_of_asc_node": orbit.ra_of_asc_node,
        "arg_of_pericenter": orbit.arg_of_pericenter,
        "mean_anomaly": orbit.mean_anomaly,
        "bstar": orbit.bstar,
        "mean_motion_dot": orbit.mean_motion_dot,
        "mean_motion_ddot": orbit.mean_motion_ddot,
        "ephemeris_type": orbit.ephemeris_type,
        "classification": orbit.classification[:1],
        "element_set_no": orbit.element_set_no,
        "rev_at_epoch": orbit.rev_at_epoch,
        "center_name": orbit.center_name[:32],
        "ref_frame": orbit.ref_frame[:16],
        "mean_element_theory": orbit.mean_element_theory[:16],
        "creation_date": orbit.creation_date[:32],
        "originator": orbit.originator[:64],
        "comments": json.dumps(list(orbit.comments)),
        "extra": json.dumps([list(kv) for kv in orbit.extra]),
        "period_min": orbit.period_min,
        "semi_major_axis_km": orbit.semi_major_axis_km,
        "apogee_km": orbit.apogee_km,
        "perigee_km": orbit.perigee_km,
        "regime": orbit.regime.value,
    }


def _store_orbits(
    conn: Connection, records: list[Orbit], source: str, summary: IngestSummary, now_us: int
) -> None:
    summary.n_segments = len(records)
    cospars = {o.object_id for o in records if o.norad_id is None and o.object_id}
    by_cospar: dict[str, int] = {}
    if cospars:
        found = conn.execute(
            select(objects.c.cospar_id, objects.c.norad_id).where(objects.c.cospar_id.in_(cospars))
        )
        by_cospar = {r.cospar_id: int(r.norad_id) for r in found}
    resolved: list[tuple[Orbit, int]] = []
    for index, orbit in enumerate(records):
        norad = orbit.norad_id if orbit.norad_id is not None else by_cospar.get(orbit.object_id)
        if norad is None:
            summary.rejected.append(
                RejectedPart(index, 0, f"record {index} ({orbit.object_name!r}) has no NORAD_CAT_ID")
            )
            continue
        resolved.append((orbit, norad))
    if not resolved:
        raise MessageError(0, "NORAD_CAT_ID", "no record could be stored: none has a known catalogue number")
    summary.n_objects_created = upsert_objects(conn, [object_info(o, n) for o, n in resolved], now_us)
    wanted = {n for _, n in resolved}
    seen = {
        (int(r.norad_id), int(r.epoch_us))
        for r in conn.execute(
            select(orbits.c.norad_id, orbits.c.epoch_us).where(
                orbits.c.norad_id.in_(wanted), orbits.c.source == source
            )
        )
    }
    rows: list[dict[str, Any]] = []
    for orbit, norad in resolved:
        key = (norad, to_us(orbit.epoch))
        if key in seen:
            summary.warnings.append(
                f"orbit of {norad} at {orbit.epoch.isoformat()} from {source!r} already stored"
            )
            continue
        seen.add(key)
        rows.append(orbit_row(orbit, norad, summary.message_id, source))
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(orbits.insert(), rows[start : start + INSERT_CHUNK])
    summary.n_orbits = len(rows)
