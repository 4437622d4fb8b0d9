"""The SSA processes' settings (the ``[ssa]`` section) and their catalogue database connection.

The catalogue lives in the service's database (``[database] url``): its tables are in the same
migration history as the jobs. Each process (gunicorn worker, job runner, CLI) opens one engine on
first use, and registers or updates the sensors of ``[ssa] sensors_file`` once, all or nothing.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from processes.ssa.catalogue import advance_tasking, load_sensors, make_engine, parse_sensors
from processes.ssa.catalogue.maintenance import refresh_statistics
from processes.ssa.catalogue.queries import MAX_LIMIT
from processes.ssa.errors import MessageError
from wps_server.config import ConfigError, Settings, parse_size, section_number

MEGABYTE = 1024 * 1024
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SSASettings:
    """Typed ``[ssa]`` values; :meth:`from_settings` names the key at fault."""

    sensors_file: Path | None = None
    max_message_bytes: int = 128 * MEGABYTE
    max_messages: int = 100
    max_query_window: timedelta = timedelta(days=31)
    max_query_limit: int = 10_000
    max_pass_window: timedelta = timedelta(days=7)
    max_pass_objects: int = 50_000
    pass_chunk_size: int = 500
    maintenance_interval: float = 60.0

    @property
    def max_message_megabytes(self) -> int:
        return max(1, math.ceil(self.max_message_bytes / MEGABYTE))

    @classmethod
    def from_settings(cls, settings: Settings) -> SSASettings:
        section = settings.section("ssa")

        def number(key: str, low: float, high: float) -> float:
            return section_number("ssa", section, key, low, high)

        def whole(key: str, low: int, high: int) -> int:
            return int(section_number("ssa", section, key, low, high, whole=True))

        sensors_file = section.get("sensors_file", "").strip()
        message_bytes = parse_size(section.get("max_message_size", ""), "[ssa] max_message_size")
        if message_bytes < 1024:
            raise ConfigError(f"[ssa] max_message_size must be at least 1kb, not {message_bytes} bytes")
        return cls(
            sensors_file=Path(sensors_file).absolute() if sensors_file else None,
            max_message_bytes=message_bytes,
            max_messages=whole("max_messages", 1, 10_000),
            max_query_window=timedelta(days=number("max_query_window_days", 0.001, 3660)),
            max_query_limit=whole("max_query_limit", 1, MAX_LIMIT - 1),
            max_pass_window=timedelta(days=number("max_pass_window_days", 0.001, 31)),
            max_pass_objects=whole("max_pass_objects", 1, MAX_LIMIT - 1),
            pass_chunk_size=whole("pass_chunk_size", 1, 100_000),
            maintenance_interval=number("maintenance_interval", 0.1, 86_400),
        )


class CatalogueConnection:
    """Lazy, thread-safe access to the catalogue: one engine per process, re-made after a fork."""

    def __init__(self, database_url: str, settings: SSASettings) -> None:
        self.database_url = database_url
        self.settings = settings
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                engine = make_engine(self.database_url)
                if self.settings.sensors_file is not None:
                    register_sensors_file(engine, self.settings.sensors_file)
                self._engine, self._pid = engine, os.getpid()
            return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None


def maintain_catalogue(catalogue: CatalogueConnection) -> None:
    """The catalogue's upkeep, run by the job runner every ``[ssa] maintenance_interval`` seconds:
    requests whose windows have ended become COMPLETED or FAILED without anyone asking for them, and
    PostgreSQL's planner statistics are refreshed after large ingests."""
    engine = catalogue.engine()
    moved = advance_tasking(engine)
    if moved:
        log.info(
            "closed tasking requests whose windows ended",
            extra={"requests": [f"{request_id}:{status.value}" for request_id, status in moved]},
        )
    analyzed = refresh_statistics(engine)
    if analyzed:
        log.info("analyzed catalogue tables", extra={"tables": analyzed})


def check_sensors_file(settings: SSASettings) -> None:
    """Read ``[ssa] sensors_file`` now (at start-up), so that a bad file stops the server with its line."""
    if settings.sensors_file is None:
        return
    try:
        parse_sensors(settings.sensors_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"[ssa] sensors_file {settings.sensors_file} cannot be read: {exc.strerror}"
        ) from None
    except MessageError as exc:
        raise ConfigError(f"[ssa] sensors_file {settings.sensors_file}: {exc}") from None


def register_sensors_file(engine: Engine, path: Path) -> None:
    """Register (or update) every sensor of ``[ssa] sensors_file``; a bad file stops with its line."""
    try:
        try:
            load_sensors(engine, path)
        except IntegrityError:  # another process registered the same codes meanwhile: update them
            load_sensors(engine, path)
    except OSError as exc:
        raise ConfigError(f"[ssa] sensors_file {path} cannot be read: {exc.strerror}") from None
    except MessageError as exc:
        raise ConfigError(f"[ssa] sensors_file {path}: {exc}") from None
