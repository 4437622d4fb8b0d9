"""WPS process ``s2p_estimate``: what an ``s2p_stereo`` request would take, per cluster profile.

From the request's tiles (counted as S2P makes them), the calibration measured with
``wps-server calibrate``, and what this server's finished ``s2p_stereo`` jobs measured on each profile (``cluster.refinement``), it
predicts CPU-hours, wall time and cost for each profile at each worker count, picks the cheapest priced
one that meets the deadline, and draws wall time by workers and cost against wall time per profile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cluster.errors import ClusterError
from cluster.estimate import CurrencyError, estimate
from cluster.estimate_chart import estimate_chart
from processes.s2p_wpsio import REQUEST_INPUTS, S2PSettings, job_calibration, request_grid, stereo_request
from wps_server.config import Settings
from wps_server.errors import ProcessError
from wps_server.process import FORMATS, ComplexOutput, JobContext, LiteralInput, Process, ProcessInputs


def process(settings: Settings) -> Process:
    config = S2PSettings.from_settings(settings)

    def handler(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
        return _estimate(inputs, ctx, config)

    return Process(
        "s2p_estimate",
        "Time and cost of an S2P request on each cluster profile",
        handler,
        abstract=(
            "The inputs of s2p_stereo, plus the profiles to compare and a deadline: predicted tiles, CPU-hours, "
            "wall time and cost per profile and worker count, from a calibration measured on this server, and "
            "the cheapest profile that meets the deadline."
        ),
        keywords=("S2P", "cost", "estimate", "cloud"),
        inputs=(
            *REQUEST_INPUTS,
            LiteralInput(
                "profiles",
                "Profiles",
                min_occurs=0,
                max_occurs=50,
                abstract="Profiles to compare (default: every profile you may use, the allowed values of "
                "s2p_stereo's cluster input).",
            ),
            LiteralInput("deadline", "Deadline", "float", min_occurs=0, value_range=(1, None), uom="s"),
            LiteralInput(
                "exchange_rates",
                "Exchange rates (JSON)",
                min_occurs=0,
                abstract='Value of one unit of each currency in the reference one, e.g. {"USD": 0.92}.',
            ),
            LiteralInput("currency", "Reference currency", min_occurs=0, abstract="ISO code, e.g. EUR."),
        ),
        outputs=(
            ComplexOutput(
                "estimate", "Estimate", (FORMATS["json"],), "One row per profile and worker count."
            ),
            ComplexOutput(
                "chart", "Chart", (FORMATS["png"],), "Cost against wall time, one line per profile."
            ),
        ),
    )


def _estimate(inputs: ProcessInputs, ctx: JobContext, config: S2PSettings) -> Mapping[str, Any]:
    request = stereo_request(inputs, config)
    # only the requester's profiles: one they may not use is as unknown, and never the cheapest
    usable = [n for n in config.profiles.names() if ctx.profiles is None or n in ctx.profiles]
    names = inputs.all("profiles") or usable
    unknown = [n for n in names if n not in usable]
    if not names:
        raise ProcessError("you may use no cluster profile to compare: ask for a role", "profiles")
    if unknown:
        known = ", ".join(usable) or "none (ask for a role)"
        raise ProcessError(
            f"unknown profile(s) {', '.join(map(str, unknown))}; use some of {known}", "profiles"
        )
    rates = None
    if inputs.one("exchange_rates"):
        try:
            rates = {str(k): float(v) for k, v in json.loads(inputs.one("exchange_rates")).items()}
        except (ValueError, TypeError, AttributeError):
            raise ProcessError(
                'exchange_rates must be a JSON object such as {"USD": 0.92}', "exchange_rates"
            ) from None
    grid = request_grid(request)
    try:
        table = estimate(
            grid.tiles,
            job_calibration(ctx, config, request),
            [config.profiles.get(str(n)) for n in names],
            inputs.one("deadline"),
            rates=rates,
            reference=inputs.one("currency"),
            tile_pixels=grid.tile_pixels,
            pairs=len(request.images) - 1,
        )
    except CurrencyError as exc:
        raise _in_request_terms(exc) from None
    except ClusterError as exc:
        raise ProcessError(str(exc), "profiles") from None
    ctx.progress(90, "drawing the chart")
    result = table.to_dict() | {
        "roi": str(request.roi),
        "tile_size": request.tile_size,
        "tile_grid": {
            "columns": grid.columns,
            "rows": grid.rows,
            "tile_size_px": [grid.tile_width, grid.tile_height],
        },
    }
    return {"estimate": json.dumps(result, indent=2), "chart": estimate_chart(table)}


def _in_request_terms(error: CurrencyError) -> ProcessError:
    """The estimate's currency problem, told with this process's inputs."""
    currencies = ", ".join(error.currencies)
    if error.need == "rates":
        return ProcessError(
            f"the profiles are priced in {currencies}: give exchange_rates (a JSON object such as "
            '{"USD": 0.92}) and currency (the one they convert to, e.g. EUR) to compare them',
            "exchange_rates",
        )
    if error.need == "reference":
        return ProcessError("exchange_rates needs currency, the currency its rates convert to", "currency")
    return ProcessError(f"exchange_rates has no rate to {error.reference} for {currencies}", "exchange_rates")
