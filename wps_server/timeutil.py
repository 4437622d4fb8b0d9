"""UTC times as the store keeps them (epoch seconds) and as documents print them."""

from __future__ import annotations

from datetime import UTC, datetime


def from_epoch(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
