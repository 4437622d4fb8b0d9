"""Three images: s2p's multi-view path (height maps, pairwise offsets, fusion) on a small ROI.

Honest scope: we only have two real views. The third image is a crop of the second
one with its RPC offsets shifted by the crop origin, i.e. the same viewpoint in other
pixel coordinates. It does exercise everything the multi-view path adds (a second pair,
per-pair height maps, global mean heights, fusion, heights_to_ply) and RPC bookkeeping
for cropped images, but it cannot show that a third view improves accuracy. What we
check is that the result agrees with the two-image DSM on the same ground.
"""

from __future__ import annotations

from pathlib import Path

import distributed
import numpy as np
import rasterio
from conftest import PairRun
from rasterio.windows import Window, from_bounds
from s2p_testdata import PAIR_DIR, pair_config

from processes.s2p.graph import run_stereo
from processes.s2p.inputs import ImageInput, build_request

CROP_X, CROP_Y, CROP_W, CROP_H = 40, 60, 950, 1000


def _crop_with_rpc(src_path: Path, dst_path: Path) -> Path:
    with rasterio.open(src_path) as src:
        data = src.read(window=Window(CROP_X, CROP_Y, CROP_W, CROP_H))
        profile = src.profile
        rpc = src.tags(ns="RPC")
    profile.update(width=CROP_W, height=CROP_H)
    rpc["SAMP_OFF"] = str(float(rpc["SAMP_OFF"]) - CROP_X)
    rpc["LINE_OFF"] = str(float(rpc["LINE_OFF"]) - CROP_Y)
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(ns="RPC", **rpc)
    return dst_path


def test_triplet_agrees_with_the_pair(
    pair_run: PairRun, dask_client: distributed.Client, tmp_path: Path
) -> None:
    third = _crop_with_rpc(PAIR_DIR / "img_02.tif", tmp_path / "img_02_crop.tif")
    options = {
        k: v for k, v in pair_config().items() if k not in {"images", "roi", "tile_size", "dsm_resolution"}
    }
    request = build_request(
        [ImageInput(PAIR_DIR / "img_01.tif"), ImageInput(PAIR_DIR / "img_02.tif"), ImageInput(third)],
        roi_pixels="400,400,300,300",
        tile_size=300,
        dsm_resolution=0.5,
        s2p_options=options,
    )
    result = run_stereo(request, tmp_path / "job", dask_client, lambda p, m: None, lambda: False)

    stages = result.stage_summaries()
    assert stages["disparity_to_height"].tasks == 2  # one tile, two pairs
    assert stages["stereo_matching"].tasks == 2
    assert {"mean_heights", "global_mean_heights", "heights_to_ply"} <= set(stages)
    assert "disparity_to_ply" not in stages

    with rasterio.open(result.dsm_path) as triplet:
        z3 = triplet.read(1)
        bounds = triplet.bounds
        assert triplet.crs.to_epsg() == 32740
    with rasterio.open(pair_run.result.dsm_path) as pair:
        z2 = pair.read(
            1, window=from_bounds(*bounds, transform=pair.transform), boundless=True, fill_value=np.nan
        )
    assert z2.shape == z3.shape
    both = np.isfinite(z2) & np.isfinite(z3)
    assert both.sum() > 0.6 * z3.size
    diff = np.abs(z3[both] - z2[both])
    assert np.median(diff) < 0.3
    assert np.percentile(diff, 90) < 1.5
