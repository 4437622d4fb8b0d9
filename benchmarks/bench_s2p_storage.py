"""S2P's task graph with its job folder on an object store against the same graph on a shared folder.

The same Dask cluster (one single-threaded worker process per core) runs `s2p_stereo`'s graph on the
test pair, in alternating order, with the job's folder either on the local disk every worker sees
(today's default) or in an S3 object store on loopback (moto's server, authentication on, in a process
of its own), where each task fetches what it reads into the worker's scratch folder, reads image
windows through GDAL's /vsis3/ and puts what it wrote back. Measured per run: wall time of the graph
(staging of the inputs included), bytes moved per tile (staged at the start, fetched and stored by
the steps), and whether the two DSMs agree (s2p's acceptance, and against s2p's expected DSM on the
test region). Prints a table and writes JSON to benchmarks/results/.

    .venv/bin/python -m benchmarks.bench_s2p_storage --runs 3
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

import distributed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "s2p"))

from s2p_testdata import PAIR_DIR, pair_request  # noqa: E402

from cluster.storage import ObjectStore  # noqa: E402
from processes.s2p.evaluation import compare_dsms  # noqa: E402
from processes.s2p.graph import StereoResult, run_stereo  # noqa: E402
from tests.s3server import S3Server  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"
CASES = {"test_roi": "150,150,700,700", "full_image": "0,0,1024,1024"}


def run(client: distributed.Client, roi: str, folder: Path, store: ObjectStore | None) -> dict[str, Any]:
    started = time.perf_counter()
    result: StereoResult = run_stereo(
        pair_request(roi=roi), folder, client, lambda p, m: None, lambda: False, storage=store
    )
    wall = time.perf_counter() - started
    traffic = result.storage_traffic()
    moved = sum(traffic.values())
    tiles = len(result.plan.tiles)
    return {
        "wall_seconds": wall,
        "tiles": tiles,
        "retries": result.retries,
        "worker_seconds_in_steps": result.worker_seconds,
        **traffic,
        "bytes_moved_per_tile": moved / tiles,
        "dsm": str(result.dsm_path),
    }


def summarise(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}"
    )
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    scratch = Path(tempfile.mkdtemp(prefix="bench_s2p_storage-"))
    s3 = S3Server().start()
    os.environ.update(s3.env())
    bucket = s3.bucket("bench")
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
    try:
        with (
            distributed.LocalCluster(
                n_workers=args.cores,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env=s3.env(),
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            run(client, "400,400,200,200", scratch / "warmup", ObjectStore(bucket, "warmup"))
            for r in range(args.runs):
                for case in cases:
                    order = ["shared", "store"] if r % 2 == 0 else ["store", "shared"]
                    record: dict[str, Any] = {"run": r, "order": order}
                    for method in order:
                        folder = scratch / f"{case}-{r}-{method}"
                        store = ObjectStore(bucket, f"{case}-{r}") if method == "store" else None
                        record[method] = run(client, CASES[case], folder, store)
                        print(f"{case} run {r} {method}: {record[method]['wall_seconds']:.1f} s", flush=True)
                    record["wall_ratio"] = record["store"]["wall_seconds"] / record["shared"]["wall_seconds"]
                    agreement = compare_dsms(Path(record["store"]["dsm"]), Path(record["shared"]["dsm"]))
                    record["store_vs_shared"] = agreement.to_json_dict()
                    if case == "test_roi":
                        expected = compare_dsms(Path(record["store"]["dsm"]), PAIR_DIR / "expected_dsm.tif")
                        record["store_vs_expected"] = expected.to_json_dict()
                    runs[case].append(record)
    finally:
        s3.stop()

    summary: dict[str, Any] = {}
    print()
    print(
        f"{'case':<11} {'shared s (med)':>15} {'store s (med)':>14} {'ratio med (min-max)':>22} "
        f"{'MB moved/tile':>14} {'DSMs agree':>11}"
    )
    for case, records in runs.items():
        ratio = summarise([r["wall_ratio"] for r in records])
        shared = summarise([r["shared"]["wall_seconds"] for r in records])
        store = summarise([r["store"]["wall_seconds"] for r in records])
        moved = statistics.median(r["store"]["bytes_moved_per_tile"] for r in records) / 1e6
        agree = all(r["store_vs_shared"]["acceptable"] for r in records)
        summary[case] = {
            "wall_ratio": ratio,
            "shared_wall_seconds": shared,
            "store_wall_seconds": store,
            "mb_moved_per_tile_median": moved,
            "dsms_agree": agree,
            "store_vs_expected_acceptable": all(
                r.get("store_vs_expected", {}).get("acceptable", True) for r in records
            ),
        }
        print(
            f"{case:<11} {shared['median']:>15.1f} {store['median']:>14.1f} "
            f"{ratio['median']:>8.3f} ({ratio['min']:.3f}-{ratio['max']:.3f}) {moved:>14.2f} {agree!s:>11}"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"bench_s2p_storage-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "machine": {"cores": args.cores, "load_average_at_end": os.getloadavg()},
                "summary": summary,
                "runs": runs,
            },
            indent=1,
        )
    )
    print(f"wrote {out}")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
