"""The picture of an :class:`~cluster.estimate.EstimateTable`: wall time by worker count for every
profile, and cost against wall time for the priced ones, worker counts written on the points.

Each profile has a colour and a marker of its own (hollow markers and dashes for every other one), so
profiles whose predictions coincide stay visible; unpriced profiles are never drawn at a cost of 0.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from typing import TYPE_CHECKING

from cluster.estimate import EstimateRow, EstimateTable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_LINESTYLES = ("-", "--", "-.", ":")


def _labelled_workers(counts: list[int]) -> set[int]:
    """The worker counts written beside their points: 1, powers of two, and the largest."""
    return {n for n in counts if n == 1 or n & (n - 1) == 0 or n == max(counts)}


def _styles(names: list[str]) -> dict[str, dict[str, object]]:
    """A distinct colour, marker and line style per profile."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    styles: dict[str, dict[str, object]] = {}
    for i, name in enumerate(names):
        colour = palette(i % palette.N)
        styles[name] = {
            "color": colour,
            "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": _LINESTYLES[(i // 2) % len(_LINESTYLES)] if i % 2 else "-",
            "markerfacecolor": "none" if i % 2 else colour,
            "markersize": 6 if i % 2 else 4.5,
            "linewidth": 1.4,
        }
    return styles


def estimate_figure(table: EstimateTable) -> Figure:
    """The estimate's figure, for :func:`estimate_chart` or a report of one's own: wall time by
    workers, and beside it cost against wall time when some profile is priced."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    by_profile: defaultdict[str, list[EstimateRow]] = defaultdict(list)
    for row in table.rows:
        by_profile[row.profile].append(row)
    for rows in by_profile.values():
        rows.sort(key=lambda r: r.workers)
    styles = _styles(list(by_profile))
    priced = any(r.priced for r in table.rows)
    figure = Figure(figsize=(13, 6.4) if priced else (7.5, 5.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    walls = [r.wall_seconds for r in table.rows]
    unit = 60.0 if walls and max(walls) >= 180 else 1.0
    if priced:
        time_axes, cost_axes = figure.subplots(1, 2)
        _draw_costs(cost_axes, by_profile, styles, table, unit)
    else:
        time_axes = figure.subplots()
    _draw_times(time_axes, by_profile, styles, table, unit)
    side = round(math.sqrt(table.tile_pixels)) if table.tile_pixels else None
    size = f" of about {side}x{side} px" if side else ""
    pairs = f", {table.pairs} image pairs" if table.pairs > 1 else ""
    unknown = "" if priced else "\nno profile is priced: the cost is unknown, none is called cheapest"
    figure.suptitle(
        f"S2P estimate: {table.tiles} tiles{size}{pairs}\ncalibration: {table.calibration_label}{unknown}",
        fontsize="medium",
    )
    return figure


def estimate_chart(table: EstimateTable) -> bytes:
    """PNG of :func:`estimate_figure`."""
    buffer = io.BytesIO()
    estimate_figure(table).savefig(buffer, format="png")
    return buffer.getvalue()


def _unit_name(unit: float) -> str:
    return "minutes" if unit == 60.0 else "seconds"


def _deadline(axes: Axes, table: EstimateTable, unit: float, *, horizontal: bool) -> None:
    """The deadline as a line, or only in the legend when it lies far beyond every prediction."""
    deadline = table.deadline_seconds
    if deadline is None:
        return
    if deadline <= 1.5 * max(r.wall_seconds for r in table.rows):
        draw = axes.axhline if horizontal else axes.axvline
        draw(deadline / unit, color="grey", linestyle="--", label="deadline")
    else:
        axes.plot([], [], " ", label=f"deadline {deadline / unit:.4g} {_unit_name(unit)}: beyond every row")


def _draw_times(
    axes: Axes,
    by_profile: dict[str, list[EstimateRow]],
    styles: dict[str, dict[str, object]],
    table: EstimateTable,
    unit: float,
) -> None:
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    count = len(by_profile)
    most = max((r.workers for r in table.rows), default=1)
    logarithmic = most > 8
    for i, (name, rows) in enumerate(by_profile.items()):
        # profiles with the same predictions are drawn side by side, not on top of one another
        dodge = (i - (count - 1) / 2) * (0.025 if logarithmic else 0.02)
        xs = [r.workers * (1 + dodge) if logarithmic else r.workers + dodge for r in rows]
        price = "" if rows[0].priced else ", unpriced"
        refined = ", refined by its jobs" if rows[0].refined else ""
        axes.plot(
            xs,
            [r.wall_seconds / unit for r in rows],
            label=f"{name} ({rows[0].kind}{price}{refined})",
            **styles[name],  # type: ignore[arg-type]
        )
    _deadline(axes, table, unit, horizontal=True)
    if logarithmic:
        axes.set_xscale("log", base=2)
        axes.xaxis.set_major_formatter(FormatStrFormatter("%d"))
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("workers")
    axes.set_ylabel(f"predicted wall time ({_unit_name(unit)})")
    walls = [r.wall_seconds for r in table.rows if r.wall_seconds > 0]
    if walls and max(walls) > 20 * min(walls):
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    else:
        axes.set_ylim(bottom=0)
    axes.set_title("Wall time by worker count, every profile", fontsize="medium")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)


def _draw_costs(
    axes: Axes,
    by_profile: dict[str, list[EstimateRow]],
    styles: dict[str, dict[str, object]],
    table: EstimateTable,
    unit: float,
) -> None:
    from matplotlib.ticker import FormatStrFormatter

    priced = {name: rows for name, rows in by_profile.items() if rows[0].priced}
    axes.set_title("Cost against wall time, priced profiles (numbers: workers)", fontsize="medium")
    for name, rows in priced.items():
        axes.plot(
            [r.wall_seconds / unit for r in rows],
            [r.cost_ref for r in rows],
            label=f"{name} ({rows[0].currency}, 1-{rows[-1].workers} workers)",
            **styles[name],  # type: ignore[arg-type]
        )
        labelled = _labelled_workers([r.workers for r in rows])
        for r in rows:
            if r.workers in labelled:
                axes.annotate(
                    str(r.workers),
                    (r.wall_seconds / unit, r.cost_ref),
                    textcoords="offset points",
                    xytext=(4, 3),
                    fontsize="x-small",
                    color=styles[name]["color"],
                )
    walls = [r.wall_seconds for rows in priced.values() for r in rows]
    costs = [r.cost_ref for rows in priced.values() for r in rows if r.cost_ref > 0]
    _deadline(axes, table, unit, horizontal=False)
    if table.best is not None:
        best = table.best
        axes.plot(
            [best.wall_seconds / unit],
            [best.cost_ref],
            marker="*",
            markersize=16,
            color="black",
            linestyle="none",
            label=f"cheapest: {best.profile} x {best.workers} ({best.cost_ref:.4g} {table.currency})",
        )
    if max(walls) > 4 * min(walls):
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    if costs and max(costs) > 20 * min(costs):
        axes.set_yscale("log")
    else:
        axes.set_ylim(bottom=0)
    axes.set_xlabel(f"predicted wall time ({_unit_name(unit)})")
    axes.set_ylabel(f"predicted cost ({table.currency})")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)
