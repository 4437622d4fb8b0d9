"""Agreement between two DSMs, with s2p's own acceptance thresholds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

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
    #: |valid - reference_valid| / reference_valid
    valid_count_diff: float
    #: over pixels valid in both
    mean_diff: float
    p99_abs_diff: float

    @property
    def acceptable(self) -> bool:
        """True if s2p's acceptance test would pass."""
        return (
            self.same_shape
            and self.valid_count_diff <= MAX_VALID_COUNT_DIFF
            and abs(self.mean_diff) <= MAX_ABS_MEAN_DIFF_M
            and self.p99_abs_diff <= MAX_P99_ABS_DIFF_M
        )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, with the verdict."""
        return {**asdict(self), "acceptable": self.acceptable}


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype(np.float64)
    return np.ma.filled(data, np.nan)


def compare_dsms(dsm: Path, reference: Path) -> DsmAgreement:
    """Compare `dsm` with `reference` pixel by pixel (no resampling: same grid expected)."""
    ours, ref = _read(dsm), _read(reference)
    valid, ref_valid = np.isfinite(ours), np.isfinite(ref)
    same_shape = ours.shape == ref.shape
    if same_shape:
        both = valid & ref_valid
        diff = ours[both] - ref[both]
    else:
        diff = np.array([np.nan])
    n_valid, n_ref = int(valid.sum()), int(ref_valid.sum())
    return DsmAgreement(
        same_shape=same_shape,
        shape=(int(ours.shape[0]), int(ours.shape[1])),
        reference_shape=(int(ref.shape[0]), int(ref.shape[1])),
        valid=n_valid,
        reference_valid=n_ref,
        valid_count_diff=abs(n_valid - n_ref) / max(n_ref, 1),
        mean_diff=float(np.mean(diff)) if diff.size else float("nan"),
        p99_abs_diff=float(np.percentile(np.abs(diff), 99)) if diff.size else float("nan"),
    )
