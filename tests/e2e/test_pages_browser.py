"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright, against a real serve.

One S2P job on the test pair is followed on its page while it runs (its progress bar moves and the
stage table fills in, without reloading), then shows its quicklook, its footprint on the map, its
cost and its STAC Item; a pass prediction draws its ground tracks; the job list and the landing page
count the jobs; dismissing works. With ``WPS_SCREENSHOTS=FOLDER`` (``make screenshots``) the pages are
saved as PNGs there."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.server import Server
from tests.stac import validate_item

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
DATA = Path(__file__).resolve().parents[1] / "data"
PAIR = DATA / "s2p" / "pair"
SSA = DATA / "ssa"
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
[ssa]
sensors_file = {sensors}
[pages]
refresh_seconds = 1
[logging]
format = text
"""
PROFILES = """
version: 1
default: local
profiles:
  local:
    kind: local
    max_workers: 2
    price: {amount: 0.05, currency: EUR, as_of: "2026-11-01"}
"""
SHOTS = os.environ.get("WPS_SCREENSHOTS")


@dataclass
class Followed:
    """The S2P job, and what its page showed while it ran."""

    job_id: str
    progress: list[float]
    stage_rows: int


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    folder = tmp_path_factory.mktemp("pages")
    shutil.copytree(PAIR, folder / "data" / "pair")
    (folder / "clusters.yaml").write_text(PROFILES)
    config = CONFIG.format(
        root=folder / "data", profiles=folder / "clusters.yaml", sensors=SSA / "tdm" / "sensors.yaml"
    )
    running = Server(folder, config).start()
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        # the system's Chromium; Playwright downloads no browser of its own
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors  # no script failed on any page


def shoot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def submit(
    server: Server, process: str, inputs: dict[str, Any], outputs: dict[str, Any] | None = None
) -> str:
    body: dict[str, Any] = {"inputs": inputs}
    if outputs:
        body["outputs"] = outputs
    answer = requests.post(
        f"{server.url}/ogcapi/processes/{process}/execution",
        json=body,
        headers={"Prefer": "respond-async"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["jobID"])


def s2p_inputs(server: Server) -> dict[str, Any]:
    pair = server.folder / "data" / "pair"
    return {
        "images": [{"href": (pair / f"img_0{i}.tif").as_uri(), "type": IMAGE} for i in (1, 2)],
        "roi_pixels": "150,150,700,700",
        "tile_size": 300,
        "dsm_resolution": 0.5,
        "s2p_options": json.dumps(
            {"disp_range_method": "sift", "horizontal_margin": 20, "vertical_margin": 5, "msk_erosion": 0}
        ),
    }


def job_status(server: Server, job_id: str) -> dict[str, Any]:
    return dict(requests.get(f"{server.url}/ogcapi/jobs/{job_id}", timeout=30).json())


@pytest.fixture(scope="module")
def followed(server: Server, browser: Any) -> Followed:
    """Submits the S2P job and watches its page until it has finished, reading the bar as it goes."""
    job_id = submit(server, "s2p_stereo", s2p_inputs(server))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/ogcapi/jobs/{job_id}?f=html")
    progress: list[float] = []
    stage_rows = 0
    shot = False
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            state = page.evaluate(
                """() => {
                    const part = document.querySelector('[data-live="job"]');
                    const bar = document.querySelector('.bigbar progress');
                    return part && bar ? {status: part.dataset.status, value: bar.value,
                        rows: document.querySelectorAll('[data-live="job"] table.stages tbody tr').length} : null;
                }"""
            )
        except playwright.Error:  # the page reloads itself when the job ends
            state = None
        if state is not None:
            progress.append(float(state["value"]))
            stage_rows = max(stage_rows, int(state["rows"]))
            if state["rows"] and not shot and 20 < state["value"] < 80:
                shoot(page, "job-running")
                shot = True
            if state["status"] in {"successful", "failed", "dismissed"}:
                break
        time.sleep(0.25)
    context.close()
    status = job_status(server, job_id)
    assert status["status"] == "successful", status
    return Followed(job_id, progress, stage_rows)


def test_a_running_jobs_progress_bar_moves(followed: Followed) -> None:
    running = [p for p in followed.progress if 0 < p < 100]
    assert len(set(running)) >= 3, followed.progress  # several values while it ran, on one page load
    assert running == sorted(running)  # and never backwards
    assert followed.stage_rows >= 5  # S2P's stages, each with its tiles done


def test_the_finished_job_shows_its_quicklook_footprint_and_cost(
    server: Server, followed: Followed, tab: Any
) -> None:
    tab.goto(f"{server.url}/ogcapi/jobs/{followed.job_id}?f=html")
    assert tab.locator("[data-live=job]").get_attribute("data-status") == "successful"
    picture = tab.locator(".results img").first
    picture.wait_for()
    assert tab.evaluate("(img) => img.complete && img.naturalWidth", picture.element_handle()) > 500
    tab.wait_for_selector("#map[data-ready='1']")
    footprint = tab.locator("#map .leaflet-overlay-pane path.leaflet-interactive")
    assert footprint.count() == 1
    box = footprint.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100  # fitted to the map
    cost = {  # row header: (measured, predicted)
        row.locator("th").inner_text().strip(): tuple(t.strip() for t in row.locator("td").all_inner_texts())
        for row in tab.locator("table.cost tbody tr").all()
    }
    assert cost["Cluster profile"][0].startswith("local")
    for column in (0, 1):  # measured and predicted: a number of seconds, an amount in the profile's currency
        assert (
            re.fullmatch(r"\d+\.\d s", cost["Wall time"][column])
            and float(cost["Wall time"][column][:-2]) > 0
        )
        assert re.fullmatch(r"\d+\.\d{4} EUR", cost["Cost"][column]), cost["Cost"]
    assert tab.locator("table.workers tbody tr").count() >= 1
    names = tab.locator("ul.downloads a").all_inner_texts()
    assert {"dsm", "quicklook", "report", "stac", "log", "STAC Item"} <= set(names)
    shoot(tab, "job-finished")
    if SHOTS:  # the quicklook as s2p_stereo made it, for the README
        quicklook = tab.locator(".results img").first.get_attribute("src")
        Path(SHOTS, "quicklook.png").write_bytes(requests.get(quicklook, timeout=30).content)
    # the item the page links validates, and its DSM link downloads the COG
    item = requests.get(f"{server.url}/ogcapi/jobs/{followed.job_id}/stac", timeout=30).json()
    validate_item(item)
    dsm = requests.get(item["assets"]["dsm"]["href"], timeout=60)
    assert dsm.status_code == 200 and dsm.content[:4] in (b"II*\x00", b"II+\x00")


def test_pass_prediction_ground_tracks_on_the_map(server: Server, tab: Any) -> None:
    snapshot = SSA / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"
    ingest = requests.post(
        f"{server.url}/ogcapi/processes/ssa_ingest/execution",
        json={
            "inputs": {
                "messages": [{"value": snapshot.read_text(), "mediaType": "text/plain"}],
                "source": "e2e",
            }
        },
        timeout=120,
    )
    assert ingest.status_code == 200, ingest.text
    job_id = submit(
        server,
        "ssa_predict_passes",
        {
            "sensor": "TIRA",
            "start": "2026-09-21T00:00:00Z",
            "end": "2026-09-21T06:00:00Z",
            "format": "geojson",
        },
    )
    deadline = time.monotonic() + 300
    while job_status(server, job_id)["status"] in {"accepted", "running"} and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job_status(server, job_id)["status"] == "successful"
    tab.goto(f"{server.url}/ogcapi/jobs/{job_id}?f=html")
    tab.wait_for_function("() => Number(document.querySelector('#map').dataset.ready) >= 1")
    tracks = tab.locator("#map .leaflet-overlay-pane path.leaflet-interactive")
    assert tracks.count() > 10
    shoot(tab, "job-passes")
    # an orbit query's ground tracks, from a job run at once, on the same kind of map
    orbits = requests.post(
        f"{server.url}/ogcapi/processes/ssa_query_orbits/execution",
        json={"inputs": {"limit": 3, "format": "geojson", "track_minutes": 90}},
        timeout=120,
    )
    assert orbits.status_code == 200, orbits.text
    orbit_job = orbits.headers["Link"].split("/jobs/")[1].split(">")[0]
    tab.goto(f"{server.url}/ogcapi/jobs/{orbit_job}?f=html")
    tab.wait_for_function("() => Number(document.querySelector('#map').dataset.ready) >= 1")
    assert tab.locator("#map .leaflet-overlay-pane path.leaflet-interactive").count() >= 2


def test_the_job_list_and_the_landing_page_count_the_jobs(
    server: Server, followed: Followed, tab: Any
) -> None:
    tab.goto(f"{server.url}/ogcapi/jobs?f=html")
    row = tab.locator(f"tr[data-job='{followed.job_id}']")
    assert row.locator(".badge").inner_text() == "successful"
    assert row.locator("progress").get_attribute("value") == "100"
    assert "EUR" in row.inner_text()
    tab.select_option("select[name=status]", "failed")
    tab.click("form.filters button")
    tab.wait_for_url("**status=failed**")
    assert tab.locator(f"tr[data-job='{followed.job_id}']").count() == 0
    tab.goto(f"{server.url}/ogcapi/jobs?f=html")
    shoot(tab, "jobs")
    tab.goto(f"{server.url}/")
    successful = tab.locator("ul.counts a.successful b").inner_text()
    assert int(successful) >= 1
    assert tab.locator("table.processes tbody tr").count() == len(
        requests.get(f"{server.url}/ogcapi/processes", timeout=30).json()["processes"]
    )
    shoot(tab, "landing")


def test_a_failed_job_says_why_on_its_page(server: Server, tab: Any) -> None:
    bad = server.folder / "data" / "notes.tif"
    bad.write_text("field notes, not a GeoTIFF\n")
    inputs = s2p_inputs(server)
    inputs["images"] = [{"href": bad.as_uri(), "type": IMAGE}, inputs["images"][1]]
    job_id = submit(server, "s2p_stereo", inputs)
    tab.goto(f"{server.url}/ogcapi/jobs/{job_id}?f=html")
    # the page follows the job on its own until it ends
    tab.wait_for_selector("[data-live=job][data-status=failed]", timeout=300_000)
    failure = tab.locator(".failure[role=alert]")
    expected = job_status(server, job_id)["message"]
    assert expected and expected in failure.inner_text()
    assert "notes.tif" in failure.inner_text() and str(server.folder) not in failure.inner_text()
    assert tab.locator(".bigbar progress").count() == 1 and tab.locator("ul.downloads").count() == 0
    shoot(tab, "job-failed")


def test_dismiss_works_from_the_job_page(server: Server, followed: Followed, tab: Any) -> None:
    tab.goto(f"{server.url}/ogcapi/jobs/{followed.job_id}?f=html")
    tab.on("dialog", lambda dialog: dialog.accept())
    with tab.expect_navigation():
        tab.click("button.dismiss")
    assert tab.locator("[data-live=job]").get_attribute("data-status") == "dismissed"
    assert job_status(server, followed.job_id)["status"] == "dismissed"
    assert requests.get(f"{server.url}/outputs/{followed.job_id}/dsm.tif", timeout=30).status_code == 404


def test_dismiss_stops_a_running_job_from_its_page(server: Server, followed: Followed, tab: Any) -> None:
    job_id = submit(server, "s2p_stereo", s2p_inputs(server))
    tab.goto(f"{server.url}/ogcapi/jobs/{job_id}?f=html")
    tab.wait_for_selector("[data-live=job][data-status=running]", timeout=120_000)
    assert tab.locator("button.dismiss").inner_text() == "Dismiss: stop it"
    tab.on("dialog", lambda dialog: dialog.accept())
    with tab.expect_navigation():
        tab.click("button.dismiss")
    assert tab.locator("[data-live=job]").get_attribute("data-status") == "dismissed"
    assert tab.locator("button.dismiss").count() == 0
    assert job_status(server, job_id)["status"] == "dismissed"
