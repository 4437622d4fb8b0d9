"""Start a per-job cluster within its profile's deadline, and tear down what a cut-short start left.

Upstream cluster classes start inside their constructor, and some wait without end: dask-cloudprovider
polls its scheduler VM's port forever, and a batch queue may never run the workers' jobs. So a per-job
cluster is built un-started on an event loop of its own (``asynchronous=True`` inside that loop, which
makes no network call), started there while this thread keeps the deadline and watches for the job's
cancellation, and then waited on until a first worker joins. Seen from other threads the cluster is an
ordinary synchronous one (``close``, ``Client(cluster)``), as its loop runs elsewhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distributed import Client
from distributed.core import Status
from distributed.utils import LoopRunner, sync

from cluster.errors import ClusterStartCancelled, ClusterStartError

log = logging.getLogger(__name__)
#: how often a waiting start looks at the job's cancellation.
POLL_S = 0.25


@dataclass
class StartingCluster:
    """A cluster object and the loop runner that hosts it; :meth:`close` stops both."""

    cluster: Any
    runner: LoopRunner
    started: bool = False

    def close(self, timeout: float) -> None:
        """Close the cluster, also one whose start was cut short, then stop its loop."""
        try:
            if not self.started and getattr(self.cluster, "status", None) in (
                Status.created,
                Status.starting,
            ):
                # as upstream does when its own start raises: then its close tears down what exists
                self.cluster.status = Status.failed
            self.cluster.close(timeout=timeout)
        finally:
            self.runner.stop()


def build_on_own_loop(construct: Callable[[], Any]) -> StartingCluster:
    """Call ``construct`` (which must build its cluster with ``asynchronous=True``) on a new loop."""
    runner = LoopRunner(asynchronous=False)
    runner.start()

    async def build() -> Any:
        return construct()

    try:
        return StartingCluster(sync(runner.loop, build), runner)
    except BaseException:
        runner.stop()
        raise


@dataclass(frozen=True)
class Deadline:
    """When a start must be done by (``time.monotonic()``), and how it is named in errors."""

    at: float
    seconds: float
    what: str

    @classmethod
    def after(cls, seconds: float, what: str) -> Deadline:
        return cls(time.monotonic() + seconds, seconds, what)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    @property
    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())


def start(starting: StartingCluster, deadline: Deadline, cancelled: Callable[[], bool]) -> None:
    """Start the cluster before ``deadline``.

    Raises :class:`ClusterStartError` when the deadline passes or the start fails, and
    :class:`ClusterStartCancelled` when ``cancelled()`` turns true; the caller then closes it.
    """

    async def run() -> None:
        await starting.cluster

    future = asyncio.run_coroutine_threadsafe(run(), starting.runner.loop.asyncio_loop)
    try:
        while True:
            try:
                future.result(timeout=min(POLL_S, deadline.left))
                starting.started = True
                return
            except concurrent.futures.TimeoutError:
                if cancelled():
                    raise ClusterStartCancelled(f"{deadline.what}: cancelled while starting") from None
                if deadline.passed:
                    raise ClusterStartError(
                        f"{deadline.what} did not start: no scheduler or worker of it answered within "
                        f"{deadline.seconds:g} s (the profile's start_timeout_seconds); it was torn down"
                    ) from None
    except BaseException:
        future.cancel()
        with contextlib.suppress(BaseException):  # its own error is reported below, not the cancel's
            concurrent.futures.wait([future], timeout=10)
        raise


def wait_for_first_worker(client: Client, deadline: Deadline, cancelled: Callable[[], bool]) -> None:
    """Wait until the cluster has a worker; raise as :func:`start` does."""
    while not client.scheduler_info(n_workers=1).get("workers"):
        if cancelled():
            raise ClusterStartCancelled(f"{deadline.what}: cancelled while waiting for its workers")
        if deadline.passed:
            raise ClusterStartError(
                f"{deadline.what} started, but no worker of it arrived within {deadline.seconds:g} s "
                "(the profile's start_timeout_seconds); it was torn down"
            )
        time.sleep(POLL_S)
