"""Estimates: the packaged measured calibration, the table and the choice (never an unpriced profile),
tile size and pairs, the chart, re-measuring."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_testkit import tile

from cluster.errors import CalibrationError
from cluster.estimate import (
    Calibration,
    CurrencyError,
    calibration_from_events,
    estimate,
    load_calibration,
    predict,
    refresh_calibration,
)
from cluster.estimate_chart import estimate_chart, estimate_figure
from cluster.events import JobEventLog
from cluster.lifecycle import open_cluster
from cluster.profiles import ProfileRegistry, parse_profile

RATES = {"USD": 0.92}  # illustrative conversion for the test, not a market rate


#: Seconds per 350 px tile of four stages, fixed here so that the arithmetic below stays readable.
FIXED = Calibration(
    stages={"pointing": 7.75, "rectification": 0.25, "matching": 7.9, "triangulation": 1.85},
    tile_size_px=350,
    label="fixed for the tests",
    source="the tests",
    measured=False,
)


def test_packaged_calibration_was_measured_by_calibrate() -> None:
    calibration = load_calibration()
    assert calibration.measured is True and calibration.measured_at
    assert "wps-server calibrate" in calibration.source and "4 tiles of 350x350 px" in calibration.source
    assert calibration.tile_size_px == 350 and calibration.tiles == 4
    assert calibration.machine["logical_cpus"] == 2 and "host" not in calibration.machine
    # the stages are the task prefixes of s2p_stereo's graph; the reductions are counted per job
    assert set(calibration.stages) == {
        "s2p_image_keypoints",
        "s2p_pointing_correction",
        "s2p_rectification_pair",
        "s2p_stereo_matching",
        "s2p_disparity_to_ply",
        "s2p_plys_to_dsm",
    }
    assert set(calibration.job_stages) == {"s2p_global_pointing_correction", "s2p_global_dsm"}
    assert calibration.stages["s2p_stereo_matching"] == max(calibration.stages.values())
    assert 10 < calibration.seconds_per_tile < 30


def test_estimate_picks_the_cheapest_profile_meeting_the_deadline(example: ProfileRegistry) -> None:
    profiles = [p for p in example if p.price is not None]
    table = estimate(400, FIXED, profiles, deadline=1800, rates=RATES, reference="EUR")
    assert len(table.rows) == sum(p.max_workers for p in profiles)
    assert table.best is not None and table.best.meets_deadline
    fitting = [r for r in table.rows if r.meets_deadline]
    assert table.best.cost_ref == min(r.cost_ref for r in fitting)
    assert table.currency == "EUR"
    for name in {r.profile for r in table.rows}:
        walls = [r.wall_seconds for r in table.rows if r.profile == name]
        assert walls == sorted(walls, reverse=True)  # more workers never slower
    aws = next(r for r in table.rows if r.profile == "aws" and r.workers == 10)
    # 400 tiles on 10 x 4 threads: 10 waves of 17.75 s after 180 s start-up
    assert aws.wall_seconds == pytest.approx(180 + 10 * 17.75)
    assert aws.cpu_hours == pytest.approx(400 * 17.75 / 3600)
    assert aws.cost == pytest.approx(10 * 358 / 3600 * 0.17 + 358 / 3600 * 0.17)
    assert aws.cost_ref == pytest.approx(aws.cost * 0.92)


def test_an_unpriced_profile_is_never_the_cheapest(example: ProfileRegistry) -> None:
    local, hetzner = example.get("local"), example.get("hetzner")
    assert local.price is None and hetzner.price is not None
    table = estimate(40, FIXED, [local, hetzner])
    assert table.best is not None and table.best.profile == "hetzner" and table.best.cost > 0
    assert table.fastest is not None and table.fastest.profile == "hetzner"
    assert all(not r.priced and r.cost == 0.0 for r in table.rows if r.profile == "local")
    # with only unpriced profiles there is no cheapest at all, but still a fastest
    alone = estimate(40, FIXED, [local])
    assert alone.best is None and alone.fastest is not None and alone.fastest.profile == "local"
    # nor when the only priced profile misses the deadline that an unpriced one meets
    table = estimate(2, FIXED, [local, hetzner], deadline=100)
    assert table.best is None and table.fastest is not None and table.fastest.profile == "local"


def test_larger_tiles_and_more_pairs_take_longer(example: ProfileRegistry) -> None:
    hetzner = example.get("hetzner")
    base = FIXED.seconds_per_tile
    wall, cpu_hours, _ = predict(hetzner, 1, 4, FIXED)
    assert wall == pytest.approx(hetzner.startup_seconds + 1 * base)  # 4 tiles on 4 threads: one round
    assert cpu_hours == pytest.approx(4 * base / 3600)
    # tiles of 700 px are four times the pixels of the calibration's 350 px ones; two pairs twice the work
    wall, cpu_hours, _ = predict(hetzner, 1, 4, FIXED, tile_pixels=700 * 700, pairs=2)
    assert wall == pytest.approx(hetzner.startup_seconds + 8 * base)
    assert cpu_hours == pytest.approx(4 * 8 * base / 3600)
    # 6 tiles on 4 threads: the graph has no stage barriers, so one and a half rounds, not two
    wall, _, _ = predict(hetzner, 1, 6, FIXED)
    assert wall == pytest.approx(hetzner.startup_seconds + 1.5 * base)
    table = estimate(6, FIXED, [hetzner], tile_pixels=700 * 700, pairs=2)
    assert (table.tile_pixels, table.pairs) == (700 * 700, 2)
    assert table.rows[0].wall_seconds == pytest.approx(hetzner.startup_seconds + 6 / 4 * 8 * base)


def test_impossible_deadline_chooses_nothing_but_reports_fastest(example: ProfileRegistry) -> None:
    table = estimate(400, FIXED, [example.get("hetzner")], deadline=10)
    assert table.best is None and table.fastest is not None


def test_currencies_need_rates(example: ProfileRegistry) -> None:
    profiles = [example.get("aws"), example.get("hetzner")]
    with pytest.raises(CurrencyError) as caught:
        estimate(10, FIXED, profiles)
    assert (caught.value.need, caught.value.currencies) == ("rates", ["EUR", "USD"])
    with pytest.raises(CurrencyError) as caught:
        estimate(10, FIXED, profiles, rates=RATES)
    assert caught.value.need == "reference"
    with pytest.raises(CurrencyError) as caught:
        estimate(10, FIXED, profiles, rates={"GBP": 1.2}, reference="EUR")
    assert (caught.value.need, caught.value.currencies, caught.value.reference) == ("rate", ["USD"], "EUR")


def test_chart_gives_every_profile_its_own_style_and_labels_worker_counts(example: ProfileRegistry) -> None:
    profiles = [example.get(n) for n in ("local", "aws", "azure", "gcp", "hetzner", "hpc-slurm")]
    table = estimate(400, FIXED, profiles, deadline=3600, rates=RATES, reference="EUR")
    figure = estimate_figure(table)
    times, costs = figure.axes
    styles = {(line.get_color(), line.get_marker(), line.get_linestyle()) for line in times.get_lines()[:6]}
    assert len(styles) == 6  # aws and gcp cost about the same: each keeps a colour and marker of its own
    names = [text.get_text() for text in times.get_legend().get_texts()]
    assert any(n.startswith("local (local, unpriced") for n in names)
    # the cost panel shows the priced profiles only, never the unpriced one at a cost of 0
    priced = [t.get_text() for t in costs.get_legend().get_texts()]
    assert not any(n.startswith("local") for n in priced) and any(n.startswith("cheapest: ") for n in priced)
    assert {a.get_text() for a in costs.texts} >= {"1", "2", "4", "8", "16", "20"}
    png = estimate_chart(table)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_chart_of_unpriced_profiles_says_the_cost_is_unknown() -> None:
    from cluster.profiles import load_profiles

    table = estimate(4, FIXED, load_profiles(None, missing_ok=True))
    figure = estimate_figure(table)
    (times,) = figure.axes  # no cost panel: no flat line at a cost of 0
    assert len(times.get_lines()) == 1 and min(times.get_lines()[0].get_ydata()) > 0
    assert times.get_ylabel() == "predicted wall time (seconds)"
    assert "no profile is priced: the cost is unknown" in figure.get_suptitle()


def test_calibration_measured_from_a_real_run(tmp_path: Path) -> None:
    profile = parse_profile(
        "private",
        {
            "kind": "local",
            "shared": False,
            "max_workers": 2,
            "options": {"processes": True, "dashboard_address": ":0"},
            "price": {"amount": 0, "currency": "EUR", "as_of": "2025-01-15"},
        },
        env={},
    )
    log = JobEventLog()
    with open_cluster(profile, 2, "calib", events=log) as client:
        for stage, seconds in (("pointing", 0.2), ("matching", 0.4)):
            keys = [f"{stage}-r0c{i}" for i in range(3)]
            client.gather(client.map(tile, range(3), [seconds] * 3, key=keys))
    assert log.events is not None
    target = tmp_path / "calibration.json"
    refresh_calibration(target, log.events, 3, tile_size_px=350, source="test run")
    measured = load_calibration(target)
    assert measured.measured and measured.label == "measured" and measured.tiles == 3
    assert measured.stages["pointing"] == pytest.approx(0.2, abs=0.05)
    assert measured.stages["matching"] == pytest.approx(0.4, abs=0.05)
    assert measured.machine["logical_cpus"] >= 1 and measured.measured_at
    with pytest.raises(CalibrationError, match="stage"):
        calibration_from_events(log.events, 3, tile_size_px=350, stages=["triangulation"])


def test_bad_calibration_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"format": 1, "stages": {"matching": -1}}))
    with pytest.raises(CalibrationError, match="bad duration"):
        load_calibration(bad)
    bad.write_text("{")
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(bad)


def test_cluster_package_imports_neither_pywps_nor_flask() -> None:
    code = (
        "import sys, cluster.profiles, cluster.sizing, cluster.lifecycle, cluster.cost, cluster.estimate;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pywps', 'flask'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
