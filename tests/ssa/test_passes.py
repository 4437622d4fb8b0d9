"""Pass prediction (processes.ssa.passes) against skyfield, offline, on real element sets.

skyfield runs from skyfield-data's files (DE421, built-in UT1 tables): no download. skyfield's own
event search is accurate to about half a second; its Earth orientation includes UT1 - UTC, which
our default neglects (see processes.ssa.geometry), hence the 1 s tolerances below, and the much
tighter check where dUT1 is passed on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sgp4.api import Satrec
from sgp4.exporter import export_omm

from processes.ssa.passes import (
    Limit,
    OpticalConditions,
    Pass,
    PassOptions,
    PassPredictionCancelledError,
    PassPredictionError,
    ShadowModel,
    Site,
    TleRecord,
    Window,
    predict_passes,
    resolve_site,
    screen_chunk,
)
from processes.ssa.records import Sensor, SensorKind

skyfield_api = pytest.importorskip("skyfield.api")
skyfield_data = pytest.importorskip("skyfield_data")

DATA = Path(__file__).resolve().parents[1] / "data" / "ssa" / "passes"
OGS = Site(28.2993, -16.5122, 2393.0, "ESA OGS, Tenerife")
TIRA = Site(50.6166, 7.1296, 307.0, "TIRA, Wachtberg")
DAY = Window(datetime(2026, 9, 21, tzinfo=UTC), datetime(2026, 9, 22, tzinfo=UTC))


def read_3le(text: str) -> dict[int, TleRecord]:
    lines = text.splitlines()
    out: dict[int, TleRecord] = {}
    for i in range(len(lines) - 1):
        if lines[i].startswith("1 ") and lines[i + 1].startswith("2 "):
            name = lines[i - 1].strip() if i and not lines[i - 1].startswith("2 ") else ""
            record = TleRecord(lines[i][:69], lines[i + 1][:69], name)
            out[Satrec.twoline2rv(record.line1, record.line2).satnum] = record
    return out


REAL = read_3le((DATA / "gpconf-2026-09.tle").read_text())
LEO = [100404, 100689, 270001]
MEO, HEO, GEO = 100460, 270298, 100530
# Vallado's verification sets shipped in the sgp4 package: three LEO and a GPS (MEO) satellite.
VERIFICATION = read_3le(files("sgp4").joinpath("SGP4-VER.TLE").read_text())
VER_IDS = [6251, 28057, 29238, 28129]
VER_DAY = Window(datetime(2006, 6, 26, tzinfo=UTC), datetime(2006, 6, 27, tzinfo=UTC))


@pytest.fixture(scope="module")
def sky() -> Any:
    """skyfield's timescale and DE421 from skyfield-data's folder (its files' expiry is irrelevant)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load = skyfield_api.Loader(skyfield_data.get_skyfield_data_path(), verbose=False)
        return load.timescale(builtin=True), load("de421.bsp")


def topos(site: Site) -> Any:
    return skyfield_api.wgs84.latlon(site.latitude_deg, site.longitude_deg, elevation_m=site.height_m)


def skyfield_events(
    ts: Any, record: TleRecord, site: Site, window: Window, mask: float
) -> list[tuple[datetime, int]]:
    sat = skyfield_api.EarthSatellite(record.line1, record.line2, record.name, ts)
    t, kinds = sat.find_events(
        topos(site), ts.from_datetime(window.start), ts.from_datetime(window.end), altitude_degrees=mask
    )
    return [(ti.utc_datetime(), int(k)) for ti, k in zip(t, kinds, strict=True)]


def altitude(ts: Any, record: TleRecord, site: Site, moments: list[datetime]) -> np.ndarray:
    sat = skyfield_api.EarthSatellite(record.line1, record.line2, record.name, ts)
    return np.asarray((sat - topos(site)).at(ts.from_datetimes(moments)).altaz()[0].degrees)


def compare_with_skyfield(
    ts: Any, record: TleRecord, site: Site, window: Window, mask: float, fast: bool
) -> int:
    """Assert our rises and sets within 1 s of skyfield's, and culminations (time for LEO; for slow
    objects, whose flat maxima make the time ill-conditioned, the maximum elevation).

    skyfield looks for rises and sets only between the maxima it found in the window (its source
    says it may "miss a stubborn rising or setting near the ends"), and misses some of slow
    objects: each event of ours it lacks must be confirmed by skyfield's own altitude changing
    sides of the mask within 1 s.
    """
    ours = screen_chunk([record], site, window, PassOptions(elevation_mask_deg=mask))
    theirs = skyfield_events(ts, record, site, window, mask)
    mine = [(p.rise_time, 0, p.set_limit) for p in ours if p.rise_limit == Limit.ELEVATION]
    mine += [(p.set_time, 2, p.rise_limit) for p in ours if p.set_limit == Limit.ELEVATION]
    for moment, kind in theirs:
        if kind != 1:
            assert any(k == kind and abs((t - moment).total_seconds()) < 1.0 for t, k, _ in mine)
    for moment, kind, _ in mine:
        if any(k == kind and abs((t - moment).total_seconds()) < 1.0 for t, k in theirs):
            continue
        second = timedelta(seconds=1)
        before, after = altitude(ts, record, site, [moment - second, moment + second]) - mask
        assert before * after < 0.0 and (after > 0.0) == (kind == 0)
    for p in ours:
        peaks = [t for t, k in theirs if k == 1 and p.rise_time <= t <= p.set_time]
        if p.rise_limit == Limit.WINDOW or p.set_limit == Limit.WINDOW or len(peaks) != 1:
            continue
        if fast:
            assert abs((p.culmination_time - peaks[0]).total_seconds()) < 1.0
        else:
            their_max = float(altitude(ts, record, site, [peaks[0]])[0])
            assert abs(p.max_elevation_deg - their_max) < 5e-3  # UT1 - UTC: ~0.001 deg
        # Same geometry: differences come from UT1 - UTC, which moves fast LEO by a few 0.01 deg.
        at_ours = float(altitude(ts, record, site, [p.culmination_time])[0])
        assert p.max_elevation_deg == pytest.approx(at_ours, abs=0.05)
    return len(ours)


@pytest.mark.parametrize("norad_id", [*LEO, MEO, HEO])
def test_real_2026_objects_match_skyfield(sky: Any, norad_id: int) -> None:
    ts, _ = sky
    site = TIRA if norad_id == HEO else OGS  # the HEO has no pass over Tenerife that day
    n = compare_with_skyfield(ts, REAL[norad_id], site, DAY, 10.0, fast=norad_id in LEO)
    assert n >= 1


@pytest.mark.parametrize("norad_id", VER_IDS)
def test_sgp4_verification_objects_match_skyfield(sky: Any, norad_id: int) -> None:
    ts, _ = sky
    record = VERIFICATION[norad_id]
    n = compare_with_skyfield(ts, record, OGS, VER_DAY, 0.0, fast=norad_id != 28129)
    assert n >= 1


def test_with_dut1_rise_and_set_agree_to_milliseconds(sky: Any) -> None:
    """Given UT1 - UTC, our rise and set times put skyfield's altitude on the mask to < 5 ms."""
    ts, _ = sky
    dut1 = float(ts.from_datetime(DAY.start).dut1)
    for norad_id in (*LEO, MEO):
        record = REAL[norad_id]
        passes = screen_chunk([record], OGS, DAY, PassOptions(elevation_mask_deg=10.0, dut1_s=dut1))
        for p in passes:
            for moment, limit in ((p.rise_time, p.rise_limit), (p.set_time, p.set_limit)):
                if limit != Limit.ELEVATION:
                    continue
                before, at, after = altitude(
                    ts,
                    record,
                    OGS,
                    [moment - timedelta(seconds=0.5), moment, moment + timedelta(seconds=0.5)],
                )
                rate = after - before  # deg/s
                assert abs((at - 10.0) / rate) < 0.005


def test_nine_digit_omm_and_orbit_records_give_the_tle_passes() -> None:
    record = REAL[100404]
    fields = export_omm(Satrec.twoline2rv(record.line1, record.line2), record.name)
    fields["NORAD_CAT_ID"] = 799501621  # a real 18 SDS launch-nominal number (CelesTrak SupGP)
    by_tle = screen_chunk([record], OGS, DAY, PassOptions(elevation_mask_deg=10.0))
    by_omm = screen_chunk([fields], OGS, DAY, PassOptions(elevation_mask_deg=10.0))
    assert [p.norad_id for p in by_omm] == [799501621] * len(by_tle)
    for a, b in zip(by_tle, by_omm, strict=True):
        assert abs((a.rise_time - b.rise_time).total_seconds()) < 0.01
        assert abs((a.set_time - b.set_time).total_seconds()) < 0.01
    from processes.ssa.tle import read_tle  # the package's own TLE reader gives Orbit records

    orbits = read_tle(f"{record.name}\n{record.line1}\n{record.line2}\n")
    by_orbit = screen_chunk(orbits, OGS, DAY, PassOptions(elevation_mask_deg=10.0))
    assert [(p.norad_id, p.name) for p in by_orbit] == [(100404, record.name)] * len(by_tle)
    for a, b in zip(by_tle, by_orbit, strict=True):
        assert abs((a.rise_time - b.rise_time).total_seconds()) < 0.01


def test_geostationary_object_is_one_pass_clipped_to_the_window() -> None:
    passes = screen_chunk([REAL[GEO]], OGS, DAY, PassOptions(elevation_mask_deg=10.0))
    assert len(passes) == 1
    p = passes[0]
    assert (p.rise_time, p.set_time) == (DAY.start, DAY.end)
    assert (p.rise_limit, p.set_limit) == (Limit.WINDOW, Limit.WINDOW)
    assert 40.0 < p.max_elevation_deg < 60.0


def test_splitting_the_window_splits_only_the_passes_in_progress() -> None:
    records = list(REAL.values())
    options = PassOptions(elevation_mask_deg=5.0)
    middle = datetime(2026, 9, 21, 0, 34, tzinfo=UTC)  # inside a pass of 270001 (00:26-00:41 above 10 deg)
    whole = screen_chunk(records, OGS, DAY, options)
    halves = screen_chunk(records, OGS, Window(DAY.start, middle), options) + screen_chunk(
        records, OGS, Window(middle, DAY.end), options
    )
    cut = [p for p in whole if p.rise_time < middle < p.set_time]
    assert cut and len(halves) == len(whole) + len(cut)
    for p in whole:
        if p in cut:
            parts = [
                h
                for h in halves
                if h.norad_id == p.norad_id and (h.set_time == middle or h.rise_time == middle)
            ]
            assert len(parts) == 2
            assert parts[0].set_limit == Limit.WINDOW and parts[1].rise_limit == Limit.WINDOW
            assert abs((parts[0].rise_time - p.rise_time).total_seconds()) < 0.01
            assert abs((parts[1].set_time - p.set_time).total_seconds()) < 0.01
            assert max(parts[0].max_elevation_deg, parts[1].max_elevation_deg) == pytest.approx(
                p.max_elevation_deg, abs=1e-6
            )
        else:
            match = [
                h
                for h in halves
                if h.norad_id == p.norad_id and abs((h.rise_time - p.rise_time).total_seconds()) < 0.01
            ]
            assert len(match) == 1 and abs((match[0].set_time - p.set_time).total_seconds()) < 0.01


def perturbed(count: int, seed: int) -> list[dict[str, Any]]:
    """OMM records made from the real element sets by drawing new mean anomalies and nodes."""
    rng = np.random.default_rng(seed)
    bases = []
    for record in REAL.values():
        sat = Satrec.twoline2rv(record.line1, record.line2)
        sat.intldesg = sat.intldesg or "26001A"  # analyst objects have none; export_omm needs one
        bases.append(export_omm(sat, record.name))
    out = []
    for i in range(count):
        fields = dict(bases[i % len(bases)])
        fields["MEAN_ANOMALY"] = float(rng.uniform(0.0, 360.0))
        fields["RA_OF_ASC_NODE"] = float(rng.uniform(0.0, 360.0))
        fields["NORAD_CAT_ID"] = 800_000_000 + i
        out.append(fields)
    return out


def same_passes(a: list[Pass], b: list[Pass], tolerance_s: float = 0.01) -> bool:
    if len(a) != len(b):
        return False
    return all(
        x.norad_id == y.norad_id
        and abs((x.rise_time - y.rise_time).total_seconds()) < tolerance_s
        and abs((x.set_time - y.set_time).total_seconds()) < tolerance_s
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("mask", [0.0, 30.0])
def test_adaptive_screening_finds_what_a_10_s_grid_finds(mask: float) -> None:
    """Short passes peaking between samples are found: the adaptive grid (8 min for LEO, half an
    hour for GEO) gives the passes of a fixed 10 s grid."""
    records = perturbed(120, seed=3)
    fine = screen_chunk(
        records, OGS, DAY, PassOptions(elevation_mask_deg=mask, coarse_step_s=10.0, adaptive_step=False)
    )
    fast = screen_chunk(records, OGS, DAY, PassOptions(elevation_mask_deg=mask))
    assert len(fine) > 100
    assert any(p.duration_s < 60.0 for p in fine)  # grazing passes shorter than a minute are in the set
    assert same_passes(fine, fast)


@pytest.mark.parametrize("model", [ShadowModel.CONICAL, ShadowModel.CYLINDRICAL])
def test_optical_conditions_match_skyfield(sky: Any, model: ShadowModel) -> None:
    """Visible = site darker than -12 deg Sun and target sunlit, checked every 10 s against skyfield
    (DE421 Sun, its is_sunlit). Boundaries agree within 2 s for LEO shadow, 5 s for the GEO's
    eclipse and 4 s at twilight (our Sun is the Almanac's 0.01 deg formula); the cylindrical model
    has no penumbra and is allowed 30 s."""
    ts, eph = sky
    options = PassOptions(elevation_mask_deg=10.0, optical=OpticalConditions(-12.0, model))
    passes = screen_chunk(list(REAL.values()), OGS, DAY, options)
    assert {p.norad_id for p in passes} >= {GEO, MEO, 270001}
    observer = eph["earth"] + topos(OGS)
    boundaries = 0
    for p in passes:
        assert p.visible and p.visible_intervals and p.sunlit_intervals is not None and p.dark_intervals
        sat = skyfield_api.EarthSatellite(REAL[p.norad_id].line1, REAL[p.norad_id].line2, ts=ts)
        n = int(p.duration_s // 10)
        moments = [p.rise_time + timedelta(seconds=10 * k) for k in range(n + 1)]
        t = ts.from_datetimes(moments)
        lit = sat.at(t).is_sunlit(eph)
        dark = observer.at(t).observe(eph["sun"]).apparent().altaz()[0].degrees < -12.0
        # The Sun's 0.01 deg and skyfield's geometric (not apparent) Sun move a GEO's eclipse by ~3 s.
        shadow_slack = 5.0 if p.norad_id == GEO else 2.0
        edges = [(i.start, shadow_slack) for i in p.sunlit_intervals]
        edges += [(i.end, shadow_slack) for i in p.sunlit_intervals]
        edges += [(i.start, 4.0) for i in p.dark_intervals] + [(i.end, 4.0) for i in p.dark_intervals]
        tol = 30.0 if model == ShadowModel.CYLINDRICAL else 0.0  # the cylinder has no penumbra
        for moment, is_lit, is_dark in zip(moments, lit, dark, strict=True):
            if any(abs((moment - e).total_seconds()) < slack + tol for e, slack in edges):
                continue
            ours_lit = any(i.start <= moment <= i.end for i in p.sunlit_intervals)
            ours_dark = any(i.start <= moment <= i.end for i in p.dark_intervals)
            ours_visible = any(i.start <= moment <= i.end for i in p.visible_intervals)
            assert (ours_lit, ours_dark, ours_visible) == (
                bool(is_lit),
                bool(is_dark),
                bool(is_lit and is_dark),
            )
        for i in p.sunlit_intervals:
            for edge, entering in ((i.start, True), (i.end, False)):
                if edge in (p.rise_time, p.set_time):
                    continue
                boundaries += 1
                slack = shadow_slack if model == ShadowModel.CONICAL else 30.0
                before, after = sat.at(
                    ts.from_datetimes([edge - timedelta(seconds=slack), edge + timedelta(seconds=slack)])
                ).is_sunlit(eph)
                assert (bool(before), bool(after)) == (not entering, entering)
    assert boundaries >= 3  # a LEO leaving the shadow, the GEO's equinox eclipse entry and exit


def test_radar_range_limit(sky: Any) -> None:
    ts, _ = sky
    limit = 2000.0
    records = list(REAL.values())
    geometric = screen_chunk(records, TIRA, DAY, PassOptions(elevation_mask_deg=5.0))
    radar = screen_chunk(records, TIRA, DAY, PassOptions(elevation_mask_deg=5.0, max_range_km=limit))
    assert radar and any(p.rise_limit == Limit.RANGE for p in radar)
    assert len(radar) < len(geometric)
    site = topos(TIRA)
    for p in radar:
        assert p.culmination_range_km <= limit
        parent = [
            g
            for g in geometric
            if g.norad_id == p.norad_id
            and g.rise_time <= p.rise_time
            and p.set_time <= g.set_time + timedelta(milliseconds=1)
        ]
        assert len(parent) == 1
        record = REAL[p.norad_id]
        sat = skyfield_api.EarthSatellite(record.line1, record.line2, ts=ts)
        for moment, limit_kind in ((p.rise_time, p.rise_limit), (p.set_time, p.set_limit)):
            if limit_kind == Limit.RANGE:
                distance = (sat - site).at(ts.from_datetime(moment)).distance().km
                assert distance == pytest.approx(limit, abs=0.05)
        inside = [p.rise_time + (p.set_time - p.rise_time) * k / 20 for k in range(1, 20)]
        assert np.all((sat - site).at(ts.from_datetimes(inside)).distance().km <= limit + 0.05)


def test_decayed_objects_have_no_passes_after_sgp4_fails() -> None:
    """SGP4-VER 29141 (SL-14 DEB, "last stage of decay") and 28872 ("lost in 50 minutes"): sgp4
    reports decay, then returns states again hours later; those are meaningless."""
    for norad_id in (29141, 28872):
        record = VERIFICATION[norad_id]
        sat = Satrec.twoline2rv(record.line1, record.line2)
        start = datetime(2000, 1, 1, 12, tzinfo=UTC) + timedelta(
            days=sat.jdsatepoch + sat.jdsatepochF - 2451545.0
        )
        window = Window(start, start + timedelta(days=2))
        minutes = np.arange(0, 2 * 1440 + 1, 1.0)
        err, _, _ = sat.sgp4_array(np.full(minutes.size, sat.jdsatepoch), sat.jdsatepochF + minutes / 1440.0)
        assert err[-1] == 0 or np.any(err[np.argmax(err != 0) :] == 0)  # sgp4 "recovers" at times
        failure = start + timedelta(minutes=float(minutes[np.argmax(err != 0)]))
        for site in (OGS, TIRA):
            for p in screen_chunk([record], site, window, PassOptions()):
                assert p.set_time <= failure


def test_sensor_limits_are_applied() -> None:
    optical = Sensor(
        "OGS", SensorKind.OPTICAL, OGS.latitude_deg, OGS.longitude_deg, OGS.height_m, min_elevation_deg=15.0
    )
    where, options = resolve_site(optical, PassOptions(elevation_mask_deg=5.0, max_range_km=30_000.0))
    assert where.latitude_deg == OGS.latitude_deg and where.name == "OGS"
    assert options.elevation_mask_deg == 15.0 and options.optical == OpticalConditions()
    assert options.max_range_km == 30_000.0
    radar = Sensor(
        "TIRA", SensorKind.RADAR, TIRA.latitude_deg, TIRA.longitude_deg, TIRA.height_m, 5.0, 2000.0
    )
    _, options = resolve_site(radar, PassOptions(elevation_mask_deg=10.0, max_range_km=3000.0))
    assert (options.elevation_mask_deg, options.max_range_km, options.optical) == (10.0, 2000.0, None)
    by_sensor = screen_chunk(list(REAL.values()), radar, DAY)
    by_site = screen_chunk(
        list(REAL.values()), TIRA, DAY, PassOptions(elevation_mask_deg=5.0, max_range_km=2000.0)
    )
    assert same_passes(by_sensor, by_site, 1e-6)


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_two_worker_cluster_gives_the_local_result(cluster_client: Any) -> None:
    records: list[Any] = [*REAL.values(), *perturbed(150, seed=11)]
    options = PassOptions(elevation_mask_deg=10.0)
    seen: list[tuple[float, str]] = []
    local = predict_passes(records, OGS, DAY, options, chunk_size=40)
    remote = predict_passes(
        records,
        OGS,
        DAY,
        options,
        client=cluster_client,
        chunk_size=40,
        progress=lambda f, m: seen.append((f, m)),
    )
    assert remote == local and len(local) > 300
    assert [round(f * 4) for f, _ in seen] == [1, 2, 3, 4] and seen[-1][0] == 1.0
    assert len(cluster_client.scheduler_info()["workers"]) == 2


def test_a_bad_record_is_named_by_its_index_on_the_cluster_too(cluster_client: Any) -> None:
    good = list(REAL.values())
    bad_checksum = TleRecord(good[0].line1[:68] + str((int(good[0].line1[68]) + 1) % 10), good[0].line2)
    with pytest.raises(PassPredictionError, match="checksum") as info:
        predict_passes([*good, *good, bad_checksum, *good], OGS, DAY, client=cluster_client, chunk_size=4)
    assert info.value.record_index == 12


def test_cancellation_locally_and_on_the_cluster(cluster_client: Any) -> None:
    records = perturbed(60, seed=5)
    calls: list[float] = []
    with pytest.raises(PassPredictionCancelledError):
        predict_passes(
            records,
            OGS,
            DAY,
            chunk_size=20,
            progress=lambda f, m: calls.append(f),
            cancelled=lambda: bool(calls),
        )
    assert calls == [pytest.approx(1 / 3)]
    with pytest.raises(PassPredictionCancelledError):
        predict_passes(records, OGS, DAY, client=cluster_client, chunk_size=20, cancelled=lambda: True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Site(91.0, 0.0), "latitude 91.0"),
        (lambda: Site(float("nan"), 0.0), "finite"),
        (lambda: Site(0.0, 0.0, 200_000.0), "height"),
        (lambda: Window(DAY.end, DAY.start), "not after its start"),
        (lambda: Window(datetime(2026, 9, 21), datetime(2026, 9, 22)), "no time zone"),
        (lambda: PassOptions(elevation_mask_deg=-1.0), "elevation mask -1.0"),
        (lambda: PassOptions(elevation_mask_deg=90.0), "out of [0, 90)"),
        (lambda: PassOptions(max_range_km=0.0), "max_range_km"),
        (lambda: OpticalConditions(min_sun_fraction=0.0), "min_sun_fraction"),
        (lambda: OpticalConditions(shadow_model="umbral"), "not one of cylindrical, conical"),
        (lambda: PassOptions(elevation_mask_deg="10"), "elevation mask '10' must be a finite number"),
        (
            lambda: screen_chunk([], OGS, Window(DAY.start, DAY.start + timedelta(days=8))),
            "longer than the allowed",
        ),
        (
            lambda: screen_chunk([], OGS, DAY, PassOptions(max_window=timedelta(hours=12))),
            "longer than the allowed",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(make: Any, message: str) -> None:
    with pytest.raises(
        PassPredictionError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        make()


def test_bad_records_are_named_by_their_index() -> None:
    good = list(REAL.values())
    bad_checksum = TleRecord(good[0].line1[:68] + str((int(good[0].line1[68]) + 1) % 10), good[0].line2)
    with pytest.raises(PassPredictionError, match="checksum") as info:
        predict_passes([*good, *good, bad_checksum], OGS, DAY, chunk_size=4)
    assert info.value.record_index == 12
    fields = export_omm(Satrec.twoline2rv(good[0].line1, good[0].line2), "X")
    del fields["MEAN_MOTION"]
    with pytest.raises(PassPredictionError, match=r"orbit record 1: OMM record lacks MEAN_MOTION"):
        screen_chunk([good[0], fields], OGS, DAY)
    with pytest.raises(PassPredictionError, match="NORAD_CAT_ID 1000000000"):
        screen_chunk(
            [{**export_omm(Satrec.twoline2rv(good[0].line1, good[0].line2), "X"), "NORAD_CAT_ID": 10**9}],
            OGS,
            DAY,
        )
    with pytest.raises(PassPredictionError, match="unsupported orbit record type"):
        screen_chunk([(good[0].line1, good[0].line2)], OGS, DAY)  # type: ignore[list-item]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    latitude=st.floats(-89.0, 89.0),
    longitude=st.floats(-180.0, 180.0),
    low=st.floats(0.0, 40.0),
    extra=st.floats(0.5, 40.0),
)
def test_passes_nest_as_the_mask_rises(latitude: float, longitude: float, low: float, extra: float) -> None:
    """Invariants: rise <= culmination <= set, the maximum elevation is above the mask, and every
    pass above a higher mask lies within a pass above a lower one."""
    site = Site(latitude, longitude, 100.0)
    records = list(REAL.values())
    lower = screen_chunk(records, site, DAY, PassOptions(elevation_mask_deg=low))
    higher = screen_chunk(records, site, DAY, PassOptions(elevation_mask_deg=low + extra))
    for p in lower + higher:
        assert p.rise_time <= p.culmination_time <= p.set_time
        assert 0.0 <= p.rise_azimuth_deg < 360.0 and 0.0 <= p.set_azimuth_deg < 360.0
    for p in lower:
        assert p.max_elevation_deg >= low - 1e-6
    for p in higher:
        assert p.max_elevation_deg >= low + extra - 1e-6
        tol = timedelta(milliseconds=2)
        assert any(
            q.norad_id == p.norad_id and q.rise_time - tol <= p.rise_time and p.set_time <= q.set_time + tol
            for q in lower
        )
        if math.isfinite(p.culmination_range_km):
            assert p.culmination_range_km > 0.0
