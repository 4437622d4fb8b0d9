"""Input validation: every user-facing error, on real (and deliberately broken) files."""

from __future__ import annotations

import ast
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rpcm
from s2p_testdata import PAIR_DIR, pair_request

from processes.s2p import errors
from processes.s2p.footprints import overlap_fraction, region_footprint
from processes.s2p.inputs import (
    ImageInput,
    InputLimits,
    LonLatBBox,
    PixelRoi,
    build_request,
    check_s2p_options,
    inspect_image,
    parse_s2p_options,
)

IMG1 = PAIR_DIR / "img_01.tif"
IMG2 = PAIR_DIR / "img_02.tif"


def _copy_without_rpc(src: Path, dst: Path) -> Path:
    with rasterio.open(src) as s:
        profile = s.profile
        data = s.read()
    with rasterio.open(dst, "w", **profile) as d:
        d.write(data)
    return dst


def _copy_with_rpc(src: Path, dst: Path, **rpc_changes: float) -> Path:
    shutil.copy(src, dst)
    dst.chmod(0o644)
    with rasterio.open(dst, "r+") as d:
        tags = d.tags(ns="RPC")
        for key, delta in rpc_changes.items():
            tags[key] = str(float(tags[key]) + delta)
        d.update_tags(ns="RPC", **tags)
    return dst


def test_valid_pair_gives_a_typed_request() -> None:
    request = pair_request()
    assert request.roi == PixelRoi(150, 150, 700, 700)
    assert request.tile_size == 300
    assert request.matching_algorithm == "mgm"
    assert request.out_crs is None
    assert request.s2p_options["disp_range_method"] == "sift"
    assert str(request.roi) == "150,150,700,700"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidImageError) as info:
        inspect_image(ImageInput(tmp_path / "nope.tif", label="left"))
    assert info.value.image == "left"
    assert "not found" in info.value.reason


def test_not_a_geotiff_text(tmp_path: Path) -> None:
    bogus = tmp_path / "image.tif"
    bogus.write_text("this is not an image\n")
    with pytest.raises(errors.InvalidImageError) as info:
        inspect_image(ImageInput(bogus))
    assert info.value.image == "image.tif"
    assert "GeoTIFF" in str(info.value)


def test_not_a_geotiff_png(tmp_path: Path) -> None:
    png = tmp_path / "image.png"
    with rasterio.open(png, "w", driver="PNG", width=100, height=100, count=1, dtype="uint8") as d:
        d.write(np.zeros((1, 100, 100), dtype=np.uint8))
    with pytest.raises(errors.InvalidImageError, match="not a GeoTIFF"):
        inspect_image(ImageInput(png))


def test_truncated(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.tif"
    data = IMG1.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(errors.InvalidImageError) as info:
        inspect_image(ImageInput(truncated))
    assert "truncated" in info.value.reason


def test_no_rpc(tmp_path: Path) -> None:
    plain = _copy_without_rpc(IMG1, tmp_path / "plain.tif")
    with pytest.raises(errors.InvalidImageError) as info:
        inspect_image(ImageInput(plain))
    assert "RPC" in info.value.reason


def test_rpc_sidecar_file_replaces_missing_tags(tmp_path: Path) -> None:
    plain = _copy_without_rpc(IMG1, tmp_path / "plain.tif")
    sidecar = tmp_path / "plain_rpc.txt"
    rpcm.rpc_from_geotiff(str(IMG1)).write_to_file(str(sidecar))
    info = inspect_image(ImageInput(plain, rpc_path=sidecar))
    assert (info.width, info.height) == (1024, 1024)
    assert info.rpc.lat_offset == pytest.approx(rpcm.rpc_from_geotiff(str(IMG1)).lat_offset)


def test_unreadable_rpc_file(tmp_path: Path) -> None:
    sidecar = tmp_path / "bad_rpc.txt"
    sidecar.write_text("LINE_OFF: oops\n")
    with pytest.raises(errors.InvalidImageError, match="RPC file"):
        inspect_image(ImageInput(IMG1, rpc_path=sidecar))


def test_no_overlap(tmp_path: Path) -> None:
    far = _copy_with_rpc(IMG2, tmp_path / "far.tif", LONG_OFF=1.0)
    with pytest.raises(errors.NoOverlapError) as info:
        build_request([ImageInput(IMG1), ImageInput(far)], roi_pixels="150,150,700,700")
    assert (info.value.reference, info.value.other) == ("img_01.tif", "far.tif")


@pytest.mark.parametrize("roi", ["900,900,300,300", "-1,0,100,100", "0,0,1025,10"])
def test_roi_outside(roi: str) -> None:
    with pytest.raises(errors.RoiOutsideError) as info:
        build_request([ImageInput(IMG1), ImageInput(IMG2)], roi_pixels=roi)
    assert info.value.image_size == (1024, 1024)


def test_bbox_outside_image() -> None:
    with pytest.raises(errors.RoiOutsideError):
        build_request([ImageInput(IMG1), ImageInput(IMG2)], roi_lonlat=LonLatBBox(10.0, 10.0, 10.1, 10.1))


def test_roi_too_large() -> None:
    with pytest.raises(errors.RoiTooLargeError) as info:
        build_request(
            [ImageInput(IMG1), ImageInput(IMG2)],
            roi_pixels="0,0,500,500",
            limits=InputLimits(max_roi_pixels=100_000),
        )
    assert (info.value.area_pixels, info.value.max_area_pixels) == (250_000, 100_000)


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,0,0,10", ""])
def test_malformed_roi(text: str) -> None:
    with pytest.raises(errors.InvalidRoiError):
        PixelRoi.parse(text)


def test_at_most_one_roi_form() -> None:
    with pytest.raises(errors.InvalidRoiError):
        build_request(
            [ImageInput(IMG1), ImageInput(IMG2)],
            roi_pixels="0,0,10,10",
            roi_lonlat=LonLatBBox(55.0, -21.0, 55.1, -20.9),
        )


def test_no_roi_means_the_whole_overlap(tmp_path: Path) -> None:
    whole = build_request([ImageInput(IMG1), ImageInput(IMG2)])
    assert whole.roi.x >= 0 and whole.roi.y >= 0
    assert whole.roi.x + whole.roi.w <= 1024 and whole.roi.y + whole.roi.h <= 1024
    assert whole.roi.area > 0.8 * 1024 * 1024  # the pair sees nearly the same ground
    shifted = _copy_with_rpc(IMG2, tmp_path / "shifted.tif", LONG_OFF=0.004)
    part = build_request([ImageInput(IMG1), ImageInput(shifted)])
    assert 0 < part.roi.area < whole.roi.area  # only the common ground is processed
    far = _copy_with_rpc(IMG2, tmp_path / "far.tif", LONG_OFF=1.0)
    with pytest.raises(errors.NoOverlapError):
        build_request([ImageInput(IMG1), ImageInput(far)])


def test_bbox_converts_to_the_pixels_it_came_from() -> None:
    rpc = rpcm.rpc_from_geotiff(str(IMG1))
    corners = region_footprint(rpc, 150, 150, 700, 700)
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    bbox = LonLatBBox(min(lons), min(lats), max(lons), max(lats))
    request = build_request([ImageInput(IMG1), ImageInput(IMG2)], roi_lonlat=bbox)
    # the lon/lat box of a rotated footprint is larger than the footprint: the ROI contains the original
    roi = request.roi
    assert roi.x <= 150 and roi.y <= 150
    assert roi.x + roi.w >= 850 and roi.y + roi.h >= 850
    assert request.roi_lonlat == bbox
    # a known height range (2200-2450 m here) gives a tighter ROI than the RPC's whole range
    tight = build_request(
        [ImageInput(IMG1), ImageInput(IMG2)], roi_lonlat=bbox, s2p_options={"alt_min": 2200, "alt_max": 2450}
    )
    assert tight.roi.area < request.roi.area


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ("out_dir", "not an allowed option"),
        ("temporary_dir", "not an allowed option"),
        ("exogenous_dem", "not an allowed option"),
        ("clean_intermediate", "not an allowed option"),
        ("max_processes", "not an allowed option"),
        ("no_such_option", "not an allowed option"),
        ("tile_size", "request parameter"),
        ("images", "request parameter"),
    ],
)
def test_unknown_or_forbidden_options(option: str, reason: str) -> None:
    with pytest.raises(errors.UnknownOptionError) as info:
        check_s2p_options({option: "/etc"}, InputLimits())
    assert info.value.option == option
    assert reason in info.value.reason
    assert "out_dir" not in info.value.allowed


def test_use_srtm_only_when_enabled() -> None:
    with pytest.raises(errors.UnknownOptionError, match="disabled"):
        check_s2p_options({"use_srtm": True}, InputLimits())
    assert check_s2p_options({"use_srtm": False}, InputLimits()) == {"use_srtm": False}
    assert check_s2p_options({"use_srtm": True}, InputLimits(allow_srtm=True)) == {"use_srtm": True}


@pytest.mark.parametrize(
    "options",
    [
        {"horizontal_margin": "20"},
        {"horizontal_margin": 2.5},
        {"msk_erosion": -1},
        {"cargarse_basura": 1},
        {"disp_range_method": "exogenous"},
        {"rectification_method": "/tmp/x"},
        {"disp_range_method": "fixed_pixel_range"},
        {"sift_match_thresh": float("nan")},
    ],
)
def test_bad_option_values(options: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidOptionValueError):
        check_s2p_options(options, InputLimits())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"matching_algorithm": "sgbm"},
        {"tile_size": 10},
        {"dsm_resolution": 0.0},
        {"out_crs": 4326},
        {"out_crs": 999999},
    ],
)
def test_bad_request_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidOptionValueError):
        build_request([ImageInput(IMG1), ImageInput(IMG2)], roi_pixels="150,150,300,300", **kwargs)  # type: ignore[arg-type]


def test_s2p_options_as_json_text() -> None:
    assert parse_s2p_options('{"msk_erosion": 0}') == {"msk_erosion": 0}
    assert parse_s2p_options("  ") == {}
    with pytest.raises(errors.InvalidOptionValueError):
        parse_s2p_options("[1, 2]")
    with pytest.raises(errors.InvalidOptionValueError):
        parse_s2p_options("{oops")


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidImageError("a.tif", "truncated"),
        errors.NoOverlapError("a.tif", "b.tif", 0.0),
        errors.RoiOutsideError((1, 2, 3, 4), (10, 10)),
        errors.RoiTooLargeError(100, 10),
        errors.InvalidRoiError("bad"),
        errors.UnknownOptionError("x", ("a", "b")),
        errors.InvalidOptionValueError("x", 1, "bad"),
        errors.TileFailedError("#0", "stereo_matching", "boom"),
        errors.StereoCancelledError("stereo_matching"),
        errors.WorkdirInUseError("/tmp/job"),
    ],
)
def test_errors_survive_pickling(error: errors.S2PError) -> None:
    """Dask ships task exceptions from workers to the client by pickling them."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_overlap_fraction_of_squares() -> None:
    square = [(0.0, 0.0), (0.001, 0.0), (0.001, 0.001), (0.0, 0.001)]
    shifted = [(x + 0.0005, y) for x, y in square]
    far = [(x + 1.0, y) for x, y in square]
    assert overlap_fraction(square, square) == pytest.approx(1.0)
    assert overlap_fraction(square, shifted) == pytest.approx(0.5, rel=1e-3)
    assert overlap_fraction(square, list(reversed(shifted))) == pytest.approx(0.5, rel=1e-3)
    assert overlap_fraction(square, far) == 0.0


def test_domain_package_imports_no_web_framework() -> None:
    package = Path(__file__).parents[2] / "processes" / "s2p"
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"pywps", "flask", "werkzeug"}, (
                    f"{source.name} imports {name}"
                )
