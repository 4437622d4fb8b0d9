"""`wps-server calibrate`: a real S2P run on the test pair, measured per stage, written where the
estimates read it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from s2p_testdata import PAIR_DIR

from cluster.estimate import load_calibration

pytestmark = pytest.mark.slow


def test_calibrate_measures_every_stage(tmp_path: Path) -> None:
    config = tmp_path / "server.cfg"
    target = tmp_path / "calibration.json"
    config.write_text(f"[server]\ndata_dir = {tmp_path / 'var'}\n[cluster]\ncalibration_file = {target}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wps_server.cli",
            "--config",
            str(config),
            "calibrate",
            str(PAIR_DIR / "img_01.tif"),
            str(PAIR_DIR / "img_02.tif"),
            "--roi",
            "300,300,300,300",
            "--s2p-options",
            '{"disp_range_method": "sift"}',
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "s2p_stereo_matching" in result.stdout and "calibrating" in result.stderr  # the progress bar
    calibration = load_calibration(target)
    assert calibration.measured and calibration.tiles == 1 and calibration.tile_size_px == 300
    assert calibration.stages["s2p_stereo_matching"] > 0 and calibration.stages["s2p_pointing_correction"] > 0
    assert "img_01.tif" in calibration.source


def test_calibrate_refuses_a_bad_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tif"
    bad.write_text("not an image")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wps_server.cli",
            "calibrate",
            str(PAIR_DIR / "img_01.tif"),
            str(bad),
            "--output",
            str(tmp_path / "c.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0 and "bad.tif" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "c.json").exists()
