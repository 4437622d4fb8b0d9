"""SGP4 propagation of catalogue orbits (TEME frame), Earth rotation and ground tracks.

Earth orientation is GMST (IAU-82) only, without polar motion: good to tens of metres, the
level at which SGP4 itself is far worse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sgp4.api import WGS72, Satrec, SatrecArray

from processes.ssa.epochs import to_us
from processes.ssa.errors import SSAError
from processes.ssa.records import Orbit

FloatArray = npt.NDArray[np.float64]
_JD_UNIX = 2440587.5
_JD_1950 = 2433281.5  # sgp4init epoch origin: 1949-12-31T00:00 UTC
_TWO_PI = 2.0 * math.pi
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563


class PropagationError(SSAError):
    """SGP4 reported an error (decayed orbit, eccentricity out of range...)."""


def orbit_to_satrec(orbit: Orbit) -> Satrec:
    """Initialise an SGP4 ``Satrec`` (WGS72, improved mode) from OMM mean elements."""
    epoch_jd = _JD_UNIX + to_us(orbit.epoch) / 86_400e6
    sat = Satrec()
    satnum = orbit.norad_id if orbit.norad_id is not None and orbit.norad_id <= 339_999 else 0
    per_min = _TWO_PI / 1440.0
    sat.sgp4init(
        WGS72,
        "i",
        satnum,
        epoch_jd - _JD_1950,
        orbit.bstar,
        orbit.mean_motion_dot * per_min / 1440.0,
        orbit.mean_motion_ddot * per_min / 1440.0 / 1440.0,
        orbit.eccentricity,
        math.radians(orbit.arg_of_pericenter),
        math.radians(orbit.inclination),
        math.radians(orbit.mean_anomaly),
        orbit.mean_motion * per_min,
        math.radians(orbit.ra_of_asc_node),
    )
    return sat


def times_us(times: Sequence[datetime] | npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    if isinstance(times, np.ndarray):
        return times.astype(np.int64)
    return np.array([to_us(t) for t in times], dtype=np.int64)


def _jd_split(us: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    days, rem = np.divmod(us, 86_400_000_000)
    return (days + _JD_UNIX).astype(np.float64), rem.astype(np.float64) / 86_400e6


def propagate_teme(orbit: Orbit, us: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Positions (km) and velocities (km/s) in TEME at the given microsecond times."""
    jd, fr = _jd_split(us)
    err, r, v = SatrecArray([orbit_to_satrec(orbit)]).sgp4(jd, fr)
    if np.any(err[0] != 0):
        code = int(err[0][np.nonzero(err[0])[0][0]])
        raise PropagationError(f"SGP4 error {code} propagating {orbit.norad_id or orbit.object_name}")
    return np.asarray(r[0], dtype=np.float64), np.asarray(v[0], dtype=np.float64)


def gmst_rad(us: npt.NDArray[np.int64]) -> FloatArray:
    """Greenwich mean sidereal time (IAU-82), UT1 taken as UTC."""
    jd, fr = _jd_split(us)
    t = ((jd - 2451545.0) + fr) / 36525.0
    sec = 67310.54841 + (876600.0 * 3600.0 + 8640184.812866) * t + 0.093104 * t**2 - 6.2e-6 * t**3
    return np.asarray(np.mod(sec * (_TWO_PI / 86400.0), _TWO_PI), dtype=np.float64)


def teme_to_ecef(r: FloatArray, us: npt.NDArray[np.int64]) -> FloatArray:
    """Rotate TEME positions to the Earth-fixed frame by GMST."""
    g = gmst_rad(us)
    c, s = np.cos(g), np.sin(g)
    x = c * r[:, 0] + s * r[:, 1]
    y = -s * r[:, 0] + c * r[:, 1]
    return np.column_stack([x, y, r[:, 2]])


def ecef_to_geodetic(r: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """WGS84 latitude (deg), longitude (deg, -180..180) and height (km) of ECEF positions."""
    e2 = WGS84_F * (2.0 - WGS84_F)
    x, y, z = r[:, 0], r[:, 1], r[:, 2]
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - e2))
    h = np.zeros_like(p)
    for _ in range(5):
        n = WGS84_A_KM / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
        h = p / np.maximum(np.cos(lat), 1e-12) - n
        lat = np.arctan2(z, p * (1.0 - e2 * n / (n + h)))
    return np.degrees(lat), np.degrees(np.arctan2(y, x)), h


def geodetic_to_ecef(lat_deg: float, lon_deg: float, height_km: float) -> FloatArray:
    e2 = WGS84_F * (2.0 - WGS84_F)
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    n = WGS84_A_KM / math.sqrt(1.0 - e2 * math.sin(lat) ** 2)
    return np.array(
        [
            (n + height_km) * math.cos(lat) * math.cos(lon),
            (n + height_km) * math.cos(lat) * math.sin(lon),
            (n * (1.0 - e2) + height_km) * math.sin(lat),
        ]
    )


def look_angles(
    r_ecef: FloatArray, lat_deg: float, lon_deg: float, height_km: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Azimuth (deg from north, east positive), elevation (deg) and range (km) from a site."""
    site = geodetic_to_ecef(lat_deg, lon_deg, height_km)
    d = r_ecef - site
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    sl, cl, so, co = math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)
    east = -so * d[:, 0] + co * d[:, 1]
    north = -sl * co * d[:, 0] - sl * so * d[:, 1] + cl * d[:, 2]
    up = cl * co * d[:, 0] + cl * so * d[:, 1] + sl * d[:, 2]
    rng = np.sqrt(east**2 + north**2 + up**2)
    az = np.mod(np.degrees(np.arctan2(east, north)), 360.0)
    return az, np.degrees(np.arcsin(up / rng)), rng


def ground_track(orbit: Orbit, us: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sub-satellite latitude, longitude (deg) and height (km) at the given times."""
    r, _ = propagate_teme(orbit, us)
    return ecef_to_geodetic(teme_to_ecef(r, us))
