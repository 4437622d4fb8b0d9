"""The S2P STAC Item, built from s2p's reference DSM (and from a real run's products with its point
cloud), conforms to STAC 1.1 and its extensions, and says what a catalogue needs: a WGS84 footprint
around the scene, the COG's grid, heights in metres, an asset for every product made."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pystac
import pytest
import rasterio
from s2p_testdata import PAIR_DIR

from processes.s2p.products import dsm_statistics, write_dsm_cog, write_products, write_quicklook
from processes.s2p.stac import footprint, stereo_item
from processes.wps_s2p_stereo import PRODUCT_FILES
from tests.s2p.conftest import PairRun
from tests.stac import validate_item

FILES = {"dsm": "dsm.tif", "quicklook": "quicklook.png", "report": "report.json"}


@pytest.fixture(scope="module")
def dsm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stac")
    return write_dsm_cog(PAIR_DIR / "expected_dsm.tif", folder / "dsm.tif")


def report(dsm: Path) -> dict:
    return {
        "inputs": {
            "images": [{"name": "img_01.tif", "path": "/not/published"}, {"name": "img_02.tif"}],
            "roi_pixels": "150,150,700,700",
            "dsm_resolution": 0.5,
            "tile_size": 300,
            "matching_algorithm": "mgm_multi",
            "out_crs": None,
            "s2p_options": {"msk_erosion": 0},
        },
        "software": {"s2p": "1.0b25"},
        "job": {"tiles": 4},
        "dsm": dsm_statistics(dsm),
    }


def test_the_item_validates_against_stac_and_its_extensions(dsm: Path) -> None:
    item = stereo_item("4b1c1c52-0000-4000-8000-000000000000", dsm, FILES, report(dsm), datetime.now(UTC))
    used = validate_item(item)
    assert "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in used
    assert "https://stac-extensions.github.io/raster/v1.1.0/schema.json" in used
    assert item["assets"]["dsm"]["type"] == pystac.MediaType.COG
    assert item["assets"]["quicklook"]["roles"][0] == "thumbnail"
    assert "point_cloud" not in item["assets"]  # only the products made
    assert item["properties"]["s2p:images"] == ["img_01.tif", "img_02.tif"]
    assert "/not/published" not in str(item)  # server paths stay out


def test_the_item_describes_the_dsm(dsm: Path) -> None:
    item = stereo_item("job", dsm, FILES, report(dsm), datetime.now(UTC))
    asset = item["assets"]["dsm"]
    with rasterio.open(dsm) as src:
        assert asset["proj:code"] == f"EPSG:{src.crs.to_epsg()}"
        assert asset["proj:shape"] == [src.height, src.width]
        assert asset["proj:transform"] == list(src.transform)[:6]
    band = asset["raster:bands"][0]
    assert band["nodata"] == "nan" and band["data_type"] == "float32" and band["unit"] == "m"
    stats = dsm_statistics(dsm)
    assert band["statistics"]["minimum"] == stats["height_min_m"]
    # La Reunion, about 21 S 55.4 E: the footprint is there, in lon/lat order, and closed
    lon_min, lat_min, lon_max, lat_max = item["bbox"]
    assert 55 < lon_min < lon_max < 56 and -22 < lat_min < lat_max < -20
    ring = item["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) > 5


def test_a_broken_item_is_refused(dsm: Path) -> None:
    """The validation can fail: a projection shape of the wrong kind is caught by the extension's schema."""
    item = copy.deepcopy(stereo_item("job", dsm, FILES, report(dsm), datetime.now(UTC)))
    item["assets"]["dsm"]["proj:shape"] = "700x700"
    with pytest.raises(pystac.errors.STACValidationError):
        validate_item(item)


def test_the_footprint_is_in_wgs84_even_for_a_dsm_in_utm(dsm: Path, tmp_path: Path) -> None:
    with rasterio.open(dsm) as src:
        assert src.crs.to_epsg() != 4326
    lons = [x for x, _ in footprint(dsm)["coordinates"][0]]
    assert all(55 < lon < 56 for lon in lons)


def test_a_quicklook_of_the_dsm_can_be_the_thumbnail(dsm: Path, tmp_path: Path) -> None:
    picture = write_quicklook(dsm, tmp_path / "quicklook.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_that_made_a_point_cloud_has_its_ply_asset(pair_run: PairRun, tmp_path: Path) -> None:
    products = write_products(pair_run.request, pair_run.result, tmp_path, point_cloud=True)
    assert products.point_cloud is not None and products.point_cloud.read_bytes()[:4] == b"ply\n"
    made = {"dsm": products.dsm, "quicklook": products.quicklook, "point_cloud": products.point_cloud}
    files = {name: PRODUCT_FILES[name] for name, path in made.items() if path is not None} | {
        "report": PRODUCT_FILES["report"]
    }  # named as s2p_stereo names its outputs
    item = stereo_item("job", products.dsm, files, products.report, datetime.now(UTC))
    validate_item(item)
    cloud = item["assets"]["point_cloud"]
    assert (cloud["href"], cloud["type"], cloud["roles"]) == ("point_cloud.ply", "application/ply", ["data"])
    assert set(item["assets"]) == {"dsm", "quicklook", "point_cloud", "report"}
