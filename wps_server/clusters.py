"""Clusters for jobs: the profile a request names, sized for its tasks, closed with the job, and billed.

The ``local`` profile means the server's own Dask cluster (the one ``serve`` starts, or the scheduler
named in ``[dask] scheduler``); cloud and batch profiles get a cluster of their own per job, always
closed, with an orphan sweep for those whose job's process died (from the registry, and at the provider
by the machines' tags). Profiles come from the YAML file named in ``[cluster] profiles_file`` (see
``cluster/clusters.example.yaml``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.cloud_tags import TAGGED_KINDS, TagSweep, sweep_tagged
from cluster.cost import compute_cost, predicted_cost, running_bill
from cluster.errors import ClusterError, ClusterStartCancelled, ClusterStartError
from cluster.events import JobEventLog
from cluster.lifecycle import SharedClusters, open_cluster, sweep_orphans
from cluster.profiles import ClusterProfile, ProfileRegistry, load_profiles
from cluster.registry import ClusterRecord, ClusterRegistry
from cluster.sizing import workers_for_profile
from cluster.upstream import resolve_upstream
from wps_server.config import ConfigError, Settings
from wps_server.errors import PaymentRequired, ProcessError
from wps_server.execution import JobDismissed

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)
CostRecorder = Callable[[Mapping[str, Any]], None]
#: seconds between two sweeps at the providers (each asks every cloud account of the profiles once).
TAG_SWEEP_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Spending:
    """A job's side of its cluster bill: ``reserve`` its predicted cost (amount, currency) against its
    owner's budget, ``settle`` it with the measured bill, and ``stop`` the job (with a reason) when its
    running bill reaches ``max_cost``. ``predicted`` is the process's own cost model, if it has one."""

    reserve: Callable[[float, str], None] | None = None
    settle: Callable[[float], None] | None = None
    stop: Callable[[str], None] | None = None
    max_cost: float | None = None
    predicted: Callable[[ClusterProfile, int], float] | None = None


class _CostWatch:
    """Stops the job once the bill of its running cluster reaches its cap (checked every 0.2 s)."""

    def __init__(
        self,
        profile: ClusterProfile,
        workers: int,
        cap: float,
        stop: Callable[[str], None],
        requested: float,
    ) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, args=(profile, workers, cap, stop, requested), daemon=True
        )

    def _watch(
        self, profile: ClusterProfile, workers: int, cap: float, stop: Callable[[str], None], started: float
    ) -> None:
        """The bill runs from when the cluster was requested (its start-up is billed too)."""
        while not self._done.wait(0.2):
            bill = running_bill(profile, workers, time.monotonic() - started)
            if bill >= cap:
                currency = profile.currency or ""
                stop(f"its running bill reached {bill:.4f} {currency}, the max_cost of {cap:g} {currency}")
                return

    def __enter__(self) -> _CostWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()


def _import_upstream(kinds: set[str]) -> None:
    """Import the cluster classes of the profiles now, in the main thread: dask-jobqueue sets a SIGINT
    handler when imported, which fails in a job's thread. A missing extra is reported by the job."""
    for kind in sorted(kinds - {"scheduler"}):
        try:
            resolve_upstream(kind)
        except ClusterError:
            continue


class JobClusters:
    """Profiles, sizing, per-job lifecycle and cost for the jobs of one process (runner or web worker)."""

    def __init__(self, settings: Settings, scheduler_address: str) -> None:
        section = settings.section("cluster")
        try:
            self.profiles: ProfileRegistry = load_profiles(
                section.get("profiles_file") or None, missing_ok=True
            )
        except ClusterError as exc:
            raise ConfigError(f"[cluster] {exc}") from exc
        self.scheduler_address = scheduler_address
        _import_upstream({p.kind for p in self.profiles})
        self.registry = ClusterRegistry(Path(settings.data_dir) / "clusters")
        self.shared = SharedClusters()
        self._last_tag_sweep: float | None = None
        self._tag_sweep: TagSweep | None = None

    def profile(self, name: str | None, usable: tuple[str, ...] | None = None) -> ClusterProfile:
        """The named profile (the default when none is named); a shared `local` profile means the server's own cluster.

        With ``usable`` (the profiles the job's submitter may use), any other is as unknown, and the
        error lists only those."""
        known = [n for n in self.profiles.names() if usable is None or n in usable]
        if name is not None and name not in known:
            listed = ", ".join(known) or "none (ask for a role)"
            raise ProcessError(f"there is no cluster profile {name!r}; use one of {listed}", "cluster")
        profile = self.profiles.get(name)
        if (
            profile.kind == "local"
            and profile.shared
            and self.scheduler_address.startswith(("tcp://", "tls://"))
        ):
            profile = replace(
                profile, kind="scheduler", options={"address": self.scheduler_address}, shared=True
            )
        return profile

    @contextmanager
    def open(
        self,
        job_id: str,
        profile_name: str | None,
        tasks: int,
        seconds_per_task: float,
        max_workers: int | None,
        task_durations: Mapping[str, float] | None,
        record_cost: CostRecorder,
        cancelled: Callable[[], bool] = lambda: False,
        spending: Spending | None = None,
        usable: tuple[str, ...] | None = None,
    ) -> Iterator[Client]:
        """A client on the job's cluster; its use is billed through ``record_cost`` even if the job fails.

        A cluster that cannot start (unreachable engine, no worker within the profile's start timeout,
        workers with other software) fails the job with the profile and the reason named; a dismissal
        while it starts stops the job. ``usable`` limits the profiles as :meth:`profile` says.
        """
        profile = self.profile(profile_name, usable)
        workers = workers_for_profile(profile, tasks, seconds_per_task, requested_max=max_workers)
        spending = spending or Spending()
        reserved = self._reserve(profile, workers, tasks, seconds_per_task, spending)
        events = JobEventLog()
        requested = time.monotonic()
        try:
            with open_cluster(
                profile,
                workers,
                job_id,
                registry=self.registry,
                shared=self.shared,
                events=events,
                task_durations=task_durations,
                cancelled=cancelled,
            ) as client:
                if reserved and spending.max_cost is not None and spending.stop is not None:
                    with _CostWatch(profile, workers, spending.max_cost, spending.stop, requested):
                        yield client
                else:
                    yield client
        except ClusterStartCancelled:
            raise JobDismissed from None
        except ClusterStartError as exc:
            log.warning("cluster start failed", extra={"job_id": job_id, "profile": profile.name})
            raise ProcessError(str(exc)) from None
        finally:
            if events.events is not None:
                report = compute_cost(events.events, profile).to_dict()
                record_cost({**report, "workers_requested": workers, "instance_type": profile.instance_type})
                if reserved and spending.settle is not None:
                    spending.settle(float(report.get("cost") or 0.0))
            elif reserved and spending.settle is not None:  # no cluster ran: nothing is owed
                spending.settle(0.0)

    @staticmethod
    def _reserve(
        profile: ClusterProfile, workers: int, tasks: int, seconds_per_task: float, spending: Spending
    ) -> bool:
        """Check the job's predicted cost against its cap and reserve it against the owner's budget;
        whether the profile is priced (so that there is a bill to settle and a cap to watch)."""
        if profile.price is None:
            return False
        if spending.predicted is not None:
            predicted = spending.predicted(profile, workers)
        else:
            predicted = predicted_cost(profile, workers, tasks, seconds_per_task)
        currency = profile.price.currency
        if spending.max_cost is not None and predicted > spending.max_cost:
            raise PaymentRequired(
                f"the job is estimated at {predicted:.2f} {currency} on {profile.name} ({workers} workers), "
                f"more than its max_cost of {spending.max_cost:g}: raise max_cost or ask for less",
                "max_cost",
            )
        if spending.reserve is not None:
            spending.reserve(predicted, currency)
        return True

    def sweep(self, alive_job_ids: set[str]) -> TagSweep | None:
        """Close clusters left behind by jobs whose process died; return what the provider sweep did.

        The providers are asked at most every :data:`TAG_SWEEP_INTERVAL_S` (the first call asks at once);
        ``None`` when they were not asked this time.
        """
        tagged = None
        now = time.monotonic()
        profiles = [p for p in self.profiles if p.kind in TAGGED_KINDS]
        if profiles and (self._last_tag_sweep is None or now - self._last_tag_sweep >= TAG_SWEEP_INTERVAL_S):
            self._last_tag_sweep = now
            tagged = self._tag_sweep = sweep_tagged(profiles, self.registry.deployment, alive_job_ids)
            for result in tagged.outcomes:
                log.warning("orphan machines swept at the provider", extra={"outcome": str(result)})
        for outcome in sweep_orphans(self.registry, alive_job_ids, settled=self._settled):
            log.warning("orphan cluster swept", extra={"outcome": str(outcome)})
        return tagged

    def _settled(self, record: ClusterRecord) -> bool:
        """A record of a kind swept by tags of which the last complete provider sweep left no machine."""
        last = self._tag_sweep
        if record.kind not in TAGGED_KINDS or last is None or not last.complete:
            return False
        return (record.job_id, f"{record.host}:{record.pid}:{record.pid_start}") not in last.remaining

    def close(self) -> None:
        self.shared.close_all()
