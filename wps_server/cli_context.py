"""What every ``wps-server`` command shares: the configuration it was given and the stores it opens.

Commands that only read or change what exists open the database with :meth:`Context.engine`, which
creates nothing: a missing or unmigrated store, or an unreachable server, is one line saying what to
do. Process families plug their own command groups in through the ``wps_server.commands`` entry
points and use the same context (``click.pass_obj``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wps_server.config import ConfigError, Settings, config_files, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from wps_server.jobs.model import Job
    from wps_server.jobs.store import JobStore

_ID_START = re.compile(r"^[0-9a-fA-F-]{4,36}$")


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config

    def files(self) -> list[Path]:
        try:
            return config_files(self.config)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    def settings(self) -> Settings:
        try:
            return load_settings(self.files())
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    def engine(self) -> Engine:
        """The configured database, which must exist with the newest schema (nothing is created)."""
        from wps_server.database import StoreUnavailable, open_existing

        try:
            return open_existing(self.settings().database_url)
        except StoreUnavailable as exc:
            raise click.ClickException(str(exc)) from None

    def store(self) -> JobStore:
        from wps_server.jobs.store import JobStore

        return JobStore(self.engine())

    def job(self, store: JobStore, text: str) -> Job:
        """The job whose id is ``text`` or starts with it (at least 4 characters, one job only)."""
        if not _ID_START.match(text):
            raise click.BadParameter(
                f"{text[:40]!r} is not a job id: give the id (as `wps-server jobs list` prints it) or "
                "its first characters, at least 4 of 0-9, a-f",
                param_hint="JOB",
            )
        found = store.ids_starting(text.lower(), limit=3)
        if not found:
            raise click.ClickException(f"there is no job {text}: `wps-server jobs list` shows the newest")
        if len(found) > 1:
            raise click.ClickException(
                f"{text} is the start of several jobs ({', '.join(found[:2])}...): give more characters"
            )
        job = store.get(found[0])
        if job is None:  # deleted between the two reads
            raise click.ClickException(f"there is no job {text}")
        return job


def iso(moment: datetime | float | None) -> str | None:
    """A time (aware datetime or epoch seconds) as ISO 8601 UTC to the millisecond, with a Z."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
