"""Make the TDM fixtures of tests/ssa from real element sets seen from real sites.

Run from the repository root:  .venv/bin/python tests/data/ssa/tdm/make_tdm_fixtures.py

Orbits: four 2026 objects of gpconf's Alpha-5 snapshot (../gpconf/alpha5/, Apache-2.0),
propagated with SGP4 through skyfield (offline, built-in time scale). Sites: ESA's Optical
Ground Station at Teide, Tenerife (optical, RA/Dec + magnitude) and FHR's TIRA radar at
Wachtberg (AZ/EL, range, range rate, RCS). RA/Dec are skyfield's topocentric astrometric
positions (ICRF, written as EME2000), range rate its radial rate. Gaussian noise with a fixed
seed is added (0.5 arcsec, 5 m, 1 mm/s); magnitude and RCS are modelled, not measured:
mag = 5 + 5 log10(range / 1000 km), RCS = 1.2 m^2 * (1 + 0.1 sin(t / 20 s)).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from skyfield.api import EarthSatellite, load, wgs84

from processes.ssa.records import AngleFrame, Observation, Tdm
from processes.ssa.tdm import make_segment, write_tdm_kvn, write_tdm_xml
from processes.ssa.tle import read_tle, tle_lines

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE.parent / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"
PICK = (100404, 100410, 100420, 100430)
OGS = ("OGS-TENERIFE", 28.2994, -16.5097, 2393.0)
TIRA = ("TIRA", 50.6166, 7.1296, 300.0)
HEADER = {"CREATION_DATE": "2026-10-01T00:00:00", "ORIGINATOR": "SPACE-WPS-TESTS"}


def _passes(sat: EarthSatellite, site: object, ts: object, t0: object, t1: object) -> list[tuple[object, object]]:
    times, events = sat.find_events(site, t0, t1, altitude_degrees=20.0)
    spans, rise = [], None
    for t, e in zip(times, events):
        if e == 0:
            rise = t
        elif e == 2 and rise is not None:
            spans.append((rise, t))
            rise = None
    return spans


def main() -> None:
    rng = np.random.default_rng(2026)
    ts = load.timescale(builtin=True)
    orbits = {o.norad_id: o for o in read_tle(SNAPSHOT.read_text())}
    optical: list = []
    radar: list = []
    optical_v1: list = []
    used: list[str] = []
    for k, norad in enumerate(PICK):
        orbit = orbits[norad]
        l1, l2 = tle_lines(orbit)
        used += [orbit.object_name, l1, l2]
        sat = EarthSatellite(l1, l2, orbit.object_name, ts)
        t0 = ts.from_datetime(orbit.epoch)
        t1 = ts.tt_jd(t0.tt + 2.0)
        # Optical: one pass over OGS, every 10 s.
        code, lat, lon, h = OGS
        site = wgs84.latlon(lat, lon, elevation_m=h)
        rise, fall = _passes(sat, site, ts, t0, t1)[0]
        n = int((fall.tt - rise.tt) * 86400 / 10) + 1
        t = ts.tt_jd(rise.tt + np.arange(n) * 10 / 86400)
        topo = (sat - site).at(t)
        ra, dec, dist = topo.radec()
        noise = rng.normal(0.0, 0.5 / 3600.0, (2, n))
        obs = []
        for i, when in enumerate(t.utc_datetime()):
            when = when.replace(microsecond=(when.microsecond // 1000) * 1000)
            a1 = round(float(ra.degrees[i] + noise[0, i]) % 360.0, 7)
            a2 = round(float(dec.degrees[i] + noise[1, i]), 7)
            mag = round(5.0 + 5.0 * math.log10(dist.km[i] / 1000.0), 2)
            obs += [Observation(when, "ANGLE_1", a1), Observation(when, "ANGLE_2", a2), Observation(when, "MAG", mag)]
        # k = 0 named by NORAD id, 1 by COSPAR id, 2 by NORAD id, 3 as an uncorrelated track
        target = [str(norad), orbit.object_id, str(norad), "UCT-2026-0001"][k]
        seg = make_segment(obs, sensor=code, target=target, angle_frame=AngleFrame.RADEC, track_id=f"OGS-{k + 1:03d}")
        optical.append(seg)
        if k < 2:
            v1_obs = [o for o in obs if o.type != "MAG"]
            optical_v1.append(make_segment(v1_obs, sensor=code, target=target, angle_frame=AngleFrame.RADEC))
        # Radar: one pass over TIRA, every 2 s, first two objects only.
        if k >= 2:
            continue
        code, lat, lon, h = TIRA
        site = wgs84.latlon(lat, lon, elevation_m=h)
        rise, fall = _passes(sat, site, ts, t0, t1)[0]
        n = int((fall.tt - rise.tt) * 86400 / 2) + 1
        t = ts.tt_jd(rise.tt + np.arange(n) * 2 / 86400)
        topo = (sat - site).at(t)
        alt, az, _ = topo.altaz()
        _, _, dist, _, _, rate = topo.frame_latlon_and_rates(site)
        noise = rng.normal(0.0, 1.0, (4, n))
        obs = []
        for i, when in enumerate(t.utc_datetime()):
            when = when.replace(microsecond=(when.microsecond // 1000) * 1000)
            seconds = (when - orbit.epoch).total_seconds()
            obs += [
                Observation(when, "ANGLE_1", round(float(az.degrees[i] + noise[0, i] * 0.5 / 3600) % 360.0, 6)),
                Observation(when, "ANGLE_2", round(float(alt.degrees[i] + noise[1, i] * 0.5 / 3600), 6)),
                Observation(when, "RANGE", round(float(dist.km[i] + noise[2, i] * 0.005), 6)),
                Observation(when, "DOPPLER_INSTANTANEOUS", round(float(rate.km_per_s[i] + noise[3, i] * 1e-6), 9)),
                Observation(when, "RCS", round(1.2 * (1.0 + 0.1 * math.sin(seconds / 20.0)), 4)),
            ]
        radar.append(
            make_segment(
                obs,
                sensor=code,
                target=str(norad),
                angle_frame=AngleFrame.AZEL,
                track_id=f"TIRA-{k + 1:03d}",
                extra_metadata={"PATH": "1,2,1"},
            )
        )
    (HERE / "optical_radec.kvn").write_text(write_tdm_kvn(Tdm("2.0", dict(HEADER), [], optical)))
    (HERE / "optical_radec.xml").write_bytes(write_tdm_xml(Tdm("2.0", dict(HEADER), [], optical)))
    (HERE / "optical_radec_v1.xml").write_bytes(write_tdm_xml(Tdm("1.0", dict(HEADER), [], optical_v1), "1.0"))
    (HERE / "radar_azel.kvn").write_text(write_tdm_kvn(Tdm("2.0", dict(HEADER), ["TIRA passes"], radar)))
    (HERE / "source.tle").write_text("\n".join(used) + "\n")


if __name__ == "__main__":
    main()
