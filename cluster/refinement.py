"""Refine a calibration with what finished jobs measured, per profile and per instance type.

A job that ran on a cluster leaves a cost record (:func:`cluster.cost.compute_cost`, kept in the job
store); a process that knows its work adds :class:`MeasuredWork` to it under ``measured_work``: its
tiles, their size, and the seconds each stage took. :func:`samples_from_costs` reads those records
(others are skipped), :func:`refine` fits each profile's seconds per stage, its overhead and its billed
share of the wall time to the newest of them (medians, so one odd job moves nothing), and returns the
calibration with those fits; :func:`cluster.estimate.predict` then uses them. Nothing is stored apart:
the fits are recomputed from the job store's records whenever an estimate is made.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from cluster.estimate import Calibration, ProfileFit

#: How many of a profile's newest finished jobs a fit uses.
NEWEST_JOBS = 20


@dataclass(frozen=True)
class MeasuredWork:
    """What one job computed: ``stages`` seconds over all its tiles, ``job_stages`` seconds once per
    job, for ``tiles`` tiles of ``tile_pixels`` pixels over ``pairs`` image pairs; ``skipped`` steps
    (finished by an earlier run of a resumed job) make the record useless for a fit."""

    tiles: int
    tile_pixels: int
    pairs: int
    stages: Mapping[str, float]
    job_stages: Mapping[str, float]
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasuredWork:
        return cls(
            tiles=int(data["tiles"]),
            tile_pixels=int(data["tile_pixels"]),
            pairs=int(data.get("pairs", 1)),
            stages={str(k): float(v) for k, v in dict(data["stages"]).items()},
            job_stages={str(k): float(v) for k, v in dict(data.get("job_stages") or {}).items()},
            skipped=int(data.get("skipped", 0)),
        )


@dataclass(frozen=True)
class JobSample:
    """One finished job's measurement on one profile."""

    profile: str
    instance_type: str | None
    workers: int
    slots: int
    wall_seconds: float
    billed_worker_seconds: float
    work: MeasuredWork


def sample_from_cost(cost: Mapping[str, Any]) -> JobSample | None:
    """The sample a job's cost record holds, or None (no measured work, a resumed job, a malformed or
    older record)."""
    try:
        work = MeasuredWork.from_dict(cost["measured_work"])
        bills = list(cost.get("workers") or ())
        workers = len(bills) or int(cost.get("workers_requested") or 0)
        slots = sum(int(b.get("nthreads") or 1) for b in bills) or workers
        sample = JobSample(
            profile=str(cost["profile"]),
            instance_type=cost.get("instance_type") or None,
            workers=workers,
            slots=slots,
            wall_seconds=float(cost["wall_seconds"]),
            billed_worker_seconds=float(cost["billed_worker_seconds"]),
            work=work,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    usable = work.tiles > 0 and work.tile_pixels > 0 and work.pairs > 0 and not work.skipped
    return sample if usable and workers > 0 and slots > 0 and sample.wall_seconds > 0 else None


def samples_from_costs(costs: Iterable[Mapping[str, Any]]) -> list[JobSample]:
    """The usable samples among cost records, in their order (newest first, as the store gives them)."""
    return [s for s in map(sample_from_cost, costs) if s is not None]


def refine(
    calibration: Calibration,
    samples: Iterable[JobSample],
    newest: int = NEWEST_JOBS,
    *,
    like: tuple[int, int, int] | None = None,
) -> Calibration:
    """``calibration`` with a fit per profile and per instance type from the ``newest`` samples of each
    (``samples`` newest first); unchanged when there are none. With ``like`` (tiles, tile pixels,
    pairs of the job to predict), a profile's fit uses only its jobs of that very work when it has some:
    a repeated job is predicted from its own earlier runs, not from a mix of sizes."""
    chosen = list(samples)
    if like is not None:
        same = [s for s in chosen if (s.work.tiles, s.work.tile_pixels, s.work.pairs) == like]
        profiles_with_same = {s.profile for s in same}
        chosen = [s for s in chosen if s.profile not in profiles_with_same or s in same]
    by_profile: defaultdict[str, list[JobSample]] = defaultdict(list)
    by_type: defaultdict[str, list[JobSample]] = defaultdict(list)
    for sample in chosen:
        if len(by_profile[sample.profile]) < newest:
            by_profile[sample.profile].append(sample)
        if sample.instance_type and len(by_type[sample.instance_type]) < newest:
            by_type[sample.instance_type].append(sample)
    fits = dict(calibration.fits)
    for name, group in by_profile.items():
        fits[f"profile:{name}"] = _fit(f"profile:{name}", group, calibration, whole=True)
    for kind, group in by_type.items():
        fits[f"instance:{kind}"] = _fit(f"instance:{kind}", group, calibration, whole=False)
    if not by_profile:
        return calibration
    jobs = sum(len(g) for g in by_profile.values())
    label = f"{calibration.label}; refined by {jobs} finished job{'s' if jobs > 1 else ''}"
    return replace(calibration, fits=fits, label=label)


def _fit(key: str, samples: list[JobSample], calibration: Calibration, *, whole: bool) -> ProfileFit:
    """Median seconds per calibration tile and pair of each stage, per job of each job stage (stages
    the jobs did not run: the calibration's, at the jobs' speed); with ``whole``, also the median
    overhead beyond that compute and the median billed share of the wall time."""

    def scale(s: JobSample) -> float:
        return s.work.tiles * s.work.tile_pixels / calibration.tile_pixels * s.work.pairs

    stages = _medians([{k: v / scale(s) for k, v in s.work.stages.items()} for s in samples])
    job_stages = _medians([dict(s.work.job_stages) for s in samples])
    # stages of the calibration these jobs did not run: at the speed they showed on the others
    known = sum(calibration.stages.get(k, 0.0) for k in stages)
    speed = sum(stages.values()) / known if known > 0 else 1.0
    stages |= {k: v * speed for k, v in calibration.stages.items() if k not in stages}
    job_stages |= {k: v * speed for k, v in calibration.job_stages.items() if k not in job_stages}
    if not whole:
        return ProfileFit(key, len(samples), stages, job_stages)
    per_tile, per_job = sum(stages.values()), sum(job_stages.values())
    overheads, shares = [], []
    for s in samples:
        per_slot_tile = per_tile * s.work.tile_pixels / calibration.tile_pixels * s.work.pairs
        compute = max(1.0, s.work.tiles / s.slots) * per_slot_tile + per_job
        overheads.append(s.wall_seconds - compute)
        shares.append(s.billed_worker_seconds / (s.workers * s.wall_seconds))
    return ProfileFit(
        key, len(samples), stages, job_stages, statistics.median(overheads), statistics.median(shares)
    )


def _medians(values: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the median over the dictionaries that have it."""
    names = sorted({k for v in values for k in v})
    return {k: statistics.median(v[k] for v in values if k in v) for k in names}
