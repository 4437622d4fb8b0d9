"""Tasking: decisions from real pass prediction (processes.ssa.passes), lifecycle moved by ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from processes.ssa.catalogue import (
    Decision,
    TaskingStatus,
    accept_proposal,
    add_objects,
    advance_tasking,
    cancel_tasking,
    get_tasking,
    ingest,
    submit_tasking,
)
from processes.ssa.errors import TaskingError
from processes.ssa.records import ObjectInfo
from processes.ssa.tdm import read_tdm

START = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)
NOW = START - timedelta(hours=1)


def radar_epochs(ssa_data: Path, norad: str) -> list[datetime]:
    tdm = read_tdm((ssa_data / "tdm" / "radar_azel.kvn").read_bytes())
    return sorted({o.epoch for s in tdm.segments if s.target == norad for o in s.observations})


def test_accepted_request_is_collected_by_ingest_then_completed(
    catalogue: Engine, ssa_data: Path, find_windows
) -> None:  # type: ignore[no-untyped-def]
    decision = submit_tasking(
        catalogue,
        norad_id=100404,
        sensor="TIRA",
        start=START,
        end=START + timedelta(days=1),
        find_windows=find_windows,
        requester="ops",
        required_observations=10_000,
        now=NOW,
    )
    assert decision.decision is Decision.ACCEPTED and decision.status is TaskingStatus.SCHEDULED
    epochs = radar_epochs(ssa_data, "100404")
    # the radar fixture's pass (made with skyfield) lies inside one predicted window
    assert any(
        a - timedelta(seconds=5) <= epochs[0] and epochs[-1] <= b + timedelta(seconds=5)
        for a, b in decision.windows
    )
    summary = ingest(
        catalogue, (ssa_data / "tdm" / "radar_azel.kvn").read_bytes(), "radar", "tira", now=START
    )
    assert summary.tasking_updates == [(decision.request_id, "COLLECTED")]
    request = get_tasking(catalogue, decision.request_id)
    inside = sum(1 for e in epochs if any(a <= e <= b for a, b in request.windows))
    assert request.status is TaskingStatus.COLLECTED and request.collected_observations == inside > 100
    assert advance_tasking(catalogue, now=START + timedelta(hours=6)) == []  # windows not over yet
    assert advance_tasking(catalogue, now=START + timedelta(days=2)) == [
        (decision.request_id, TaskingStatus.COMPLETED)
    ]
    history = [e.status for e in get_tasking(catalogue, decision.request_id).events]
    assert history == [TaskingStatus.SCHEDULED, TaskingStatus.COLLECTED, TaskingStatus.COMPLETED]
    assert get_tasking(catalogue, decision.request_id).events[1].message_id == summary.message_id


def test_enough_observations_complete_at_once_and_other_sensors_do_not_count(
    catalogue: Engine,
    ssa_data: Path,
    find_windows,  # type: ignore[no-untyped-def]
) -> None:
    radar = submit_tasking(
        catalogue,
        norad_id=100404,
        sensor="TIRA",
        start=START,
        end=START + timedelta(days=1),
        find_windows=find_windows,
        now=NOW,
    )
    other = submit_tasking(
        catalogue,
        norad_id=100405,
        sensor="TIRA",
        start=START,
        end=START + timedelta(days=1),
        find_windows=find_windows,
        now=NOW,
    )
    ingest(catalogue, (ssa_data / "tdm" / "optical_radec.kvn").read_bytes(), "optical", "ogs", now=START)
    assert (
        get_tasking(catalogue, radar.request_id).status is TaskingStatus.SCHEDULED
    )  # optical data: other sensor
    ingest(catalogue, (ssa_data / "tdm" / "radar_azel.kvn").read_bytes(), "radar", "tira", now=START)
    done = get_tasking(catalogue, radar.request_id)
    assert done.status is TaskingStatus.COMPLETED
    assert [e.status for e in done.events] == [
        TaskingStatus.SCHEDULED,
        TaskingStatus.COLLECTED,
        TaskingStatus.COMPLETED,
    ]
    assert get_tasking(catalogue, other.request_id).status is TaskingStatus.SCHEDULED
    assert advance_tasking(catalogue, now=START + timedelta(days=3)) == [
        (other.request_id, TaskingStatus.FAILED)
    ]


def test_no_pass_in_window_gives_proposals(catalogue: Engine, find_windows) -> None:  # type: ignore[no-untyped-def]
    first = submit_tasking(
        catalogue,
        norad_id=100404,
        sensor="TIRA",
        start=START,
        end=START + timedelta(days=1),
        find_windows=find_windows,
        now=NOW,
    )
    gap_start = first.windows[0][1] + timedelta(seconds=30)
    gap_end = first.windows[1][0] - timedelta(seconds=30)
    decision = submit_tasking(
        catalogue,
        norad_id=100404,
        sensor="TIRA",
        start=gap_start,
        end=gap_end,
        find_windows=find_windows,
        now=NOW,
    )
    assert decision.decision is Decision.PROPOSED and decision.status is TaskingStatus.PROPOSED
    assert 0 < len(decision.windows) <= 5 and all(a >= gap_end for a, _ in decision.windows)
    scheduled = accept_proposal(catalogue, decision.request_id, 0, now=NOW)
    assert scheduled.status is TaskingStatus.SCHEDULED and scheduled.windows == decision.windows[:1]
    cancelled = cancel_tasking(catalogue, decision.request_id, "operator changed plans", now=NOW)
    assert cancelled.status is TaskingStatus.CANCELLED
    assert [e.status for e in cancelled.events] == [
        TaskingStatus.PROPOSED,
        TaskingStatus.SCHEDULED,
        TaskingStatus.CANCELLED,
    ]
    with pytest.raises(TaskingError, match="CANCELLED"):
        cancel_tasking(catalogue, decision.request_id)


def test_rejections_say_why(catalogue: Engine, find_windows) -> None:  # type: ignore[no-untyped-def]
    add_objects(catalogue, [ObjectInfo(norad_id=999_999_999, name="NO ORBIT")])
    cases = [
        (dict(norad_id=100404, sensor="NOWHERE"), "unknown sensor 'NOWHERE'"),
        (dict(norad_id=123456789, sensor="TIRA"), "unknown object 123456789"),
        (dict(norad_id=999_999_999, sensor="TIRA"), "no orbit known"),
        (
            dict(
                norad_id=100404, sensor="TIRA", start=START - timedelta(days=3), end=START - timedelta(days=2)
            ),
            "past",
        ),
        (dict(norad_id=100404, sensor="TIRA", end=START + timedelta(days=30)), "longer than 14 days"),
        (dict(norad_id=100404, sensor="TIRA", end=START), "after its start"),
    ]
    for kwargs, reason in cases:
        args = {"start": START, "end": START + timedelta(days=1), **kwargs}
        decision = submit_tasking(catalogue, find_windows=find_windows, now=NOW, **args)  # type: ignore[arg-type]
        assert decision.decision is Decision.REJECTED and reason in decision.reason, decision.reason
        stored = get_tasking(catalogue, decision.request_id)
        assert stored.status is TaskingStatus.REJECTED and stored.events[0].detail.startswith("REJECTED")
