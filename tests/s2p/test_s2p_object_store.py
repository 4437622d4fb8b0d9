"""S2P whose job folder is in an object store (a real S3 endpoint on loopback): the workers take what
each step needs into a scratch folder of their own, read the images' windows from the store through
GDAL, and put their outputs back, marker last. The DSM is the reference's; a cancelled run resumes
from the store's markers; a store that fails mid-job fails it naming the tile and stage; a step
that fails after its scratch copy is gone fetches its inputs again; the step time limit holds."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import distributed
import psutil
import pytest
from lxml import etree
from pywps.tests import client_for
from s2p_testdata import PAIR_DIR, pair_request
from test_s2p_wps import PAIR, ROI, execute, literal

from cluster.storage import ObjectStore
from processes.s2p.errors import StereoCancelledError, TileFailedError
from processes.s2p.evaluation import compare_dsms
from processes.s2p.graph import run_stereo
from processes.s2p.products import write_products
from processes.s2p.steps import job_log
from tests.s3server import S3Server
from wps_server.app import create_app
from wps_server.config import Settings
from wps_server.database import make_engine, migrate
from wps_server.wps1.parse import OWS

SMALL_ROI = "350,350,400,200"


@pytest.fixture(scope="module")
def store_client(s3_server: S3Server) -> Iterator[distributed.Client]:
    """Two worker processes whose only view of the job is the S3 endpoint (they get its credentials)."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=s3_server.env()
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def scratch_folders(dask_worker: distributed.Worker) -> list[str]:
    return [str(p) for p in (Path(dask_worker.local_directory) / "s2p-jobs").glob("*")]


def job_store(s3: S3Server, name: str = "job") -> ObjectStore:
    return ObjectStore(s3.bucket(), "wps").child(f"jobs/{name}/s2p")


@pytest.mark.slow
def test_the_test_pair_through_the_store_gives_the_reference_dsm(
    s3_env: S3Server, store_client: distributed.Client, tmp_path: Path
) -> None:
    store = job_store(s3_env)
    result = run_stereo(
        pair_request(), tmp_path, store_client, lambda p, m: None, lambda: False, storage=store
    )
    agreement = compare_dsms(result.dsm_path, PAIR_DIR / "expected_dsm.tif")
    assert agreement.acceptable, agreement
    keys = store.keys("s2p")
    assert "s2p/dsm.tif" in keys and any(k.endswith("/cloud.ply") for k in keys)
    assert store.keys("inputs") == ["inputs/image_01.tif", "inputs/image_02.tif"]
    traffic = result.storage_traffic()
    assert traffic["staged_bytes"] > 4_000_000 and traffic["stored_bytes"] > traffic["fetched_bytes"] > 0
    # nothing of the job is left in the workers' scratch folders once it ended
    assert not any(store_client.run(scratch_folders).values())
    # the products are made by the driver, from the store: the merged cloud from the tiles' clouds
    products = write_products(pair_request(), result, tmp_path / "products", point_cloud=True)
    assert products.point_cloud is not None and products.point_cloud.stat().st_size > 1_000_000
    assert products.report["storage"]["url"] == store.url
    # what S2P printed on the workers comes back for the job's log output, without their folders
    told = job_log(Path(result.plan.job_dir))
    assert "== rectification_pair_tile00000_pair1 ==" in told and "rectifying tile" in told
    assert "s2p-jobs" not in told


def test_a_cancelled_run_resumes_from_the_stores_markers(
    s3_env: S3Server, store_client: distributed.Client, tmp_path: Path
) -> None:
    store = job_store(s3_env)
    request = pair_request(roi=SMALL_ROI, tile_size=200)
    messages: list[str] = []
    with pytest.raises(StereoCancelledError):
        run_stereo(
            request,
            tmp_path / "first",
            store_client,
            lambda p, m: messages.append(m),
            lambda: any("stereo_matching 1/2" in m for m in messages),
            storage=store,
        )
    assert store.size("s2p/dsm.tif") is None, "no final DSM from a cancelled run"
    # another driver folder, as after a runner that died on another machine: the store is all it has
    result = run_stereo(
        request, tmp_path / "second", store_client, lambda p, m: None, lambda: False, storage=store
    )
    skipped = {(r.stage, r.tile_index) for r in result.reports if r.skipped}
    assert {
        ("pointing_correction", 0),
        ("pointing_correction", 1),
        ("global_pointing_correction", None),
    } <= skipped
    assert sum(r.stage == "stereo_matching" for r in result.reports if r.skipped) >= 1
    assert not any(r.skipped for r in result.reports if r.stage in {"plys_to_dsm", "global_dsm"})
    assert result.dsm_path.is_file() and store.size("s2p/dsm.tif") == result.dsm_path.stat().st_size


def test_a_store_that_fails_mid_job_fails_it_naming_tile_and_stage(s3_env: S3Server, tmp_path: Path) -> None:
    """The workers' own key is revoked while they match: the job fails at the next store operation,
    with the tile and the stage in the message, and no DSM is written anywhere."""
    store = job_store(s3_env)
    worker_key = s3_env.user(f"worker-{store.bucket}", ["s3:*"], ["*"])
    messages: list[str] = []
    revoked = threading.Event()

    def progress(percent: float, message: str) -> None:
        messages.append(message)
        if "rectification_pair 2/2" in message and not revoked.is_set():
            s3_env.revoke(worker_key)
            revoked.set()

    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            env=s3_env.env(worker_key),
        ) as cluster,
        distributed.Client(cluster) as client,
        pytest.raises(TileFailedError) as failure,
    ):
        run_stereo(
            pair_request(roi=SMALL_ROI, tile_size=200),
            tmp_path,
            client,
            progress,
            lambda: False,
            retries=1,
            storage=store,
        )
    assert revoked.is_set()
    assert failure.value.tile.startswith("#") and failure.value.stage in {
        "global_pointing_correction",
        "stereo_matching",
        "disparity_to_ply",
    }
    assert "the job storage failed" in failure.value.reason and "InvalidAccessKeyId" in failure.value.reason
    assert store.size("s2p/dsm.tif") is None and not (tmp_path / "s2p" / "dsm.tif").exists()


def _kill_first_mgm_and_its_scratch(killed: list[str], stop: threading.Event) -> None:
    """SIGKILL the first `mgm` of a staged job, and remove that job's scratch folder on its worker."""
    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.info["name"] == "mgm" and "/s2p-jobs/" in cmdline:
                proc.kill()
                scratch = cmdline.split("/s2p-jobs/", 1)
                root = Path(scratch[0].rsplit(" ", 1)[-1]) / "s2p-jobs" / scratch[1].split("/", 1)[0]
                shutil.rmtree(root, ignore_errors=True)
                killed.append(cmdline)
                return
        time.sleep(0.02)


@pytest.mark.slow
def test_a_retried_step_fetches_its_inputs_again(
    s3_env: S3Server, store_client: distributed.Client, tmp_path: Path
) -> None:
    killed: list[str] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_mgm_and_its_scratch, args=(killed, stop))
    killer.start()
    store = job_store(s3_env)
    request = pair_request(roi=SMALL_ROI, tile_size=200)
    try:
        result = run_stereo(request, tmp_path, store_client, lambda p, m: None, lambda: False, storage=store)
    finally:
        stop.set()
        killer.join()
    assert killed, "no mgm was seen running"
    assert result.retries == 1
    (again,) = [r for r in result.reports if r.attempt == 2]
    assert again.stage == "stereo_matching" and not again.skipped
    assert again.fetched_bytes > 0  # its rectified images, from the store: the scratch copy was gone
    clean = run_stereo(
        request, tmp_path / "clean", store_client, lambda p, m: None, lambda: False, storage=job_store(s3_env)
    )
    assert compare_dsms(result.dsm_path, clean.dsm_path).acceptable


def test_the_step_time_limit_holds_without_a_shared_folder(
    s3_env: S3Server, store_client: distributed.Client, tmp_path: Path
) -> None:
    store = job_store(s3_env)
    with pytest.raises(TileFailedError) as info:
        run_stereo(
            pair_request(roi="400,400,200,200", tile_size=200),
            tmp_path,
            store_client,
            lambda p, m: None,
            lambda: False,
            retries=0,
            step_timeout_seconds=0.3,
            storage=store,
        )
    assert info.value.tile.startswith("#0 (x=400, y=400") and "timed out" in info.value.reason
    assert store.size("s2p/dsm.tif") is None


def test_a_profile_whose_storage_cannot_be_used_is_refused_naming_it(
    s3_env: S3Server, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """At the profile's first use: the job fails at once, naming the profile, the storage and why."""
    profiles = tmp_path / "clusters.yaml"
    missing = f"{s3_env.bucket()}-gone"
    profiles.write_text(
        "profiles:\n  local: {kind: local, max_workers: 1}\n"
        f"  far: {{kind: local, max_workers: 1, storage: 's3://{missing}/wps'}}\n"
    )
    settings = make_settings(
        server={"processes": "processes:shipped_processes"}, cluster={"profiles_file": profiles}
    )
    shutil.copytree(PAIR_DIR, settings.inputs.data_roots[0] / "pair")
    migrate(make_engine(settings.database_url))
    body = execute(PAIR, ROI + literal("cluster", "far"))
    response = client_for(create_app(settings)).post("/wps", data=body, content_type="text/xml")
    exception = etree.fromstring(response.get_data()).find(f"{{{OWS}}}Exception")
    assert exception is not None and exception.get("locator") == "cluster", response.get_data()
    text = exception.findtext(f"{{{OWS}}}ExceptionText") or ""
    assert f"cluster profile 'far' cannot be used now: its job storage s3://{missing}/wps" in text
    assert "the bucket does not exist" in text
    assert not any(settings.jobs_dir.glob("*/s2p")) and not s3_env.objects(missing.removesuffix("-gone"))
