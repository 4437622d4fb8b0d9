"""Predict CPU time, wall time and cost of an S2P job per profile and worker count; pick the cheapest.

A :class:`Calibration` holds compute seconds per tile for each stage (task prefix), measured on one
machine. :func:`calibration_from_events` makes one from the events of a real run
(:class:`~cluster.events.JobEvents`, as collected by ``open_cluster``); :func:`refresh_calibration`
writes it. The packaged ``calibration.initial.json`` is NOT a measurement: it is derived from the
field notes' step times of one native run, and says so in its ``label`` and ``source``.

Model, per profile and worker count ``n`` (``slots`` = n x threads per worker, stages separated by
barriers, as S2P's global reductions require)::

    wall = startup + sum over stages of ceil(tiles / slots) * seconds_per_tile / relative_speed
    billed per worker = billing rounding of wall;  cost = n * billed * price (+ scheduler machine)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
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

INITIAL_CALIBRATION = Path(__file__).with_name("calibration.initial.json")


@dataclass(frozen=True)
class Calibration:
    """Compute seconds per tile of each stage on the machine described by ``machine``."""

    stages: Mapping[str, float]
    tile_size_px: int
    label: str
    source: str
    measured: bool
    measured_at: str | None = None
    machine: Mapping[str, Any] = field(default_factory=dict)
    tiles: int | None = None
    notes: str = ""

    @property
    def seconds_per_tile(self) -> float:
        return sum(self.stages.values())

    def task_durations(self) -> dict[str, float]:
        """``prefix -> seconds`` for :func:`cluster.sizing.declare_task_durations`."""
        return dict(self.stages)

    def to_json(self) -> str:
        return json.dumps({"format": 1, **asdict(self), "stages": dict(self.stages)}, indent=2) + "\n"


def load_calibration(path: Path | str | None = None) -> Calibration:
    """Read a calibration file (default: the packaged initial, derived one)."""
    file = INITIAL_CALIBRATION if path is None else Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"cannot read calibration {file}: {exc}") from exc
    if data.get("format") != 1:
        raise CalibrationError(f"{file}: unsupported calibration format {data.get('format')!r}")
    stages = data.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise CalibrationError(f"{file}: 'stages' must map stage names to seconds per tile")
    for name, seconds in stages.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise CalibrationError(f"{file}: stage {name!r} has a bad duration {seconds!r}")
    try:
        return Calibration(
            stages={str(k): float(v) for k, v in stages.items()},
            tile_size_px=int(data["tile_size_px"]),
            label=str(data["label"]),
            source=str(data["source"]),
            measured=bool(data["measured"]),
            measured_at=data.get("measured_at"),
            machine=dict(data.get("machine") or {}),
            tiles=data.get("tiles"),
            notes=str(data.get("notes", "")),
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
    machine: Mapping[str, Any] | None = None,
    source: str = "",
) -> Calibration:
    """Seconds per tile per stage from a real run's task spans (successful tasks only).

    The stage of a task is its Dask prefix (``"matching-r0c1"`` -> ``matching``); ``stages`` keeps only
    those (default: every prefix seen). ``machine`` describes the workers (default: this host).
    """
    if tiles < 1:
        raise CalibrationError("a calibration needs the run's tile count (>= 1)")
    totals: defaultdict[str, float] = defaultdict(float)
    for span in events.tasks:
        if span.state == "memory":
            totals[key_split(span.key)] += span.seconds
    wanted = list(stages) if stages is not None else sorted(totals)
    missing = [s for s in wanted if s not in totals]
    if missing or not wanted:
        raise CalibrationError(f"the run has no successful tasks for stage(s) {missing or 'any'}")
    return Calibration(
        stages={s: totals[s] / tiles for s in wanted},
        tile_size_px=tile_size_px,
        label="measured",
        source=source or f"job {events.job_id} on profile {events.profile}",
        measured=True,
        measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=dict(machine) if machine is not None else machine_info(),
        tiles=tiles,
    )


def refresh_calibration(
    path: Path | str, events: JobEvents, tiles: int, *, tile_size_px: int, **kwargs: Any
) -> Calibration:
    """Measure from ``events`` (see :func:`calibration_from_events`) and write the result to ``path``."""
    calibration = calibration_from_events(events, tiles, tile_size_px=tile_size_px, **kwargs)
    target = Path(path)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(calibration.to_json(), encoding="utf-8")
    tmp.replace(target)
    return calibration


@dataclass(frozen=True)
class EstimateRow:
    """One profile at one worker count. ``cost`` is in the profile's currency, ``cost_ref`` in the table's."""

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


@dataclass(frozen=True)
class EstimateTable:
    """Every row, the chosen one (cheapest meeting the deadline, then fastest), and the inputs."""

    rows: tuple[EstimateRow, ...]
    best: EstimateRow | None
    fastest: EstimateRow | None
    deadline_seconds: float | None
    currency: str | None
    tiles: int
    calibration_label: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def predict(
    profile: ClusterProfile, workers: int, tiles: int, calibration: Calibration
) -> tuple[float, float, float]:
    """(wall seconds, CPU hours, billed worker-seconds per worker) for one profile and worker count."""
    slots = workers * profile.worker_threads
    waves = math.ceil(tiles / slots) if tiles else 0
    compute = sum(calibration.stages.values()) / profile.relative_speed
    wall = profile.startup_seconds + waves * compute
    cpu_hours = tiles * compute / 3600.0
    return wall, cpu_hours, float(profile.billing.billed_seconds(wall))


def estimate(
    tiles: int,
    calibration: Calibration,
    profiles: Iterable[ClusterProfile],
    deadline: float | dt.timedelta | None = None,
    *,
    rates: Mapping[str, float] | None = None,
    reference: str | None = None,
) -> EstimateTable:
    """Predict every profile at 1..max_workers workers and pick the cheapest that meets ``deadline``.

    ``rates`` gives the value of one unit of each currency in ``reference`` (``{"USD": 0.92}`` with
    ``reference="EUR"``); it is needed only when priced profiles use different currencies. Unpriced
    profiles cost 0. Without a deadline the cheapest row wins.
    """
    if tiles < 0:
        raise CalibrationError("tiles must be >= 0")
    limit = deadline.total_seconds() if isinstance(deadline, dt.timedelta) else deadline
    chosen = list(profiles)
    currency, convert = _reference_currency(chosen, rates, reference)
    rows = []
    for profile in chosen:
        for n in range(1, profile.max_workers + 1):
            wall, cpu_hours, billed = predict(profile, n, tiles, calibration)
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
                )
            )
    fitting = [r for r in rows if r.meets_deadline]
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


def estimate_chart(table: EstimateTable) -> bytes:
    """PNG of cost against wall time, one line per profile (points = worker counts)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    by_profile: defaultdict[str, list[EstimateRow]] = defaultdict(list)
    for row in table.rows:
        by_profile[row.profile].append(row)
    for name, rows in by_profile.items():
        rows.sort(key=lambda r: r.workers)
        axes.plot(
            [r.wall_seconds / 60 for r in rows],
            [r.cost_ref for r in rows],
            marker="o",
            markersize=3,
            label=f"{name} ({rows[0].kind}, 1-{rows[-1].workers} workers)",
        )
    if table.deadline_seconds is not None:
        axes.axvline(table.deadline_seconds / 60, color="grey", linestyle="--", label="deadline")
    if table.best is not None:
        axes.plot(
            [table.best.wall_seconds / 60],
            [table.best.cost_ref],
            marker="*",
            markersize=14,
            color="black",
            linestyle="none",
            label=f"chosen: {table.best.profile} x {table.best.workers}",
        )
    axes.set_xscale("log")
    axes.set_xlabel("predicted wall time (minutes, log scale)")
    axes.set_ylabel(f"predicted cost ({table.currency or 'unpriced'})")
    axes.set_title(f"{table.tiles} tiles; calibration: {table.calibration_label}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
