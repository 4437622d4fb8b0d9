"""Machines that per-job clusters start at a cloud provider, found again by the tags they carry.

Every EC2 instance of a per-job cluster carries three tags: its job (``space-wps-job``), the process
that owns the cluster (``space-wps-owner``: host, pid and the pid's start) and the deployment
(``space-wps-deployment``, see :attr:`cluster.registry.ClusterRegistry.deployment`). A process killed
outright leaves its machines running, and if it died while the cluster was starting it left not even a
registry record: :func:`sweep_tagged` asks the provider and terminates the machines of this deployment
whose job is over or whose owner process is gone from this host. A job's own teardown terminates
whatever the upstream close missed (:func:`remove_job_machines`).

EC2 is swept so; other cloud kinds rely on their scheduler's idle timeout and ``auto_shutdown``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import dask.config

from cluster.profiles import ClusterProfile
from cluster.registry import process_alive, process_start

log = logging.getLogger(__name__)

JOB_TAG: Final = "space-wps-job"
OWNER_TAG: Final = "space-wps-owner"
DEPLOYMENT_TAG: Final = "space-wps-deployment"
#: kinds whose machines are found by tags (the others have no sweep at their provider).
TAGGED_KINDS: Final = frozenset({"ec2"})
#: states of a machine that still costs money or may start again.
_LIVE_STATES: Final = ("pending", "running", "stopping", "stopped")


def owner_tag(pid: int | None = None) -> str:
    """``host:pid:start`` of this process (or of ``pid``): who owns a cluster."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid)}"


def job_tags(job_id: str, deployment: str) -> dict[str, str]:
    """The tags every machine of ``job_id``'s per-job cluster gets."""
    return {JOB_TAG: job_id, OWNER_TAG: owner_tag(), DEPLOYMENT_TAG: deployment}


def owner_is_gone(owner: str) -> bool:
    """Whether the process named by an owner tag is known to be dead (only said of this host)."""
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not process_alive(int(pid), started)


@dataclass(frozen=True)
class TaggedMachine:
    """A machine at a provider, with its tags."""

    machine_id: str
    state: str
    tags: Mapping[str, str]

    @property
    def job_id(self) -> str:
        return self.tags.get(JOB_TAG, "")

    @property
    def owner(self) -> str:
        return self.tags.get(OWNER_TAG, "")


class Machines(Protocol):
    """A provider's machines of one deployment."""

    def tagged(self, deployment: str) -> list[TaggedMachine]:
        """Live machines tagged with ``deployment``."""

    def terminate(self, machine_ids: list[str]) -> None:
        """Terminate these machines."""


class EC2Machines:
    """EC2 instances in one region, through boto3 (credentials and endpoint from the AWS environment)."""

    def __init__(self, region: str | None) -> None:
        import boto3
        from botocore.config import Config

        # short timeouts: the sweep runs in the job runner's loop
        config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2})
        self.region = region
        self.client: Any = boto3.client("ec2", region_name=region, config=config)

    def tagged(self, deployment: str) -> list[TaggedMachine]:
        filters = [
            {"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [deployment]},
            {"Name": "instance-state-name", "Values": list(_LIVE_STATES)},
        ]
        found = []
        for page in self.client.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", ())}
                    found.append(TaggedMachine(instance["InstanceId"], instance["State"]["Name"], tags))
        return found

    def terminate(self, machine_ids: list[str]) -> None:
        for start in range(0, len(machine_ids), 500):
            self.client.terminate_instances(InstanceIds=machine_ids[start : start + 500])


def machines_for(profile: ClusterProfile) -> Machines | None:
    """The provider's machines behind ``profile``, or ``None`` for kinds not swept by tags."""
    if profile.kind not in TAGGED_KINDS:
        return None
    region = (
        profile.options.get("region")
        or profile.dask_config.get("cloudprovider.ec2.region")
        or dask.config.get("cloudprovider.ec2.region", None)
    )
    return EC2Machines(region)


SweepAction = Literal["terminated", "failed"]


@dataclass(frozen=True)
class TagSweepOutcome:
    """What :func:`sweep_tagged` did with the machines of one job at one provider."""

    profile: str
    job_id: str
    machine_ids: tuple[str, ...]
    action: SweepAction
    detail: str = ""


@dataclass(frozen=True)
class TagSweep:
    """What :func:`sweep_tagged` did, and the ``(job, owner)`` pairs whose machines it left running.

    ``complete`` is false when a provider did not answer: then ``remaining`` is not the whole truth.
    """

    outcomes: tuple[TagSweepOutcome, ...]
    remaining: frozenset[tuple[str, str]]
    complete: bool


def sweep_tagged(
    profiles: Iterable[ClusterProfile], deployment: str, alive_job_ids: Iterable[str]
) -> TagSweep:
    """Terminate this deployment's machines whose job is not alive or whose owner process is gone.

    Each provider account and region is asked once, whichever profiles share it. A provider that does
    not answer gives a ``failed`` outcome; the next sweep tries again.
    """
    alive = set(alive_job_ids)
    outcomes: list[TagSweepOutcome] = []
    remaining: set[tuple[str, str]] = set()
    seen: set[tuple[str, str | None]] = set()
    for profile in profiles:
        try:
            machines = machines_for(profile)
            if machines is None:
                continue
            where = (profile.kind, getattr(machines, "region", None))
            if where in seen:
                continue
            seen.add(where)
            by_job: dict[str, list[str]] = {}
            for machine in machines.tagged(deployment):
                if machine.job_id not in alive or owner_is_gone(machine.owner):
                    by_job.setdefault(machine.job_id, []).append(machine.machine_id)
                else:
                    remaining.add((machine.job_id, machine.owner))
            for job_id, ids in sorted(by_job.items()):
                machines.terminate(ids)
                outcomes.append(TagSweepOutcome(profile.name, job_id, tuple(ids), "terminated"))
        except Exception as exc:  # a provider that errors must not stop the runner's loop
            outcomes.append(TagSweepOutcome(profile.name, "", (), "failed", f"{type(exc).__name__}: {exc}"))
    complete = not any(o.action == "failed" for o in outcomes)
    return TagSweep(tuple(outcomes), frozenset(remaining), complete)


def remove_job_machines(profile: ClusterProfile, job_id: str, deployment: str) -> list[str]:
    """Terminate the live machines of ``job_id`` owned by this process; return their ids."""
    machines = machines_for(profile)
    if machines is None:
        return []
    mine = owner_tag()
    ids = [m.machine_id for m in machines.tagged(deployment) if m.job_id == job_id and m.owner == mine]
    if ids:
        machines.terminate(ids)
        log.warning("terminated machines the close of job %s left: %s", job_id, ", ".join(ids))
    return ids
