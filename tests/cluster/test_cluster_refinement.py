"""Finished jobs refine the calibration per profile and per instance type, from their recorded costs."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.cost import compute_cost
from cluster.estimate import Calibration, estimate, predict
from cluster.events import JobEvents, TaskSpan, WorkerEvent
from cluster.profiles import ClusterProfile, parse_profile
from cluster.refinement import MeasuredWork, refine, sample_from_cost, samples_from_costs

#: What the shipped calibration said before it was measured: 17.75 s per 350 px tile.
BASE = Calibration(
    stages={"s2p_pointing_correction": 7.75, "s2p_stereo_matching": 9.75, "s2p_disparity_to_ply": 0.25},
    job_stages={"s2p_global_dsm": 0.5},
    tile_size_px=350,
    label="base",
    source="the tests",
    measured=False,
)


def profile(name: str, instance_type: str = "c6i.xlarge", startup: float = 5.0) -> ClusterProfile:
    return parse_profile(
        name,
        {
            "kind": "local",
            "shared": False,
            "max_workers": 4,
            "worker_threads": 1,
            "instance_type": instance_type,
            "startup_seconds": startup,
            "price": {"amount": 0.36, "currency": "EUR", "as_of": "2026-01-01"},
            "billing": {"granularity_seconds": 1, "minimum_seconds": 0},
        },
        env={},
    )


def job_cost(
    on: ClusterProfile,
    *,
    wall: float,
    workers: int = 2,
    tiles: int = 4,
    tile_px: int = 350,
    stages: dict[str, float] | None = None,
    skipped: int = 0,
) -> dict[str, Any]:
    """The cost record a finished s2p_stereo job leaves in the store: the bill computed from its cluster's
    events (workers there from start to close), the measured work beside it."""
    start = 1_000_000.0
    events = JobEvents(
        job_id="j",
        profile=on.name,
        shared=False,
        requested_at=start,
        finished_at=start + wall,
        closed_at=start + wall,
        workers=tuple(WorkerEvent(start + 1.0, f"tcp://w{i}", "added", 1) for i in range(workers)),
        tasks=(TaskSpan("s2p_stereo_matching-x", "tcp://w0", start + 2, start + wall - 1),),
    )
    record = compute_cost(events, on).to_dict()
    work = MeasuredWork(
        tiles=tiles,
        tile_pixels=tile_px * tile_px,
        pairs=1,
        stages=stages or {"s2p_pointing_correction": 4.0 * tiles, "s2p_stereo_matching": 10.0 * tiles},
        job_stages={"s2p_global_dsm": 0.4},
        skipped=skipped,
    )
    return {
        **record,
        "workers_requested": workers,
        "instance_type": on.instance_type,
        "measured_work": work.to_dict(),
    }


def cost_of(
    on: ClusterProfile, calibration: Calibration, workers: int, tiles: int, tile_px: int = 350
) -> tuple[float, float]:
    """(predicted wall seconds, predicted cost) of a job."""
    wall, _, billed = predict(on, workers, tiles, calibration, tile_pixels=tile_px * tile_px)
    return wall, workers * billed / 3600 * on.worker_hour_price


def test_a_repeated_job_is_predicted_within_15_percent_of_its_bill() -> None:
    aws = profile("aws")
    record = job_cost(aws, wall=51.3)
    before_wall, before_cost = cost_of(aws, BASE, 2, 4)
    assert abs(before_wall / 51.3 - 1) > 0.15  # the base is off, as the hand-written one was
    refined = refine(BASE, samples_from_costs([record]))
    assert refined.label == "base; refined by 1 finished job"
    wall, cost = cost_of(aws, refined, 2, 4)
    assert wall == pytest.approx(51.3)
    assert abs(cost / record["cost"] - 1) <= 0.15 and cost == pytest.approx(record["cost"], rel=0.02)
    assert before_cost != pytest.approx(record["cost"], rel=0.15)
    table = estimate(4, refined, [aws])
    assert all(r.refined for r in table.rows)


def test_fits_are_per_profile_and_shared_by_instance_type_for_speed_only() -> None:
    aws, twin, other = (
        profile("aws"),
        profile("aws-eu", startup=60.0),
        profile("gcp", instance_type="n2-standard-4"),
    )
    refined = refine(BASE, samples_from_costs([job_cost(aws, wall=51.3)]))
    assert set(refined.fits) == {"profile:aws", "instance:c6i.xlarge"}
    # another profile of the same machines: their measured seconds per stage, its own start-up
    per_tile = refined.fits["instance:c6i.xlarge"].stages
    # measured: 4 and 10 s where the base said 7.75 and 9.75, so 0.8 times the base; its triangulation,
    # which these jobs did not run, at that speed
    assert per_tile == pytest.approx(
        {"s2p_pointing_correction": 4.0, "s2p_stereo_matching": 10.0, "s2p_disparity_to_ply": 0.2}
    )
    wall, _ = cost_of(twin, refined, 2, 4)
    assert wall == pytest.approx(60.0 + 2 * (4.0 + 10.0 + 0.2) + 0.4)
    # a profile of other machines is predicted as before
    assert cost_of(other, refined, 2, 4) == cost_of(other, BASE, 2, 4)


def test_fits_scale_to_other_tile_sizes_and_counts() -> None:
    aws = profile("aws")
    refined = refine(BASE, samples_from_costs([job_cost(aws, wall=40.0)]))
    overhead = refined.fits["profile:aws"].overhead_seconds
    assert overhead == pytest.approx(40.0 - 2 * 14.2 - 0.4)
    # tiles of 700 px hold four times the pixels; 9 of them on 4 workers make 2.25 rounds
    wall, _ = cost_of(aws, refined, 4, 9, tile_px=700)
    assert wall == pytest.approx(overhead + 2.25 * 4 * 14.2 + 0.4)


def test_the_median_of_the_newest_jobs_is_used() -> None:
    aws = profile("aws")
    costs = [job_cost(aws, wall=w) for w in (50.0, 52.0, 500.0)]  # newest first; one job went wrong
    refined = refine(BASE, samples_from_costs(costs))
    assert cost_of(aws, refined, 2, 4)[0] == pytest.approx(52.0)
    older = refine(BASE, samples_from_costs([*costs, *[job_cost(aws, wall=900.0)] * 5]), newest=3)
    assert older.fits["profile:aws"].jobs == 3 and cost_of(aws, older, 2, 4)[0] == pytest.approx(52.0)


def test_records_that_cannot_teach_are_skipped() -> None:
    aws = profile("aws")
    good = job_cost(aws, wall=51.3)
    resumed = job_cost(aws, wall=5.0, skipped=12)  # an earlier run did most of its steps
    bare = {k: v for k, v in good.items() if k != "measured_work"}  # another process, or an older record
    broken = {**good, "measured_work": {"tiles": "many"}}
    empty = {**good, "measured_work": {**good["measured_work"], "tiles": 0}}
    assert [sample_from_cost(c) for c in (resumed, bare, broken, empty, {}, {"measured_work": None})] == [
        None
    ] * 6
    assert len(samples_from_costs([resumed, bare, good, broken])) == 1
    assert refine(BASE, samples_from_costs([resumed, bare])) is BASE


def test_billed_share_of_a_shared_cluster_is_learnt() -> None:
    """On a shared cluster the job pays only for the time it held the workers, not for the wall time."""
    local = profile("shared")
    record = job_cost(local, wall=60.0)
    record["billed_worker_seconds"] = 2 * 30  # two workers held 30 s each
    record["cost"] = 60 / 3600 * 0.36
    refined = refine(BASE, samples_from_costs([record]))
    assert refined.fits["profile:shared"].billed_fraction == pytest.approx(0.5)
    wall, cost = cost_of(local, refined, 2, 4)
    assert wall == pytest.approx(60.0) and cost == pytest.approx(record["cost"])


def test_a_repeated_job_is_predicted_from_its_own_earlier_runs() -> None:
    """Jobs of other sizes on the profile do not blur the prediction of a job run before."""
    aws = profile("aws")
    slower = {"s2p_pointing_correction": 10.0, "s2p_stereo_matching": 25.0}  # per tile, on a busier day
    costs = [
        job_cost(aws, wall=150.0, tiles=9, stages={k: 9 * v for k, v in slower.items()}),
        job_cost(aws, wall=30.0, tiles=1, stages=slower),
        job_cost(aws, wall=51.3),
    ]
    mixed = refine(BASE, samples_from_costs(costs))
    assert cost_of(aws, mixed, 2, 4)[0] != pytest.approx(51.3, rel=0.15)
    alike = refine(BASE, samples_from_costs(costs), like=(4, 350 * 350, 1))
    assert alike.fits["profile:aws"].jobs == 1 and cost_of(aws, alike, 2, 4)[0] == pytest.approx(51.3)
    # a size never run on the profile: all of its jobs
    other = refine(BASE, samples_from_costs(costs), like=(16, 350 * 350, 1))
    assert other.fits["profile:aws"].jobs == 3
