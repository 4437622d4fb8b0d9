"""A registry of open per-job clusters: one JSON file each, so a sweep can close what a dead process left.

Files are written atomically (temporary file + rename) in one directory that every job process of a
deployment can reach.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from cluster.errors import ClusterError


@dataclass(frozen=True)
class ClusterRecord:
    """An open per-job cluster, and the process that owns it."""

    record_id: str
    job_id: str
    profile: str
    kind: str
    name: str
    scheduler_address: str
    host: str
    pid: int
    pid_start: str
    created_at: float
    namespace: str | None = None


def process_start(pid: int) -> str:
    """An identifier of the process's start (its start time in clock ticks on Linux), or ``""``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def process_alive(pid: int, started: str) -> bool:
    """Whether ``pid`` is running on this host and is the same process (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    current = process_start(pid)
    return not (started and current and current != started)


class ClusterRegistry:
    """The directory of :class:`ClusterRecord` files."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)  # made with the first record: reading creates nothing

    def register(
        self,
        *,
        job_id: str,
        profile: str,
        kind: str,
        name: str,
        scheduler_address: str,
        namespace: str | None = None,
    ) -> ClusterRecord:
        """Record a cluster opened by this process."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", job_id)[:80]
        pid = os.getpid()
        record = ClusterRecord(
            record_id=f"{slug}--{uuid.uuid4().hex[:12]}",
            job_id=job_id,
            profile=profile,
            kind=kind,
            name=name,
            scheduler_address=scheduler_address,
            host=socket.gethostname(),
            pid=pid,
            pid_start=process_start(pid),
            created_at=time.time(),
            namespace=namespace,
        )
        self.write(record)
        return record

    def write(self, record: ClusterRecord) -> None:
        """Store ``record`` atomically (also used to import records from elsewhere)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.record_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record), indent=1), encoding="utf-8")
        tmp.replace(path)

    def remove(self, record: ClusterRecord) -> None:
        """Forget a cluster (it is closed)."""
        self._path(record.record_id).unlink(missing_ok=True)

    def records(self) -> list[ClusterRecord]:
        """All open clusters, oldest first; unreadable files raise :class:`ClusterError`."""
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(ClusterRecord(**json.loads(path.read_text(encoding="utf-8"))))
            except FileNotFoundError:
                continue  # removed meanwhile by its owner
            except (ValueError, TypeError) as exc:
                raise ClusterError(f"unreadable cluster record {path.name}: {exc}") from exc
        return sorted(found, key=lambda r: r.created_at)

    def _path(self, record_id: str) -> Path:
        return self.directory / f"{record_id}.json"
