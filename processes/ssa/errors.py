"""Errors of the SSA domain package: one root, typed attributes, messages a user can act on."""

from __future__ import annotations


class SSAError(Exception):
    """Root of every error raised by ``processes.ssa``."""


class MessageError(SSAError):
    """A message (TDM, OMM, TLE, OEM, sensor file) is malformed or unsupported.

    ``line`` is 1-based (0 when the problem concerns the whole message), ``keyword`` the
    offending keyword or field ('' when none applies) and ``reason`` a plain explanation.
    """

    def __init__(self, line: int, keyword: str, reason: str) -> None:
        self.line = line
        self.keyword = keyword
        self.reason = reason
        where = f"line {line}" if line else "message"
        what = f" {keyword}" if keyword else ""
        super().__init__(f"{where}{what}: {reason}")


class MessageTooLargeError(MessageError):
    """A message exceeds a configured size limit (bytes, lines, observations)."""


class UnsafeXMLError(MessageError):
    """An XML document declares a DOCTYPE or entities, or is otherwise refused for safety."""


class UnknownSensorError(SSAError):
    """A message or request names a sensor that is not registered in the catalogue."""

    def __init__(self, sensor: str, line: int = 0) -> None:
        self.sensor = sensor
        self.line = line
        where = f" (line {line})" if line else ""
        super().__init__(f"unknown sensor {sensor!r}{where}: register it before ingesting its data")


class UnknownObjectError(SSAError):
    """A request names an object (NORAD id) that is not in the catalogue."""

    def __init__(self, norad_id: int) -> None:
        self.norad_id = norad_id
        super().__init__(f"unknown object {norad_id}: ingest an orbit or object record first")


class QueryError(SSAError):
    """A catalogue query has invalid or unbounded parameters."""


class TaskingError(SSAError):
    """A tasking request cannot be created or moved to the asked state."""


class ExportError(SSAError):
    """Data cannot be written in the asked format (e.g. a 9-digit NORAD id as a TLE)."""
