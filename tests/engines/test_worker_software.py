"""The workers' software check: the probe as a worker without this project runs it (shipped by value),
the comparison, and a shared `scheduler` profile whose worker runs from such an environment."""

from __future__ import annotations

import json
import shutil
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
from tests.e2e.server import REPO
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
    ours = {"space-wps", "space-wps-source"}
    assert server["space-wps"] != "absent" and found["space-wps"] == "absent"
    assert found["space-wps-source"] == "absent" and server["s2p-tools"] == "ok"
    assert {k: v for k, v in found.items() if k not in ours} == {
        k: v for k, v in server.items() if k not in ours
    }
    assert differences(server, {"tcp://w:1": found}) == {
        "tcp://w:1": [
            f"space-wps: worker has absent, server has {server['space-wps']}",
            f"space-wps-source: worker has absent, server has {server['space-wps-source']}",
        ]
    }


def _probe_with(path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The probe run by the server's Python with ``path`` first on its import path."""
    answer = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(path)!r}); {PROBE}"],
        input=cloudpickle.dumps(software_probe.installed_software),
        capture_output=True,
        cwd=path,
        env=env,
        check=True,
    )
    found: dict[str, str] = json.loads(answer.stdout)
    return found


def test_a_worker_with_other_source_of_the_same_version_differs(tmp_path: Path) -> None:
    for package in software_probe.SOURCE_PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    server = dict(server_software())
    assert _probe_with(tmp_path)["space-wps-source"] == server["space-wps-source"]
    changed = tmp_path / "cluster" / "cost.py"
    changed.write_text(changed.read_text() + "\n# an older or newer checkout\n")
    worker = _probe_with(tmp_path)
    assert worker["space-wps"] == server["space-wps"]  # the version alone does not tell them apart
    assert differences(server, {"tcp://w:1": worker})["tcp://w:1"] == [
        f"space-wps-source: worker has {worker['space-wps-source']}, server has {server['space-wps-source']}"
    ]


def test_a_worker_without_s2ps_tools_says_which_are_missing(tmp_path: Path) -> None:
    (tmp_path / "s2p").mkdir()
    (tmp_path / "s2p" / "__init__.py").write_text("")  # S2P's Python without its compiled tools
    found = _probe_with(tmp_path, env={"PATH": "/nonexistent"})
    assert found["s2p-tools"] == "missing " + ", ".join(software_probe.S2P_TOOLS)


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
