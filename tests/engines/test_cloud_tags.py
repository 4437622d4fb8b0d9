"""The sweep by provider tags against moto's EC2 server on 127.0.0.1 (only its API: no cluster is
started, so nothing dials the 54.x addresses it hands out): which machines it terminates and which it
leaves, and a job's own teardown of what its close left."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from cluster.cloud_tags import (
    DEPLOYMENT_TAG,
    JOB_TAG,
    OWNER_TAG,
    owner_tag,
    remove_job_machines,
    sweep_tagged,
)
from cluster.profiles import ClusterProfile, parse_profile
from tests.engines.ec2 import REGION, ec2_client, moto_ec2

DEPLOYMENT = "d-test"


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with moto_ec2(tmp_path_factory.mktemp("moto")) as resources:
        yield resources


@pytest.fixture
def ec2(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in aws.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return ec2_client()


def profile(aws: dict[str, str]) -> ClusterProfile:
    body = {
        "kind": "ec2",
        "options": {"region": REGION, "security_groups": [aws["security_group"]]},
        "price": {"amount": 0.01, "currency": "USD", "as_of": "2026-11-01"},
    }
    return parse_profile("aws", body, env={})


def dead_owner() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = owner_tag(process.pid)
    process.wait()
    return owner


def launch(ec2: Any, aws: dict[str, str], job: str, owner: str, deployment: str = DEPLOYMENT) -> str:
    tags = [{"Key": JOB_TAG, "Value": job}, {"Key": OWNER_TAG, "Value": owner}]
    tags.append({"Key": DEPLOYMENT_TAG, "Value": deployment})
    answer = ec2.run_instances(
        ImageId=aws["ami"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=aws["subnet"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(answer["Instances"][0]["InstanceId"])


def state(ec2: Any, instance: str) -> str:
    [reservation] = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    return str(reservation["Instances"][0]["State"]["Name"])


def test_the_sweep_terminates_machines_of_ended_jobs_and_dead_owners_only(
    ec2: Any, aws: dict[str, str]
) -> None:
    mine = owner_tag()
    ended = launch(ec2, aws, "job-ended", mine)
    orphaned = launch(ec2, aws, "job-running", dead_owner())  # its job was put back in the queue
    owned = launch(ec2, aws, "job-running", mine)
    foreign = launch(ec2, aws, "job-ended", dead_owner(), deployment="another-deployment")
    sweep = sweep_tagged([profile(aws), profile(aws)], DEPLOYMENT, {"job-running"})
    assert sweep.complete
    assert sorted((o.job_id, o.machine_ids) for o in sweep.outcomes) == [
        ("job-ended", (ended,)),
        ("job-running", (orphaned,)),
    ]
    assert {state(ec2, i) for i in (ended, orphaned)} <= {"shutting-down", "terminated"}
    assert state(ec2, owned) == state(ec2, foreign) == "running"
    assert sweep.remaining == {("job-running", mine)}
    # a job's teardown terminates what its cluster's close left, and only its own
    assert remove_job_machines(profile(aws), "job-running", DEPLOYMENT) == [owned]
    assert state(ec2, foreign) == "running"
    ec2.terminate_instances(InstanceIds=[foreign])


def test_a_provider_that_does_not_answer_is_reported_not_raised(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", f"http://127.0.0.1:{free_port()}")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, aws[key])
    sweep = sweep_tagged([profile(aws)], DEPLOYMENT, set())
    assert not sweep.complete
    [outcome] = sweep.outcomes
    assert outcome.action == "failed" and outcome.profile == "aws" and "Connect" in outcome.detail
