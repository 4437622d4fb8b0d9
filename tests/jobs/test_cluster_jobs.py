"""Jobs on cluster profiles through a real serve: the server's own cluster as `local`, an existing
scheduler started by the test as `scheduler`, a per-job LocalCluster; each job's cost is recorded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server, dask_cluster_processes
from tests.jobs.client import submit, wait
from tests.jobs.test_faults import no_zombies, store_of

pytestmark = pytest.mark.slow

PROFILES = """
version: 1
default: local
profiles:
  local:
    kind: local
    max_workers: 2
    price: {{amount: 0.0, currency: EUR, as_of: "2026-11-01"}}
  lab:
    kind: scheduler
    max_workers: 1
    options: {{address: "tcp://127.0.0.1:{port}"}}
    price: {{amount: 0.50, currency: EUR, as_of: "2026-11-01"}}
    billing: {{granularity_seconds: 60}}
  burst:
    kind: local
    shared: false
    max_workers: 2
    options: {{processes: false, threads_per_worker: 1}}
    price: {{amount: 0.20, currency: USD, as_of: "2026-11-01"}}
    billing: {{granularity_seconds: 1, minimum_seconds: 60}}
"""
CONFIG = """
[server]
processes = tests.jobs.cluster_processes:cluster_processes
[dask]
workers = 1
dashboard =
[cluster]
profiles_file = {profiles}
[logging]
format = text
"""


@pytest.fixture(scope="module")
def lab_port() -> Iterator[int]:
    """A real `dask scheduler` and `dask worker` of their own: the `scheduler` profile's cluster."""
    with dask_cluster_processes() as port:
        yield port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab_port: int) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("clusters")
    profiles = folder / "clusters.yaml"
    profiles.write_text(PROFILES.format(port=lab_port))
    running = Server(folder, CONFIG.format(profiles=profiles)).start()
    yield running
    assert running.stop() == 0


@pytest.mark.parametrize(("profile", "currency"), [("local", "EUR"), ("lab", "EUR"), ("burst", "USD")])
def test_job_on_profile_is_billed(server: Server, profile: str, currency: str) -> None:
    job = submit(server, "cluster_sleep", f"tasks=4;seconds=0.5;cluster={profile}", "slept")
    final, _ = wait(server, job)
    assert final.state == "ProcessSucceeded", final
    assert final.outputs == {"slept": "2.0"}
    [cost] = [c for j, c in store_of(server).costs() if j.id == job]
    assert cost["profile"] == profile and cost["currency"] == currency
    assert cost["tasks"] == 4 and cost["busy_task_seconds"] >= 2.0
    assert cost["billed_worker_seconds"] >= cost["busy_task_seconds"] * 0.99
    if profile == "burst":
        assert not cost["shared"] and cost["billed_worker_seconds"] >= 60  # minimum billed time per worker
        assert cost["cost"] > 0
    no_zombies(server)


def test_unknown_profile_is_refused(server: Server) -> None:
    job = submit(server, "cluster_sleep", "tasks=1;seconds=0.1;cluster=mars", "slept")
    final, _ = wait(server, job)
    assert final.state == "ProcessFailed" and "no cluster profile 'mars'" in final.message


def test_jobs_cost_table(server: Server) -> None:
    output = subprocess.run(
        [sys.executable, "-m", "wps_server.cli", "--config", str(server.config), "jobs", "cost"],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "billed s" in output and "burst" in output and "USD" in output
    assert Path(server.folder / "var" / "clusters").is_dir()
