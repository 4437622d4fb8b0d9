"""CCSDS Orbit Ephemeris Message (OEM 2.0) in KVN, written from SGP4 propagation (TEME, UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from processes.ssa.epochs import format_epoch, from_us, parse_epoch, to_us
from processes.ssa.errors import MessageError
from processes.ssa.propagation import propagate_teme
from processes.ssa.records import Orbit
from processes.ssa.textio import DEFAULT_MAX_BYTES, decode_message, parse_float, split_keyword

MAX_STATES = 1_000_000


@dataclass(slots=True)
class Ephemeris:
    """One OEM segment: metadata and states (epoch, x, y, z km, vx, vy, vz km/s)."""

    metadata: dict[str, str]
    states: list[tuple[datetime, float, float, float, float, float, float]] = field(default_factory=list)
    header: dict[str, str] = field(default_factory=dict)


def propagate_ephemeris(orbit: Orbit, start: datetime, stop: datetime, step: timedelta) -> Ephemeris:
    """Propagate ``orbit`` with SGP4 from ``start`` to ``stop`` (inclusive) every ``step``."""
    if step <= timedelta(0) or stop < start:
        raise ValueError("need start <= stop and a positive step")
    first, last, dt = to_us(start), to_us(stop), step // timedelta(microseconds=1)
    count = (last - first) // dt + 1
    if count > MAX_STATES:
        raise ValueError(f"{count} states requested, more than {MAX_STATES}")
    us = first + dt * np.arange(count, dtype=np.int64)
    r, v = propagate_teme(orbit, us)
    meta = {
        "OBJECT_NAME": orbit.object_name or str(orbit.norad_id or "UNKNOWN"),
        "OBJECT_ID": orbit.object_id or str(orbit.norad_id or "UNKNOWN"),
        "CENTER_NAME": "EARTH",
        "REF_FRAME": "TEME",
        "TIME_SYSTEM": "UTC",
        "START_TIME": format_epoch(from_us(int(us[0]))),
        "STOP_TIME": format_epoch(from_us(int(us[-1]))),
    }
    states = [
        (from_us(int(t)), *(float(x) for x in r[i]), *(float(x) for x in v[i]))
        for i, t in enumerate(us.tolist())
    ]
    return Ephemeris(metadata=meta, states=states)  # type: ignore[arg-type]


def write_oem_kvn(ephemerides: list[Ephemeris], *, originator: str = "space-wps") -> str:
    """Write OEM 2.0 KVN; positions in km and velocities in km/s with exact float text."""
    created = format_epoch(datetime.now(UTC))
    out = ["CCSDS_OEM_VERS = 2.0", f"CREATION_DATE = {created}", f"ORIGINATOR = {originator}"]
    for eph in ephemerides:
        out += ["", "META_START"]
        out += [f"{k:<12} = {v}" for k, v in eph.metadata.items()]
        out += ["META_STOP", ""]
        out += [f"{format_epoch(s[0])} " + " ".join(repr(x) for x in s[1:]) for s in eph.states]
    out.append("")
    return "\n".join(out)


def read_oem_kvn(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Ephemeris]:
    """Read OEM KVN state vectors (covariance blocks and accelerations are refused)."""
    text = decode_message(data, max_bytes)
    result: list[Ephemeris] = []
    header: dict[str, str] = {}
    current: Ephemeris | None = None
    in_meta = False
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("COMMENT"):
            continue
        if line == "META_START":
            current = Ephemeris(metadata={}, header=header)
            result.append(current)
            in_meta = True
            continue
        if line == "META_STOP":
            in_meta = False
            continue
        if line.startswith("COVARIANCE_START"):
            raise MessageError(lineno, "COVARIANCE_START", "OEM covariance blocks are not supported")
        if current is None or in_meta:
            key, value = split_keyword(line, lineno)
            if current is None:
                header[key] = value
            else:
                current.metadata[key] = value
            continue
        parts = line.split()
        if len(parts) != 7:
            raise MessageError(lineno, "", f"state line needs epoch and 6 numbers, got {len(parts)} fields")
        values = [parse_float(p, lineno, "STATE") for p in parts[1:]]
        current.states.append((parse_epoch(parts[0], lineno, "EPOCH"), *values))  # type: ignore[arg-type]
        if len(current.states) > MAX_STATES:
            raise MessageError(lineno, "", f"more than {MAX_STATES} states")
    if header.get("CCSDS_OEM_VERS") not in ("1.0", "2.0", "3.0"):
        raise MessageError(1, "CCSDS_OEM_VERS", "not an OEM (CCSDS_OEM_VERS 1.0/2.0/3.0 expected first)")
    for eph in result:
        if eph.metadata.get("TIME_SYSTEM", "").upper() != "UTC":
            raise MessageError(0, "TIME_SYSTEM", f"time system {eph.metadata.get('TIME_SYSTEM')!r}: only UTC")
    return result
