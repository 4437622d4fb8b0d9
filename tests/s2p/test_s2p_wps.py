"""s2p_stereo through WPS: described, and every bad input refused with a clear ExceptionReport and
nothing left behind (the real run is in tests/e2e/test_s2p_owslib.py)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rasterio
from flask import Flask
from lxml import etree
from pywps.tests import client_for
from s2p_testdata import PAIR_DIR

from processes import shipped_processes
from processes.s2p_wpsio import S2PSettings
from tests.ogcapi_schema import assert_schemas_valid
from tests.xsd import assert_valid
from wps_server.app import create_app
from wps_server.config import ConfigError, Settings
from wps_server.database import make_engine, migrate
from wps_server.wps1.parse import OWS, WPS, XLINK

IMAGE = "image/tiff; application=geotiff"


@pytest.fixture
def app(make_settings: Callable[..., Settings], tmp_path: Path) -> Flask:
    settings = make_settings(
        server={"processes": "processes:shipped_processes"}, s2p={"max_roi_pixels": "250000"}
    )
    root = settings.inputs.data_roots[0]
    shutil.copytree(PAIR_DIR, root / "pair")
    (root / "text.tif").write_text("not an image at all")
    truncated = (PAIR_DIR / "img_02.tif").read_bytes()
    (root / "truncated.tif").write_bytes(truncated[: len(truncated) // 2])
    with rasterio.open(PAIR_DIR / "img_02.tif") as source:  # the same pixels, with no RPC metadata
        profile, pixels = source.profile, source.read()
    with rasterio.open(root / "norpc.tif", "w", **profile) as image:
        image.write(pixels)
    shutil.copy(PAIR_DIR / "img_02.tif", root / "far.tif")
    (root / "far.tif").chmod(0o644)
    with rasterio.open(root / "far.tif", "r+") as image:
        tags = image.tags(ns="RPC")
        image.update_tags(ns="RPC", LONG_OFF=str(float(tags["LONG_OFF"]) + 1.0))
    migrate(make_engine(settings.database_url))
    return create_app(settings)


def execute(images: list[str], extra: str = "", rpcs: list[str] | None = None) -> str:
    refs = "".join(
        f'<wps:Input><ows:Identifier>images</ows:Identifier><wps:Reference xlink:href="{i}" mimeType="{IMAGE}"/>'
        "</wps:Input>"
        for i in images
    )
    refs += "".join(
        f'<wps:Input><ows:Identifier>rpc</ows:Identifier><wps:Reference xlink:href="{r}" mimeType="text/plain"/>'
        "</wps:Input>"
        for r in rpcs or []
    )
    return (
        f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" xmlns:xlink="{XLINK}" service="WPS" version="1.0.0">'
        f"<ows:Identifier>s2p_stereo</ows:Identifier><wps:DataInputs>{refs}{extra}</wps:DataInputs></wps:Execute>"
    )


def literal(identifier: str, value: str) -> str:
    return (
        f"<wps:Input><ows:Identifier>{identifier}</ows:Identifier><wps:Data><wps:LiteralData>{value}"
        "</wps:LiteralData></wps:Data></wps:Input>"
    )


PAIR = ["pair/img_01.tif", "pair/img_02.tif"]
ROI = literal("roi_pixels", "150,150,300,300")
CASES: list[tuple[str, str, str, str, str]] = [
    (
        "image without RPC",
        execute(["pair/img_01.tif", "norpc.tif"], ROI),
        "InvalidParameterValue",
        "images",
        "RPC",
    ),
    (
        "not a GeoTIFF",
        execute(["pair/img_01.tif", "text.tif"], ROI),
        "InvalidParameterValue",
        "images",
        "GeoTIFF",
    ),
    (
        "truncated file",
        execute(["pair/img_01.tif", "truncated.tif"], ROI),
        "InvalidParameterValue",
        "images",
        "truncated",
    ),
    (
        "images that do not overlap",
        execute(["pair/img_01.tif", "far.tif"], ROI),
        "InvalidParameterValue",
        "images",
        "overlap",
    ),
    (
        "region outside the image",
        execute(PAIR, literal("roi_pixels", "900,900,300,300")),
        "InvalidParameterValue",
        "roi_pixels",
        "not inside",
    ),
    (
        "lon/lat region outside the image",
        execute(
            PAIR,
            (
                '<wps:Input><ows:Identifier>roi</ows:Identifier><wps:Data><wps:BoundingBoxData crs="EPSG:4326">'
                "<ows:LowerCorner>10 10</ows:LowerCorner><ows:UpperCorner>10.1 10.1</ows:UpperCorner>"
                "</wps:BoundingBoxData></wps:Data></wps:Input>"
            ),
        ),
        "InvalidParameterValue",
        "roi",
        "not inside",
    ),
    (
        "region too large for the server",
        execute(PAIR, literal("roi_pixels", "0,0,600,600")),
        "InvalidParameterValue",
        "roi_pixels",
        "250000",
    ),
    (
        "malformed pixel region",
        execute(PAIR, literal("roi_pixels", "1,2,3")),
        "InvalidParameterValue",
        "roi_pixels",
        "x,y,w,h",
    ),
    (
        "unknown s2p option",
        execute(PAIR, ROI + literal("s2p_options", '{"out_dir": "/etc"}')),
        "InvalidParameterValue",
        "s2p_options",
        "out_dir",
    ),
    (
        "s2p option that is not JSON",
        execute(PAIR, ROI + literal("s2p_options", "{oops")),
        "InvalidParameterValue",
        "s2p_options",
        "JSON",
    ),
    (
        "SRTM not enabled",
        execute(PAIR, ROI + literal("s2p_options", '{"use_srtm": true}')),
        "InvalidParameterValue",
        "s2p_options",
        "srtm",
    ),
    (
        "one image only",
        execute(["pair/img_01.tif"], ROI),
        "MissingParameterValue",
        "images",
        "images takes at least 2 values, got 1",
    ),
    (
        "misspelt s2p option",
        execute(PAIR, ROI + literal("s2p_options", '{"horizontal_margn": 20}')),
        "InvalidParameterValue",
        "s2p_options",
        "did you mean horizontal_margin?",
    ),
    (
        "a path sent as the image's content",
        execute(["pair/img_01.tif"], ROI).replace("</wps:DataInputs>", "").replace("</wps:Execute>", "")
        + f'<wps:Input><ows:Identifier>images</ows:Identifier><wps:Data><wps:ComplexData mimeType="{IMAGE}">'
        "/data/pair/img_02.tif</wps:ComplexData></wps:Data></wps:Input></wps:DataInputs></wps:Execute>",
        "InvalidParameterValue",
        "images",
        "send it as a reference",
    ),
    ("eleven images", execute(PAIR * 5 + PAIR[:1], ROI), "InvalidParameterValue", "images", "10"),
    (
        "rpc files not one per image",
        execute(PAIR, ROI, rpcs=["text.tif"]),
        "InvalidParameterValue",
        "rpc",
        "rpc",
    ),
    (
        "non-existent reference",
        execute(["pair/img_01.tif", "pair/nothing.tif"], ROI),
        "InvalidParameterValue",
        "images",
        "is not a file in the folders of [inputs] data_roots",
    ),
    (
        "forbidden reference",
        execute(["pair/img_01.tif", "/etc/passwd"], ROI),
        "InvalidParameterValue",
        "images",
        "outside the folders this server may read ([inputs] data_roots)",
    ),
    (
        "unknown matching algorithm",
        execute(PAIR, ROI + literal("matching_algorithm", "sgbm")),
        "InvalidParameterValue",
        "matching_algorithm",
        "mgm",
    ),
    (
        "tile size out of range",
        execute(PAIR, ROI + literal("tile_size", "20")),
        "InvalidParameterValue",
        "tile_size",
        "100",
    ),
    (
        "negative cost cap",
        execute(PAIR, ROI + literal("max_cost", "-5")),
        "InvalidParameterValue",
        "max_cost",
        "0",
    ),
    (
        "cost cap not a number",
        execute(PAIR, ROI + literal("max_cost", "lots")),
        "InvalidParameterValue",
        "max_cost",
        "lots",
    ),
]


@pytest.mark.parametrize(("name", "body", "code", "locator", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(app: Flask, name: str, body: str, code: str, locator: str, words: str) -> None:
    response = client_for(app).post("/wps", data=body, content_type="text/xml")
    assert response.status_code == 400, response.get_data()
    assert_valid(response.get_data())
    exception = etree.fromstring(response.get_data()).find(f"{{{OWS}}}Exception")
    assert exception is not None
    assert (exception.get("exceptionCode"), exception.get("locator")) == (code, locator)
    text = exception.findtext(f"{{{OWS}}}ExceptionText") or ""
    assert words.lower() in text.lower(), text
    assert "Traceback" not in text
    service: Any = app.extensions["wps"]
    for folder in (service.settings.data_dir, *service.settings.inputs.data_roots):
        assert str(folder) not in text, "a message shows a folder of the server"
    assert not service.settings.outputs_dir.exists() or not any(service.settings.outputs_dir.iterdir())
    assert not service.settings.jobs_dir.exists() or not any(service.settings.jobs_dir.iterdir())


def test_described_with_every_input(app: Flask) -> None:
    response = client_for(app).get(
        "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=s2p_stereo"
    )
    assert_valid(response.get_data())
    root = etree.fromstring(response.get_data())
    names = root.xpath("//Input/ows:Identifier/text()", namespaces={"ows": OWS})
    assert names == [
        "images",
        "rpc",
        "roi",
        "roi_pixels",
        "dsm_resolution",
        "tile_size",
        "matching_algorithm",
        "out_crs",
        "max_workers",
        "s2p_options",
        "cluster",
        "max_cost",
    ]
    outputs = root.xpath("//Output/ows:Identifier/text()", namespaces={"ows": OWS})
    assert outputs == ["dsm", "point_cloud", "quicklook", "report", "stac", "log"]
    assert_schemas_valid(app.test_client().get("/ogcapi/processes/s2p_stereo").get_json())


EXAMPLE_PROFILES = Path(__file__).parents[2] / "cluster" / "clusters.example.yaml"


@pytest.fixture
def estimate_app(make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The shipped example profiles (its secrets set to placeholders: nothing is contacted)."""
    for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", EXAMPLE_PROFILES.read_text())):
        monkeypatch.setenv(name, f"placeholder-{name.lower().replace('_', '-')}")  # valid as a bucket too
    settings = make_settings(
        server={"processes": "processes:shipped_processes"}, cluster={"profiles_file": str(EXAMPLE_PROFILES)}
    )
    shutil.copytree(PAIR_DIR, settings.inputs.data_roots[0] / "pair")
    migrate(make_engine(settings.database_url))
    return create_app(settings)


def run_estimate(app: Flask, extra: str, output: str = "estimate") -> Any:
    body = execute(PAIR, literal("roi_pixels", "150,150,700,700") + literal("tile_size", "300") + extra)
    body = body.replace(
        "</wps:DataInputs>",
        "</wps:DataInputs><wps:ResponseForm><wps:RawDataOutput>"
        f"<ows:Identifier>{output}</ows:Identifier></wps:RawDataOutput></wps:ResponseForm>",
    )
    body = body.replace(
        "<ows:Identifier>s2p_stereo</ows:Identifier>", "<ows:Identifier>s2p_estimate</ows:Identifier>"
    )
    return client_for(app).post("/wps", data=body, content_type="text/xml")


def test_estimate_compares_four_providers_and_meets_the_deadline(estimate_app: Flask) -> None:
    providers = "".join(literal("profiles", p) for p in ("aws", "azure", "gcp", "ovh", "local"))
    rates = literal("exchange_rates", '{"USD": 0.92}') + literal("currency", "EUR")
    response = run_estimate(estimate_app, providers + rates + literal("deadline", "600"))
    assert response.status_code == 200, response.get_data()
    table = json.loads(response.get_data())
    # 700 px in tiles of 300: S2P makes 2 x 2 tiles of 350 px, not 3 x 3
    assert table["tiles"] == 4 and table["tile_pixels"] == 350 * 350 and table["currency"] == "EUR"
    assert table["tile_grid"] == {"columns": 2, "rows": 2, "tile_size_px": [350, 350]}
    assert table["best"]["profile"] != "local"  # unpriced: never the cheapest
    assert {r["profile"] for r in table["rows"]} == {"aws", "azure", "gcp", "ovh", "local"}
    best = table["best"]
    assert best["meets_deadline"] and best["wall_seconds"] <= 600
    fitting = [r for r in table["rows"] if r["meets_deadline"] and r["priced"]]
    assert best["cost_ref"] == min(r["cost_ref"] for r in fitting)
    aws = [r for r in table["rows"] if r["profile"] == "aws"]
    assert [r["workers"] for r in aws] == list(range(1, len(aws) + 1))
    walls = [r["wall_seconds"] for r in aws]
    assert walls == sorted(walls, reverse=True)  # more workers, never slower
    chart = run_estimate(estimate_app, providers + rates, output="chart")
    assert chart.status_code == 200 and chart.get_data()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "locator", "words"),
    [
        (literal("profiles", "mars"), "profiles", "unknown profile"),
        (
            literal("profiles", "aws") + literal("profiles", "ovh"),
            "exchange_rates",
            "priced in EUR, USD: give exchange_rates (a JSON object",
        ),
        (
            literal("profiles", "aws") + literal("profiles", "ovh") + literal("currency", "EUR"),
            "exchange_rates",
            "give exchange_rates",
        ),
        (
            literal("profiles", "aws")
            + literal("profiles", "ovh")
            + literal("exchange_rates", '{"USD": 0.9}'),
            "currency",
            "exchange_rates needs currency",
        ),
        (
            literal("profiles", "aws")
            + literal("profiles", "ovh")
            + literal("exchange_rates", '{"GBP": 1.2}')
            + literal("currency", "EUR"),
            "exchange_rates",
            "exchange_rates has no rate to EUR for USD",
        ),
        (literal("exchange_rates", "[1, 2]"), "exchange_rates", "JSON object"),
        (literal("deadline", "0"), "deadline", "between"),
    ],
)
def test_estimate_bad_inputs(estimate_app: Flask, extra: str, locator: str, words: str) -> None:
    response = run_estimate(estimate_app, extra)
    assert response.status_code == 400, response.get_data()
    exception = etree.fromstring(response.get_data()).find(f"{{{OWS}}}Exception")
    assert exception is not None and exception.get("locator") == locator
    assert words in (exception.findtext(f"{{{OWS}}}ExceptionText") or "")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("retries", "-1", "[s2p] retries must lie between 0 and 100, not -1"),
        ("retries", "two", "[s2p] retries must be a number, not 'two'"),
        ("retries", "1.5", "[s2p] retries must be a whole number"),
        ("step_timeout", "0", "[s2p] step_timeout must lie between 0.1 and 604800, not 0"),
        ("step_timeout", "inf", "[s2p] step_timeout must lie between"),
        ("max_images", "1", "[s2p] max_images must lie between 2 and 10, not 1"),
        ("max_images", "11", "[s2p] max_images must lie between 2 and 10, not 11"),
        ("max_roi_pixels", "", "[s2p] max_roi_pixels must be a number, not ''"),
        ("allow_srtm", "yes", "[s2p] allow_srtm must be true or false, not 'yes'"),
    ],
)
def test_bad_s2p_settings_stop_the_start_naming_the_key(
    make_settings: Callable[..., Settings], key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        shipped_processes(make_settings(s2p={key: value}))
    assert message in str(info.value)


def test_s2p_settings_are_read_with_their_defaults(make_settings: Callable[..., Settings]) -> None:
    read = S2PSettings.from_settings(make_settings(s2p={"retries": "0", "step_timeout": "2.5"}))
    assert (read.retries, read.step_timeout) == (0, 2.5)
    assert (read.limits.max_images, read.limits.allow_srtm) == (10, False)
