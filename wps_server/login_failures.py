"""Failed sign-ins counted in the database, per user and client address, so that every web worker of a
server (and every server of one database) slows down the same guesser."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()
failures = sa.Table(
    "wps_login_failures",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first", sa.Float, nullable=False),
    sa.Column("last", sa.Float, nullable=False),
)


class LoginThrottle:
    """At most ``limit`` failures of one key within ``window`` seconds; then a wait until it passes."""

    def __init__(self, engine: Engine, limit: int, window: float) -> None:
        self.engine = engine
        self.limit = limit
        self.window = window

    def retry_after(self, key: str, limit: int | None = None) -> float | None:
        """Seconds to wait before this key may try again (after ``limit`` failures, by default the
        throttle's); None when it may try now."""
        with self.engine.connect() as db:
            row = db.execute(failures.select().where(failures.c.key == key[:300])).mappings().first()
        if row is None or row["count"] < (self.limit if limit is None else limit):
            return None
        left = row["first"] + self.window - time.time()
        return left if left > 0 else None

    def failed(self, key: str) -> None:
        key, now = key[:300], time.time()
        for _ in range(3):  # two workers may insert the first failure at once: the loser updates
            try:
                with self.engine.begin() as db:
                    row = db.execute(failures.select().where(failures.c.key == key)).mappings().first()
                    if row is None:
                        db.execute(failures.insert().values(key=key, count=1, first=now, last=now))
                    elif now - row["first"] >= self.window:
                        db.execute(
                            failures.update()
                            .where(failures.c.key == key)
                            .values(count=1, first=now, last=now)
                        )
                    else:
                        db.execute(
                            failures.update()
                            .where(failures.c.key == key)
                            .values(count=failures.c.count + 1, last=now)
                        )
                return
            except sa.exc.IntegrityError:
                continue

    def succeeded(self, key: str) -> None:
        with self.engine.begin() as db:
            db.execute(failures.delete().where(failures.c.key == key[:300]))

    def purge(self) -> None:
        """Forget failures older than the window."""
        with self.engine.begin() as db:
            db.execute(failures.delete().where(failures.c.last < time.time() - self.window))
