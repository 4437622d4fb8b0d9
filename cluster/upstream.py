"""Which upstream class builds each kind of cluster, imported lazily, and its arguments for one job."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cluster.errors import MissingDependencyError, ProfileConfigError

if TYPE_CHECKING:
    from cluster.profiles import ClusterProfile


@dataclass(frozen=True)
class Upstream:
    """Where the cluster class of a kind lives, and the pip extra that installs it."""

    module: str
    attr: str
    extra: str | None


#: kind -> upstream class (``None`` for ``scheduler``: an existing scheduler needs only a Client).
UPSTREAM: Final[Mapping[str, Upstream | None]] = {
    "local": Upstream("distributed", "LocalCluster", None),
    "scheduler": None,
    "ssh": Upstream("distributed.deploy.ssh", "SSHCluster", "cloud"),
    "kubernetes": Upstream("dask_kubernetes.operator", "KubeCluster", "cloud"),
    "ec2": Upstream("dask_cloudprovider.aws", "EC2Cluster", "cloud"),
    "azure": Upstream("dask_cloudprovider.azure", "AzureVMCluster", "cloud"),
    "gcp": Upstream("dask_cloudprovider.gcp", "GCPCluster", "cloud"),
    "openstack": Upstream("dask_cloudprovider.openstack", "OpenStackCluster", "cloud"),
    "hetzner": Upstream("dask_cloudprovider.hetzner", "HetznerCluster", "cloud"),
    "pbs": Upstream("dask_jobqueue", "PBSCluster", "cloud"),
    "slurm": Upstream("dask_jobqueue", "SLURMCluster", "cloud"),
}
KINDS: Final[tuple[str, ...]] = tuple(UPSTREAM)
CLOUD_VM_KINDS: Final = frozenset({"ec2", "azure", "gcp", "openstack", "hetzner"})
BATCH_KINDS: Final = frozenset({"pbs", "slurm"})


def resolve_upstream(kind: str) -> Callable[..., Any]:
    """Import the cluster class (or factory) of ``kind``; say which extra to install if missing."""
    target = UPSTREAM.get(kind)
    if target is None:
        raise ProfileConfigError("<kind>", "kind", f"kind {kind!r} has no cluster class to build")
    try:
        module = importlib.import_module(target.module)
    except ImportError as exc:
        raise MissingDependencyError(kind, target.module, target.extra, str(exc)) from exc
    factory: Callable[..., Any] = getattr(module, target.attr)
    return factory


def cluster_name(job_id: str, prefix: str = "wps") -> str:
    """A DNS-1123 name made from the job id (Kubernetes, batch job names, cloud labels)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", job_id.lower()).strip("-") or "job"
    return f"{prefix}-{slug}"[:63].rstrip("-")


#: a remote scheduler (cloud VM, Kubernetes) left without work this long closes itself: the safety net
#: for clusters whose owner died (cloud VMs then shut down: ``auto_shutdown``). Set per profile with
#: ``options.scheduler_options.idle_timeout`` (cloud) or ``options.idle_timeout`` (Kubernetes).
ORPHAN_IDLE_TIMEOUT_S: Final = 1800


def cluster_kwargs(
    profile: ClusterProfile, n_workers: int, job_id: str, *, tags: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The keyword arguments given to the upstream class to run ``n_workers`` workers for ``job_id``.

    ``tags`` (default: the job id as ``space-wps-job``) go on EC2 instances and their volumes.
    """
    if profile.kind == "scheduler":
        raise ProfileConfigError(profile.name, "kind", "a 'scheduler' profile is connected to, not built")
    n = max(0, min(n_workers, profile.max_workers))
    kwargs: dict[str, Any] = _deepcopy(profile.options)
    name = cluster_name(job_id)
    if profile.kind == "ssh":
        hosts = list(kwargs["hosts"])
        kwargs["hosts"] = [hosts[0], *hosts[1 : 1 + max(n, 1)]]
        return kwargs
    kwargs["n_workers"] = n
    if profile.kind == "kubernetes":
        kwargs["name"] = name
        kwargs.setdefault("idle_timeout", ORPHAN_IDLE_TIMEOUT_S)
    elif profile.kind in CLOUD_VM_KINDS:
        scheduler_options = dict(kwargs.get("scheduler_options", {}))
        scheduler_options.setdefault("idle_timeout", f"{ORPHAN_IDLE_TIMEOUT_S}s")
        kwargs["scheduler_options"] = scheduler_options
    elif profile.kind in BATCH_KINDS:
        kwargs["job_name"] = name
    if profile.kind == "ec2":
        machine_tags = {"space-wps-job": job_id, **(tags or {})}
        kwargs["instance_tags"] = {**kwargs.get("instance_tags", {}), **machine_tags}
        kwargs["volume_tags"] = {**kwargs.get("volume_tags", {}), **machine_tags}
    elif profile.kind == "gcp":
        kwargs["instance_labels"] = {**kwargs.get("instance_labels", {}), "space-wps-job": name}
    return kwargs


def _deepcopy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deepcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy(v) for v in value]
    return value
