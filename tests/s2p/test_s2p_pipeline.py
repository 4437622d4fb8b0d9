"""The whole graph on s2p's test pair, on a real 2-process Dask cluster, and its products."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path

import dask
import distributed
import numpy as np
import pytest
import rasterio
import rpcm
from conftest import PairRun
from plyfile import PlyData
from rasterio.warp import transform_bounds
from s2p_testdata import PAIR_DIR, pair_config

from processes.s2p.evaluation import compare_dsms
from processes.s2p.footprints import region_footprint
from processes.s2p.graph import build_graph, cluster_dask_config, run_stereo, task_duration_config
from processes.s2p.inputs import ImageInput, LonLatBBox, build_request
from processes.s2p.plan import Stage
from processes.s2p.products import write_products


def test_dsm_passes_s2p_acceptance(pair_run: PairRun) -> None:
    agreement = compare_dsms(pair_run.result.dsm_path, PAIR_DIR / "expected_dsm.tif")
    assert agreement.same_shape, agreement
    assert agreement.valid_count_diff <= 0.01, agreement
    assert abs(agreement.mean_diff) <= 0.025, agreement
    assert agreement.p99_abs_diff <= 1.0, agreement


def test_plan_matches_s2p_tiling(pair_run: PairRun) -> None:
    plan = pair_run.result.plan
    assert (plan.tile_width, plan.tile_height) == (350, 350)  # s2p rounds 300 to 2x2 tiles of 350
    assert [(t.x, t.y) for t in plan.tiles] == [(150, 150), (500, 150), (150, 500), (500, 500)]
    assert plan.out_crs == "epsg:32740"
    assert all(t.neighbours == (0, 1, 2, 3) for t in plan.tiles)


def test_progress_is_monotonic_and_names_stages(pair_run: PairRun) -> None:
    percents = [p for p, _ in pair_run.progress]
    assert percents == sorted(percents)
    assert percents[0] == 0.0 and percents[-1] == 100.0
    first, last = pair_run.progress[1][1], pair_run.progress[-1][1]
    assert first.startswith("image_keypoints:")
    assert "stereo_matching 4/4" in last and "global_dsm 1/1" in last


def test_every_task_ran_once_with_timings(pair_run: PairRun) -> None:
    result = pair_run.result
    stages = result.stage_summaries()
    assert list(stages) == [s.value for s in result.plan.stages]
    assert stages["stereo_matching"].tasks == 4
    assert stages["global_dsm"].tasks == 1
    assert result.retries == 0 and result.skipped == 0
    assert result.worker_seconds > 0


def test_edges_are_data_dependencies_not_barriers(pair_run: PairRun) -> None:
    """A tile's triangulation waits for its own matching and rectification (whose homographies it
    reads) only; rectification for its neighbours' SIFT."""
    plan = pair_run.result.plan
    tasks, calls = build_graph(plan, "deadbeef", 60.0)
    graph = tasks[-1].dask
    deps = {k: {calls[d].stage for d in graph.dependencies[k]} for k in calls}
    tile_of = {k: (c.stage, c.tile.index if c.tile else None) for k, c in calls.items()}
    for key, (stage, tile) in tile_of.items():
        upstream = [tile_of[d] for d in graph.dependencies[key]]
        if stage is Stage.TRIANGULATION:
            assert sorted(upstream, key=str) == sorted(
                [(Stage.MATCHING, tile), (Stage.RECTIFICATION, tile), (Stage.GLOBAL_POINTING, None)], key=str
            )
        if stage is Stage.RECTIFICATION:
            assert deps[key] == {Stage.POINTING}  # the global correction is awaited only when needed
        if stage is Stage.MATCHING:
            assert upstream == [(Stage.RECTIFICATION, tile)]
        if stage is Stage.POINTING:  # its tile's two SIFT detections, run as tasks of their own
            assert upstream == [(Stage.KEYPOINTS, tile), (Stage.KEYPOINTS, tile)]
            assert sorted(str(calls[d].pair) for d in graph.dependencies[key]) == ["1", "None"]
        if stage is Stage.KEYPOINTS:
            assert upstream == []


def test_products(pair_run: PairRun, tmp_path: Path) -> None:
    products = write_products(
        pair_run.request, pair_run.result, tmp_path, point_cloud=True, cluster_info={"profile": "local-test"}
    )
    with rasterio.open(products.dsm) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.dtypes[0] == "float32"
        assert np.isnan(src.nodata)
        assert src.crs.to_epsg() == 32740
        assert src.overviews(1)
    assert compare_dsms(products.dsm, PAIR_DIR / "expected_dsm.tif").acceptable

    assert products.quicklook is not None and "quicklook" in products.report["outputs"]
    with rasterio.open(products.quicklook) as png:
        assert png.driver == "PNG" and png.count in (3, 4) and png.width >= 400

    assert products.point_cloud is not None
    merged = PlyData.read(str(products.point_cloud))["vertex"].count
    tiles = sum(PlyData.read(str(p))["vertex"].count for p in pair_run.result.tile_point_clouds())
    assert merged == tiles > 100_000

    report = json.loads(json.dumps(products.report))
    assert report["software"]["s2p"] == "1.0b25"
    assert report["tasks"] == {
        "planned": 30,  # 4 tiles x 7 steps + 2 reductions
        "skipped_as_finished": 0,
        "retries": 0,
        "worker_seconds": report["tasks"]["worker_seconds"],
    }
    assert set(report["stages"]) >= {"pointing_correction", "stereo_matching", "global_dsm"}
    assert report["cluster"]["workers"] == 2 and report["cluster"]["profile"] == "local-test"
    assert len(report["tiles"]) == 4
    assert 0.8 < report["dsm"]["valid_fraction"] <= 1
    assert report["outputs"]["dsm"]["bytes"] > 0


def test_task_durations_for_the_scheduler() -> None:
    config = task_duration_config(350 * 350)["distributed.scheduler.default-task-durations"]
    assert float(config["s2p_stereo_matching"].rstrip("s")) > 1.0  # not Dask's 0.5 s guess
    assert set(config) >= {"s2p_pointing_correction", "s2p_global_dsm"}


def test_recommended_cluster_config_names_real_dask_settings() -> None:
    recommended = cluster_dask_config(350 * 350)
    for key in recommended:
        dask.config.get(key)  # raises KeyError if Dask renamed the setting
    with dask.config.set(recommended):
        assert dask.config.get("distributed.worker.profile.enabled") is False


@pytest.mark.slow
def test_same_dsm_as_native_s2p(pair_run: PairRun, tmp_path: Path) -> None:
    """s2p's own CLI on the same configuration: both DSMs pass the acceptance test against each other."""
    config = pair_config()
    for image in config["images"]:
        image["img"] = str(PAIR_DIR / image["img"])
    config["out_dir"] = str(tmp_path / "native")
    (tmp_path / "config.json").write_text(json.dumps(config))
    s2p_cli = Path(sys.executable).with_name("s2p")
    cli = str(s2p_cli) if s2p_cli.exists() else shutil.which("s2p")
    assert cli, "the s2p command is not installed"
    subprocess.run(
        [cli, str(tmp_path / "config.json")], cwd=tmp_path, check=True, capture_output=True, timeout=900
    )
    native = tmp_path / "native" / "dsm.tif"
    agreement = compare_dsms(pair_run.result.dsm_path, native)
    assert agreement.acceptable, agreement


def test_lonlat_bbox_roi_crops_the_dsm_to_the_box(dask_client: distributed.Client, tmp_path: Path) -> None:
    rpc = rpcm.rpc_from_geotiff(str(PAIR_DIR / "img_01.tif"))
    corners = region_footprint(rpc, 450, 450, 150, 150, altitude=2320.0)
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    bbox = LonLatBBox(min(lons), min(lats), max(lons), max(lats))
    config = pair_config()
    request = build_request(
        [ImageInput(PAIR_DIR / i["img"]) for i in config["images"]],
        roi_lonlat=bbox,
        tile_size=300,
        dsm_resolution=0.5,
        s2p_options={
            "horizontal_margin": 20,
            "vertical_margin": 5,
            "disp_range_method": "sift",
            "msk_erosion": 0,
        },
    )
    result = run_stereo(request, tmp_path, dask_client, lambda p, m: None, lambda: False)
    west, south, east, north = transform_bounds("EPSG:4326", "EPSG:32740", *astuple(bbox))
    with rasterio.open(result.dsm_path) as dsm:
        bounds = dsm.bounds
        valid = np.isfinite(dsm.read(1)).mean()
    assert bounds.left == pytest.approx(west, abs=1.0) and bounds.right == pytest.approx(east, abs=1.0)
    assert bounds.bottom == pytest.approx(south, abs=1.0) and bounds.top == pytest.approx(north, abs=1.0)
    assert valid > 0.5


def test_products_skip_the_quicklook_nobody_asked_for(pair_run: PairRun, tmp_path: Path) -> None:
    products = write_products(pair_run.request, pair_run.result, tmp_path, quicklook=False)
    assert products.quicklook is None and products.point_cloud is None
    assert not (tmp_path / "quicklook.png").exists()
    assert sorted(products.report["outputs"]) == ["dsm"]
