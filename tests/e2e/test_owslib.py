"""End to end: a real `wps-server serve` (gunicorn, Dask scheduler and workers, runner) driven by OWSLib."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dask.config
import psutil
import pytest
import requests
from owslib.wps import ASYNC, SYNC, ComplexDataInput, WebProcessingService

from tests.e2e.server import Server
from tests.xsd import assert_valid

CONFIG = """
[server]
processes = tests.wps.processes:test_processes
[inputs]
data_roots = {root}
[dask]
workers = 2
dashboard =
[logging]
format = text
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    (folder / "data").mkdir()
    (folder / "data" / "note.txt").write_text("a note on disk")
    running = Server(folder, CONFIG.format(root=folder / "data")).start()
    yield running
    assert running.stop() == 0


def wps(server: Server) -> WebProcessingService:
    return WebProcessingService(f"{server.url}/wps", skip_caps=False)


def test_capabilities_and_every_description(server: Server) -> None:
    service = wps(server)
    identifiers = [p.identifier for p in service.processes]
    assert identifiers == ["hello", "echo", "sleep", "fail", "dask_sleep", "dask_program", "dask_sum"]
    for identifier in identifiers:
        process = service.describeprocess(identifier)
        assert process.identifier == identifier
        raw = requests.get(
            f"{server.url}/wps",
            params={
                "service": "WPS",
                "version": "1.0.0",
                "request": "DescribeProcess",
                "identifier": identifier,
            },
        )
        assert_valid(raw.content)
    assert_valid(requests.get(f"{server.url}/wps?service=WPS&request=GetCapabilities").content)
    echo = service.describeprocess("echo")
    assert {i.identifier: i.dataType for i in echo.dataInputs}["count"].endswith("integer")


def test_sync_execute(server: Server) -> None:
    execution = wps(server).execute("hello", [("name", "OWSLib")], mode=SYNC)
    assert execution.isSucceded()
    assert execution.processOutputs[0].data == ["Hello OWSLib"]


def test_outputs_by_reference_are_served(server: Server) -> None:
    execution = wps(server).execute(
        "echo",
        [
            (
                "document",
                ComplexDataInput("file://" + str(server.folder / "data" / "note.txt"), mimeType="text/plain"),
            )
        ],
        output=[("copy", True)],
        mode=SYNC,
    )
    assert execution.isSucceded(), execution.errors
    reference = execution.processOutputs[0].reference
    assert reference.startswith(f"{server.url}/outputs/")
    assert requests.get(reference, timeout=10).text == "a note on disk"


def test_dask_job_runs_on_the_cluster(server: Server) -> None:
    execution = wps(server).execute("dask_sum", [("n", "100")], mode=SYNC)
    assert execution.isSucceded(), execution.errors
    assert execution.processOutputs[0].data == [str(sum(i * i for i in range(100)))]


def test_async_execute_reports_progress(server: Server) -> None:
    execution = wps(server).execute("sleep", [("seconds", "3")], output=[("slept", False)], mode=ASYNC)
    assert execution.statusLocation and execution.status == "ProcessAccepted"
    assert_valid(requests.get(execution.statusLocation, timeout=10).content)
    seen = []
    while not execution.isComplete():
        time.sleep(0.3)
        execution.checkStatus(sleepSecs=0)
        seen.append(execution.percentCompleted)
        assert_valid(requests.get(execution.statusLocation, timeout=10).content)
    assert execution.isSucceded(), execution.errors
    assert seen == sorted(seen) and any(0 < p < 100 for p in seen)


def test_failure_reaches_the_client(server: Server) -> None:
    execution = wps(server).execute("fail", [("how", "crash")], mode=SYNC)
    assert (
        not execution.isSucceded() and execution.isComplete()
    )  # OWSLib reports ProcessFailed as "Exception"
    assert "internal error" in execution.errors[0].text


def test_health_reports_database_and_scheduler(server: Server) -> None:
    health = requests.get(f"{server.url}/health", timeout=10).json()
    assert health == {"database": "ok", "scheduler": {"workers": 2}, "status": "ok"}


def test_serve_starts_the_cluster_as_separate_processes(server: Server) -> None:
    commands = [" ".join(p.cmdline()) for p in server.descendants() if p.status() != psutil.STATUS_ZOMBIE]
    assert any("dask_scheduler" in c for c in commands)
    assert any("dask_worker" in c for c in commands)
    assert any("gunicorn" in c for c in commands)
    assert any("wps_server.cli runner" in c for c in commands)
    zombies = [p.pid for p in server.descendants() if p.status() == psutil.STATUS_ZOMBIE]
    assert zombies == []


def test_served_cluster_runs_with_quiet_monitors(server: Server) -> None:
    """Dask's 10 ms profiler and sub-second monitors are off in the cluster serve starts."""
    from distributed import Client

    with Client(scheduler_file=str(server.folder / "var" / "dask" / "scheduler.json")) as client:
        profiling = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        tick = client.run_on_scheduler(lambda: dask.config.get("distributed.admin.tick.interval"))
    assert list(profiling.values()) == [False, False]
    assert tick == "500ms"
