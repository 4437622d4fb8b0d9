"""The equal-area sky grid: every position inside a cone lies in one of the cone's candidate cells."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from processes.ssa.sky import N_CELLS, angular_distance_deg, cell_of, cell_of_one, cone_cell_ranges


def test_cells_have_equal_area() -> None:
    rng = np.random.default_rng(3)
    n = 2_000_000
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))  # uniform on the sphere
    counts = np.bincount(cell_of(ra, dec), minlength=N_CELLS)
    expected = n / N_CELLS
    assert abs(counts.mean() - expected) < 1e-9
    assert counts.std() < 1.2 * math.sqrt(expected)  # Poisson scatter only: no cell is larger


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.0, 360.0, exclude_max=True),
    st.floats(-90.0, 90.0),
    st.floats(0.01, 30.0),
    st.integers(0, 2**32 - 1),
)
def test_cone_candidates_cover_the_cone(ra: float, dec: float, radius: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # points near the cone's edge and inside it, around the centre
    bearing = rng.uniform(0.0, 2 * math.pi, 400)
    dist = np.radians(radius) * np.sqrt(rng.uniform(0.0, 1.0, 400))
    d0, a0 = math.radians(dec), math.radians(ra)
    lat = np.arcsin(np.sin(d0) * np.cos(dist) + np.cos(d0) * np.sin(dist) * np.cos(bearing))
    lon = a0 + np.arctan2(
        np.sin(bearing) * np.sin(dist) * np.cos(d0), np.cos(dist) - np.sin(d0) * np.sin(lat)
    )
    pra, pdec = np.degrees(lon) % 360.0, np.degrees(lat)
    inside = angular_distance_deg(ra, dec, pra, pdec) <= radius
    ranges = cone_cell_ranges(ra, dec, radius)
    cells = cell_of(pra[inside], pdec[inside])
    covered = np.zeros(len(cells), dtype=bool)
    for lo, hi in ranges:
        covered |= (cells >= lo) & (cells <= hi)
    assert covered.all()
    assert all(
        cell_of_one(float(a), float(d)) == int(c)
        for a, d, c in zip(pra[:20], pdec[:20], cell_of(pra[:20], pdec[:20]), strict=True)
    )
