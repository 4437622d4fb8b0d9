"""How far `s2p_stereo`'s predicted wall time and bill are from the measured ones, over a series of jobs.

A real `wps-server serve` with one priced per-job profile (`metered`: a local cluster of 2 single-threaded
worker processes started for each job, billed per second) runs `s2p_stereo` on the test pair at several
sizes (1, 4 and 9 tiles), in rounds; OWSLib submits each job and fetches its report. Each report puts
the job's bill beside the prediction the server made when the job started: from the packaged calibration
refined by the jobs finished before it (`cluster.refinement`). Beside it, the prediction of the packaged
calibration alone (no refinement), computed here from the job's recorded work. Errors are
predicted / measured - 1, for the wall time (cluster requested to closed) and for the cost.

    .venv/bin/python -m benchmarks.bench_estimate --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from owslib.wps import ASYNC, ComplexDataInput, WebProcessingService

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cluster.estimate import load_calibration, predict  # noqa: E402
from cluster.profiles import load_profiles  # noqa: E402
from tests.e2e.server import Server  # noqa: E402

PAIR_DIR = ROOT / "tests" / "data" / "s2p" / "pair"
RESULTS_DIR = ROOT / "benchmarks" / "results"
#: region -> tile size: 1 tile of 300 px, 2 x 2 tiles of 350 px, 3 x 3 tiles of 342 px
SIZES = {"300,300,300,300": 300, "150,150,700,700": 300, "0,0,1024,1024": 300}
PROFILES = """
version: 1
default: metered
profiles:
  metered:
    kind: local
    shared: false
    max_workers: 2
    worker_threads: 1
    options: {processes: true, dashboard_address: null}
    price: {amount: 0.36, currency: EUR, as_of: "2026-12-05", source: illustrative}
    billing: {granularity_seconds: 1, minimum_seconds: 0}
    startup_seconds: 2
"""
CONFIG = """
[server]
processes = processes:shipped_processes
[inputs]
data_roots = {root}
[dask]
workers = 2
dashboard =
[cluster]
profiles_file = {profiles}
[logging]
format = text
"""
OPTIONS = json.dumps(
    {"horizontal_margin": 20, "vertical_margin": 5, "disp_range_method": "sift", "msk_erosion": 0}
)
IMAGE = "image/tiff; application=geotiff"


def run_job(server: Server, roi: str, tile_size: int) -> dict[str, Any]:
    """One asynchronous s2p_stereo on the `metered` profile, followed to its end; its report's cost."""
    wps = WebProcessingService(f"{server.url}/wps")
    pair = server.folder / "data" / "pair"
    inputs: list[tuple[str, Any]] = [
        ("images", ComplexDataInput(f"file://{pair / n}", mimeType=IMAGE))
        for n in ("img_01.tif", "img_02.tif")
    ]
    inputs += [
        ("roi_pixels", roi),
        ("tile_size", str(tile_size)),
        ("cluster", "metered"),
        ("s2p_options", OPTIONS),
    ]
    execution = wps.execute("s2p_stereo", inputs, output=[("report", True)], mode=ASYNC)
    while not execution.isComplete():
        time.sleep(0.5)
        execution.checkStatus(sleepSecs=0)
    if not execution.isSucceded():
        raise SystemExit("; ".join(e.text for e in execution.errors))
    report = requests.get(execution.processOutputs[0].reference, timeout=60).json()
    cost: dict[str, Any] = report["cost"]
    return cost


def error(predicted: float, measured: float) -> float:
    return predicted / measured - 1 if measured else float("nan")


def summarise(values: list[float]) -> dict[str, float]:
    magnitudes = [abs(v) for v in values]
    return {"median_abs": statistics.median(magnitudes), "max_abs": max(magnitudes), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three sizes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-estimate-"))
    shutil.copytree(PAIR_DIR, scratch / "data" / "pair")
    (scratch / "clusters.yaml").write_text(PROFILES)
    profile = load_profiles(scratch / "clusters.yaml").get("metered")
    packaged = load_calibration()
    server = Server(scratch, CONFIG.format(root=scratch / "data", profiles=scratch / "clusters.yaml")).start()
    records: list[dict[str, Any]] = []
    try:
        for round_ in range(1, args.rounds + 1):
            for roi, tile_size in SIZES.items():
                cost = run_job(server, roi, tile_size)
                work, refined = cost["measured_work"], cost["predicted"]
                workers = refined["workers"]
                wall, _, billed = predict(
                    profile,
                    workers,
                    work["tiles"],
                    packaged,
                    tile_pixels=work["tile_pixels"],
                    pairs=work["pairs"],
                )
                record = {
                    "round": round_,
                    "roi": roi,
                    "tiles": work["tiles"],
                    "workers": workers,
                    "measured": {"wall_seconds": cost["wall_seconds"], "cost": cost["cost"]},
                    "refined": {
                        "by_jobs": refined["refined"],
                        "wall_seconds": refined["wall_seconds"],
                        "cost": refined["cost"],
                    },
                    "packaged": {
                        "wall_seconds": wall,
                        "cost": workers * billed / 3600 * profile.worker_hour_price,
                    },
                }
                for kind in ("refined", "packaged"):
                    record[kind]["wall_error"] = error(record[kind]["wall_seconds"], cost["wall_seconds"])
                    record[kind]["cost_error"] = error(record[kind]["cost"], cost["cost"])
                records.append(record)
                print(
                    f"round {round_} {work['tiles']} tiles: measured {cost['wall_seconds']:6.1f} s "
                    f"{cost['cost']:.5f} EUR | refined {record['refined']['wall_error']:+7.1%} wall "
                    f"{record['refined']['cost_error']:+7.1%} cost | packaged {record['packaged']['wall_error']:+7.1%}"
                    f" wall {record['packaged']['cost_error']:+7.1%} cost",
                    flush=True,
                )
    finally:
        server.stop()
    repeats = [r for r in records if r["round"] > 1]
    summary = {
        kind: {
            f"{what}_{rounds}": summarise([r[kind][f"{what}_error"] for r in chosen])
            for what in ("wall", "cost")
            for rounds, chosen in (("all", records), ("repeats", repeats or records))
        }
        for kind in ("refined", "packaged")
    }
    for kind, figures in summary.items():
        for name, figure in figures.items():
            print(
                f"{kind:<9} {name:<13} median |error| {figure['median_abs']:6.1%}  max {figure['max_abs']:6.1%}"
            )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"bench_estimate-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"load_average_at_end": os.getloadavg(), "summary": summary, "jobs": records},
            indent=1,
        )
    )
    print(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
