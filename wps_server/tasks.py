"""Waiting for a job's Dask tasks: progress from tasks finished, and cancellation on dismissal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wps_server.execution import JobDismissed
from wps_server.process import JobContext

if TYPE_CHECKING:
    from distributed import Future


def gather(
    futures: Sequence[Future], ctx: JobContext, stage: str, start: float = 0, end: float = 100
) -> list[Any]:
    """Results in submission order; percent moves from ``start`` to ``end`` as tasks finish.

    If the job is dismissed meanwhile, its unfinished tasks are cancelled and JobDismissed is raised.
    """
    from distributed import as_completed

    client = ctx.client()
    total = len(futures)
    for done, _ in enumerate(as_completed(futures, with_results=False, loop=client.loop), start=1):
        ctx.progress(start + (end - start) * done / max(total, 1), f"{stage}: {done}/{total} tasks done")
        if ctx.cancelled():
            client.cancel(list(futures), force=True)
            raise JobDismissed
    return list(client.gather(list(futures)))
