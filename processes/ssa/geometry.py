"""Earth frames and time for pass prediction: Julian dates, GMST, TEME -> ECEF, WGS-84 sites, az/el.

Accuracy target: well under 0.01 deg in direction and 1 ms in time for objects seen from the ground.
What is neglected, and what it costs:

- UT1 - UTC (|dUT1| < 0.9 s): GMST uses UTC unless a ``dut1_s`` is given. 0.9 s of Earth rotation
  moves a site by at most 420 m, which shifts a LEO rise or set by well under 0.1 s.
- Polar motion (about 0.3 arcsec, 10 m at the surface): ignored, ECEF here is the pseudo-Earth-fixed
  frame (PEF) that SGP4's TEME is defined against.
- The equation of the equinoxes is not applied: SGP4's TEME is rotated to PEF by GMST (IAU-82), as
  Vallado et al. (AIAA 2006-6753) prescribe.
- Atmospheric refraction is not modelled: elevations are geometric (about 0.5 deg low at the horizon
  compared with what an optical sensor sees).
- Leap seconds inside a window are ignored (days have 86,400 s).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

WGS84_A_KM: Final = 6378.137
WGS84_F: Final = 1.0 / 298.257223563
WGS84_E2: Final = WGS84_F * (2.0 - WGS84_F)
EARTH_ROTATION_RAD_S: Final = 7.292115146706979e-5  # IERS nominal, as Vallado uses with TEME
SECONDS_PER_DAY: Final = 86400.0
J2000_JD: Final = 2451545.0
_JD_OF_ORDINAL_0: Final = 1721424.5  # JD at 0h UTC of date.toordinal() == 0


def julian_date(moment: datetime) -> tuple[float, float]:
    """Split Julian date (whole part ending in .5 at 0h UTC, fraction of day) of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone: give it in UTC")
    utc = moment.astimezone(UTC)
    whole = utc.toordinal() + _JD_OF_ORDINAL_0
    seconds = utc.hour * 3600 + utc.minute * 60 + utc.second + utc.microsecond * 1e-6
    return whole, seconds / SECONDS_PER_DAY


def gmst_rad(jd_whole: float, fraction: FloatArray | float) -> FloatArray:
    """Greenwich mean sidereal time (IAU-82, the angle SGP4's TEME is defined with), in radians.

    ``jd_whole + fraction`` is the UT1 Julian date; keeping the whole part separate preserves
    microsecond resolution.
    """
    frac = np.asarray(fraction, dtype=np.float64)
    days = (jd_whole - J2000_JD) + frac
    t = days / 36525.0
    # 876600 h * 3600 s/h * T is a whole number of days * 86400 s: keep only its fraction of a day.
    seconds = 67310.54841 + 8640184.812866 * t + 0.093104 * t * t - 6.2e-6 * t * t * t
    turns = ((jd_whole - J2000_JD) % 1.0 + frac) + seconds / SECONDS_PER_DAY
    return np.asarray((turns % 1.0) * (2.0 * math.pi), dtype=np.float64)


def geodetic_to_ecef_km(lat_deg: float, lon_deg: float, height_m: float) -> FloatArray:
    """WGS-84 geodetic coordinates to an Earth-fixed position vector in km."""
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    sin_lat = math.sin(lat)
    n = WGS84_A_KM / math.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    h = height_m / 1000.0
    return np.array(
        [
            (n + h) * math.cos(lat) * math.cos(lon),
            (n + h) * math.cos(lat) * math.sin(lon),
            (n * (1.0 - WGS84_E2) + h) * sin_lat,
        ]
    )


def enu_basis(lat_deg: float, lon_deg: float) -> FloatArray:
    """Rows: east, north and up unit vectors (up = normal to the WGS-84 ellipsoid) in ECEF."""
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    sl, cl = math.sin(lat), math.cos(lat)
    so, co = math.sin(lon), math.cos(lon)
    return np.array(
        [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ]
    )


def teme_to_ecef(r: FloatArray, v: FloatArray, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Rotate TEME position/velocity (..., 3) to ECEF (PEF) with GMST ``theta`` (broadcast on ...).

    The velocity is relative to the rotating Earth (the omega x r term is removed).
    """
    c = np.cos(theta)
    s = np.sin(theta)
    x = c * r[..., 0] + s * r[..., 1]
    y = -s * r[..., 0] + c * r[..., 1]
    vx = c * v[..., 0] + s * v[..., 1] + EARTH_ROTATION_RAD_S * y
    vy = -s * v[..., 0] + c * v[..., 1] - EARTH_ROTATION_RAD_S * x
    return np.stack((x, y, r[..., 2]), axis=-1), np.stack((vx, vy, v[..., 2]), axis=-1)


def azimuth_elevation_deg(
    rho_ecef: FloatArray, basis: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Azimuth (0..360, from north through east), elevation and range (km) of topocentric vectors."""
    enu = rho_ecef @ basis.T
    rng = np.sqrt(np.sum(enu * enu, axis=-1))
    az = np.degrees(np.arctan2(enu[..., 0], enu[..., 1])) % 360.0
    el = np.degrees(np.arcsin(np.clip(enu[..., 2] / rng, -1.0, 1.0)))
    return az, el, rng
