"""The quicklook shows where no height was found, in a colour the height ramp never uses, and not the
area outside the region (no-data touching the grid's border)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from matplotlib.image import imread
from rasterio.transform import from_origin

from processes.s2p.products import NO_DATA_COLOUR, quicklook_figure, write_quicklook


def _dsm(path: Path, holes: bool) -> Path:
    y, x = np.mgrid[0:200, 0:200]
    z = (2300 + 0.3 * x + 0.1 * y).astype(np.float32)
    z[:, :30] = np.nan  # outside the region: touches the border
    if holes:
        z[90:110, 90:110] = np.nan  # a hole in the middle
        z[50, 150] = np.nan  # a single-pixel hole
    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 1, "dtype": "float32"}
    profile.update(crs="EPSG:32740", transform=from_origin(337000, 7650000, 0.5, 0.5), nodata=float("nan"))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
    return path


def _hole_pixels(png: Path) -> int:
    rgb = imread(png)[..., :3]
    return int(np.all(np.abs(rgb - np.array(NO_DATA_COLOUR)) < 0.02, axis=-1).sum())


def test_holes_have_a_colour_of_their_own(tmp_path: Path) -> None:
    with_holes = write_quicklook(_dsm(tmp_path / "a.tif", True), tmp_path / "a.png", job_id="job-1")
    without = write_quicklook(_dsm(tmp_path / "b.tif", False), tmp_path / "b.png", job_id="job-1")
    # the picture holds the legend's swatch in both; the holes add to it in the first only
    assert _hole_pixels(with_holes) > _hole_pixels(without) + 100
    assert _hole_pixels(without) > 0


def test_the_picture_names_its_job_date_scale_and_share_of_holes(tmp_path: Path) -> None:
    made = datetime(2026, 12, 5, 21, 7, tzinfo=UTC)
    fig = quicklook_figure(_dsm(tmp_path / "a.tif", True), job_id="5f0c-job", made=made)
    ax = fig.axes[0]
    assert fig.get_suptitle() == "S2P digital surface model, job 5f0c-job"
    assert ax.get_title() == "EPSG:32740, 0.5 m per pixel shown, made 2026-12-05 21:07 UTC"
    # 401 holes among the 200 x 170 pixels of the region (the 30 columns outside it are not holes)
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["no height found: 1.2 % of the area"]
    assert fig.axes[1].get_ylabel() == "height (m)"
    texts = [child.txt_label.get_text() for child in ax.artists if hasattr(child, "txt_label")]
    assert texts == ["20 m"]
