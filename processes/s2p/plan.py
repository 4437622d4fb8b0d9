"""Driver-side preparation of an s2p job: configuration, tiles and their neighbourhoods.

The s2p configuration is built once here (with s2p's own `build_cfg`) and written
to the job directory; worker tasks only read it back. The tiles are listed with
s2p's tiling rules, without the multiprocessing pool `s2p.main` would start.

Job directory (on a filesystem every worker mounts at the same path, or the driver's own copy
of a job folder kept in an object store, which workers stage through `processes.s2p.staging`):

    s2p_job_config.json   s2p's full configuration, RPC models included (read by the workers)
    plan.json             the tiles and their neighbourhoods
    s2p/                  s2p's out_dir: tiles/row_*/col_*/..., dsm.tif at the end
    tmp/                  s2p's temporary_dir (absolute, so the workers' cwd does not matter)
    markers/              one completion marker per finished step; attempts/<run>/ counts tries
    CANCELLED             present while a cancellation is stopping the running steps
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import s2p.common
import s2p.config
import s2p.initialization

from .errors import NoOverlapError, WorkdirInUseError
from .inputs import StereoRequest
from .s2p_state import S2P_LOCK, default_config, install_config, tool_output

#: Layout of a job directory.
S2P_OUT_DIRNAME = "s2p"
TEMP_DIRNAME = "tmp"
MARKERS_DIRNAME = "markers"
JOB_CONFIG_NAME = "s2p_job_config.json"
PLAN_NAME = "plan.json"
CANCEL_FLAG_NAME = "CANCELLED"


class Stage(StrEnum):
    """One s2p step, named after the s2p function it calls."""

    KEYPOINTS = "image_keypoints"
    POINTING = "pointing_correction"
    GLOBAL_POINTING = "global_pointing_correction"
    RECTIFICATION = "rectification_pair"
    MATCHING = "stereo_matching"
    TRIANGULATION = "disparity_to_ply"
    HEIGHT_MAP = "disparity_to_height"
    MEAN_HEIGHTS = "mean_heights"
    GLOBAL_MEAN_HEIGHTS = "global_mean_heights"
    HEIGHTS_TO_PLY = "heights_to_ply"
    TILE_DSM = "plys_to_dsm"
    GLOBAL_DSM = "global_dsm"


#: Steps run once per tile and image pair (keypoints: also once per tile on the reference image).
PAIR_STAGES = frozenset(
    {Stage.KEYPOINTS, Stage.POINTING, Stage.RECTIFICATION, Stage.MATCHING, Stage.HEIGHT_MAP}
)
#: Steps run once for the whole job.
REDUCTION_STAGES = frozenset({Stage.GLOBAL_POINTING, Stage.GLOBAL_MEAN_HEIGHTS, Stage.GLOBAL_DSM})

PAIR_PIPELINE: tuple[Stage, ...] = (
    Stage.KEYPOINTS,
    Stage.POINTING,
    Stage.GLOBAL_POINTING,
    Stage.RECTIFICATION,
    Stage.MATCHING,
    Stage.TRIANGULATION,
    Stage.TILE_DSM,
    Stage.GLOBAL_DSM,
)
MULTI_VIEW_PIPELINE: tuple[Stage, ...] = (
    Stage.KEYPOINTS,
    Stage.POINTING,
    Stage.GLOBAL_POINTING,
    Stage.RECTIFICATION,
    Stage.MATCHING,
    Stage.HEIGHT_MAP,
    Stage.MEAN_HEIGHTS,
    Stage.GLOBAL_MEAN_HEIGHTS,
    Stage.HEIGHTS_TO_PLY,
    Stage.TILE_DSM,
    Stage.GLOBAL_DSM,
)


@dataclass(frozen=True)
class Tile:
    """One tile of the ROI, in reference-image pixels, with its s2p directory."""

    index: int
    x: int
    y: int
    w: int
    h: int
    #: Absolute s2p tile directory (`<out_dir>/tiles/row_.../col_...`).
    dir: str
    #: Indices of the tiles in its 3x3 neighbourhood, itself included.
    neighbours: tuple[int, ...]
    #: The same neighbourhood as s2p wants it: paths relative to `dir`.
    neighborhood_dirs: tuple[str, ...]

    @property
    def label(self) -> str:
        """How messages name the tile."""
        return f"#{self.index} (x={self.x}, y={self.y}, {self.w}x{self.h} px)"

    @property
    def area(self) -> int:
        """Number of reference-image pixels."""
        return self.w * self.h

    def as_s2p(self) -> dict[str, Any]:
        """The tile dictionary s2p's step functions take."""
        return {
            "coordinates": (self.x, self.y, self.w, self.h),
            "dir": self.dir,
            "neighborhood_dirs": list(self.neighborhood_dirs),
        }


@dataclass(frozen=True)
class JobPlan:
    """Everything the graph builder and the worker steps need to know about one job."""

    job_dir: str
    out_dir: str
    config_path: str
    #: SHA-256 of the configuration file: completion markers of another configuration are ignored.
    config_sha256: str
    n_images: int
    tiles: tuple[Tile, ...]
    out_crs: str
    tile_width: int
    tile_height: int
    #: The job's folder in an object store when the workers do not share `job_dir` (see StepCall).
    storage: str | None = None

    @property
    def pairs(self) -> range:
        """Indices of the secondary images (s2p pairs the reference with each)."""
        return range(1, self.n_images)

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The steps of this job, in pipeline order."""
        return PAIR_PIPELINE if self.n_images == 2 else MULTI_VIEW_PIPELINE

    @property
    def cancel_flag(self) -> Path:
        """File whose existence tells running steps to stop."""
        return Path(self.job_dir) / CANCEL_FLAG_NAME

    @property
    def dsm_path(self) -> Path:
        """Where s2p's global DSM is written."""
        return Path(self.out_dir) / "dsm.tif"

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> JobPlan:
        """Inverse of `to_json_dict`."""
        values = dict(data)
        values["tiles"] = tuple(
            Tile(
                **{
                    **t,
                    "neighbours": tuple(t["neighbours"]),
                    "neighborhood_dirs": tuple(t["neighborhood_dirs"]),
                }
            )
            for t in data["tiles"]
        )
        return cls(**values)


@dataclass(frozen=True)
class TileGrid:
    """The tiles S2P makes of a region: ``columns`` x ``rows`` of at most ``tile_width`` x ``tile_height``."""

    columns: int
    rows: int
    tile_width: int
    tile_height: int

    @property
    def tiles(self) -> int:
        return self.columns * self.rows

    @property
    def tile_pixels(self) -> int:
        """Pixels of a whole tile (those of the last row and column may be smaller)."""
        return self.tile_width * self.tile_height


def tile_grid(width: int, height: int, tile_size: int) -> TileGrid:
    """S2P's tiling of a ``width`` x ``height`` region for ``tile_size``, without its configuration:
    ``adjust_tile_size`` rounds the size so that the region splits evenly (700 px in tiles of 300 gives
    2 tiles of 350, not 3), then ``compute_tiles_coordinates`` steps through the region by it."""

    def axis(length: int) -> tuple[int, int]:
        size = min(length, tile_size)
        count = round(length / size)  # half to even, as numpy's round that s2p calls
        size = math.ceil(length / count)
        return math.ceil(length / size), size

    columns, tile_width = axis(width)
    rows, tile_height = axis(height)
    return TileGrid(columns, rows, tile_width, tile_height)


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary sibling, then rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _user_config(request: StereoRequest, out_dir: Path, temp_dir: Path) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    for image in request.images:
        entry: dict[str, Any] = {"img": str(image.path.resolve())}
        if image.rpc_path is not None:
            entry["rpc"] = str(image.rpc_path.resolve())
        images.append(entry)
    user_cfg: dict[str, Any] = {
        **request.s2p_options,
        "images": images,
        "roi": request.roi.as_s2p(),
        "out_dir": str(out_dir),
        "temporary_dir": str(temp_dir),
        "tile_size": request.tile_size,
        "dsm_resolution": request.dsm_resolution,
        "matching_algorithm": request.matching_algorithm,
        "out_crs": None if request.out_crs is None else f"epsg:{request.out_crs}",
        # the graph gives each step its own process slot: s2p must not fork pools or clean inputs
        "max_processes": 1,
        "clean_intermediate": False,
        "clean_tmp": True,
        "full_img": False,
    }
    if request.roi_lonlat is not None:
        user_cfg["roi_geojson"] = request.roi_lonlat.as_geojson()
    return user_cfg


def _serialisable_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """s2p's configuration with each image's RPC model as a plain dict (`rpcm` format)."""
    config = dict(cfg)
    images = []
    for image in cfg["images"]:
        entry = {k: v for k, v in image.items() if k != "rpcm"}
        entry["rpcm_dict"] = dict(vars(image["rpcm"]))
        images.append(entry)
    config["images"] = images
    return config


def _plan_tiles(tile_w: int, tile_h: int) -> list[Tile]:
    """s2p's tiling of `cfg['roi']`, dropping tiles no secondary image sees (needs the installed cfg)."""
    cfg = s2p.config.cfg
    roi = cfg["roi"]
    coords, neighbourhoods = s2p.initialization.compute_tiles_coordinates(
        roi["x"], roi["y"], roi["w"], roi["h"], tile_w, tile_h
    )
    sizes = []
    for image in cfg["images"]:
        with rasterio.open(image["img"]) as src:
            sizes.append(src.shape)
    kept: list[tuple[Any, np.ndarray]] = []
    discarded = set()
    for c in coords:
        useful, mask = s2p.initialization.is_this_tile_useful(*c, sizes)
        if useful:
            kept.append((c, mask))
        else:
            discarded.add(tuple(int(v) for v in c))
    index_of = {tuple(int(v) for v in c): i for i, (c, _) in enumerate(kept)}
    tiles: list[Tile] = []
    for i, (c, mask) in enumerate(kept):
        neighbours = [tuple(int(v) for v in n) for n in neighbourhoods[str(c)]]
        neighbours = [n for n in neighbours if n not in discarded]
        tile_dict = s2p.initialization.create_tile(c, {str(c): [tuple(n) for n in neighbours]})
        tile = Tile(
            index=i,
            x=int(c[0]),
            y=int(c[1]),
            w=int(c[2]),
            h=int(c[3]),
            dir=str(tile_dict["dir"]),
            neighbours=tuple(sorted(index_of[n] for n in neighbours)),
            neighborhood_dirs=tuple(tile_dict["neighborhood_dirs"]),
        )
        tiles.append(tile)
        for pair in range(1, len(cfg["images"])):
            Path(tile.dir, f"pair_{pair}").mkdir(parents=True, exist_ok=True)
        mask_path = Path(tile.dir, "mask.png")
        if not mask_path.exists():
            tmp = Path(tile.dir, f".mask.{os.getpid()}.png")
            s2p.common.rasterio_write(str(tmp), mask.astype(np.uint8))
            tmp.replace(mask_path)
    return tiles


def prepare_job(
    request: StereoRequest,
    job_dir: Path,
    *,
    storage: str | None = None,
    image_paths: Sequence[str] | None = None,
) -> JobPlan:
    """Build the s2p configuration and tile list once, write them to `job_dir`, return the plan.

    Re-running on the same directory with the same request gives the same plan (and
    configuration hash), which is what lets a resumed job skip finished steps. With
    `storage` (the job's folder in an object store), the workers read the images at
    `image_paths` (GDAL names, e.g. /vsis3/...) instead of the request's local paths.
    """
    job_dir = job_dir.resolve()
    out_dir = job_dir / S2P_OUT_DIRNAME
    temp_dir = job_dir / TEMP_DIRNAME
    for d in (out_dir, temp_dir, job_dir / MARKERS_DIRNAME):
        d.mkdir(parents=True, exist_ok=True)
    with S2P_LOCK, tool_output(job_dir / MARKERS_DIRNAME / "plan.log"):
        install_config(default_config())
        s2p.initialization.build_cfg(_user_config(request, out_dir, temp_dir))
        tile_w, tile_h = s2p.initialization.adjust_tile_size()
        tiles = _plan_tiles(tile_w, tile_h)
        config = _serialisable_config(s2p.config.cfg)
        install_config(default_config())
    if storage is not None:
        # workers put these folders in their own scratch space: the configuration (and so its hash,
        # which completion markers carry) must not depend on where this driver keeps its copy
        config["out_dir"], config["temporary_dir"] = S2P_OUT_DIRNAME, TEMP_DIRNAME
        for entry, path in zip(config["images"], image_paths or (), strict=True):
            entry["img"] = path
            entry.pop("rpc", None)  # the model is in the configuration: no worker reads the server's file
    if not tiles:
        names = [i.name for i in request.images]
        raise NoOverlapError(names[0], ", ".join(names[1:]), 0.0)
    config_text = json.dumps(config, indent=1, sort_keys=True, default=_json_default)
    config_path = job_dir / JOB_CONFIG_NAME
    if config_path.exists() and config_path.read_text() != config_text:
        raise WorkdirInUseError(str(job_dir))
    write_atomically(config_path, config_text)
    plan = JobPlan(
        job_dir=str(job_dir),
        out_dir=str(out_dir),
        config_path=str(config_path),
        config_sha256=hashlib.sha256(config_text.encode()).hexdigest(),
        n_images=len(request.images),
        tiles=tuple(tiles),
        out_crs=str(config["out_crs"]),
        tile_width=int(tile_w),
        tile_height=int(tile_h),
        storage=storage,
    )
    write_atomically(job_dir / PLAN_NAME, json.dumps(plan.to_json_dict(), indent=1))
    return plan


def load_job_config(config_path: str) -> dict[str, Any]:
    """Read a job configuration written by `prepare_job`, rebuilding the RPC models."""
    with open(config_path) as f:
        return parse_job_config(f.read())


def parse_job_config(text: str) -> dict[str, Any]:
    """A job configuration from the text `prepare_job` wrote, with its RPC models rebuilt."""
    import rpcm

    config: dict[str, Any] = json.loads(text)
    for image in config["images"]:
        image["rpcm"] = rpcm.RPCModel(image.pop("rpcm_dict"), dict_format="rpcm")
    config["roi"] = dict(config["roi"])
    return config
