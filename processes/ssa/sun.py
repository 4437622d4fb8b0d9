"""Low-precision Sun and Earth-shadow geometry for optical pass conditions.

The solar ephemeris is the Astronomical Almanac's low-precision formula (section C, "Sun"):
about 0.01 deg in direction between 1950 and 2050, enough to place twilight to a few seconds
(the Sun's elevation changes by at most 0.25 deg per minute). Its mean equator and equinox of date
is used as SGP4's TEME (they differ by nutation, a few arcseconds).

Shadow: the Earth is a sphere of equatorial radius without atmosphere (the real shadow is about 2 %
wider at LEO heights, i.e. a few seconds at shadow entry and exit).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

import numpy as np

from processes.ssa.geometry import (
    J2000_JD,
    WGS84_A_KM,
    FloatArray,
    enu_basis,
    geodetic_to_ecef_km,
    gmst_rad,
    teme_to_ecef,
)

AU_KM: Final = 149_597_870.7
SUN_RADIUS_KM: Final = 696_000.0
EARTH_SHADOW_RADIUS_KM: Final = WGS84_A_KM


class ShadowModel(StrEnum):
    """How the Earth's shadow is drawn.

    CYLINDRICAL: a cylinder of one Earth radius behind the Earth (no penumbra).
    CONICAL: umbra and penumbra cones from the Sun's and Earth's disks; a target counts as sunlit
    while at least a given fraction of the Sun's disk is visible from it.
    """

    CYLINDRICAL = "cylindrical"
    CONICAL = "conical"


def sun_position_teme_km(jd_whole: float, fraction: FloatArray | float) -> FloatArray:
    """Geocentric Sun position (..., 3) in km, mean equator and equinox of date (~TEME)."""
    n = (jd_whole - J2000_JD) + np.asarray(fraction, dtype=np.float64)
    mean_longitude = np.radians((280.460 + 0.9856474 * n) % 360.0)
    g = np.radians((357.528 + 0.9856003 * n) % 360.0)
    ecliptic_longitude = mean_longitude + np.radians(1.915 * np.sin(g) + 0.020 * np.sin(2.0 * g))
    obliquity = np.radians(23.439 - 0.0000004 * n)
    distance = (1.00014 - 0.01671 * np.cos(g) - 0.00014 * np.cos(2.0 * g)) * AU_KM
    sin_lon = np.sin(ecliptic_longitude)
    return np.stack(
        (
            distance * np.cos(ecliptic_longitude),
            distance * np.cos(obliquity) * sin_lon,
            distance * np.sin(obliquity) * sin_lon,
        ),
        axis=-1,
    )


def sun_elevation_deg(
    lat_deg: float,
    lon_deg: float,
    height_m: float,
    jd_whole: float,
    fraction: FloatArray | float,
    dut1_s: float = 0.0,
) -> FloatArray:
    """Topocentric geometric elevation of the Sun's centre (no refraction), in degrees."""
    frac = np.asarray(fraction, dtype=np.float64)
    sun = sun_position_teme_km(jd_whole, frac)
    theta = gmst_rad(jd_whole, frac + dut1_s / 86400.0)
    sun_ecef, _ = teme_to_ecef(sun, np.zeros_like(sun), theta)
    rho = sun_ecef - geodetic_to_ecef_km(lat_deg, lon_deg, height_m)
    up = rho @ enu_basis(lat_deg, lon_deg)[2]
    return np.asarray(np.degrees(np.arcsin(up / np.linalg.norm(rho, axis=-1))), dtype=np.float64)


def cylindrical_sunlit_margin_km(r: FloatArray, sun: FloatArray) -> FloatArray:
    """Positive when sunlit in the cylindrical model: how far (km) the target is outside the shadow.

    ``r`` and ``sun`` are geocentric positions (..., 3) in the same frame.
    """
    s_hat = sun / np.linalg.norm(sun, axis=-1, keepdims=True)
    along = np.sum(r * s_hat, axis=-1)
    perpendicular = np.linalg.norm(r - along[..., None] * s_hat, axis=-1)
    return np.asarray(np.maximum(along, perpendicular - EARTH_SHADOW_RADIUS_KM), dtype=np.float64)


def visible_sun_fraction(r: FloatArray, sun: FloatArray) -> FloatArray:
    """Fraction (0..1) of the Sun's disk seen from geocentric position ``r`` past the Earth's disk.

    Both disks are treated as flat circles on the sky of the target: apparent radii ``a`` (Sun) and
    ``b`` (Earth), centres ``c`` apart; the hidden part is the area of the two circles' lens.
    """
    to_sun = sun - r
    d_sun = np.linalg.norm(to_sun, axis=-1)
    d_earth = np.linalg.norm(r, axis=-1)
    a = np.arcsin(np.minimum(SUN_RADIUS_KM / d_sun, 1.0))
    b = np.arcsin(np.minimum(EARTH_SHADOW_RADIUS_KM / d_earth, 1.0))
    cos_c = -np.sum(r * to_sun, axis=-1) / (d_earth * d_sun)
    c = np.arccos(np.clip(cos_c, -1.0, 1.0))
    fraction = np.ones_like(c)
    umbra = c <= b - a
    fraction[umbra] = 0.0
    annular = c <= a - b  # the Earth's disk wholly inside the Sun's (targets far beyond the Moon)
    fraction[annular] = 1.0 - (b[annular] / a[annular]) ** 2
    partial = (c < a + b) & ~umbra & ~annular
    if np.any(partial):
        ap, bp, cp = a[partial], b[partial], c[partial]
        # Distance from the Sun's centre to the chord joining the two circles' intersections.
        x = (cp * cp + ap * ap - bp * bp) / (2.0 * cp)
        y = np.sqrt(np.maximum(ap * ap - x * x, 0.0))
        lens = (
            ap * ap * np.arccos(np.clip(x / ap, -1.0, 1.0))
            + bp * bp * np.arccos(np.clip((cp - x) / bp, -1.0, 1.0))
            - cp * y
        )
        fraction[partial] = np.clip(1.0 - lens / (math.pi * ap * ap), 0.0, 1.0)
    return fraction
