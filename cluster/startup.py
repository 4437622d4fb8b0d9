"""Start a per-job cluster within its profile's deadline, and tear down what a cut-short start left.

Upstream cluster classes start inside their constructor, and some wait without end: dask-cloudprovider
polls its scheduler VM's port forever, and a batch queue may never run the workers' jobs. So a per-job
cluster is built and started on an event loop of its own (``asynchronous=True`` inside that loop) while
this thread keeps the deadline and watches for the job's cancellation, and then waited on until a first
worker joins. Seen from other threads the cluster is an ordinary synchronous one (``close``,
``Client(cluster)``), as its loop runs elsewhere.
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
from distributed.utils import LoopRunner

from cluster.errors import ClusterStartCancelled, ClusterStartError

log = logging.getLogger(__name__)
#: how often a waiting start looks at the job's cancellation.
POLL_S = 0.25


@dataclass
class StartingCluster:
    """The loop that hosts one per-job cluster, and the cluster once built; :meth:`close` stops both."""

    runner: LoopRunner
    cluster: Any = None
    started: bool = False

    @classmethod
    def new(cls) -> StartingCluster:
        runner = LoopRunner(asynchronous=False)
        runner.start()
        return cls(runner)

    def close(self, timeout: float) -> None:
        """Close the cluster, also one whose start was cut short, then stop its loop."""
        try:
            if self.cluster is None:
                return
            if not self.started and getattr(self.cluster, "status", None) in (
                Status.created,
                Status.starting,
            ):
                # as upstream does when its own start raises: then its close tears down what exists
                self.cluster.status = Status.failed
            self.cluster.close(timeout=timeout)
        finally:
            self.runner.stop()


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


def start(
    starting: StartingCluster, construct: Callable[[], Any], deadline: Deadline, cancelled: Callable[[], bool]
) -> None:
    """Build the cluster with ``construct`` (which must pass ``asynchronous=True``) on ``starting``'s loop
    and start it before ``deadline``; ``starting.cluster`` is set as soon as it is built.

    Built and awaited in one step, as upstream's ``await Cluster(asynchronous=True)``: a constructor
    that scales (dask-jobqueue) schedules work that must not run before the start. Raises
    :class:`ClusterStartError` when the deadline passes, :class:`ClusterStartCancelled` when
    ``cancelled()`` turns true, and what the start raised otherwise; the caller then closes it.
    """

    async def run() -> None:
        starting.cluster = construct()
        await starting.cluster
        await _raise_workers_start_error(starting.cluster)

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


async def _raise_workers_start_error(cluster: Any) -> None:
    """A SpecCluster logs and drops its workers' start errors (sbatch refusing a job, a VM that cannot
    be created): the workers stay ``created``. When none of them started, start them once more and let
    the error out, so that the job fails at once naming the engine's reason rather than at its deadline.
    """
    workers = list(getattr(cluster, "workers", {}).values())
    if workers and all(getattr(w, "status", None) == Status.created for w in workers):
        await asyncio.gather(*workers)


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
