"""Job preparation and graph shape, without running s2p steps (fast)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import s2p.initialization
from s2p_testdata import pair_request

from processes.s2p.errors import WorkdirInUseError
from processes.s2p.graph import build_graph
from processes.s2p.plan import JobPlan, Stage, prepare_job, tile_grid
from processes.s2p.s2p_state import S2P_LOCK, default_config, install_config


def test_whole_image_is_three_by_three_tiles_with_true_neighbourhoods(tmp_path: Path) -> None:
    plan = prepare_job(pair_request(roi="0,0,1024,1024"), tmp_path)
    assert (plan.tile_width, plan.tile_height) == (342, 342)
    assert len(plan.tiles) == 9
    sizes = {len(t.neighbours) for t in plan.tiles}
    assert sizes == {4, 6, 9}  # corners, edges, centre
    centre = plan.tiles[4]
    assert centre.neighbours == tuple(range(9))
    assert all(Path(t.dir, "mask.png").exists() for t in plan.tiles)
    assert JobPlan.from_json_dict(json.loads((tmp_path / "plan.json").read_text())) == plan


def test_corner_rectification_needs_only_its_neighbours(tmp_path: Path) -> None:
    plan = prepare_job(pair_request(roi="0,0,1024,1024"), tmp_path)
    tasks, calls = build_graph(plan, "cafebabe", 60.0)
    graph = tasks[-1].dask
    for key, call in calls.items():
        upstream = [calls[d] for d in graph.dependencies[key]]
        if call.stage is Stage.RECTIFICATION and call.tile is not None and call.tile.index == 0:
            assert {u.tile.index for u in upstream if u.tile} == {0, 1, 3, 4}
            assert {u.stage for u in upstream} == {Stage.POINTING}
        if call.stage is Stage.TILE_DSM and call.tile is not None and call.tile.index == 8:
            assert {u.tile.index for u in upstream if u.tile} == {4, 5, 7, 8}
    assert sum(c.stage is Stage.GLOBAL_DSM for c in calls.values()) == 1
    # keypoints (reference and secondary), pointing, rectification, matching, triangulation, tile DSM
    assert len(calls) == 9 * 7 + 2  # + 2 reductions


def test_same_request_resumes_other_request_is_refused(tmp_path: Path) -> None:
    first = prepare_job(pair_request(roi="350,350,400,200", tile_size=200), tmp_path)
    again = prepare_job(pair_request(roi="350,350,400,200", tile_size=200), tmp_path)
    assert again.config_sha256 == first.config_sha256
    with pytest.raises(WorkdirInUseError):
        prepare_job(pair_request(roi="350,350,400,200", tile_size=200, options={"msk_erosion": 2}), tmp_path)


@pytest.mark.parametrize(
    ("width", "height", "tile_size"),
    [
        (700, 700, 300),
        (1024, 1024, 300),
        (1024, 1024, 500),
        (750, 450, 300),
        (900, 100, 300),
        (250, 5000, 5000),
        (301, 299, 100),
        (1000, 1000, 400),
        (1050, 350, 300),
    ],
)
def test_tile_grid_counts_tiles_as_s2p_does(width: int, height: int, tile_size: int) -> None:
    with S2P_LOCK:
        install_config(
            {
                **default_config(),
                "roi": {"x": 0, "y": 0, "w": width, "h": height},
                "tile_size": tile_size,
                "images": [{}, {}],
            }
        )
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                tile_w, tile_h = s2p.initialization.adjust_tile_size()
        finally:
            install_config(default_config())
    coordinates, _ = s2p.initialization.compute_tiles_coordinates(0, 0, width, height, tile_w, tile_h)
    grid = tile_grid(width, height, tile_size)
    assert (grid.tile_width, grid.tile_height) == (tile_w, tile_h)
    assert grid.tiles == len(coordinates)


def test_tile_grid_matches_the_plan_of_the_test_pair(tmp_path: Path) -> None:
    plan = prepare_job(pair_request(roi="150,150,700,700", tile_size=300), tmp_path)
    grid = tile_grid(700, 700, 300)
    assert (grid.tiles, grid.tile_width, grid.tile_height) == (
        len(plan.tiles),
        plan.tile_width,
        plan.tile_height,
    )
    assert grid.tiles == 4 and grid.tile_pixels == 350 * 350
