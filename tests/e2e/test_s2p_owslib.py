"""S2P end to end: OWSLib submits the test pair asynchronously to a real serve, follows its progress,
downloads the DSM by reference and checks it against s2p's reference DSM; the same request then runs
on a `scheduler` profile (a Dask scheduler and worker of their own) and reports worker-seconds and cost."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from owslib.wps import ASYNC, BoundingBoxDataInput, ComplexDataInput, WebProcessingService

from processes.s2p.evaluation import compare_dsms
from tests.e2e.server import Server, dask_cluster_processes

pytestmark = pytest.mark.slow
PAIR = Path(__file__).parents[1] / "data" / "s2p" / "pair"
IMAGE = "image/tiff; application=geotiff"
CONFIG = """
[server]
processes = processes:shipped_processes
[inputs]
data_roots = {root}
[dask]
workers = 2
dashboard =
[cluster]
profiles_file = {profiles}
[logging]
format = text
"""
# S2P steps may run half a second each, without retries: every real job fails
STRICT_CONFIG = CONFIG.replace(
    "[cluster]\nprofiles_file = {profiles}\n", "[s2p]\nstep_timeout = 0.5\nretries = 0\n"
)
PROFILES = """
version: 1
default: local
profiles:
  local:
    kind: local
    max_workers: 2
    price: {{amount: 0.05, currency: EUR, as_of: "2026-11-01"}}
  lab:
    kind: scheduler
    max_workers: 1
    options: {{address: "tcp://127.0.0.1:{port}"}}
    price: {{amount: 0.40, currency: EUR, as_of: "2026-11-01"}}
    billing: {{granularity_seconds: 60}}
  metered:
    kind: local
    shared: false
    max_workers: 1
    options: {{processes: true, dashboard_address: null}}
    price: {{amount: 0.36, currency: EUR, as_of: "2026-11-01"}}
"""
OPTIONS = json.dumps(
    {"horizontal_margin": 20, "vertical_margin": 5, "disp_range_method": "sift", "msk_erosion": 0}
)


@pytest.fixture(scope="module")
def lab_port() -> Iterator[int]:
    with dask_cluster_processes() as port:
        yield port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab_port: int) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("s2p")
    shutil.copytree(PAIR, folder / "data" / "pair")
    (folder / "clusters.yaml").write_text(PROFILES.format(port=lab_port))
    running = Server(folder, CONFIG.format(root=folder / "data", profiles=folder / "clusters.yaml")).start()
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A serve whose S2P steps may run half a second each, without retries: every real job fails."""
    folder = tmp_path_factory.mktemp("s2p-strict")
    shutil.copytree(PAIR, folder / "data" / "pair")
    (folder / "data" / "text.tif").write_text("not an image at all")
    config = STRICT_CONFIG.format(root=folder / "data")
    running = Server(folder, config).start()
    yield running
    assert running.stop() == 0


def submit_and_wait(server: Server, images: list[str]) -> tuple[Any, str]:
    """An asynchronous s2p_stereo on the test region, followed until it ends; (execution, job id)."""
    wps = WebProcessingService(f"{server.url}/wps")
    inputs: list[tuple[str, Any]] = [
        ("images", ComplexDataInput(f"file://{server.folder / 'data' / name}", mimeType=IMAGE))
        for name in images
    ]
    inputs += [("roi_pixels", "150,150,700,700"), ("tile_size", "300"), ("s2p_options", OPTIONS)]
    execution = wps.execute("s2p_stereo", inputs, output=[("dsm", True)], mode=ASYNC)
    deadline = time.monotonic() + 300
    while not execution.isComplete():
        assert time.monotonic() < deadline
        time.sleep(0.5)
        execution.checkStatus(sleepSecs=0)
    return execution, execution.statusLocation.rstrip("/").rsplit("/", 1)[-1]


def nothing_left_of(server: Server, job_id: str) -> bool:
    var = server.folder / "var"
    outputs = var / "outputs" / job_id
    return not (var / "jobs" / job_id).exists() and (not outputs.exists() or not any(outputs.iterdir()))


def test_a_failing_step_fails_the_job_naming_tile_and_stage(strict_server: Server) -> None:
    execution, job_id = submit_and_wait(strict_server, ["pair/img_01.tif", "pair/img_02.tif"])
    assert not execution.isSucceded()  # OWSLib reads ProcessFailed's report as status "Exception"
    (error,) = execution.errors
    assert error.code == "NoApplicableCode"
    assert "s2p stage '" in error.text and "on tile #" in error.text and "(x=" in error.text, error.text
    assert "timed out after 0.5 s" in error.text and "Traceback" not in error.text
    assert nothing_left_of(strict_server, job_id)


def test_a_bad_image_sent_asynchronously_fails_the_job_with_its_input_named(strict_server: Server) -> None:
    execution, job_id = submit_and_wait(strict_server, ["pair/img_01.tif", "text.tif"])
    assert not execution.isSucceded()
    (error,) = execution.errors
    assert (error.code, error.locator) == ("InvalidParameterValue", "images")
    assert "GeoTIFF" in error.text and "Traceback" not in error.text
    assert nothing_left_of(strict_server, job_id)


def pair_inputs(server: Server, roi: str, tile_size: int, cluster: str) -> list[tuple[str, Any]]:
    """s2p_stereo's inputs for the test pair, the images by reference."""
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
        ("cluster", cluster),
        ("s2p_options", OPTIONS),
    ]


def run(server: Server, roi: str, tile_size: int, cluster: str) -> dict[str, str]:
    """An asynchronous s2p_stereo followed to its success; the references of its outputs."""
    wps = WebProcessingService(f"{server.url}/wps")
    inputs = pair_inputs(server, roi, tile_size, cluster)
    execution = wps.execute("s2p_stereo", inputs, output=[("dsm", True), ("report", True)], mode=ASYNC)
    while not execution.isComplete():
        time.sleep(1)
        execution.checkStatus(sleepSecs=0)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    return {o.identifier: o.reference for o in execution.processOutputs}


def test_a_job_whose_runner_dies_resumes_and_skips_its_finished_steps(server: Server, tmp_path: Path) -> None:
    """The runner is killed while the job's tiles are being matched: `serve` restarts it, the job's lost
    heartbeat puts it back in the queue, and the new run finds the finished steps in the job's folder."""
    wps = WebProcessingService(f"{server.url}/wps")
    inputs = pair_inputs(server, "150,150,700,700", 300, "local")
    execution = wps.execute("s2p_stereo", inputs, output=[("dsm", True), ("report", True)], mode=ASYNC)
    deadline = time.monotonic() + 300
    while "stereo_matching" not in (execution.statusMessage or "") or execution.percentCompleted < 40:
        assert not execution.isComplete() and time.monotonic() < deadline, execution.statusMessage
        time.sleep(0.2)
        execution.checkStatus(sleepSecs=0)
    (runner,) = [p for p in server.descendants() if "wps_server.cli runner" in " ".join(p.cmdline())]
    runner.kill()
    while not execution.isComplete():
        assert time.monotonic() < deadline
        time.sleep(1)
        execution.checkStatus(sleepSecs=0)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    references = {o.identifier: o.reference for o in execution.processOutputs}
    report = requests.get(references["report"], timeout=60).json()
    assert report["tasks"]["skipped_as_finished"] >= 8, report["tasks"]  # keypoints, pointing at least
    dsm = tmp_path / "dsm.tif"
    dsm.write_bytes(requests.get(references["dsm"], timeout=60).content)
    assert compare_dsms(dsm, PAIR / "expected_dsm.tif").acceptable


def test_same_request_on_a_scheduler_profile_is_billed(server: Server) -> None:
    references = run(server, "300,300,300,300", 300, "lab")
    report = requests.get(references["report"], timeout=60).json()
    cost = report["cost"]
    assert cost["profile"] == "lab" and cost["currency"] == "EUR"
    assert cost["billed_worker_seconds"] >= cost["busy_task_seconds"] > 0
    assert cost["billed_worker_seconds"] % 60 == 0  # the profile bills started minutes
    assert cost["cost"] == pytest.approx(cost["billed_worker_seconds"] / 3600 * 0.40)


def test_a_finished_job_refines_the_estimates_of_its_profile(server: Server) -> None:
    """The first job on a profile keeps its measured work with its bill; the estimate of the same request
    then predicts that job's wall time and bill, and the next job's report sets its own bill beside that
    refined prediction (how close a repeated job comes to it is measured by benchmarks/bench_estimate.py)."""
    first = requests.get(run(server, "300,300,300,300", 300, "metered")["report"], timeout=60).json()["cost"]
    work = first["measured_work"]
    assert (work["tiles"], work["tile_pixels"], work["pairs"], work["skipped"]) == (1, 300 * 300, 1, 0)
    assert work["stages"]["s2p_stereo_matching"] > 0 and "s2p_global_dsm" in work["job_stages"]
    assert first["predicted"]["refined"] is False and first["cost"] > 0

    wps = WebProcessingService(f"{server.url}/wps")
    inputs = [i for i in pair_inputs(server, "300,300,300,300", 300, "metered") if i[0] != "cluster"]
    execution = wps.execute(
        "s2p_estimate", [*inputs, ("profiles", "metered")], output=[("estimate", True)], mode=ASYNC
    )
    while not execution.isComplete():
        time.sleep(0.5)
        execution.checkStatus(sleepSecs=0)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    table = requests.get(execution.processOutputs[0].reference, timeout=60).json()
    # the label counts the server's finished jobs (other tests of this module ran some on "lab")
    assert "refined by" in table["calibration_label"] and table["tiles"] == 1
    row = next(r for r in table["rows"] if r["workers"] == first["predicted"]["workers"])
    assert row["refined"] and row["wall_seconds"] == pytest.approx(first["wall_seconds"], rel=1e-6)
    assert row["cost"] == pytest.approx(first["cost"], rel=0.02)

    second = requests.get(run(server, "300,300,300,300", 300, "metered")["report"], timeout=60).json()["cost"]
    assert second["predicted"]["refined"] is True
    assert second["predicted"]["wall_seconds"] == pytest.approx(first["wall_seconds"], rel=1e-6)


def test_lonlat_region_through_owslib(server: Server) -> None:
    wps = WebProcessingService(f"{server.url}/wps")
    process = wps.describeprocess("s2p_stereo")
    assert [o.identifier for o in process.processOutputs] == [
        "dsm",
        "point_cloud",
        "quicklook",
        "report",
        "stac",
        "log",
    ]
    assert BoundingBoxDataInput  # the roi input is a bounding box OWSLib can send
    assert {i.identifier: i.dataType for i in process.dataInputs}["roi"] == "BoundingBoxData"


def test_s2p_through_ogc_api_processes_and_wps2(server: Server, tmp_path: Path) -> None:
    """The same process through the other two dialects: OWSLib's OGC API - Processes client (async, the
    DSM fetched from the job's results) and raw WPS 2.0.0 (sync, document response, XSD-checked)."""
    from lxml import etree
    from owslib.ogcapi.processes import Processes

    from tests.xsd import assert_valid
    from wps_server.wps2.parse import OWS, WPS, XLINK

    pair = server.folder / "data" / "pair"
    api = Processes(f"{server.url}/ogcapi")
    images = [{"href": f"file://{pair / n}", "type": IMAGE} for n in ("img_01.tif", "img_02.tif")]
    accepted = api.execute(
        "s2p_stereo",
        {"images": images, "roi_pixels": "300,300,300,300", "tile_size": 300, "s2p_options": OPTIONS},
        async_=True,
    )
    job = f"{server.url}/ogcapi/jobs/{accepted['jobID']}"
    deadline = time.monotonic() + 300
    while (status := requests.get(job, timeout=30).json())["status"] in {"accepted", "running"}:
        assert time.monotonic() < deadline
        time.sleep(1)
    assert status["status"] == "successful", status
    results = requests.get(f"{job}/results", timeout=30, headers={"Accept": "application/json"}).json()
    dsm = results["dsm"]
    body = requests.get(dsm["href"], timeout=60).content if "href" in dsm else base64.b64decode(dsm["value"])
    assert body[:4] in (b"II*\x00", b"MM\x00*")  # a TIFF
    refs = "".join(
        f'<wps:Input id="images"><wps:Reference xlink:href="file://{pair / n}" mimeType="{IMAGE}"/></wps:Input>'
        for n in ("img_01.tif", "img_02.tif")
    )
    execute = (
        f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" xmlns:xlink="{XLINK}" service="WPS" version="2.0.0" '
        f'mode="sync" response="document"><ows:Identifier>s2p_stereo</ows:Identifier>{refs}'
        '<wps:Input id="roi_pixels"><wps:Data>300,300,300,300</wps:Data></wps:Input>'
        '<wps:Input id="tile_size"><wps:Data>300</wps:Data></wps:Input>'
        '<wps:Output id="report" transmission="value"/></wps:Execute>'
    )
    response = requests.post(
        f"{server.url}/wps", data=execute.encode(), headers={"Content-Type": "text/xml"}, timeout=600
    )
    assert response.status_code == 200, response.text[:2000]
    assert_valid(response.content)
    report_text = "".join(
        etree.fromstring(response.content).xpath(
            "//wps:Output[@id='report']//text()", namespaces={"wps": WPS}
        )
    )
    assert json.loads(report_text)["cost"]["busy_task_seconds"] > 0


def test_pyqgis_drives_s2p_as_the_owslib_plugin_does(server: Server, tmp_path: Path) -> None:
    """Debian's PyQGIS (offscreen) with the plugin's OWSLib: s2p_stereo on the test pair (one 300-pixel
    tile), asynchronous and polled; the DSM, fetched by reference, loads as a QGIS raster layer."""
    from tests.qgis.runner import NO_PYQGIS, has_pyqgis, run_client

    if not has_pyqgis():
        pytest.skip(NO_PYQGIS)
    client = Path(__file__).parents[1] / "qgis" / "qgis_shipped_client.py"
    images = [(server.folder / "data" / "pair" / n).as_uri() for n in ("img_01.tif", "img_02.tif")]
    seen = run_client(client, ["s2p", server.url, str(tmp_path), *images], tmp_path)
    assert seen["qgis"].startswith("3.") and seen["percents"] == sorted(seen["percents"])
    assert seen["valid"] and seen["bands"] == 1 and min(seen["size"]) > 10, seen
    assert seen["crs"].startswith("EPSG:") and seen["range"][0] < seen["range"][1], seen
