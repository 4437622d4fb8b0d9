"""The `slurm` kind on Debian's slurm-wlm (one node on this machine, its own munge key and
configuration), through a real serve: its workers are SLURM batch jobs. S2P on the test pair gives the
reference DSM there, a pass screening gives what the server's own cluster gives, the queue is empty
after success, failure and dismissal, and the bill is made of the workers' real arrivals and departures,
which match the batch jobs' own start and end."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from owslib.wps import ASYNC, SYNC, ComplexDataInput, WebProcessingService

from cluster.upstream import cluster_name
from processes.s2p.evaluation import compare_dsms
from tests.e2e.server import Server
from tests.engines.slurm import PARTITION, SlurmCluster
from tests.jobs.client import submit, wait
from tests.jobs.test_faults import store_of

PAIR = Path(__file__).parents[1] / "data" / "s2p" / "pair"
SNAPSHOT = (
    Path(__file__).parents[1] / "data" / "ssa" / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"
)
IMAGE = "image/tiff; application=geotiff"
S2P_OPTIONS = json.dumps(
    {"horizontal_margin": 20, "vertical_margin": 5, "disp_range_method": "sift", "msk_erosion": 0}
)
CONFIG = """
[server]
processes = tests.engines.engine_processes:engine_processes
[inputs]
data_roots = {root}
[dask]
workers = 1
dashboard =
[cluster]
profiles_file = {profiles}
[ssa]
pass_chunk_size = 64
[logging]
format = text
"""


def slurm_profile(folder: Path, queue: str = PARTITION) -> dict[str, Any]:
    return {
        "kind": "slurm",
        "max_workers": 2,
        "start_timeout_seconds": 120,
        "startup_seconds": 1,  # batch jobs start at once here: size for every task
        "options": {
            "queue": queue,
            "cores": 1,
            "memory": "2GiB",
            "walltime": "00:30:00",
            "scheduler_options": {"host": "127.0.0.1", "dashboard": False},
            "worker_extra_args": ["--host", "127.0.0.1"],
            "log_directory": str(folder / "slurm-logs"),
        },
        "price": {"amount": 0.02, "currency": "EUR", "per": "core-hour", "as_of": "2026-11-01"},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, slurm_cluster: SlurmCluster) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("slurm-jobs")
    shutil.copytree(PAIR, folder / "data" / "pair")
    profiles = {
        "version": 1,
        "default": "local",
        "profiles": {
            "local": {"kind": "local", "max_workers": 1},
            "hpc": slurm_profile(folder),
            "hpc-nowhere": slurm_profile(folder, queue="no-such-partition"),
        },
    }
    (folder / "clusters.yaml").write_text(yaml.safe_dump(profiles))
    config = CONFIG.format(root=folder / "data", profiles=folder / "clusters.yaml")
    running = Server(folder, config, env=slurm_cluster.env).start()
    yield running
    assert running.stop() == 0


def queue_empties(slurm: SlurmCluster, job_id: str) -> bool:
    """The job's batch jobs leave the queue (running and completing ones included)."""
    deadline = time.monotonic() + 60
    while slurm.queue(cluster_name(job_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return slurm.queue(cluster_name(job_id)) == []


def slurm_time(text: str) -> float:
    return datetime.fromisoformat(text).astimezone().timestamp()  # SLURM prints local time, to the second


def cost_of(server: Server, job_id: str) -> dict[str, Any]:
    [cost] = [c for j, c in store_of(server).costs() if j.id == job_id]
    return dict(cost)


def test_the_bill_is_made_of_the_batch_jobs_real_start_and_end(
    server: Server, slurm_cluster: SlurmCluster
) -> None:
    job = submit(server, "engine_probe", "tasks=4;seconds=1;cluster=hpc", "result")
    final, _ = wait(server, job, timeout=300)
    assert final.state == "ProcessSucceeded", final
    answers = json.loads(final.outputs["result"])
    batch_of = {a["worker"]: a["slurm_job_id"] for a in answers}
    assert all(batch_of.values()), answers  # every task ran inside a SLURM batch job
    assert queue_empties(slurm_cluster, job)
    batch = {b["JobId"]: b for b in slurm_cluster.jobs(cluster_name(job))}
    cost = cost_of(server, job)
    created = store_of(server).get(job).created.timestamp()  # type: ignore[union-attr]
    assert (cost["kind"], cost["shared"], cost["tasks"]) == ("slurm", False, 4)
    assert len(cost["workers"]) == len(batch) == cost["workers_requested"] == 2  # one per batch job
    for bill in cost["workers"]:
        ran = batch[batch_of[bill["worker"]]] if bill["worker"] in batch_of else None
        if ran is None:  # a worker that got no task: still one of the job's batch jobs
            continue
        start, end = slurm_time(ran["StartTime"]), slurm_time(ran["EndTime"])
        # billed from its request (boot time included), never before the job existed, to its departure,
        # which is when its batch job ended (SLURM's times are whole seconds)
        assert created - 1 <= bill["start"] <= start + 1, (bill, ran["StartTime"])
        assert start - 1 <= bill["end"] <= end + 1, (bill, ran["StartTime"], ran["EndTime"])
    assert cost["billed_thread_seconds"] == cost["billed_worker_seconds"]  # one core per batch job
    assert cost["cost"] == pytest.approx(cost["billed_worker_seconds"] / 3600 * 0.02)


@pytest.mark.slow
def test_s2p_on_slurm_workers_gives_the_reference_dsm(
    server: Server, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    wps = WebProcessingService(f"{server.url}/wps")
    images = [
        ComplexDataInput(f"file://{server.folder / 'data' / 'pair' / n}", mimeType=IMAGE)
        for n in ("img_01.tif", "img_02.tif")
    ]
    inputs = [
        ("images", images[0]),
        ("images", images[1]),
        ("roi_pixels", "150,150,700,700"),
        ("tile_size", "300"),
        ("dsm_resolution", "0.5"),
        ("cluster", "hpc"),
        ("s2p_options", S2P_OPTIONS),
    ]
    execution = wps.execute("s2p_stereo", inputs, output=[("dsm", True), ("report", True)], mode=ASYNC)
    deadline = time.monotonic() + 600
    while not execution.isComplete():
        assert time.monotonic() < deadline
        time.sleep(1)
        execution.checkStatus(sleepSecs=0)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    job = execution.statusLocation.rstrip("/").rsplit("/", 1)[-1]
    references = {o.identifier: o.reference for o in execution.processOutputs}
    dsm = tmp_path / "dsm.tif"
    dsm.write_bytes(requests.get(references["dsm"], timeout=60).content)
    agreement = compare_dsms(dsm, PAIR / "expected_dsm.tif")
    assert agreement.acceptable, agreement
    report = requests.get(references["report"], timeout=60).json()
    assert report["cost"]["kind"] == "slurm" and report["cost"]["busy_task_seconds"] > 0
    assert len(report["cost"]["workers"]) == len(slurm_cluster.jobs(cluster_name(job))) >= 1
    assert queue_empties(slurm_cluster, job)


def test_pass_screening_on_slurm_workers_matches_the_servers_own_cluster(
    server: Server, slurm_cluster: SlurmCluster
) -> None:
    wps = WebProcessingService(f"{server.url}/wps", skip_caps=True)
    ingest = wps.execute(
        "ssa_ingest", [("messages", ComplexDataInput(SNAPSHOT.read_text(), "text/plain"))], mode=SYNC
    )
    assert ingest.isSucceded(), [e.text for e in ingest.errors]
    request = "site=50.6166,7.1296,300;min_elevation=20;start=2026-09-21T00:00:00Z;end=2026-09-22T00:00:00Z"
    passes, summaries, jobs = {}, {}, {}
    for where in ("", ";cluster=hpc"):
        job = jobs[where] = submit(server, "ssa_predict_passes", request + where, "result;summary")
        final, _ = wait(server, job, timeout=300)
        assert final.state == "ProcessSucceeded", final
        passes[where] = json.loads(final.outputs["result"])
        summaries[where] = json.loads(final.outputs["summary"])
    assert len(passes[";cluster=hpc"]) > 100 and passes[";cluster=hpc"] == passes[""]
    cost = cost_of(server, jobs[";cluster=hpc"])
    assert cost["kind"] == "slurm" and summaries[";cluster=hpc"]["chunks"] > 1
    assert cost["tasks"] == summaries[";cluster=hpc"]["chunks"]  # every chunk ran on a batch job's worker
    assert len(slurm_cluster.jobs(cluster_name(jobs[";cluster=hpc"]))) == len(cost["workers"]) >= 1
    assert queue_empties(slurm_cluster, jobs[";cluster=hpc"])


def test_a_failed_job_leaves_the_queue_empty(server: Server, slurm_cluster: SlurmCluster) -> None:
    job = submit(server, "engine_probe", "tasks=2;seconds=0;fail=true;cluster=hpc", "result")
    final, _ = wait(server, job, timeout=300)
    assert final.state == "ProcessFailed" and "probe task" in final.message, final
    assert slurm_cluster.jobs(cluster_name(job))  # it did run batch jobs
    assert queue_empties(slurm_cluster, job)


def test_a_dismissed_job_leaves_the_queue_empty(server: Server, slurm_cluster: SlurmCluster) -> None:
    job = submit(server, "engine_probe", "tasks=2;seconds=600;cluster=hpc", "result")
    _, seen = wait(server, job, timeout=300, until=("ProcessStarted",))
    deadline = time.monotonic() + 300
    while "probe tasks submitted" not in seen[-1].message:  # workers arrived, tasks running
        assert time.monotonic() < deadline, seen[-1]
        time.sleep(0.5)
        seen.append(wait(server, job, timeout=60, until=("ProcessStarted",))[0])
    assert [line.split()[2] for line in slurm_cluster.queue(cluster_name(job))] == ["RUNNING", "RUNNING"]
    assert requests.delete(f"{server.url}/ogcapi/jobs/{job}", timeout=30).status_code == 200
    assert queue_empties(slurm_cluster, job)
    assert store_of(server).get(job).status.value == "dismissed"  # type: ignore[union-attr]


def test_a_partition_that_does_not_exist_fails_the_job_at_start_up(server: Server) -> None:
    job = submit(server, "engine_probe", "tasks=1;seconds=0;cluster=hpc-nowhere", "result")
    final, _ = wait(server, job, timeout=300)
    assert final.state == "ProcessFailed", final
    assert "profile 'hpc-nowhere'" in final.message and "partition" in final.message.lower(), final.message
