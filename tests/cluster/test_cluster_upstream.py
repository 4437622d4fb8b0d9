"""Every non-local kind of the example file builds its upstream cluster object, offline and unstarted.

Objects are constructed inside a running event loop with ``asynchronous=True`` (so nothing starts), with
the network forbidden (``no_network``), and their arguments are read back from the objects themselves.
"""

from __future__ import annotations

import asyncio
import functools
import json
import warnings
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.lifecycle import build_cluster
from cluster.profiles import ProfileRegistry
from cluster.upstream import cluster_name

JOB = "job-0042"


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in a fresh event loop (no pytest async plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def _build(example: ProfileRegistry, name: str, n: int = 3) -> Any:
    cluster = build_cluster(example.get(name), n, JOB, asynchronous=True)
    assert cluster.status.name == "created"  # constructed, never started
    return cluster


@in_loop
async def test_ec2(example: ProfileRegistry, no_network: list[object]) -> None:
    from dask_cloudprovider.aws import EC2Cluster

    cluster = await _build(example, "aws")
    assert isinstance(cluster, EC2Cluster)
    assert cluster._n_workers == 3
    assert (cluster.region, cluster.worker_instance_type, cluster.scheduler_instance_type) == (
        "us-east-1",
        "c6i.xlarge",
        "c6i.xlarge",
    )
    assert cluster.instance_tags["space-wps-job"] == JOB
    assert cluster.worker_options["worker_options"] == {"nthreads": 4}
    assert cluster.scheduler_options["scheduler_options"] == {"idle_timeout": "30 minutes"}
    assert cluster.security is not None  # temporary TLS credentials, made locally
    # the user data the machines boot with: log in to the image's registry, then run the image
    image = example.get("aws").options["docker_image"]
    options = cluster.worker_options
    user_data = cluster.render_cloud_init(
        image=image,
        command="dask-worker",
        docker_args="",
        extra_bootstrap=options["extra_bootstrap"],
        gpu_instance=False,
        bootstrap=True,
        auto_shutdown=True,
        env_vars={},
    )
    commands = [str(c) for c in yaml.safe_load(user_data)["runcmd"]]
    login = next(i for i, c in enumerate(commands) if "docker login" in c)
    run = next(i for i, c in enumerate(commands) if c.startswith("docker run"))
    installed = commands.index("systemctl start docker")
    assert installed < login < run and image in commands[run]
    assert f'--password-stdin "$(echo {image} | cut -d/ -f1)"' in commands[login]
    assert cluster.scheduler_options["extra_bootstrap"] == options["extra_bootstrap"]
    assert no_network == []


@in_loop
async def test_azure(example: ProfileRegistry, no_network: list[object]) -> None:
    from dask_cloudprovider.azure import AzureVMCluster

    cluster = await _build(example, "azure", n=2)
    assert isinstance(cluster, AzureVMCluster)
    assert cluster._n_workers == 2
    assert (cluster.location, cluster.resource_group, cluster.vm_size) == (
        "eastus",
        "space-wps",
        "Standard_D4s_v5",
    )
    assert cluster.subscription_id == "00000000-0000-0000-0000-000000000000"
    assert cluster.scheduler_vm_size == "Standard_D4s_v5"
    assert cluster.worker_options["worker_options"] == {"nthreads": 4}
    assert no_network == []


@in_loop
async def test_gcp_with_a_locally_made_service_account(
    example: ProfileRegistry, no_network: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GCPCluster loads credentials when constructed. A service-account file whose RSA key is generated
    here is enough: google-auth only signs a token on the first API call, and the compute client is
    built from the discovery document bundled with google-api-python-client. ``no_network`` proves no
    connection or DNS lookup happens."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from dask_cloudprovider.gcp import GCPCluster

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "space-wps-test",
        "private_key_id": "test",
        "private_key": pem,
        "client_email": "dask@space-wps-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    file = tmp_path / "service-account.json"
    file.write_text(json.dumps(account))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(file))

    cluster = await _build(example, "gcp", n=4)
    assert isinstance(cluster, GCPCluster)
    assert cluster._n_workers == 4
    assert (cluster.scheduler_machine_type, cluster.worker_machine_type) == ("n2-standard-4", "n2-standard-4")
    assert cluster.options["zone"] == "us-central1-a"
    assert cluster.options["projectid"] == "space-wps-test"
    assert cluster.options["instance_labels"]["space-wps-job"] == cluster_name(JOB)
    assert cluster.compute.service_account_credentials == {}  # from the environment, not from kwargs
    assert no_network == []


@in_loop
async def test_openstack_credentials_come_from_dask_config(
    example: ProfileRegistry, no_network: list[object]
) -> None:
    from dask_cloudprovider.openstack import OpenStackCluster

    cluster = await _build(example, "ovh")
    assert isinstance(cluster, OpenStackCluster)
    assert (cluster.options["region"], cluster.options["size"], cluster.options["worker_threads"]) == (
        "GRA11",
        "b2-15",
        4,
    )
    assert cluster.config["application_credential_secret"] == "app-cred-secret"
    assert cluster.config["network_id"] == "net-0001"
    assert no_network == []


@in_loop
async def test_hetzner_token_comes_from_dask_config(
    example: ProfileRegistry, no_network: list[object]
) -> None:
    from dask_cloudprovider.hetzner import HetznerCluster

    cluster = await _build(example, "hetzner", n=5)
    assert isinstance(cluster, HetznerCluster)
    assert cluster._n_workers == 5
    assert (cluster.server_type, cluster.location) == ("cpx31", "fsn1")
    assert cluster.config["token"] == "hcloud-test-token"
    assert no_network == []


@in_loop
async def test_kubernetes(example: ProfileRegistry, no_network: list[object]) -> None:
    from dask_kubernetes.operator import KubeCluster

    with warnings.catch_warnings():
        # asynchronous construction leaves the never-awaited start coroutine behind: that is the point
        warnings.simplefilter("ignore", RuntimeWarning)
        cluster = await _build(example, "k8s", n=6)
    assert isinstance(cluster, KubeCluster)
    assert (cluster.name, cluster.namespace, cluster.n_workers) == (cluster_name(JOB), "space-wps", 6)
    assert cluster.idle_timeout == 1800
    assert cluster.resources["limits"] == {"cpu": "4", "memory": "15Gi"}
    assert no_network == []


@in_loop
async def test_ssh(example: ProfileRegistry, no_network: list[object]) -> None:
    cluster = await _build(example, "ssh-lab", n=2)
    assert type(cluster).__name__ == "SpecCluster"
    assert cluster.scheduler_spec["options"]["address"] == "lab-01"
    workers = sorted(spec["options"]["address"] for spec in cluster.worker_spec.values())
    assert workers == ["lab-02", "lab-03"]
    spec = next(iter(cluster.worker_spec.values()))["options"]
    assert spec["kwargs"]["nthreads"] == 8
    assert spec["connect_options"]["username"] == "dask"
    assert no_network == []


@in_loop
async def test_pbs_job_script(example: ProfileRegistry, no_network: list[object]) -> None:
    from dask_jobqueue import PBSCluster

    cluster = await _build(example, "hpc-pbs", n=4)
    assert isinstance(cluster, PBSCluster)
    script = cluster.job_script()
    lines = script.splitlines()
    assert f"#PBS -N {cluster_name(JOB)}" in lines
    assert "#PBS -q workq" in lines
    assert "#PBS -A space-wps" in lines
    assert "#PBS -l walltime=02:00:00" in lines
    assert "#PBS -l place=free" in lines
    assert any(line.startswith("#PBS -l select=1:ncpus=8:mem=") for line in lines)
    command = lines[-1] if lines[-1] else lines[-2]
    assert "--nthreads 8" in command and "--nworkers" not in command and "--death-timeout" in command
    assert "--interface ib0" in command
    assert no_network == []


@in_loop
async def test_slurm_job_script(example: ProfileRegistry, no_network: list[object]) -> None:
    from dask_jobqueue import SLURMCluster

    cluster = await _build(example, "hpc-slurm", n=4)
    assert isinstance(cluster, SLURMCluster)
    lines = cluster.job_script().splitlines()
    assert f"#SBATCH -J {cluster_name(JOB)}" in lines
    for expected in ("#SBATCH -p compute", "#SBATCH -A space-wps", "#SBATCH --cpus-per-task=8"):
        assert expected in lines
    assert "#SBATCH -t 02:00:00" in lines
    assert "#SBATCH --exclusive=user" in lines
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    command = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert "--nthreads 8" in command and "--nworkers" not in command
    assert no_network == []
