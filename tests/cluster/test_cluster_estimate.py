"""Estimates: the labelled initial calibration, the table and the choice, the chart, re-measuring."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_testkit import tile

from cluster.errors import CalibrationError
from cluster.estimate import (
    CurrencyError,
    calibration_from_events,
    estimate,
    estimate_chart,
    load_calibration,
    refresh_calibration,
)
from cluster.events import JobEventLog
from cluster.lifecycle import open_cluster
from cluster.profiles import ProfileRegistry, parse_profile

RATES = {"USD": 0.92}  # illustrative conversion for the test, not a market rate


def test_initial_calibration_is_labelled_as_derived() -> None:
    calibration = load_calibration()
    assert calibration.measured is False
    assert "not measured" in calibration.label
    assert "pointing 15.5 s, rectification 0.5 s, matching 15.8 s, triangulation 3.7 s" in calibration.source
    assert calibration.stages == {
        "pointing": 7.75,
        "rectification": 0.25,
        "matching": 7.9,
        "triangulation": 1.85,
    }
    assert calibration.tile_size_px == 350
    assert calibration.seconds_per_tile == pytest.approx(17.75)


def test_estimate_picks_the_cheapest_profile_meeting_the_deadline(example: ProfileRegistry) -> None:
    profiles = [p for p in example if p.price is not None]
    table = estimate(400, load_calibration(), profiles, deadline=1800, rates=RATES, reference="EUR")
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


def test_without_deadline_the_cheapest_wins_and_free_local_is_cheapest(example: ProfileRegistry) -> None:
    table = estimate(40, load_calibration(), [example.get("local"), example.get("hetzner")])
    assert table.best is not None and table.best.profile == "local" and table.best.cost == 0.0
    assert table.fastest is not None and table.fastest.profile == "hetzner"


def test_impossible_deadline_chooses_nothing_but_reports_fastest(example: ProfileRegistry) -> None:
    table = estimate(400, load_calibration(), [example.get("hetzner")], deadline=10)
    assert table.best is None and table.fastest is not None


def test_currencies_need_rates(example: ProfileRegistry) -> None:
    profiles = [example.get("aws"), example.get("hetzner")]
    with pytest.raises(CurrencyError) as caught:
        estimate(10, load_calibration(), profiles)
    assert (caught.value.need, caught.value.currencies) == ("rates", ["EUR", "USD"])
    with pytest.raises(CurrencyError) as caught:
        estimate(10, load_calibration(), profiles, rates=RATES)
    assert caught.value.need == "reference"
    with pytest.raises(CurrencyError) as caught:
        estimate(10, load_calibration(), profiles, rates={"GBP": 1.2}, reference="EUR")
    assert (caught.value.need, caught.value.currencies, caught.value.reference) == ("rate", ["USD"], "EUR")


def test_chart_is_a_png(example: ProfileRegistry) -> None:
    profiles = [example.get(n) for n in ("aws", "gcp", "hetzner", "hpc-slurm")]
    table = estimate(400, load_calibration(), profiles, deadline=3600, rates=RATES, reference="EUR")
    png = estimate_chart(table)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


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
