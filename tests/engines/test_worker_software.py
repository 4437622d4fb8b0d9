"""The workers' software check: the probe as a worker without this project runs it (shipped by value),
the comparison, and a shared `scheduler` profile whose worker runs from such an environment."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest

from cluster import software_probe
from cluster.errors import WorkerSoftwareError
from cluster.lifecycle import open_cluster
from cluster.profiles import parse_profile
from cluster.worker_software import differences, server_software
from tests.engines.worker_envs import WorkerEnvs

PROBE = "import json, pickle, sys; print(json.dumps(pickle.load(sys.stdin.buffer)()))"


def test_a_python_without_the_project_reports_it_absent_and_the_rest_as_the_server(
    worker_envs: WorkerEnvs, tmp_path: Path
) -> None:
    cloudpickle.register_pickle_by_value(software_probe)
    try:
        shipped = cloudpickle.dumps(software_probe.installed_software)
    finally:
        cloudpickle.unregister_pickle_by_value(software_probe)
    answer = subprocess.run(
        [str(worker_envs.bare_python), "-c", PROBE],
        input=shipped,
        capture_output=True,
        cwd=tmp_path,
        check=True,
    )
    found = json.loads(answer.stdout)
    server = dict(server_software())
    assert server["space-wps"] != "absent" and found["space-wps"] == "absent"
    assert {k: v for k, v in found.items() if k != "space-wps"} == {
        k: v for k, v in server.items() if k != "space-wps"
    }
    assert differences(server, {"tcp://w:1": found}) == {
        "tcp://w:1": [f"space-wps: worker has absent, server has {server['space-wps']}"]
    }


def test_differences_name_each_package_and_skip_workers_that_left() -> None:
    server = {"python": "3.11", "dask": "2026.8.0", "gdal": "3.10.3"}
    workers = {
        "tcp://a:1": {"python": "3.12", "dask": "2026.8.0", "gdal": "3.9.0"},
        "tcp://b:1": dict(server),
        "tcp://c:1": OSError("the worker left"),
        "tcp://d:1": ModuleNotFoundError("No module named 'json'"),
    }
    assert differences(server, workers) == {
        "tcp://a:1": [
            "python: worker has 3.12, server has 3.11",
            "gdal: worker has 3.9.0, server has 3.10.3",
        ],
        "tcp://d:1": ["the software probe failed: ModuleNotFoundError: No module named 'json'"],
    }
    error = WorkerSoftwareError("lab", differences(server, workers))
    assert "profile 'lab'" in str(error) and "python: worker has 3.12" in str(error)


@pytest.fixture
def bare_worker_scheduler(worker_envs: WorkerEnvs, tmp_path: Path) -> Iterator[str]:
    """A `dask scheduler` of the server's Python with one `dask worker` from the environment without the
    project; yields the scheduler's address."""
    from distributed import Client

    from tests.e2e.server import free_port
    from tests.engines.processes_running import stop_daemon

    address = f"tcp://127.0.0.1:{free_port()}"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
         address.rsplit(":", 1)[1], "--no-dashboard"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(worker_envs.bare_python), "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
         "--nthreads", "1", "--no-dashboard"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        stop_daemon(worker)
        stop_daemon(scheduler)


def test_a_shared_scheduler_whose_worker_lacks_the_project_is_refused(bare_worker_scheduler: str) -> None:
    profile = parse_profile(
        "onprem", {"kind": "scheduler", "options": {"address": bare_worker_scheduler}}, env={}
    )
    with pytest.raises(WorkerSoftwareError) as refused, open_cluster(profile, 1, "job-bare"):
        pytest.fail("the job must not get a client on those workers")
    assert "profile 'onprem'" in str(refused.value)
    assert "space-wps: worker has absent" in str(refused.value)
