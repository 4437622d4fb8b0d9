"""Agreement between two DSMs, with s2p's own acceptance thresholds."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

#: s2p's end-to-end test tolerances.
MAX_VALID_COUNT_DIFF = 0.01
MAX_ABS_MEAN_DIFF_M = 0.025
MAX_P99_ABS_DIFF_M = 1.0


@dataclass(frozen=True)
class DsmAgreement:
    """How two DSMs on the same grid differ."""

    same_shape: bool
    shape: tuple[int, int]
    reference_shape: tuple[int, int]
    valid: int
    reference_valid: int
    #: |valid - reference_valid| / reference_valid (counted on the common part when the shapes differ)
    valid_count_diff: float
    #: over pixels valid in both (on the common part of the grids when the shapes differ)
    mean_diff: float
    p99_abs_diff: float
    #: pixels of the common part of the two grids (the whole grid when the shapes agree)
    overlap_pixels: int

    @property
    def acceptable(self) -> bool:
        """True if s2p's acceptance test would pass."""
        return (
            self.same_shape
            and self.valid_count_diff <= MAX_VALID_COUNT_DIFF
            and abs(self.mean_diff) <= MAX_ABS_MEAN_DIFF_M
            and self.p99_abs_diff <= MAX_P99_ABS_DIFF_M
        )

    @property
    def acceptable_on_overlap(self) -> bool:
        """s2p's thresholds on the common part of the grids, ignoring a difference of extent.

        The extent of an s2p DSM comes from the extreme points of the tiles' clouds, which
        move by a pixel or two with s2p's random SIFT filtering: two correct runs can differ
        in shape by a few rows while agreeing everywhere else.
        """
        return (
            self.overlap_pixels > 0
            and self.valid_count_diff <= MAX_VALID_COUNT_DIFF
            and abs(self.mean_diff) <= MAX_ABS_MEAN_DIFF_M
            and self.p99_abs_diff <= MAX_P99_ABS_DIFF_M
        )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, with the verdicts."""
        return {
            **asdict(self),
            "acceptable": self.acceptable,
            "acceptable_on_overlap": self.acceptable_on_overlap,
        }


def _read(path: Path) -> tuple[np.ndarray, Affine]:
    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype(np.float64)
        transform = src.transform
    return np.ma.filled(data, np.nan), transform


def _common_part(
    a: np.ndarray, ta: Affine, b: np.ndarray, tb: Affine
) -> tuple[np.ndarray, np.ndarray] | None:
    """The parts of two north-up rasters on the same aligned grid that cover the same ground."""
    if not (math.isclose(ta.a, tb.a) and math.isclose(ta.e, tb.e)) or ta.b or ta.d or tb.b or tb.d:
        return None
    dx, dy = (tb.c - ta.c) / ta.a, (tb.f - ta.f) / ta.e
    if not (float(dx).is_integer() and float(dy).is_integer()):
        return None
    col, row = int(dx), int(dy)  # position of b's origin in a's pixels
    r0, c0 = max(0, row), max(0, col)
    r1, c1 = min(a.shape[0], row + b.shape[0]), min(a.shape[1], col + b.shape[1])
    if r1 <= r0 or c1 <= c0:
        return None
    return a[r0:r1, c0:c1], b[r0 - row : r1 - row, c0 - col : c1 - col]


def compare_dsms(dsm: Path, reference: Path) -> DsmAgreement:
    """Compare `dsm` with `reference` pixel by pixel (no resampling: the same grid is expected).

    When the shapes differ, the differences are measured on the common part of the grids.
    """
    ours, t_ours = _read(dsm)
    ref, t_ref = _read(reference)
    same_shape = ours.shape == ref.shape and t_ours.almost_equals(t_ref)
    common = (ours, ref) if same_shape else _common_part(ours, t_ours, ref, t_ref)
    n_valid, n_ref = int(np.isfinite(ours).sum()), int(np.isfinite(ref).sum())
    if common is None:
        diff = np.array([], dtype=np.float64)
        overlap = 0
    else:
        a, b = common
        both = np.isfinite(a) & np.isfinite(b)
        diff = a[both] - b[both]
        overlap = int(a.size)
        if not same_shape:
            n_valid, n_ref = int(np.isfinite(a).sum()), int(np.isfinite(b).sum())
    return DsmAgreement(
        same_shape=same_shape,
        shape=(int(ours.shape[0]), int(ours.shape[1])),
        reference_shape=(int(ref.shape[0]), int(ref.shape[1])),
        valid=n_valid,
        reference_valid=n_ref,
        valid_count_diff=abs(n_valid - n_ref) / max(n_ref, 1),
        mean_diff=float(np.mean(diff)) if diff.size else float("nan"),
        p99_abs_diff=float(np.percentile(np.abs(diff), 99)) if diff.size else float("nan"),
        overlap_pixels=overlap,
    )
