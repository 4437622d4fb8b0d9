"""Open a Dask cluster for a job and always close it; sweep the ones a dead process left behind.

* Per-job profiles (``shared: false``: cloud, batch, Kubernetes, SSH, or a private LocalCluster) get a
  cluster of their own, started within the profile's ``start_timeout_seconds`` (:mod:`cluster.startup`),
  recorded in a :class:`~cluster.registry.ClusterRegistry` while open and closed when the job leaves the
  ``with`` block, whether it succeeded, raised, or was cancelled (``KeyboardInterrupt``/``SystemExit``/
  any exception thrown into it, or ``cancelled()`` turning true while it starts). Its cloud machines
  carry the job's tags (:mod:`cluster.cloud_tags`). A process killed outright (SIGKILL) cannot close
  anything: :func:`sweep_orphans` does it later from the registry, and
  :func:`cluster.cloud_tags.sweep_tagged` from the provider's tags.
* Before the job gets its client, the workers' software is compared with the server's
  (:mod:`cluster.worker_software`): a difference fails the job before its first task.
* Shared profiles (``local``, ``scheduler``) connect a Client to one cluster kept for the process
  (:class:`SharedClusters`); a shared LocalCluster adapts between the profile's min and max workers,
  so it shrinks back to ``min_workers`` when idle.

Per-job clusters change the process's dask config (quiet monitors, profile ``dask_config``, declared
task durations, and what the upstream class sets itself, e.g. TLS for cloud VMs); it is restored when
the cluster is closed. Run one job per process (or serialise cluster creation) for that to be safe.
"""

from __future__ import annotations

import copy
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

import dask.config
from distributed import Client

from cluster.cloud_tags import TAGGED_KINDS, job_tags, remove_job_machines
from cluster.cost import fetch_events, install_collector
from cluster.errors import ClusterCloseError, ClusterStartCancelled, ClusterStartError
from cluster.events import JobEventLog
from cluster.monitors import QUIET_MONITORS
from cluster.profiles import ClusterProfile
from cluster.registry import ClusterRecord, ClusterRegistry, process_alive
from cluster.sizing import apply_task_durations, duration_config
from cluster.startup import Deadline, StartingCluster, start, wait_for_first_worker
from cluster.upstream import CLOUD_VM_KINDS, cluster_kwargs, cluster_name, resolve_upstream
from cluster.worker_software import check_workers

log = logging.getLogger(__name__)

#: seconds given to a Client to connect, and to a cluster to close.
CONNECT_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 300.0


def build_cluster(
    profile: ClusterProfile,
    n_workers: int,
    job_id: str,
    *,
    asynchronous: bool = False,
    tags: Mapping[str, str] | None = None,
) -> Any:
    """Construct the upstream cluster object of a profile (it starts unless ``asynchronous``).

    ``tags`` go on the machines of cloud kinds that take them.

    ``profile.dask_config`` is set in the global dask config and left there: upstream classes keep
    references into the live config and read tokens from it when they start and close. Call this
    inside :func:`restored_dask_config` (``open_cluster`` does) to undo it afterwards.
    """
    factory = resolve_upstream(profile.kind)
    kwargs = cluster_kwargs(profile, n_workers, job_id, tags=tags)
    dask.config.set(dict(profile.dask_config))
    return factory(**kwargs, asynchronous=asynchronous)


@contextmanager
def restored_dask_config(updates: Mapping[str, Any]) -> Iterator[None]:
    """Apply ``updates`` to the global dask config and restore the whole config afterwards."""
    saved = copy.deepcopy(dask.config.config)
    try:
        dask.config.set(dict(updates))
        yield
    finally:
        restore_dask_config(saved)


def restore_dask_config(saved: dict[str, Any]) -> None:
    """Put back a snapshot of the global dask config, keeping defaults registered since.

    Packages imported meanwhile (an upstream cluster module, lazily) add their defaults to the live
    config; a plain restore would drop them and break the next use of that package.
    """
    dask.config.config.clear()
    dask.config.config.update(saved)
    for defaults in dask.config.defaults:
        dask.config.update(dask.config.config, copy.deepcopy(defaults), priority="old")


class SharedClusters:
    """The shared clusters of this process, one per shared ``local`` profile, created on first use."""

    def __init__(self) -> None:
        self._clusters: dict[str, Any] = {}
        self._lock = threading.Lock()

    def cluster(self, profile: ClusterProfile) -> Any:
        """The running LocalCluster of ``profile``, adapting between its min and max workers."""
        with self._lock:
            existing = self._clusters.get(profile.name)
            if existing is not None and existing.status.name == "running":
                return existing
            cluster = build_cluster(profile, profile.min_workers, f"shared-{profile.name}")
            cluster.adapt(minimum=profile.min_workers, maximum=profile.max_workers)
            self._clusters[profile.name] = cluster
            return cluster

    def close_all(self) -> None:
        """Close every shared cluster (at process shutdown)."""
        with self._lock:
            for name, cluster in list(self._clusters.items()):
                try:
                    cluster.close()
                except Exception:
                    log.exception("closing shared cluster %s failed", name)
            self._clusters.clear()


@contextmanager
def open_cluster(
    profile: ClusterProfile,
    n_workers: int,
    job_id: str,
    *,
    registry: ClusterRegistry | None = None,
    shared: SharedClusters | None = None,
    events: JobEventLog | None = None,
    task_durations: Mapping[str, float] | None = None,
    close_timeout: float = CLOSE_TIMEOUT_S,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[Client]:
    """A Client on a cluster for ``job_id``, closed (per-job) or released (shared) on exit.

    A per-job cluster that has no worker within the profile's ``start_timeout_seconds`` raises
    :class:`ClusterStartError`, and :class:`ClusterStartCancelled` if ``cancelled()`` turns true
    while it starts; either way what had started is torn down first. Workers whose software differs
    from the server's raise :class:`~cluster.errors.WorkerSoftwareError` (a ClusterStartError).

    ``n_workers`` sizes a per-job cluster (capped by the profile); a shared cluster adapts on its own.
    ``events`` receives the job's cluster events for :func:`cluster.cost.compute_cost`, also when
    the job fails. ``task_durations`` (prefix -> seconds) is declared to the scheduler. A per-job
    cluster that cannot be closed raises :class:`ClusterCloseError` (unless the job itself raised) and
    stays in ``registry`` for :func:`sweep_orphans`.
    """
    requested_at = time.time()
    durations = dict(task_durations or {})
    if profile.shared:
        with _shared_client(profile, shared) as client:
            yield from _run_shared(client, profile, job_id, requested_at, events, durations)
        return
    resolve_upstream(profile.kind)  # import first: its defaults join the config before the snapshot
    updates = {**QUIET_MONITORS, **profile.dask_config, **(duration_config(durations) if durations else {})}
    with restored_dask_config(updates):
        yield from _run_per_job(
            _PerJob(profile, job_id, requested_at, registry, events),
            n_workers,
            durations,
            close_timeout,
            cancelled,
        )


@contextmanager
def _shared_client(profile: ClusterProfile, shared: SharedClusters | None) -> Iterator[Client]:
    try:
        if profile.kind == "scheduler":
            timeout = profile.options.get("timeout", CONNECT_TIMEOUT_S)
            client = Client(profile.options["address"], timeout=timeout)
        else:
            if shared is None:
                raise ClusterStartError(f"profile {profile.name!r} is shared: pass shared=SharedClusters()")
            client = Client(shared.cluster(profile), timeout=CONNECT_TIMEOUT_S)
    except ClusterStartError:
        raise
    except Exception as exc:
        raise ClusterStartError(f"cannot connect to the cluster of profile {profile.name!r}: {exc}") from exc
    try:
        yield client
    finally:
        try:
            client.close()
        except Exception:
            log.exception("closing the client of profile %s failed", profile.name)


def _run_shared(
    client: Client,
    profile: ClusterProfile,
    job_id: str,
    requested_at: float,
    events: JobEventLog | None,
    durations: Mapping[str, float],
) -> Iterator[Client]:
    check_workers(client, profile.name)
    if durations:
        apply_task_durations(client, durations)
    if events is not None:
        _guard(events, "install", lambda: install_collector(client, job_id))
    try:
        yield client
    finally:
        if events is not None:
            _guard(
                events,
                "collect",
                lambda: _store(
                    events,
                    fetch_events(
                        client, job_id, profile=profile.name, shared=True, requested_at=requested_at
                    ),
                ),
            )


@dataclass
class _PerJob:
    """What a per-job cluster has opened so far, for teardown."""

    profile: ClusterProfile
    job_id: str
    requested_at: float
    registry: ClusterRegistry | None
    events: JobEventLog | None
    starting: StartingCluster | None = None
    client: Client | None = None
    record: ClusterRecord | None = None

    @property
    def cluster(self) -> Any:
        return None if self.starting is None else self.starting.cluster

    @property
    def deployment(self) -> str:
        return self.registry.deployment if self.registry is not None else "unregistered"


def _run_per_job(
    job: _PerJob,
    n_workers: int,
    durations: Mapping[str, float],
    close_timeout: float,
    cancelled: Callable[[], bool],
) -> Iterator[Client]:
    profile, job_id = job.profile, job.job_id
    deadline = Deadline.after(
        profile.start_timeout_seconds, f"the {profile.kind} cluster of profile {profile.name!r}"
    )
    tags = job_tags(job_id, job.deployment) if profile.kind in TAGGED_KINDS else None
    try:
        try:
            job.starting = StartingCluster.new()
            start(
                job.starting,
                lambda: build_cluster(profile, n_workers, job_id, asynchronous=True, tags=tags),
                deadline,
                cancelled,
            )
        except (ClusterStartError, ClusterStartCancelled):
            raise
        except Exception as exc:
            reason = " ".join(str(exc).split())  # upstream errors quote commands' output over many lines
            raise ClusterStartError(
                f"cannot start a {profile.kind} cluster for profile {profile.name!r}: {reason}"
            ) from exc
        if job.registry is not None:
            job.record = job.registry.register(
                job_id=job_id,
                profile=profile.name,
                kind=profile.kind,
                name=str(getattr(job.cluster, "name", cluster_name(job_id))),
                scheduler_address=str(job.cluster.scheduler_address),
                namespace=getattr(job.cluster, "namespace", None) if profile.kind == "kubernetes" else None,
            )
        client = job.client = Client(job.cluster, timeout=CONNECT_TIMEOUT_S)
        if n_workers > 0:
            wait_for_first_worker(client, deadline, cancelled)
        check_workers(client, profile.name)
        if durations:  # remote schedulers (Kubernetes, SSH) do not see this process's config
            apply_task_durations(client, durations)
        if job.events is not None:
            _guard(job.events, "install", lambda: install_collector(client, job_id))
        yield client
    except BaseException:
        _teardown(job, close_timeout, raise_on_error=False)
        raise
    _teardown(job, close_timeout, raise_on_error=True)


def _teardown(job: _PerJob, close_timeout: float, *, raise_on_error: bool) -> None:
    """Collect events, close the client, then the cluster, whatever happens in the steps before.

    Machines of a cloud kind swept by tags that the upstream close left are terminated. Raises
    :class:`ClusterCloseError` only with ``raise_on_error`` (the job itself did not raise).
    """
    collected = None
    close_error: BaseException | None = None
    try:
        client = job.client
        if job.events is not None and client is not None:
            collected = _guard(
                job.events,
                "collect",
                lambda: fetch_events(
                    client, job.job_id, profile=job.profile.name, shared=False, requested_at=job.requested_at
                ),
            )
    finally:
        try:
            if job.client is not None:
                job.client.close()
        except Exception:
            log.exception("closing the client of job %s failed", job.job_id)
        finally:
            if job.starting is not None:
                try:
                    job.starting.close(close_timeout)
                except BaseException as exc:  # KeyboardInterrupt too: the record stays for the sweep
                    close_error = exc
                    log.exception("closing the cluster of job %s failed; left for the sweep", job.job_id)
                close_error = _remove_left_machines(job) or close_error
    closed_at = time.time()
    if job.events is not None:
        if collected is not None:
            job.events.events = replace(collected, closed_at=closed_at)
        elif job.events.error is None:
            never = job.starting is None or not job.starting.started
            job.events.error = "the cluster never started" if never else "no events collected"
    if close_error is None and job.record is not None and job.registry is not None:
        job.registry.remove(job.record)
    if close_error is not None and raise_on_error:
        raise ClusterCloseError(
            f"the {job.profile.kind} cluster of job {job.job_id} did not close: {close_error}"
        ) from close_error


def _remove_left_machines(job: _PerJob) -> Exception | None:
    """Terminate the job's cloud machines the upstream close left running; the error, if any."""
    if job.profile.kind not in TAGGED_KINDS:
        return None
    try:
        remove_job_machines(job.profile, job.job_id, job.deployment)
    except Exception as exc:
        log.exception("terminating the machines of job %s failed; left for the sweep", job.job_id)
        return exc
    return None


def _guard(events: JobEventLog, what: str, action: Callable[[], Any]) -> Any:
    """Run an event-collection step; a failure is noted in ``events``, never raised into the job."""
    try:
        return action()
    except Exception as exc:
        log.warning("cost event %s failed: %s", what, exc)
        events.error = f"{what}: {exc}"
        return None


def _store(events: JobEventLog, collected: Any) -> None:
    events.events = collected


# --------------------------------------------------------------------------- orphan sweep

SweepAction = Literal["closed", "gone", "owner-alive", "unreachable", "failed"]
#: kinds whose workers stop by themselves once their scheduler is gone (process children, batch jobs
#: started with --death-timeout), so an unreachable scheduler means nothing is left to pay for.
_SELF_ENDING_KINDS = frozenset({"local", "pbs", "slurm"})


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`sweep_orphans` did with one record."""

    record: ClusterRecord
    action: SweepAction
    detail: str = ""


def sweep_orphans(
    registry: ClusterRegistry,
    alive_job_ids: Iterable[str],
    *,
    timeout: float = 10.0,
    forget_unreachable: bool = False,
    settled: Callable[[ClusterRecord], bool] | None = None,
) -> list[SweepOutcome]:
    """Close the clusters of jobs that are not alive and whose owning process is gone.

    A record whose owner process still runs on this host is left alone (it is closing, or the job
    list is stale). Kubernetes clusters are deleted through the operator; others are shut down
    through their scheduler. A cloud cluster whose scheduler cannot be reached (TLS with the dead
    process's temporary certificates, or already gone) is reported ``unreachable`` and kept unless
    ``forget_unreachable``: its own ``idle_timeout`` and ``auto_shutdown`` are the safety net.
    A record for which ``settled(record)`` is true (its provider shows no machine of it left, e.g.
    after :func:`cluster.cloud_tags.sweep_tagged`) is forgotten without contacting its scheduler.
    """
    alive = set(alive_job_ids)
    here = socket.gethostname()
    outcomes = []
    for record in registry.records():
        if record.job_id in alive:
            continue
        if record.host == here and process_alive(record.pid, record.pid_start):
            outcomes.append(SweepOutcome(record, "owner-alive", f"process {record.pid} still runs"))
            continue
        if settled is not None and settled(record):
            registry.remove(record)
            outcomes.append(SweepOutcome(record, "gone", "the provider shows no machine of it left"))
            continue
        outcome = _close_orphan(record, timeout)
        if outcome.action in ("closed", "gone") or (outcome.action == "unreachable" and forget_unreachable):
            registry.remove(record)
        outcomes.append(outcome)
    return outcomes


def _close_orphan(record: ClusterRecord, timeout: float) -> SweepOutcome:
    if record.kind == "kubernetes":
        try:
            from dask_kubernetes.operator import KubeCluster

            KubeCluster.from_name(record.name, namespace=record.namespace).close()
        except Exception as exc:
            return SweepOutcome(record, "failed", f"Kubernetes cluster {record.name}: {exc}")
        return SweepOutcome(record, "closed", f"deleted DaskCluster {record.name}")
    try:
        client = Client(record.scheduler_address, timeout=timeout)
    except Exception as exc:
        if record.kind in _SELF_ENDING_KINDS:
            return SweepOutcome(record, "gone", f"scheduler unreachable ({exc}); its workers end with it")
        hint = " (check the provider for machines of cluster " + record.name + ")"
        if record.kind in CLOUD_VM_KINDS:
            return SweepOutcome(record, "unreachable", f"{exc}{hint}")
        return SweepOutcome(record, "unreachable", str(exc))
    try:
        client.shutdown()
    except Exception as exc:
        return SweepOutcome(record, "failed", f"shutdown of {record.scheduler_address}: {exc}")
    finally:
        try:
            client.close()
        except Exception:
            log.debug("closing the sweep client failed", exc_info=True)
    return SweepOutcome(record, "closed", f"shut down scheduler {record.scheduler_address}")
