"""The `ec2` kind against moto's EC2 server, all of it inside a network namespace with only loopback up
(see tests/engines/ec2.py: moto hands out 54.x addresses that dask-cloudprovider dials). moto is an
emulator of EC2's API, the closest faithful stand-in here: no machine boots, so workers never arrive.

Checked here from what the scenario recorded: the job whose workers never arrive fails at its start
timeout saying so, with every instance it made terminated and no security group made; its instances
carry the job's tags; a runner SIGKILLed while its cluster starts leaves an instance that no registry
record names, which the restarted runner's sweep finds by its tags and terminates; the job, back in the
queue, starts again and is dismissed while starting, which tears that cluster down too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cluster.cloud_tags import DEPLOYMENT_TAG, JOB_TAG, OWNER_TAG
from tests.engines import ec2
from tests.engines.required import require_engine

GONE = ("shutting-down", "terminated")


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_engine(ec2.available(), ec2.MISSING)
    return ec2.run_in_network_namespace(tmp_path_factory.mktemp("ec2") / "facts.json")


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_workers_that_never_arrive_fail_the_job_at_its_start_timeout(facts: dict[str, Any]) -> None:
    run = facts["timed_out"]
    assert run["status"] == "failed"
    assert "the ec2 cluster of profile 'aws' did not start" in run["message"]
    assert f"within {facts['start_timeout']} s (the profile's start_timeout_seconds)" in run["message"]
    # it waited its start timeout, and not much longer (tearing down is a few calls to the provider)
    assert (
        facts["start_timeout"] - 1 <= seconds(run["started"], run["finished"]) <= facts["start_timeout"] + 60
    )
    assert run["instances"] and all(i["state"] in GONE for i in run["instances"]), run["instances"]
    assert run["security_groups_after"] == run["security_groups_before"]  # none made, none left
    assert run["registry"] == []


def test_the_instances_carry_the_jobs_tags(facts: dict[str, Any]) -> None:
    for run in (facts["timed_out"], facts["killed"]):
        for instance in run["instances"] if "instances" in run else run["after_dismiss"]:
            tags = instance["tags"]
            assert tags[JOB_TAG] == run["job"]
            assert tags[OWNER_TAG].split(":")[1].isdigit()
            assert tags[DEPLOYMENT_TAG] == facts["timed_out"]["instances"][0]["tags"][DEPLOYMENT_TAG]


def test_the_sweep_finds_a_killed_runners_instances_by_their_tags(facts: dict[str, Any]) -> None:
    run = facts["killed"]
    [first] = run["first"]
    assert first["state"] == "running" and first["tags"][OWNER_TAG].split(":")[1] == str(run["runner_pid"])
    assert run["registry_at_kill"] == []  # the cluster was still starting: no local record to go by
    assert [i["state"] in GONE for i in run["after_sweep"]] == [True]


def test_a_job_dismissed_while_its_cluster_starts_leaves_nothing_running(facts: dict[str, Any]) -> None:
    run = facts["killed"]
    [second] = run["second"]
    assert second["tags"][OWNER_TAG] != run["first"][0]["tags"][OWNER_TAG]  # the restarted runner's
    assert run["status"] == "dismissed"
    assert len(run["after_dismiss"]) == 2 and all(i["state"] in GONE for i in run["after_dismiss"])
    assert run["registry"] == []
    assert facts["serve_exit"] == 0 and facts["left_running"] == []
