"""The pages, as a browser without JavaScript gets them (Flask's test client): the landing page, the
job list with its filters and the job page read in plain HTML, from the same job calls as the JSON
(the browser tests with scripts are in tests/e2e/test_pages_browser.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from tests.jobs.cluster_processes import cluster_processes
from tests.wps import processes
from wps_server.app import create_app
from wps_server.config import ConfigError, Settings
from wps_server.database import make_engine, migrate
from wps_server.ogcapi.pages import StageCount, stage_counts
from wps_server.process import FORMATS, ComplexOutput, JobContext, Process, ProcessInputs

HTML = {"Accept": "text/html"}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def run(client: FlaskClient, process: str, inputs: dict[str, Any]) -> str:
    """Runs a job now; its id (a failed job's too, from the job list)."""
    answer = client.post(f"/ogcapi/processes/{process}/execution", json={"inputs": inputs})
    if answer.status_code == 200:
        return str(answer.headers["Link"].split("/jobs/")[1].split(">")[0])
    newest = client.get(f"/ogcapi/jobs?processID={process}&limit=1").get_json()["jobs"][0]
    assert newest["status"] == "failed"
    return str(newest["jobID"])


def page(client: FlaskClient, path: str) -> Any:
    answer = client.get(path, headers=HTML)
    assert answer.status_code == 200 and answer.mimetype == "text/html", answer.get_data(as_text=True)
    return html.fromstring(answer.get_data())


def test_the_landing_page_says_what_the_service_does(client: FlaskClient) -> None:
    run(client, "hello", {"name": "World"})
    for path in ("/", "/ogcapi", "/ogcapi?f=html"):
        doc = page(client, path)
        assert "Stereo digital surface models" in doc.text_content()
        processes = {
            row.xpath("string(td[1])"): row.xpath("string(td[2])")
            for row in doc.cssselect("table.processes tbody tr")
        }
        assert processes["hello"] == "Say hello. Greets a name."
        counts = {a.text.strip(): int(a.xpath("string(b)")) for a in doc.cssselect("ul.counts a")}
        assert counts == {"accepted": 0, "running": 0, "successful": 1, "failed": 0, "dismissed": 0}
        links = {a.text_content().strip(): a.get("href") for a in doc.cssselect("section.links a")}
        assert (
            links["WPS 1.0.0 GetCapabilities"] == "http://localhost/wps?service=WPS&request=GetCapabilities"
        )
        assert links["Dask dashboard"] == "http://127.0.0.1:8787/status"
        assert links["Source code"] == "https://github.com/space-wps/space-wps"
        assert links["OGC API - Processes"] == "http://localhost/ogcapi?f=json"
    # machines still get JSON from the same URL
    assert client.get("/ogcapi").get_json()["title"]


def test_the_job_list_shows_each_job_and_filters(client: FlaskClient) -> None:
    ok = run(client, "hello", {"name": "World"})
    failed = run(client, "fail", {"how": "input"})
    doc = page(client, "/ogcapi/jobs")
    rows = {row.get("data-job"): row for row in doc.cssselect("tbody[data-live=jobs] tr")}
    assert set(rows) == {ok, failed}
    assert rows[ok].xpath("string(td[2])") == "hello"
    assert rows[ok].cssselect("span.badge")[0].text == "successful"
    assert rows[ok].cssselect("progress")[0].get("value") == "100"
    assert rows[failed].cssselect("span.badge")[0].text == "failed"
    assert rows[ok].cssselect("a")[0].get("href") == f"http://localhost/ogcapi/jobs/{ok}?f=html"
    only_failed = page(client, "/ogcapi/jobs?status=failed&processID=&f=html")
    assert [r.get("data-job") for r in only_failed.cssselect("tbody tr[data-job]")] == [failed]
    assert only_failed.cssselect("select[name=status] option[selected]")[0].get("value") == "failed"
    by_process = page(client, "/ogcapi/jobs?status=&processID=hello&f=html")
    assert [r.get("data-job") for r in by_process.cssselect("tbody tr[data-job]")] == [ok]
    none = page(client, "/ogcapi/jobs?status=dismissed&f=html")
    assert "No job matches these filters." in none.text_content()


def test_a_bad_filter_is_refused_naming_it(client: FlaskClient) -> None:
    answer = client.get("/ogcapi/jobs?status=finished&f=html")
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    assert "status 'finished' is not one of accepted, running" in answer.get_json()["detail"]


def test_the_job_page_of_a_successful_job_links_its_outputs(client: FlaskClient) -> None:
    job_id = run(client, "echo", {"document": {"value": "ab cd", "mediaType": "text/plain"}, "count": 2})
    doc = page(client, f"/ogcapi/jobs/{job_id}")
    assert doc.cssselect("[data-live=job]")[0].get("data-status") == "successful"
    assert doc.cssselect(".bigbar progress")[0].get("value") == "100"
    downloads = {a.text: a.get("href") for a in doc.cssselect("ul.downloads a")}
    assert downloads["copy"] == f"http://localhost/outputs/{job_id}/copy.txt"
    assert client.get(downloads["copy"].removeprefix("http://localhost")).get_data() == b"ab cd"
    assert "doubled: 4" in doc.cssselect("ul.downloads")[0].text_content()
    assert not doc.cssselect(".failure") and not doc.cssselect("#map")
    # the dismiss button is the script's; without it the page says how
    assert doc.cssselect("button.dismiss")[0].get("hidden") is not None
    assert f"DELETE http://localhost/ogcapi/jobs/{job_id}" in doc.cssselect("noscript")[0].text_content()


def test_the_job_page_of_a_failed_job_says_why(client: FlaskClient) -> None:
    job_id = run(client, "fail", {"how": "input"})
    doc = page(client, f"/ogcapi/jobs/{job_id}")
    assert "the value 'input' is refused by this process" in doc.cssselect(".failure")[0].text_content()
    crashed = page(client, f"/ogcapi/jobs/{run(client, 'fail', {'how': 'crash'})}")
    assert "/etc/shadow" not in crashed.text_content()  # the log has the details, the page does not


def test_an_unknown_job_page_is_a_problem(client: FlaskClient) -> None:
    answer = client.get("/ogcapi/jobs/00000000-0000-4000-8000-000000000000?f=html")
    assert answer.status_code == 404 and "00000000-0000-4000-8000-000000000000" in answer.get_json()["detail"]


def test_leaflet_and_the_scripts_come_from_the_server(client: FlaskClient) -> None:
    for name in ("leaflet/leaflet.js", "leaflet/leaflet.css", "pages.js", "map.js", "pages.css"):
        assert client.get(f"/ogcapi/static/{name}").status_code == 200
    text = client.get("/", headers=HTML).get_data(as_text=True)
    assert not re.search(r"(src|href)=\"https?://(?!localhost)[^\"]*\.(js|css)", text)


def test_progress_messages_with_stage_counts_are_read() -> None:
    message = "stereo_matching: pointing_correction 4/4, stereo_matching 1/4, global_dsm 0/1 tasks done"
    assert stage_counts(message) == (
        "stereo_matching",
        [
            StageCount("pointing_correction", 4, 4),
            StageCount("stereo_matching", 1, 4),
            StageCount("global_dsm", 0, 1),
        ],
    )
    assert stage_counts("Running") == ("", [])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "basemap_url",
            "tile.openstreetmap.org/{z}/{x}/{y}.png",
            r"\[pages\] basemap_url must be an http\(s\) tile URL",
        ),
        ("basemap_url", "https://tiles.example.org/{z}/{x}.png", r"with \{z\}, \{x\} and \{y\}"),
        ("refresh_seconds", "0", r"\[pages\] refresh_seconds must lie between 1 and 3600"),
        ("refresh_seconds", "soon", r"\[pages\] refresh_seconds must be a number"),
    ],
)
def test_bad_page_settings_are_refused(
    make_app: Callable[..., Flask], key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_app(pages={key: value})


def _outline(inputs: ProcessInputs, ctx: JobContext) -> dict[str, Any]:
    point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}, "properties": {}}
    return {"outline": json.dumps(point).encode()}


OUTLINE = Process(
    "outline",
    "A GeoJSON feature",
    _outline,
    outputs=(ComplexOutput("outline", "Outline", (FORMATS["geojson"],)),),
)
OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


@pytest.mark.parametrize(
    ("pages", "basemap"),
    [
        ({"basemap_url": OSM, "basemap_attribution": "© OpenStreetMap contributors"}, OSM),
        ({}, None),  # the default: no base map, nothing fetched from outside
    ],
)
def test_a_base_map_is_a_setting(
    make_settings: Callable[..., Settings], pages: dict[str, str], basemap: str | None
) -> None:
    settings = make_settings(pages=pages)
    migrate(make_engine(settings.database_url))
    client = create_app(settings, [*processes.test_processes(settings), OUTLINE]).test_client()
    doc = page(client, f"/ogcapi/jobs/{run(client, 'outline', {})}")
    drawn = doc.cssselect("#map")[0]
    assert [layer["kind"] for layer in json.loads(drawn.get("data-layers"))] == ["features"]
    assert drawn.get("data-basemap") == (basemap or "")
    assert drawn.get("data-attribution") == pages.get("basemap_attribution", "")
    caption = doc.cssselect(".mapbox figcaption")[0].text_content()
    assert ("no base map configured" in caption) is (basemap is None)


def test_a_queued_job_page_names_the_cluster_profile_it_asked_for(
    make_settings: Callable[..., Any], tmp_path: Any
) -> None:
    profiles = tmp_path / "clusters.yaml"
    profiles.write_text(
        "version: 1\ndefault: small\nprofiles:\n  small: {kind: local, max_workers: 1}\n"
        "  big: {kind: local, max_workers: 2}\n"
    )
    settings = make_settings(cluster={"profiles_file": str(profiles)})
    migrate(make_engine(settings.database_url))
    client = create_app(settings, cluster_processes(settings)).test_client()
    seen = {}
    for named in ("big", None):
        inputs = {"tasks": 1, "seconds": 0.1} | ({"cluster": named} if named else {})
        queued = client.post(
            "/ogcapi/processes/cluster_sleep/execution",
            json={"inputs": inputs},
            headers={"Prefer": "respond-async"},
        )
        assert queued.status_code == 201, queued.get_data(as_text=True)
        facts = page(client, queued.headers["Location"].removeprefix("http://localhost")).cssselect(
            "dl.facts"
        )[0]
        labels = [dt.text for dt in facts.cssselect("dt")]
        seen[named] = facts.cssselect("dd")[labels.index("Cluster profile")].text_content()
    assert seen == {"big": "big", None: "small"}
