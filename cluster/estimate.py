"""Predict CPU time, wall time and cost of an S2P job per profile and worker count; pick the cheapest.

A :class:`Calibration` holds compute seconds of each stage (task prefix), per tile of ``tile_size_px``
squared pixels and one image pair (``stages``) or per job (``job_stages``, the reductions), measured on
one machine with ``wps-server calibrate``; the packaged ``calibration.json`` was measured so on the
project's build machine (its ``machine`` and ``source`` say how). :func:`calibration_from_events` makes
one from a cluster's task events; :func:`refresh_calibration` writes it. :mod:`cluster.refinement` adds
what finished jobs measured on each profile (``fits``).

Model, per profile and worker count ``n`` (``slots`` = n x threads per worker; S2P's graph has no
stage barriers, so tiles stream through the slots)::

    per tile = sum of stages x (tile pixels / calibration tile pixels) x pairs / relative_speed
    wall     = start-up + max(1, tiles / slots) x per tile + sum of job stages
    billed per worker = billing rounding of wall;  cost = n x billed x price (+ scheduler machine)

A profile with a fit uses the seconds its own jobs measured instead of ``relative_speed``, their
measured overhead instead of ``startup_seconds`` and their billed share of the wall time; a profile
with none, those of another profile of its instance type.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dask.utils import key_split

from cluster.errors import CalibrationError, ClusterError
from cluster.events import JobEvents
from cluster.profiles import ClusterProfile

PACKAGED_CALIBRATION = Path(__file__).with_name("calibration.json")
#: Versions of the calibration file this code reads (2 added ``job_stages``).
_FORMATS = (1, 2)


@dataclass(frozen=True)
class ProfileFit:
    """What the finished jobs of one profile (or of one instance type) measured there.

    ``stages`` are seconds per calibration tile and pair, ``job_stages`` seconds per job, on one worker
    thread of that profile; ``overhead_seconds`` is the wall time beyond the modelled compute (start-up,
    staging, scheduling) and ``billed_fraction`` the billed worker-seconds over workers x wall time
    (None in a fit by instance type: those depend on the profile, not on its machines).
    """

    key: str
    jobs: int
    stages: Mapping[str, float]
    job_stages: Mapping[str, float]
    overhead_seconds: float | None = None
    billed_fraction: float | None = None


@dataclass(frozen=True)
class Calibration:
    """Compute seconds per tile (and per job) of each stage on the machine described by ``machine``."""

    stages: Mapping[str, float]
    tile_size_px: int
    label: str
    source: str
    measured: bool
    measured_at: str | None = None
    machine: Mapping[str, Any] = field(default_factory=dict)
    tiles: int | None = None
    notes: str = ""
    job_stages: Mapping[str, float] = field(default_factory=dict)
    #: Refinements by finished jobs, keyed ``profile:<name>`` and ``instance:<type>`` (never in the file).
    fits: Mapping[str, ProfileFit] = field(default_factory=dict)

    @property
    def seconds_per_tile(self) -> float:
        return sum(self.stages.values())

    @property
    def tile_pixels(self) -> int:
        return self.tile_size_px * self.tile_size_px

    def task_durations(self) -> dict[str, float]:
        """``prefix -> seconds`` for :func:`cluster.sizing.declare_task_durations`."""
        return {**self.stages, **self.job_stages}

    def fits_for(self, profile: ClusterProfile) -> tuple[ProfileFit | None, ProfileFit | None]:
        """The fit of the profile itself, and the one of its instance type (either may be None)."""
        same_type = self.fits.get(f"instance:{profile.instance_type}") if profile.instance_type else None
        return self.fits.get(f"profile:{profile.name}"), same_type

    def to_json(self) -> str:
        data = asdict(self)
        del data["fits"]
        return json.dumps({"format": 2, **data}, indent=2) + "\n"


def load_calibration(path: Path | str | None = None) -> Calibration:
    """Read a calibration file (default: the packaged one, measured on the project's build machine)."""
    file = PACKAGED_CALIBRATION if path is None else Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"cannot read calibration {file}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") not in _FORMATS:
        found = data.get("format") if isinstance(data, dict) else None
        raise CalibrationError(f"{file}: unsupported calibration format {found!r}")
    stages = data.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise CalibrationError(f"{file}: 'stages' must map stage names to seconds per tile")
    job_stages = data.get("job_stages") or {}
    if not isinstance(job_stages, dict):
        raise CalibrationError(f"{file}: 'job_stages' must map stage names to seconds per job")
    for name, seconds in (*stages.items(), *job_stages.items()):
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise CalibrationError(f"{file}: stage {name!r} has a bad duration {seconds!r}")
    try:
        size = int(data["tile_size_px"])
        if size < 1:
            raise ValueError("tile_size_px must be >= 1")
        return Calibration(
            stages={str(k): float(v) for k, v in stages.items()},
            tile_size_px=size,
            label=str(data["label"]),
            source=str(data["source"]),
            measured=bool(data["measured"]),
            measured_at=data.get("measured_at"),
            machine=dict(data.get("machine") or {}),
            tiles=data.get("tiles"),
            notes=str(data.get("notes", "")),
            job_stages={str(k): float(v) for k, v in job_stages.items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{file}: missing or bad field {exc}") from exc


def machine_info() -> dict[str, Any]:
    """What the calibration was measured on: CPU model, logical CPUs, Python, OS."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "host": platform.node(),
    }


def calibration_from_events(
    events: JobEvents,
    tiles: int,
    *,
    tile_size_px: int,
    stages: Iterable[str] | None = None,
    job_stages: Iterable[str] = (),
    machine: Mapping[str, Any] | None = None,
    source: str = "",
) -> Calibration:
    """Seconds per tile per stage from a real run's task spans (successful tasks only).

    The stage of a task is its Dask prefix (``"matching-r0c1"`` -> ``matching``); ``stages`` keeps only
    those (default: every prefix seen but ``job_stages``, which are per job, not per tile). ``machine``
    describes the workers (default: this host).
    """
    if tiles < 1:
        raise CalibrationError("a calibration needs the run's tile count (>= 1)")
    totals: defaultdict[str, float] = defaultdict(float)
    for span in events.tasks:
        if span.state == "memory":
            totals[key_split(span.key)] += span.seconds
    per_job = list(job_stages)
    wanted = list(stages) if stages is not None else sorted(set(totals) - set(per_job))
    missing = [s for s in (*wanted, *per_job) if s not in totals]
    if missing or not wanted:
        raise CalibrationError(f"the run has no successful tasks for stage(s) {missing or 'any'}")
    return Calibration(
        stages={s: totals[s] / tiles for s in wanted},
        job_stages={s: totals[s] for s in per_job},
        tile_size_px=tile_size_px,
        label="measured",
        source=source or f"job {events.job_id} on profile {events.profile}",
        measured=True,
        measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=dict(machine) if machine is not None else machine_info(),
        tiles=tiles,
    )


def write_calibration(path: Path | str, calibration: Calibration) -> Calibration:
    """Write ``calibration`` to ``path`` (atomically) and return it."""
    target = Path(path)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(calibration.to_json(), encoding="utf-8")
    tmp.replace(target)
    return calibration


def refresh_calibration(
    path: Path | str, events: JobEvents, tiles: int, *, tile_size_px: int, **kwargs: Any
) -> Calibration:
    """Measure from ``events`` (see :func:`calibration_from_events`) and write the result to ``path``."""
    return write_calibration(
        path, calibration_from_events(events, tiles, tile_size_px=tile_size_px, **kwargs)
    )


@dataclass(frozen=True)
class EstimateRow:
    """One profile at one worker count. ``cost`` is in the profile's currency, ``cost_ref`` in the table's;
    both are 0 for an unpriced profile (``priced`` False), whose cost is unknown, not nil."""

    profile: str
    kind: str
    workers: int
    wall_seconds: float
    cpu_hours: float
    billed_worker_hours: float
    cost: float
    currency: str | None
    cost_ref: float
    priced: bool
    meets_deadline: bool
    #: Whether finished jobs of this profile (or of its instance type) refined the prediction.
    refined: bool = False


@dataclass(frozen=True)
class EstimateTable:
    """Every row, the chosen one (the cheapest priced one meeting the deadline, then the fastest; never
    an unpriced one), the fastest, and the inputs."""

    rows: tuple[EstimateRow, ...]
    best: EstimateRow | None
    fastest: EstimateRow | None
    deadline_seconds: float | None
    currency: str | None
    tiles: int
    calibration_label: str
    tile_pixels: int | None = None
    pairs: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def work_seconds(
    profile: ClusterProfile, calibration: Calibration, tile_pixels: int | None = None, pairs: int = 1
) -> tuple[float, float]:
    """(seconds per tile, seconds per job) on one worker thread of ``profile``, for tiles of
    ``tile_pixels`` pixels (default: the calibration's) and ``pairs`` image pairs."""
    own, same_type = calibration.fits_for(profile)
    fits = [f for f in (own, same_type) if f is not None]
    scale = (tile_pixels / calibration.tile_pixels if tile_pixels else 1.0) * max(1, pairs)

    def seconds(base: Mapping[str, float], fitted: Callable[[ProfileFit], Mapping[str, float]]) -> float:
        names = set(base).union(*(fitted(f) for f in fits))
        total = 0.0
        for name in names:
            measured = next((fitted(f)[name] for f in fits if name in fitted(f)), None)
            total += measured if measured is not None else base.get(name, 0.0) / profile.relative_speed
        return total

    return (
        seconds(calibration.stages, lambda f: f.stages) * scale,
        seconds(calibration.job_stages, lambda f: f.job_stages),
    )


def predict(
    profile: ClusterProfile,
    workers: int,
    tiles: int,
    calibration: Calibration,
    *,
    tile_pixels: int | None = None,
    pairs: int = 1,
) -> tuple[float, float, float]:
    """(wall seconds, CPU hours, billed seconds per worker) for one profile and worker count."""
    own, _ = calibration.fits_for(profile)
    per_tile, per_job = work_seconds(profile, calibration, tile_pixels, pairs)
    if not tiles:
        per_job = 0.0
    slots = workers * profile.worker_threads
    waves = max(1.0, tiles / slots) if tiles else 0.0
    overhead = own.overhead_seconds if own is not None and own.overhead_seconds is not None else None
    wall = max(0.0, (profile.startup_seconds if overhead is None else overhead) + waves * per_tile + per_job)
    cpu_hours = (tiles * per_tile + per_job) / 3600.0
    share = own.billed_fraction if own is not None and own.billed_fraction is not None else 1.0
    return wall, cpu_hours, float(profile.billing.billed_seconds(wall * share))


def estimate(
    tiles: int,
    calibration: Calibration,
    profiles: Iterable[ClusterProfile],
    deadline: float | dt.timedelta | None = None,
    *,
    rates: Mapping[str, float] | None = None,
    reference: str | None = None,
    tile_pixels: int | None = None,
    pairs: int = 1,
) -> EstimateTable:
    """Predict every profile at 1..max_workers workers and pick the cheapest priced one that meets
    ``deadline`` (an unpriced profile's cost is unknown: it is never the cheapest).

    ``rates`` gives the value of one unit of each currency in ``reference`` (``{"USD": 0.92}`` with
    ``reference="EUR"``); it is needed only when priced profiles use different currencies. Without a
    deadline the cheapest priced row wins. ``tile_pixels`` and ``pairs`` describe the tiles (default:
    the calibration's, one pair).
    """
    if tiles < 0:
        raise CalibrationError("tiles must be >= 0")
    limit = deadline.total_seconds() if isinstance(deadline, dt.timedelta) else deadline
    chosen = list(profiles)
    currency, convert = _reference_currency(chosen, rates, reference)
    rows = []
    for profile in chosen:
        refined = any(f is not None for f in calibration.fits_for(profile))
        for n in range(1, profile.max_workers + 1):
            wall, cpu_hours, billed = predict(
                profile, n, tiles, calibration, tile_pixels=tile_pixels, pairs=pairs
            )
            cost = 0.0
            if profile.price is not None:
                cost = n * billed / 3600.0 * profile.worker_hour_price
                cost += profile.price.scheduler_amount * billed / 3600.0
            rows.append(
                EstimateRow(
                    profile=profile.name,
                    kind=profile.kind,
                    workers=n,
                    wall_seconds=wall,
                    cpu_hours=cpu_hours,
                    billed_worker_hours=n * billed / 3600.0,
                    cost=cost,
                    currency=profile.currency,
                    cost_ref=cost * convert(profile.currency),
                    priced=profile.price is not None,
                    meets_deadline=limit is None or wall <= limit,
                    refined=refined,
                )
            )
    fitting = [r for r in rows if r.meets_deadline and r.priced]
    best = min(fitting, key=lambda r: (round(r.cost_ref, 9), r.wall_seconds, r.workers)) if fitting else None
    fastest = min(rows, key=lambda r: (r.wall_seconds, r.cost_ref)) if rows else None
    return EstimateTable(
        rows=tuple(rows),
        best=best,
        fastest=fastest,
        deadline_seconds=limit,
        currency=currency,
        tiles=tiles,
        calibration_label=calibration.label,
        tile_pixels=tile_pixels or calibration.tile_pixels,
        pairs=pairs,
    )


class CurrencyError(ClusterError):
    """Prices in several currencies cannot be compared as asked. ``need``: ``"rates"`` (none were
    given), ``"reference"`` (rates without the currency they convert to) or ``"rate"`` (no rate for
    ``currencies``); callers word it in their own terms (a request's inputs, a command's options)."""

    def __init__(self, need: str, currencies: list[str], reference: str | None = None) -> None:
        self.need, self.currencies, self.reference = need, currencies, reference
        super().__init__(f"cannot compare prices in {', '.join(currencies)} ({need} missing)")


def _reference_currency(
    profiles: list[ClusterProfile], rates: Mapping[str, float] | None, reference: str | None
) -> tuple[str | None, Callable[[str | None], float]]:
    """The table's currency, and a function giving the value of one unit of a currency in it."""
    currencies = sorted({p.currency for p in profiles if p.currency is not None and p.worker_hour_price > 0})
    if rates is None:
        if len(currencies) > 1:
            raise CurrencyError("rates", currencies)
        return (reference or (currencies[0] if currencies else None)), lambda _c: 1.0
    if reference is None:
        raise CurrencyError("reference", currencies)
    table = {**rates, reference: 1.0}
    unknown = [c for c in currencies if c not in table]
    if unknown:
        raise CurrencyError("rate", unknown, reference)
    return reference, lambda c: 1.0 if c is None else table[c]
