"""The `ssh` kind on Debian's sshd (127.0.0.1, keys made by the test), through a real serve: a job's
tasks run on workers started over SSH and nothing of its cluster is left; a worker environment without
this project fails the job before its first task, naming what differs; an unreachable host fails the
job at start-up naming the profile and the reason."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.e2e.server import Server, free_port
from tests.engines.sshd import SSHServer
from tests.engines.worker_envs import WorkerEnvs
from tests.jobs.client import submit, wait
from tests.jobs.test_faults import store_of

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
PRICE = {"amount": 0.05, "currency": "EUR", "as_of": "2026-11-01"}


def ssh_profile(server: SSHServer, python: str, port: int | None = None) -> dict[str, object]:
    options = server.connect_options() | ({"port": port} if port else {})
    return {
        "kind": "ssh",
        "max_workers": 1,
        "worker_threads": 1,
        "start_timeout_seconds": 60,
        "options": {
            "hosts": ["127.0.0.1", "127.0.0.1"],
            "connect_options": options,
            "remote_python": python,
            "scheduler_options": {"host": "127.0.0.1", "port": 0, "dashboard": False},
            "worker_options": {"host": "127.0.0.1"},
        },
        "price": PRICE,
    }


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, ssh_server: SSHServer, worker_envs: WorkerEnvs
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("ssh-jobs")
    profiles = {
        "version": 1,
        "default": "local",
        "profiles": {
            "local": {"kind": "local", "max_workers": 1},
            "lab": ssh_profile(ssh_server, str(worker_envs.server_python)),
            "lab-bare": ssh_profile(ssh_server, str(worker_envs.bare_python)),
            "lab-down": ssh_profile(ssh_server, str(worker_envs.server_python), port=free_port()),
        },
    }
    (folder / "clusters.yaml").write_text(yaml.safe_dump(profiles))
    running = Server(folder, CONFIG.format(profiles=folder / "clusters.yaml")).start()
    yield running
    assert running.stop() == 0


def no_sessions_left(ssh_server: SSHServer) -> bool:
    """Every process the job started over SSH has ended (checked for a while: the close is asynchronous
    on the SSH side)."""
    deadline = time.monotonic() + 30
    while ssh_server.sessions() and time.monotonic() < deadline:
        time.sleep(0.2)
    return not ssh_server.sessions()


def test_a_job_runs_its_tasks_on_workers_started_over_ssh(server: Server, ssh_server: SSHServer) -> None:
    job = submit(server, "engine_probe", "tasks=2;seconds=0.2;cluster=lab", "result")
    final, _ = wait(server, job, timeout=180)
    assert final.state == "ProcessSucceeded", final
    answers = json.loads(final.outputs["result"])
    assert [a["task"] for a in answers] == [0, 1]
    # the tasks ran inside sessions of this sshd, from 127.0.0.1
    assert all(a["ssh_connection"].split()[0] == "127.0.0.1" for a in answers), answers
    assert all(a["ssh_connection"].split()[-1] == str(ssh_server.port) for a in answers), answers
    [cost] = [c for j, c in store_of(server).costs() if j.id == job]
    assert (cost["kind"], cost["shared"], cost["tasks"]) == ("ssh", False, 2)
    assert [w["worker"] for w in cost["workers"]] == [answers[0]["worker"]]
    assert no_sessions_left(ssh_server)


def test_workers_without_the_project_fail_the_job_before_its_first_task(
    server: Server, ssh_server: SSHServer
) -> None:
    job = submit(server, "engine_probe", "tasks=2;seconds=0.2;cluster=lab-bare", "result")
    final, _ = wait(server, job, timeout=180)
    assert final.state == "ProcessFailed", final
    assert "workers of cluster profile 'lab-bare' do not run the server's software" in final.message
    assert "space-wps: worker has absent, server has 0.1.0" in final.message, final.message
    assert "Traceback" not in final.message and "ImportError" not in final.message
    [cost] = [c for j, c in store_of(server).costs() if j.id == job]
    assert cost["tasks"] == 0  # no task was sent to those workers
    assert no_sessions_left(ssh_server)


def test_an_unreachable_host_fails_the_job_at_start_up_naming_profile_and_reason(server: Server) -> None:
    job = submit(server, "engine_probe", "tasks=1;seconds=0;cluster=lab-down", "result")
    final, _ = wait(server, job, timeout=180)
    assert final.state == "ProcessFailed", final
    assert "cannot start a ssh cluster for profile 'lab-down'" in final.message, final.message
    assert "refused" in final.message.lower() or "connect call failed" in final.message.lower(), final.message
