"""Cancellation, resumption and failures of real runs (small ROIs to stay quick)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import distributed
import psutil
import pytest
import rasterio
from s2p_testdata import pair_request

from processes.s2p.errors import StereoCancelledError, TileFailedError
from processes.s2p.evaluation import compare_dsms
from processes.s2p.graph import StereoResult, run_stereo

#: Two tiles of 200x200 pixels inside the test pair's ROI.
SMALL_ROI = "350,350,400,200"


def test_cancelled_run_resumes_skipping_finished_steps(
    dask_client: distributed.Client, tmp_path: Path
) -> None:
    request = pair_request(roi=SMALL_ROI, tile_size=200)
    messages: list[str] = []

    def cancel_once_matching_started() -> bool:
        return any("stereo_matching 1/2" in m for m in messages)

    with pytest.raises(StereoCancelledError):
        run_stereo(
            request, tmp_path, dask_client, lambda p, m: messages.append(m), cancel_once_matching_started
        )
    assert not (tmp_path / "s2p" / "dsm.tif").exists(), "no final DSM from a cancelled run"

    progress: list[float] = []
    result = run_stereo(request, tmp_path, dask_client, lambda p, m: progress.append(p), lambda: False)
    skipped = {(r.stage, r.tile_index, r.pair) for r in result.reports if r.skipped}
    assert {("pointing_correction", 0, 1), ("pointing_correction", 1, 1)} <= skipped
    assert ("global_pointing_correction", None, None) in skipped
    assert {("rectification_pair", 0, 1), ("rectification_pair", 1, 1)} <= skipped
    assert sum(r.stage == "stereo_matching" for r in result.reports if r.skipped) >= 1
    assert not any(r.skipped for r in result.reports if r.stage in {"plys_to_dsm", "global_dsm"})
    assert result.dsm_path.exists()
    assert progress[-1] == 100.0

    # a third run finds everything done
    again = run_stereo(request, tmp_path, dask_client, lambda p, m: None, lambda: False)
    assert all(r.skipped for r in again.reports)


def test_step_timeout_fails_the_tile_and_names_it(dask_client: distributed.Client, tmp_path: Path) -> None:
    request = pair_request(roi="400,400,200,200", tile_size=200)
    with pytest.raises(TileFailedError) as info:
        run_stereo(
            request,
            tmp_path,
            dask_client,
            lambda p, m: None,
            lambda: False,
            retries=0,
            step_timeout_seconds=0.3,
        )
    # which step first exceeds 0.3 s depends on the machine; matching (mgm) always does
    assert info.value.stage in {
        "image_keypoints",
        "pointing_correction",
        "rectification_pair",
        "stereo_matching",
    }
    assert info.value.tile.startswith("#0 (x=400, y=400")
    assert "timed out" in info.value.reason
    assert not (tmp_path / "s2p" / "dsm.tif").exists()


def test_tiles_without_local_pointing_wait_for_the_global_one(
    dask_client: distributed.Client, tmp_path: Path
) -> None:
    """With no SIFT match accepted, no tile has a local correction: rectification must wait (inside
    the task, seceded from the worker) for the global reduction, which is not a static edge."""
    request = pair_request(roi=SMALL_ROI, tile_size=200, options={"sift_match_thresh": 0.0})
    result = run_stereo(request, tmp_path, dask_client, lambda p, m: None, lambda: False)
    assert not list(tmp_path.glob("s2p/tiles/*/*/pair_1/pointing.txt"))
    global_done = next(r.finished_at for r in result.reports if r.stage == "global_pointing_correction")
    rectifications = [r for r in result.reports if r.stage == "rectification_pair"]
    assert len(rectifications) == 2
    assert all(r.finished_at >= global_done for r in rectifications)
    assert result.dsm_path.exists()


def _kill_first_mgm_under(folder: Path, killed: list[str], stop: threading.Event) -> None:
    """SIGKILL the first `mgm` whose command line names `folder` (as the OOM killer would)."""
    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.info["name"] == "mgm" and str(folder) in cmdline:
                proc.kill()
                killed.append(cmdline)
                return
        time.sleep(0.02)


def test_a_step_whose_tool_is_killed_is_retried_and_the_dsm_is_the_same(
    dask_client: distributed.Client, tmp_path: Path
) -> None:
    request = pair_request(roi=SMALL_ROI, tile_size=200)
    clean = run_stereo(request, tmp_path / "clean", dask_client, lambda p, m: None, lambda: False)
    assert clean.retries == 0
    killed: list[str] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_mgm_under, args=(tmp_path / "killed", killed, stop))
    killer.start()
    try:
        result = run_stereo(request, tmp_path / "killed", dask_client, lambda p, m: None, lambda: False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no mgm was seen running"
    assert result.retries == 1
    (again,) = [r for r in result.reports if r.attempt == 2]
    assert again.stage == "stereo_matching" and not again.skipped
    assert compare_dsms(result.dsm_path, clean.dsm_path).acceptable


def test_two_jobs_at_once_on_the_same_workers_do_not_mix(
    dask_client: distributed.Client, tmp_path: Path
) -> None:
    """s2p keeps its configuration in one global dict per process: two jobs whose tasks interleave on the
    same two workers (different resolutions, tilings and margins) each get the DSM they get alone."""
    requests = {
        "fine": pair_request(roi=SMALL_ROI, tile_size=200),
        "coarse": pair_request(
            roi="300,300,300,300", tile_size=150, dsm_resolution=1.0, options={"horizontal_margin": 10}
        ),
    }
    alone = {
        name: run_stereo(request, tmp_path / "alone" / name, dask_client, lambda p, m: None, lambda: False)
        for name, request in requests.items()
    }
    together: dict[str, StereoResult] = {}

    def run(name: str) -> None:
        together[name] = run_stereo(
            requests[name], tmp_path / "together" / name, dask_client, lambda p, m: None, lambda: False
        )

    threads = [threading.Thread(target=run, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    spans = {
        name: (min(r.started_at for r in result.reports), max(r.finished_at for r in result.reports))
        for name, result in together.items()
    }
    assert spans["fine"][0] < spans["coarse"][1] and spans["coarse"][0] < spans["fine"][1]  # they overlapped
    for name, result in together.items():
        with rasterio.open(result.dsm_path) as dsm:
            assert dsm.res == (requests[name].dsm_resolution,) * 2, name
        agreement = compare_dsms(result.dsm_path, alone[name].dsm_path)
        assert agreement.same_shape and agreement.acceptable, (name, agreement)
