"""An equal-area sky grid for indexing angle observations, and exact cone tests.

Cells: 180 bands equally spaced in sin(dec) (equal area), each split into 360 right-ascension
cells: 64,800 cells of 0.64 square degrees. A cone search asks the database for the cells the
cone can touch (contiguous id ranges), then keeps the rows within the exact angular distance.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

N_BANDS = 180
N_RA = 360
N_CELLS = N_BANDS * N_RA
_EPS_DEG = 1e-9


def cell_of(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Cell ids of (RA, Dec) positions in degrees (vectorised)."""
    ra = np.mod(np.asarray(ra_deg, dtype=np.float64), 360.0)
    z = np.sin(np.radians(np.clip(np.asarray(dec_deg, dtype=np.float64), -90.0, 90.0)))
    band = np.clip(np.floor((z + 1.0) * (N_BANDS / 2.0)), 0, N_BANDS - 1).astype(np.int64)
    col = np.clip(np.floor(ra * (N_RA / 360.0)), 0, N_RA - 1).astype(np.int64)
    return np.asarray(band * N_RA + col, dtype=np.int64)


def cell_of_one(ra_deg: float, dec_deg: float) -> int:
    """Scalar :func:`cell_of` (no numpy overhead, for per-row use at ingest)."""
    z = math.sin(math.radians(min(90.0, max(-90.0, dec_deg))))
    band = min(N_BANDS - 1, max(0, math.floor((z + 1.0) * (N_BANDS / 2.0))))
    col = min(N_RA - 1, max(0, math.floor((ra_deg % 360.0) * (N_RA / 360.0))))
    return band * N_RA + col


def _band(dec_deg: float) -> int:
    z = math.sin(math.radians(min(90.0, max(-90.0, dec_deg))))
    return min(N_BANDS - 1, max(0, math.floor((z + 1.0) * (N_BANDS / 2.0))))


def cone_cell_ranges(ra_deg: float, dec_deg: float, radius_deg: float) -> list[tuple[int, int]]:
    """Inclusive cell-id ranges covering every position within ``radius_deg`` of the centre."""
    if not 0.0 < radius_deg <= 180.0:
        raise ValueError(f"cone radius {radius_deg} must be in (0, 180] degrees")
    if not -90.0 <= dec_deg <= 90.0:
        raise ValueError(f"cone centre declination {dec_deg} out of [-90, 90]")
    r = radius_deg + _EPS_DEG
    lo_band, hi_band = _band(dec_deg - r), _band(dec_deg + r)
    pole = dec_deg + r >= 90.0 or dec_deg - r <= -90.0
    ranges: list[tuple[int, int]] = []
    if pole:
        half = 180.0
    else:
        s = math.sin(math.radians(r)) / math.cos(math.radians(dec_deg))
        half = 180.0 if s >= 1.0 else math.degrees(math.asin(s))
    for band in range(lo_band, hi_band + 1):
        base = band * N_RA
        if half >= 180.0:
            ranges.append((base, base + N_RA - 1))
            continue
        start = (ra_deg - half) % 360.0
        c0 = min(N_RA - 1, int(start * N_RA / 360.0))
        c1 = min(N_RA - 1, int(((ra_deg + half) % 360.0) * N_RA / 360.0))
        if c0 <= c1:
            ranges.append((base + c0, base + c1))
        else:  # wraps through RA 0
            ranges.append((base, base + c1))
            ranges.append((base + c0, base + N_RA - 1))
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def angular_distance_deg(
    ra1: npt.ArrayLike, dec1: npt.ArrayLike, ra2: npt.ArrayLike, dec2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in degrees (haversine, stable for small angles)."""
    a1, d1, a2, d2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2.0) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((a2 - a1) / 2.0) ** 2
    return np.asarray(np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))), dtype=np.float64)
