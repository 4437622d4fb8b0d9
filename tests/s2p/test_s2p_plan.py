"""Job preparation and graph shape, without running s2p steps (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s2p_testdata import pair_request

from processes.s2p.errors import WorkdirInUseError
from processes.s2p.graph import build_graph
from processes.s2p.plan import JobPlan, Stage, prepare_job


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
