"""The test pair (s2p's own, copied under tests/data) and requests built from its configuration.

This module lives beside the tests under a name no installed package uses: the test
directory itself cannot be a package called `s2p` without shadowing the real s2p.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from processes.s2p.inputs import ImageInput, StereoRequest, build_request

PAIR_DIR = Path(__file__).parents[1] / "data" / "s2p" / "pair"

#: Keys of s2p's test configuration that are request parameters rather than s2p options.
_REQUEST_KEYS = {"images", "roi", "tile_size", "dsm_resolution", "out_dir"}


def pair_config() -> dict[str, Any]:
    """s2p's own configuration of the test pair."""
    config: dict[str, Any] = json.loads((PAIR_DIR / "s2p_config.json").read_text())
    return config


def pair_request(
    roi: str | None = None,
    tile_size: int | None = None,
    options: dict[str, Any] | None = None,
    **overrides: Any,
) -> StereoRequest:
    """The test pair's configuration as a validated request (optionally on another ROI or tiling)."""
    config = pair_config()
    r = config["roi"]
    return build_request(
        [ImageInput(PAIR_DIR / i["img"]) for i in config["images"]],
        roi_pixels=roi or f"{r['x']},{r['y']},{r['w']},{r['h']}",
        tile_size=tile_size or config["tile_size"],
        dsm_resolution=overrides.pop("dsm_resolution", config["dsm_resolution"]),
        s2p_options={**{k: v for k, v in config.items() if k not in _REQUEST_KEYS}, **(options or {})},
        **overrides,
    )
