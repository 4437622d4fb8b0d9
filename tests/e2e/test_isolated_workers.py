"""Workers that cannot see the server's files: Dask workers started in a mount namespace of their own
where the server's folder (its data_dir and its data root) is hidden under an empty tmpfs, and an S3
endpoint on loopback as the only place they share with the server ([jobs] storage = s3://...).

A task that opens a file of the server fails there; s2p_stereo on the test pair, whose runner is
killed in the middle of the job, is resumed from the object store's markers and gives the reference
DSM; a dismissed job leaves no object behind; the SSA pass screening runs there as on any worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import distributed
import pytest
import requests
from owslib.wps import ASYNC, SYNC, ComplexDataInput, WebProcessingService

from processes.s2p.evaluation import compare_dsms
from processes.wps_s2p_stereo import PRODUCT_FILES
from tests.e2e.server import REPO, Server, free_port
from tests.engines.required import require_engine
from tests.jobs.client import submit, wait
from tests.s3server import S3Server

pytestmark = pytest.mark.slow
PAIR = Path(__file__).parents[1] / "data" / "s2p" / "pair"
SNAPSHOT = (
    Path(__file__).parents[1] / "data" / "ssa" / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"
)
IMAGE = "image/tiff; application=geotiff"
CONFIG = """
[server]
processes = processes:shipped_processes
[inputs]
data_roots = {root}
[dask]
workers = 1
dashboard =
[jobs]
storage = s3://{bucket}/wps
[cluster]
profiles_file = {profiles}
[ssa]
pass_chunk_size = 64
[logging]
format = text
"""
PROFILES = """
default: local
profiles:
  local: {{kind: local, max_workers: 1}}
  isolated:
    kind: scheduler
    max_workers: 2
    options: {{address: "tcp://127.0.0.1:{port}"}}
"""
OPTIONS = '{"horizontal_margin": 20, "vertical_margin": 5, "disp_range_method": "sift", "msk_erosion": 0}'


class IsolatedCluster:
    """A Dask scheduler, and two workers in their own mount namespace where `hidden` is an empty tmpfs."""

    def __init__(self, hidden: Path, env: dict[str, str], scratch: Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        base = {**os.environ, "PYTHONPATH": str(REPO)}
        self.scheduler = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                *("--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"),
            ],
            env=base,
            start_new_session=True,
        )
        worker = (
            f"mount -t tmpfs tmpfs {hidden} && exec {sys.executable} -m distributed.cli.dask_worker "
            f"{self.address} --nthreads 1 --nworkers 2 --no-dashboard --local-directory {scratch}"
        )
        self.workers = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", worker],
            env={**base, **env},
            start_new_session=True,
        )
        with distributed.Client(self.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)

    def stop(self) -> None:
        for process in (self.workers, self.scheduler):
            process.terminate()
            process.wait(60)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's folder: data_dir and the data root, both hidden from the workers."""
    require_engine(os.geteuid() == 0 and shutil.which("unshare") is not None, "needs root and unshare(1)")
    path = tmp_path_factory.mktemp("isolated")
    shutil.copytree(PAIR, path / "data" / "pair")
    return path


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    return s3_server.bucket("wps")


@pytest.fixture(scope="module")
def cluster(
    folder: Path, s3_server: S3Server, bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IsolatedCluster]:
    key = s3_server.user("isolated-workers", ["s3:*"], [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
    running = IsolatedCluster(folder, s3_server.env(key), tmp_path_factory.mktemp("worker-scratch"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(folder: Path, s3_server: S3Server, bucket: str, cluster: IsolatedCluster) -> Iterator[Server]:
    (folder / "clusters.yaml").write_text(PROFILES.format(port=cluster.port))
    config = CONFIG.format(root=folder / "data", bucket=bucket, profiles=folder / "clusters.yaml")
    running = Server(folder, config, env=s3_server.env(), workers=1).start()
    yield running
    assert running.stop() == 0


def test_a_task_that_opens_a_file_of_the_server_fails_there(server: Server, cluster: IsolatedCluster) -> None:
    files = [server.folder / "data" / "pair" / "img_01.tif", server.folder / "var" / "jobs.sqlite"]
    assert all(path.is_file() for path in files)  # the server sees them
    with distributed.Client(cluster.address) as client:
        for path in files:
            with pytest.raises(FileNotFoundError):
                client.submit(path.read_bytes, pure=False).result(timeout=60)


def _inputs(server: Server, roi: str, tile_size: int) -> list[tuple[str, Any]]:
    images = [
        ComplexDataInput(f"file://{server.folder / 'data' / 'pair' / n}", mimeType=IMAGE)
        for n in ("img_01.tif", "img_02.tif")
    ]
    return [
        ("images", images[0]),
        ("images", images[1]),
        ("roi_pixels", roi),
        ("tile_size", str(tile_size)),
        ("dsm_resolution", "0.5"),
        ("cluster", "isolated"),
        ("s2p_options", OPTIONS),
    ]


def _job_id(execution: Any) -> str:
    assert execution.statusLocation, [e.text for e in execution.errors]
    return str(execution.statusLocation.rstrip("/").rsplit("/", 1)[-1])


def _step_processes(s3_server: S3Server, bucket: str, job_id: str) -> set[int]:
    """The processes that ran the job's steps so far, from the attempt records they left in the store
    (named ``<host>-<pid>-<time>``)."""
    records = s3_server.objects(bucket, f"wps/jobs/{job_id}/s2p/markers/attempts/")
    return {int(key.rsplit("/", 1)[-1].rsplit("-", 2)[1]) for key in records}


def _assert_isolated(pids: set[int], cluster: IsolatedCluster) -> None:
    """``pids`` are worker processes of the isolated cluster, in a mount namespace not this one's."""
    with distributed.Client(cluster.address) as client:
        workers = set(client.run(os.getpid).values())
    assert pids and pids <= workers, (pids, workers)
    ours = os.readlink("/proc/self/ns/mnt")
    assert all(os.readlink(f"/proc/{pid}/ns/mnt") != ours for pid in pids)


def test_s2p_resumed_from_the_stores_markers_gives_the_reference_dsm(
    server: Server, s3_server: S3Server, bucket: str, cluster: IsolatedCluster, tmp_path: Path
) -> None:
    """The runner is SIGKILLed while the tiles are matched, and its local copy of the job is removed
    too (as if it came back on another machine): the restarted runner finds the finished steps by the
    markers in the object store, skips them, and the DSM passes s2p's acceptance. Every step ran on
    the isolated workers, and every product is an object of the store."""
    wps = WebProcessingService(f"{server.url}/wps")
    products = ("dsm", "point_cloud", "quicklook", "report")
    execution = wps.execute(
        "s2p_stereo",
        _inputs(server, "150,150,700,700", 300),
        output=[(name, True) for name in products],
        mode=ASYNC,
    )
    job_id = _job_id(execution)
    deadline = time.monotonic() + 600
    while "stereo_matching" not in (execution.statusMessage or "") or execution.percentCompleted < 40:
        assert not execution.isComplete() and time.monotonic() < deadline, execution.statusMessage
        time.sleep(0.2)
        execution.checkStatus(sleepSecs=0)
    markers = [k for k in s3_server.objects(bucket, f"wps/jobs/{job_id}/s2p/markers/") if k.endswith(".json")]
    assert markers, "finished steps leave their markers in the store"
    before_the_kill = _step_processes(s3_server, bucket, job_id)
    (runner,) = [p for p in server.descendants() if "wps_server.cli runner" in " ".join(p.cmdline())]
    runner.kill()
    shutil.rmtree(server.folder / "var" / "jobs" / job_id)
    after_the_kill: set[int] = set()
    while not execution.isComplete():
        assert time.monotonic() < deadline
        time.sleep(1)
        after_the_kill |= _step_processes(s3_server, bucket, job_id)  # until the job's folder goes
        execution.checkStatus(sleepSecs=0)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    references = {o.identifier: o.reference for o in execution.processOutputs}
    report = requests.get(references["report"], timeout=60).json()
    assert report["tasks"]["skipped_as_finished"] >= len(markers) >= 8, report["tasks"]
    assert report["storage"]["url"] == f"s3://{bucket}/wps/jobs/{job_id}/s2p"
    # the isolated cluster did the work, before and after the kill (the server's own has 1 worker)
    assert report["cluster"]["scheduler"] == cluster.address and report["cluster"]["workers"] == 2
    _assert_isolated(before_the_kill | after_the_kill, cluster)
    dsm = tmp_path / "dsm.tif"
    dsm.write_bytes(requests.get(references["dsm"], timeout=60).content)
    assert compare_dsms(dsm, PAIR / "expected_dsm.tif").acceptable
    # the outputs are objects of the store (served by the server); the job's folder went with the job
    outputs = s3_server.objects(bucket, f"wps/outputs/{job_id}/")
    for name in products:
        assert references[name].endswith(f"/outputs/{job_id}/{PRODUCT_FILES[name]}"), references[name]
        assert f"wps/outputs/{job_id}/{PRODUCT_FILES[name]}" in outputs, (name, outputs)
    assert s3_server.objects(bucket, f"wps/jobs/{job_id}/") == []


def test_a_dismissed_job_leaves_no_object_behind(
    server: Server, s3_server: S3Server, bucket: str, cluster: IsolatedCluster
) -> None:
    wps = WebProcessingService(f"{server.url}/wps")
    execution = wps.execute(
        "s2p_stereo", _inputs(server, "300,300,400,300", 200), output=[("dsm", True)], mode=ASYNC
    )
    job_id = _job_id(execution)
    deadline = time.monotonic() + 300
    while not s3_server.objects(bucket, f"wps/jobs/{job_id}/s2p/markers/"):
        assert time.monotonic() < deadline and not execution.isComplete(), execution.statusMessage
        time.sleep(0.2)
        execution.checkStatus(sleepSecs=0)
    _assert_isolated(_step_processes(s3_server, bucket, job_id), cluster)  # it ran there until now
    answer = requests.get(
        f"{server.url}/wps",
        params={"service": "WPS", "version": "2.0.0", "request": "Dismiss", "JobID": job_id},
        timeout=30,
    )
    assert answer.status_code == 200 and b"Dismissed" in answer.content
    with distributed.Client(cluster.address) as client:
        # the runner stops the job's steps and removes its folder once none runs any more
        while s3_server.objects(bucket, f"wps/jobs/{job_id}/") or any(client.processing().values()):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        time.sleep(3)  # nothing comes back later
        assert not any(client.processing().values())
    assert s3_server.objects(bucket, f"wps/jobs/{job_id}/") == []
    assert s3_server.objects(bucket, f"wps/outputs/{job_id}/") == []


def test_pass_screening_runs_on_the_isolated_workers(cluster: IsolatedCluster) -> None:
    """The screening's tasks take their orbits and site as arguments and read no file."""
    from processes.ssa.passes import PassOptions, Site, TleRecord, Window, predict_passes

    lines = (Path(__file__).parents[1] / "data" / "ssa" / "passes" / "gpconf-2026-09.tle").read_text()
    rows = lines.splitlines()
    records = [
        TleRecord(rows[i][:69], rows[i + 1][:69])
        for i in range(len(rows) - 1)
        if rows[i].startswith("1 ") and rows[i + 1].startswith("2 ")
    ]
    site = Site(28.2993, -16.5122, 2393.0, "ESA OGS, Tenerife")
    day = Window(datetime(2026, 9, 21, tzinfo=UTC), datetime(2026, 9, 22, tzinfo=UTC))
    options = PassOptions(elevation_mask_deg=10.0)
    local = predict_passes(records, site, day, options, chunk_size=10)
    with distributed.Client(cluster.address) as client:
        remote = predict_passes(records, site, day, options, client=client, chunk_size=10)
    assert remote == local and local


def _screened_chunks(cluster: IsolatedCluster) -> int:
    """How many pass screening chunks the isolated cluster's scheduler has seen computed, ever."""

    def count(dask_scheduler: Any) -> int:
        prefixes = dask_scheduler.task_prefixes.values()
        return sum(p.state_counts["memory"] for p in prefixes if "screen_chunk" in p.name)

    with distributed.Client(cluster.address) as client:
        return int(client.run_on_scheduler(count))


def test_a_pass_screening_job_with_cluster_isolated_runs_there(
    server: Server, cluster: IsolatedCluster
) -> None:
    """``ssa_predict_passes`` with ``cluster=isolated``, through the server: every chunk is computed by
    the isolated cluster, and the passes are those of the server's own cluster."""
    wps = WebProcessingService(f"{server.url}/wps", skip_caps=True)
    ingest = wps.execute(
        "ssa_ingest", [("messages", ComplexDataInput(SNAPSHOT.read_text(), "text/plain"))], mode=SYNC
    )
    assert ingest.isSucceded(), [e.text for e in ingest.errors]
    request = "site=50.6166,7.1296,300;min_elevation=20;start=2026-09-21T00:00:00Z;end=2026-09-22T00:00:00Z"
    passes: dict[str, list[Any]] = {}
    chunks: dict[str, int] = {}
    screened: dict[str, int] = {}
    for where in ("", ";cluster=isolated"):
        before = _screened_chunks(cluster)
        final, _ = wait(server, submit(server, "ssa_predict_passes", request + where, "result;summary"), 300)
        assert final.state == "ProcessSucceeded", final
        passes[where] = json.loads(final.outputs["result"])
        chunks[where] = json.loads(final.outputs["summary"])["chunks"]
        screened[where] = _screened_chunks(cluster) - before
    assert len(passes[";cluster=isolated"]) > 100 and passes[";cluster=isolated"] == passes[""]
    assert screened == {"": 0, ";cluster=isolated": chunks[";cluster=isolated"]} and chunks[""] > 1
