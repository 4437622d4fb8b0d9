"""One Dask client per process, created on first use (never before a fork) and re-created after one."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client


class SchedulerConnection:
    """Lazy, thread-safe access to the scheduler named in the configuration."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        self.address = address
        self.timeout = timeout
        self._client: Client | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def client(self) -> Client:
        with self._lock:
            if self._client is None or self._pid != os.getpid() or self._client.status == "closed":
                if self.address == "local":
                    raise RuntimeError("no Dask scheduler address is configured for this process")
                from distributed import Client

                self._client = Client(self.address, timeout=self.timeout, set_as_default=False)
                self._pid = os.getpid()
            return self._client

    def ping(self) -> dict[str, int]:
        """Ask the scheduler how many workers it has; raises if it does not answer."""
        info = self.client().scheduler_info(n_workers=-1)
        return {"workers": len(info.get("workers", {}))}

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None
