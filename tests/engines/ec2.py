"""The `ec2` kind against moto's EC2 server, in a network namespace with only loopback up.

moto hands out public addresses (54.x) and dask-cloudprovider dials its scheduler there: on the
machine's network that would be traffic to the internet. So everything runs inside ``unshare --net``
(as root; ``ip link set lo up`` first): moto's server, a real ``wps-server serve`` whose runner starts
``EC2Cluster`` through the server's own code, and the scenario below, which records what it saw in a
JSON file for the test outside the namespace to check. Inside, connecting to 54.x fails at once
(no route), which is what "workers never arrive" looks like.

The VPC, subnet, security group and AMI are made in moto first and named in the profiles
(dask-cloudprovider cannot make its default security group).

Run: ``unshare --net -- sh -c 'ip link set lo up && exec python -m tests.engines.ec2 OUT.json'``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.e2e.server import REPO, Server, free_port

REGION = "eu-west-1"
START_TIMEOUT_S = 20
MISSING = "needs root, unshare (util-linux) and ip (iproute2) for a loopback-only network namespace"
CONFIG = """
[server]
processes = tests.engines.engine_processes:engine_processes
[dask]
workers = 1
dashboard =
[cluster]
profiles_file = {profiles}
[logging]
format = text
"""


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("ip") is not None


def run_in_network_namespace(out: Path, timeout: float = 600) -> dict[str, Any]:
    """Run the scenario in a new network namespace with only loopback up; return what it recorded."""
    script = f'ip link set lo up && exec "{sys.executable}" -m tests.engines.ec2 "{out}"'
    done = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        raise AssertionError(f"the EC2 scenario failed ({done.returncode}):\n{done.stderr[-6000:]}")
    facts: dict[str, Any] = json.loads(out.read_text())
    return facts


def only_loopback() -> bool:
    """This process's network namespace has no interface but loopback."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@contextmanager
def moto_ec2(folder: Path) -> Iterator[dict[str, str]]:
    """moto's server on 127.0.0.1 with a VPC, a subnet, a security group and an AMI; yields the
    environment that points boto3 (and aiobotocore) at it, and the resources' ids."""
    port = free_port()
    log = (folder / "moto.log").open("ab")
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    env = {
        "AWS_ENDPOINT_URL_EC2": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "moto-test",
        "AWS_SECRET_ACCESS_KEY": "moto-test",
        "AWS_DEFAULT_REGION": REGION,
    }
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or moto.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)
        ec2 = ec2_client(env)
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="space-wps-dask", Description="Dask", VpcId=vpc)[
            "GroupId"
        ]
        ami = ec2.register_image(Name="space-wps-worker", RootDeviceName="/dev/sda1")["ImageId"]
        yield {**env, "vpc": vpc, "subnet": subnet, "security_group": group, "ami": ami}
    finally:
        moto.send_signal(signal.SIGTERM)
        moto.wait(30)
        log.close()


def ec2_client(env: dict[str, str] | None = None) -> Any:
    """A boto3 EC2 client on moto (``env``: the variables :func:`moto_ec2` yields, else the process's)."""
    import boto3

    if env is None:
        return boto3.client("ec2", region_name=REGION)
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL_EC2"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def instances(job_id: str | None = None) -> list[dict[str, Any]]:
    """Every instance moto has (of one job: tagged with it), any state, with its tags as a dict."""
    filters = [{"Name": "tag:space-wps-job", "Values": [job_id]}] if job_id else []
    found = []
    for reservation in ec2_client().describe_instances(Filters=filters)["Reservations"]:
        for i in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in i.get("Tags", ())}
            found.append({"id": i["InstanceId"], "state": i["State"]["Name"], "tags": tags})
    return found


def security_groups() -> list[str]:
    return sorted(g["GroupId"] for g in ec2_client().describe_security_groups()["SecurityGroups"])


def profile(aws: dict[str, str], start_timeout: float) -> dict[str, Any]:
    return {
        "kind": "ec2",
        "max_workers": 1,
        "worker_threads": 1,
        "start_timeout_seconds": start_timeout,
        "options": {
            "region": REGION,
            "vpc": aws["vpc"],
            "subnet_id": aws["subnet"],
            "security_groups": [aws["security_group"]],
            "ami": aws["ami"],
            "instance_type": "t3.micro",
            "docker_image": "registry.invalid/space-wps:test",
            "bootstrap": False,
            "security": True,
        },
        "price": {"amount": 0.0104, "currency": "USD", "as_of": "2026-11-01", "scheduler_amount": 0.0104},
    }


def wait_for(condition: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def job_status(server: Server, job_id: str) -> dict[str, Any]:
    document: dict[str, Any] = requests.get(f"{server.url}/ogcapi/jobs/{job_id}", timeout=30).json()
    return document


def submit(server: Server, profile_name: str) -> str:
    body = {"inputs": {"tasks": 1, "seconds": 0.1, "cluster": profile_name}}
    answer = requests.post(
        f"{server.url}/ogcapi/processes/engine_probe/execution",
        json=body,
        headers={"Prefer": "respond-async"},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["jobID"])


def gone(job_id: str) -> bool:
    return all(i["state"] in ("shutting-down", "terminated") for i in instances(job_id))


def timed_out_start(server: Server, registry: Path) -> dict[str, Any]:
    """A job on a profile whose workers never arrive: it fails at its start timeout, nothing is left."""
    groups_before = security_groups()
    job = submit(server, "aws")
    status = wait_for(
        lambda: (s := job_status(server, job))["status"] in ("failed", "successful") and s,
        "the job to end",
        START_TIMEOUT_S + 300,
    )
    return {
        "job": job,
        "status": status["status"],
        "message": status.get("message", ""),
        "started": status.get("started"),
        "finished": status.get("finished"),
        "instances": instances(job),
        "all_instances": instances(),
        "security_groups_before": groups_before,
        "security_groups_after": security_groups(),
        "registry": sorted(p.name for p in registry.glob("*.json")),
    }


def killed_runner(server: Server, registry: Path) -> dict[str, Any]:
    """A runner SIGKILLed while its job's cluster is starting: the restarted runner's sweep finds the
    machines by their tags (the cluster never got a registry record) and terminates them; the job, put
    back in the queue when its heartbeat stops, starts a cluster again, and dismissing it then tears
    that one down too."""
    job = submit(server, "aws-patient")
    first = wait_for(lambda: [i for i in instances(job) if i["state"] == "running"], "a machine of the job")
    records = sorted(p.name for p in registry.glob("*.json"))
    [runner] = [p for p in server.descendants() if "wps_server.cli runner" in " ".join(p.cmdline())]
    runner.kill()
    runner.wait(30)
    wait_for(lambda: gone(job), "the sweep to terminate the machines", 120)
    swept = instances(job)
    # the job comes back (heartbeat lost after 20 s) and starts a cluster again: dismiss it while it starts
    again = wait_for(
        lambda: [
            i for i in instances(job) if i["state"] == "running" and i["id"] not in {f["id"] for f in first}
        ],
        "the job's second cluster",
        180,
    )
    requests.delete(f"{server.url}/ogcapi/jobs/{job}", timeout=30).raise_for_status()
    wait_for(lambda: gone(job), "the dismissed job's machines to be terminated", 120)
    return {
        "job": job,
        "runner_pid": runner.pid,
        "first": first,
        "registry_at_kill": records,
        "after_sweep": swept,
        "second": again,
        "after_dismiss": instances(job),
        "status": job_status(server, job)["status"],
        "registry": sorted(p.name for p in registry.glob("*.json")),
    }


def scenario(out: Path) -> None:
    if not only_loopback():
        raise SystemExit("refusing to run: this network namespace has more than loopback")
    folder = out.parent / "ec2-scenario"
    folder.mkdir(parents=True, exist_ok=True)
    with moto_ec2(folder) as aws:
        os.environ.update({k: v for k, v in aws.items() if k.startswith("AWS_")})  # this process only
        profiles = {
            "version": 1,
            "default": "local",
            "profiles": {
                "local": {"kind": "local", "max_workers": 1},
                "aws": profile(aws, START_TIMEOUT_S),
                "aws-patient": profile(aws, 900),
            },
        }
        (folder / "clusters.yaml").write_text(yaml.safe_dump(profiles))
        env = {k: v for k, v in aws.items() if k.startswith("AWS_")}
        server = Server(folder, CONFIG.format(profiles=folder / "clusters.yaml"), env=env).start()
        registry = folder / "var" / "clusters"
        facts: dict[str, Any] = {"start_timeout": START_TIMEOUT_S, "resources": aws}
        try:
            facts["timed_out"] = timed_out_start(server, registry)
            facts["killed"] = killed_runner(server, registry)
        finally:
            facts["serve_exit"] = server.stop()
            facts["left_running"] = [
                i for i in instances() if i["state"] not in ("shutting-down", "terminated")
            ]
        out.write_text(json.dumps(facts, indent=1))


if __name__ == "__main__":
    scenario(Path(sys.argv[1]))
