"""Reproducible SIFT filtering in long-lived workers, and DSM comparison on aligned grids (fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import ransac
import rasterio
from rasterio.transform import from_origin

from processes.s2p.evaluation import compare_dsms
from processes.s2p.ransac_seed import reset_ransac_generator


def _noisy_matches() -> np.ndarray:
    rng = np.random.default_rng(0)
    matches = rng.uniform(0, 100, (60, 4)).astype(np.float32)
    matches[:, 2:] = matches[:, :2] + rng.normal(0, 0.5, (60, 2))
    return matches


def test_ransac_generator_reset_repeats_the_same_draws() -> None:
    matches = _noisy_matches()
    assert reset_ransac_generator()
    first = ransac.find_fundamental_matrix(matches, 200, 0.3)[0]
    second = ransac.find_fundamental_matrix(matches, 200, 0.3)[0]  # the generator moved on
    assert reset_ransac_generator()
    again = ransac.find_fundamental_matrix(matches, 200, 0.3)[0]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, second)


def _write(path: Path, z: np.ndarray, top: float) -> Path:
    profile = {
        "driver": "GTiff",
        "width": z.shape[1],
        "height": z.shape[0],
        "count": 1,
        "dtype": "float32",
        "nodata": float("nan"),
        "crs": "EPSG:32740",
        "transform": from_origin(359000.0, top, 0.5, 0.5),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z.astype(np.float32), 1)
    return path


def test_compare_on_the_common_part_of_aligned_grids(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ground = 2300 + rng.normal(0, 5, (104, 80))
    a = _write(tmp_path / "a.tif", ground[:100], top=7651999.5)  # rows 0-99
    b = _write(tmp_path / "b.tif", ground[4:] + 0.01, top=7651997.5)  # rows 4-103, 1 cm higher
    agreement = compare_dsms(a, b)
    assert not agreement.same_shape  # same size, but the grids are offset by 4 rows
    assert agreement.overlap_pixels == 96 * 80
    assert agreement.mean_diff == pytest.approx(-0.01, abs=1e-3)
    assert not agreement.acceptable  # s2p's strict test wants the same grid
    assert agreement.acceptable_on_overlap


def test_identical_dsms_agree(tmp_path: Path) -> None:
    z = np.full((20, 30), 2300.0)
    z[0, 0] = np.nan
    a = _write(tmp_path / "a.tif", z, top=7651999.5)
    agreement = compare_dsms(a, a)
    assert agreement.same_shape and agreement.acceptable
    assert agreement.mean_diff == 0.0 and agreement.valid == 599
