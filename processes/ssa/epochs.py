"""CCSDS epochs (UTC): parse, format, and convert to integer microseconds for storage."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from processes.ssa.errors import MessageError

# Calendar (YYYY-MM-DD) or ordinal (YYYY-DDD) date, a time with seconds, optional fraction and Z.
_EPOCH_RE = re.compile(r"(\d{4})-(?:(\d{2})-(\d{2})|(\d{3}))T(\d{2}):(\d{2}):(\d{2})(\.\d*)?Z?")
_UNIX0 = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def parse_epoch(text: str, line: int = 0, keyword: str = "EPOCH") -> datetime:
    """Parse a CCSDS UTC epoch (calendar or day-of-year form) into an aware datetime.

    Fractions finer than one microsecond are truncated (storage resolution is 1 us).
    Leap seconds (ss = 60) are refused: they cannot be represented without a leap table.
    """
    if (
        len(text) >= 19
        and text[10] == "T"
        and text[4] == "-"
        and text[7] == "-"
        and text[13] == ":"
        and text[16] == ":"
        and text[17] != "6"
    ):  # fast path, calendar form: shape checked here, digits and ranges by the C parser
        body = text[:-1] if text[-1] == "Z" else text
        if len(body) == 19 or (len(body) > 20 and body[19] == "." and body[20:].isdigit()):
            try:
                return datetime.fromisoformat(body[:26] + "+00:00")
            except ValueError:
                pass  # the slow path below names the problem
    m = _EPOCH_RE.fullmatch(text)
    if m is None:
        raise MessageError(
            line, keyword, f"bad epoch {text!r} (expected YYYY-MM-DDThh:mm:ss[.f] or YYYY-DDD...)"
        )
    year, month, day, doy, hh, mi, ss, frac = m.groups()
    if ss == "60":
        raise MessageError(line, keyword, f"leap second epoch {text!r} is not supported")
    if doy is None and (frac is None or len(frac) <= 7):
        try:  # fast path: the C parser, once the regex has vouched for the exact form
            return datetime.fromisoformat(text.removesuffix("Z").rstrip(".")).replace(tzinfo=UTC)
        except ValueError as exc:
            raise MessageError(line, keyword, f"bad epoch {text!r}: {exc}") from None
    try:
        if doy is None:
            base = datetime(int(year), int(month), int(day), int(hh), int(mi), int(ss), tzinfo=UTC)
        else:
            n = int(doy)
            if not 1 <= n <= (366 if _is_leap(int(year)) else 365):
                raise ValueError(f"day of year {n} out of range")
            base = datetime(int(year), 1, 1, int(hh), int(mi), int(ss), tzinfo=UTC) + timedelta(days=n - 1)
    except ValueError as exc:
        raise MessageError(line, keyword, f"bad epoch {text!r}: {exc}") from None
    if frac and len(frac) > 1:
        digits = (frac[1:] + "000000")[:6]
        base = base.replace(microsecond=int(digits))
    return base


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def format_epoch(value: datetime) -> str:
    """Format an aware or naive-UTC datetime as ``YYYY-MM-DDThh:mm:ss.ffffff`` (no zone suffix)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def to_us(value: datetime) -> int:
    """Microseconds since 1970-01-01T00:00:00 UTC (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _UNIX0) // _US


def from_us(value: int) -> datetime:
    """Inverse of :func:`to_us`: an aware UTC datetime."""
    return _UNIX0 + timedelta(microseconds=value)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive input is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
