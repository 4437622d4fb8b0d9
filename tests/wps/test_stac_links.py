"""A job whose process leaves a STAC Item among its outputs: the OGC API links the job and its results
to it, and serves it with links that work from anywhere, the server's own for outputs in a folder,
pre-signed ones with an expiry for outputs in an object store (moto's S3 server, credentials checked)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from processes.s2p.products import dsm_statistics
from processes.s2p.stac import stereo_item
from processes.wps_s2p_stereo import STAC_ITEM
from tests.s3server import S3Server
from tests.stac import validate_item
from wps_server.app import create_app
from wps_server.config import Settings
from wps_server.database import make_engine, migrate
from wps_server.process import FORMATS, ComplexOutput, JobContext, LiteralInput, Process, ProcessInputs

DSM = Path(__file__).parents[1] / "data" / "s2p" / "pair" / "expected_dsm.tif"


def _dsm_item(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    dsm = shutil.copy(DSM, ctx.workdir / "dsm.tif")
    report = {"dsm": dsm_statistics(Path(dsm))}
    item = stereo_item(ctx.job_id, Path(dsm), {"dsm": "dsm.tif"}, report, datetime.now(UTC))
    return {"dsm": Path(dsm), "stac": json.dumps(item)}


def item_processes() -> list[Process]:
    """A process whose jobs leave a STAC Item (dsm_item) and one whose jobs do not (no_item)."""
    return [
        Process(
            "dsm_item",
            "A DSM and its STAC Item",
            _dsm_item,
            inputs=(LiteralInput("name", "Name", min_occurs=0),),
            outputs=(
                ComplexOutput("dsm", "DSM", (FORMATS["cog"],)),
                ComplexOutput("stac", "STAC Item", (STAC_ITEM,)),
            ),
        ),
        Process(
            "no_item",
            "Nothing to catalogue",
            lambda inputs, ctx: {"text": "plain"},
            outputs=(ComplexOutput("text", "Text", (FORMATS["text"],)),),
        ),
    ]


def _app(settings: Settings) -> Flask:
    migrate(make_engine(settings.database_url))
    return create_app(settings, item_processes())


def _run(client: FlaskClient, process: str) -> str:
    answer = client.post(f"/ogcapi/processes/{process}/execution", json={"inputs": {}})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.headers["Link"].split("/jobs/")[1].split(">")[0]


def _item_link(client: FlaskClient, job_id: str) -> str:
    status = client.get(f"/ogcapi/jobs/{job_id}").get_json()
    links = [link for link in status["links"] if link["rel"] == "item"]
    assert len(links) == 1 and links[0]["type"] == "application/geo+json"
    results = client.get(f"/ogcapi/jobs/{job_id}/results")
    assert f'<{links[0]["href"]}>; rel="item"' in results.headers["Link"]
    return links[0]["href"].removeprefix("http://localhost")


def test_outputs_in_a_folder_are_linked_through_the_server(make_settings: Callable[..., Settings]) -> None:
    client = _app(make_settings()).test_client()
    job_id = _run(client, "dsm_item")
    answer = client.get(_item_link(client, job_id))
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    item = answer.get_json()
    validate_item(item)
    href = item["assets"]["dsm"]["href"]
    assert href == f"http://localhost/outputs/{job_id}/dsm.tif"
    assert client.get(href.removeprefix("http://localhost")).get_data() == DSM.read_bytes()
    assert {"rel": "self", "href": f"http://localhost/ogcapi/jobs/{job_id}/stac"}.items() <= item["links"][
        0
    ].items()
    # the stored item, as WPS hands it out by reference, has links relative to itself
    stored = client.get(f"/outputs/{job_id}/stac.json").get_json()
    assert stored["assets"]["dsm"]["href"] == "dsm.tif"


def test_outputs_in_an_object_store_get_pre_signed_links(
    s3_env: S3Server, make_settings: Callable[..., Settings]
) -> None:
    bucket = s3_env.bucket()
    settings = make_settings(jobs={"storage": f"s3://{bucket}/wps", "link_expiry": "900"})
    client = _app(settings).test_client()
    job_id = _run(client, "dsm_item")
    item = client.get(_item_link(client, job_id)).get_json()
    validate_item(item)
    href = item["assets"]["dsm"]["href"]
    assert href.startswith(s3_env.endpoint)
    query = parse_qs(urlparse(href).query)
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Credential"][0].startswith(s3_env.admin.key_id + "/")
    assert s3_env.admin.secret not in href and "X-Amz-Signature" in query
    # moto's server checks header signatures only (with IAM on, a query-string one makes it fail with
    # 500): what the link names is checked here, that it is the stored DSM
    key = urlparse(href).path.removeprefix(f"/{bucket}/")
    assert key == f"wps/outputs/{job_id}/dsm.tif"
    stored = s3_env.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == DSM.read_bytes()
    # the job page's download links are pre-signed too; its map reads the item through the server
    page = html.fromstring(client.get(f"/ogcapi/jobs/{job_id}?f=html").get_data())
    downloads = {a.text: a.get("href") for a in page.cssselect("ul.downloads a")}
    assert downloads["dsm"].startswith(f"{s3_env.endpoint}/{bucket}/wps/outputs/{job_id}/dsm.tif?")
    assert "X-Amz-Expires=900" in downloads["dsm"]
    layers = json.loads(page.cssselect("#map")[0].get("data-layers"))
    assert layers == [
        {"href": f"http://localhost/outputs/{job_id}/stac.json", "kind": "footprint", "name": "DSM footprint"}
    ]


def test_jobs_without_an_item_say_so(make_settings: Callable[..., Settings]) -> None:
    client = _app(make_settings()).test_client()
    job_id = _run(client, "no_item")
    links = client.get(f"/ogcapi/jobs/{job_id}").get_json()["links"]
    assert "item" not in {link["rel"] for link in links}
    answer = client.get(f"/ogcapi/jobs/{job_id}/stac")
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert f"job {job_id} (successful) has no STAC Item" in answer.get_json()["detail"]
    missing = client.get("/ogcapi/jobs/not-a-job/stac")
    assert missing.status_code == 404 and "not-a-job" in missing.get_json()["detail"]
