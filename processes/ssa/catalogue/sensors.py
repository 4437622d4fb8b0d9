"""Sensor registry: add, list, look up, and load from a YAML or JSON file."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, select, update

from processes.ssa.catalogue.schema import sensors
from processes.ssa.errors import MessageError, UnknownSensorError
from processes.ssa.records import Sensor, SensorKind

_FIELDS = tuple(f.name for f in fields(Sensor))


def _row(sensor: Sensor) -> dict[str, Any]:
    row = asdict(sensor)
    row["kind"] = sensor.kind.value
    return row


def _sensor(row: Any) -> Sensor:
    m = row._mapping
    return Sensor(**{name: m[name] for name in _FIELDS})


def add_sensor(engine: Engine, sensor: Sensor, *, replace: bool = False) -> int:
    """Register ``sensor``; an existing code is updated only with ``replace=True``."""
    with engine.begin() as conn:
        return _add(conn, sensor, replace)


def _add(conn: Connection, sensor: Sensor, replace: bool) -> int:
    existing = conn.execute(select(sensors.c.id).where(sensors.c.code == sensor.code)).scalar()
    if existing is not None:
        if not replace:
            raise ValueError(f"sensor {sensor.code!r} already registered (pass replace=True)")
        conn.execute(update(sensors).where(sensors.c.id == existing).values(**_row(sensor)))
        return int(existing)
    return int(conn.execute(sensors.insert().values(**_row(sensor)).returning(sensors.c.id)).scalar_one())


def list_sensors(engine: Engine) -> list[Sensor]:
    with engine.connect() as conn:
        return [_sensor(r) for r in conn.execute(select(sensors).order_by(sensors.c.code))]


def get_sensor(engine: Engine, code: str) -> Sensor:
    with engine.connect() as conn:
        row = conn.execute(select(sensors).where(sensors.c.code == code)).first()
    if row is None:
        raise UnknownSensorError(code)
    return _sensor(row)


def sensor_ids(conn: Connection) -> dict[str, tuple[int, Sensor]]:
    """Code -> (id, Sensor) for every registered sensor."""
    return {r.code: (int(r.id), _sensor(r)) for r in conn.execute(select(sensors))}


def parse_sensors(text: str) -> list[Sensor]:
    """Sensors from YAML or JSON: a list of mappings, or a mapping with a ``sensors`` list.

    Errors name the line of the offending entry and the field.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MessageError(mark.line + 1 if mark else 0, "", f"malformed YAML/JSON: {exc}") from None
    nodes: list[Any] = []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "sensors" and isinstance(value, yaml.SequenceNode):
                nodes = value.value
        data = data.get("sensors") if isinstance(data, dict) else None
    elif isinstance(root, yaml.SequenceNode):
        nodes = root.value
    if not isinstance(data, list) or not data:
        raise MessageError(1, "sensors", "expected a non-empty list of sensors")
    result = []
    for node, item in zip(nodes, data, strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            raise MessageError(line, "", "each sensor must be a mapping")
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            raise MessageError(line, unknown[0], f"unknown sensor field (known: {', '.join(_FIELDS)})")
        for required in ("code", "kind", "latitude_deg", "longitude_deg"):
            if required not in item:
                raise MessageError(line, required, "mandatory sensor field missing")
        if str(item["kind"]) not in {k.value for k in SensorKind}:
            raise MessageError(line, "kind", f"{item['kind']!r} is not optical or radar")
        try:
            result.append(Sensor(**item))
        except (TypeError, ValueError) as exc:
            raise MessageError(line, "", str(exc)) from None
    codes = [s.code for s in result]
    if len(set(codes)) != len(codes):
        raise MessageError(0, "code", "duplicate sensor codes in the file")
    return result


def load_sensors(engine: Engine, path: str | Path, *, replace: bool = True) -> list[Sensor]:
    """Register every sensor of a YAML/JSON file (updating known codes unless ``replace=False``)."""
    loaded = parse_sensors(Path(path).read_text(encoding="utf-8"))
    with engine.begin() as conn:  # all or nothing
        for sensor in loaded:
            _add(conn, sensor, replace)
    return loaded
