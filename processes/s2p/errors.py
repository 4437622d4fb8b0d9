"""The S2P domain's exception family.

Every error a user can cause or act on derives from `S2PError` and carries
typed attributes, so an adapter can map them to protocol errors (a WPS
`ProcessError`, an HTTP status) without parsing messages.
"""

from __future__ import annotations

import difflib


class S2PError(Exception):
    """Root of every error raised by `processes.s2p`.

    Subclasses keep their constructor arguments in `_init_args` so that they
    survive pickling (Dask sends task exceptions from workers to the client).
    """

    _init_args: tuple[object, ...] = ()

    def __reduce__(self) -> tuple[type[S2PError], tuple[object, ...]]:
        return (type(self), self._init_args or self.args)


class InputError(S2PError):
    """The request cannot be run as given: the user must change an input."""


class InvalidImageError(InputError):
    """An input image cannot be used (not a GeoTIFF, truncated, no RPC model...)."""

    def __init__(self, image: str, reason: str) -> None:
        self._init_args = (image, reason)
        self.image = image
        self.reason = reason
        super().__init__(f"image {image!r} cannot be used: {reason}")


class NoOverlapError(InputError):
    """The footprints of the reference image and another image do not intersect."""

    def __init__(self, reference: str, other: str, overlap_fraction: float = 0.0) -> None:
        self._init_args = (reference, other, overlap_fraction)
        self.reference = reference
        self.other = other
        self.overlap_fraction = overlap_fraction
        super().__init__(
            f"images {reference!r} and {other!r} do not overlap on the ground"
            f" (shared area {overlap_fraction:.1%} of the first image's footprint);"
            " choose images of the same scene"
        )


class RoiOutsideError(InputError):
    """The region of interest is not inside the reference image."""

    def __init__(self, roi: tuple[int, int, int, int], image_size: tuple[int, int]) -> None:
        self._init_args = (roi, image_size)
        self.roi = roi
        self.image_size = image_size
        x, y, w, h = roi
        width, height = image_size
        super().__init__(
            f"region of interest x={x}, y={y}, w={w}, h={h} (pixels) is not inside the first image"
            f" ({width} x {height} pixels); move or shrink it"
        )


class RoiTooLargeError(InputError):
    """The region of interest exceeds the server's configured maximum area."""

    def __init__(self, area_pixels: int, max_area_pixels: int) -> None:
        self._init_args = (area_pixels, max_area_pixels)
        self.area_pixels = area_pixels
        self.max_area_pixels = max_area_pixels
        super().__init__(
            f"region of interest has {area_pixels} pixels, more than this server's limit of"
            f" {max_area_pixels}; split it into smaller regions"
        )


class InvalidRoiError(InputError):
    """The region of interest is malformed (bad syntax, empty, both forms given...)."""

    def __init__(self, reason: str) -> None:
        self._init_args = (reason,)
        self.reason = reason
        super().__init__(f"invalid region of interest: {reason}")


class UnknownOptionError(InputError):
    """An `s2p_options` key is not allowed (unknown, a path, or disabled on this server)."""

    def __init__(self, option: str, allowed: tuple[str, ...], reason: str = "not an allowed option") -> None:
        self._init_args = (option, allowed, reason)
        self.option = option
        self.allowed = allowed
        self.reason = reason
        near = difflib.get_close_matches(option, sorted(allowed), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]}?" if near and reason == "not an allowed option" else ""
        super().__init__(
            f"s2p option {option!r}: {reason}{hint}; allowed options: {', '.join(sorted(allowed))}"
        )


class InvalidOptionValueError(InputError):
    """A request parameter or an allowed option has a value out of its range or of the wrong type."""

    def __init__(self, option: str, value: object, reason: str) -> None:
        self._init_args = (option, value, reason)
        self.option = option
        self.value = value
        self.reason = reason
        super().__init__(f"invalid value {value!r} for {option!r}: {reason}")


class TileFailedError(S2PError):
    """One s2p step failed (or timed out) on one tile after its retries."""

    def __init__(self, tile: str, stage: str, reason: str) -> None:
        self._init_args = (tile, stage, reason)
        self.tile = tile
        self.stage = stage
        self.reason = reason
        super().__init__(f"s2p stage {stage!r} failed on tile {tile}: {reason}")


class StereoCancelledError(S2PError):
    """The run was cancelled by its caller; the futures were cancelled."""

    def __init__(self, stage: str) -> None:
        self._init_args = (stage,)
        self.stage = stage
        super().__init__(f"stereo run cancelled during stage {stage!r}")


class WorkdirInUseError(S2PError):
    """The work directory holds a job of another configuration (a directory serves one request)."""

    def __init__(self, workdir: str) -> None:
        self._init_args = (workdir,)
        self.workdir = workdir
        super().__init__(
            f"work directory {workdir} already holds an s2p job with another configuration;"
            " use a new directory per request (only the same request can resume in it)"
        )
