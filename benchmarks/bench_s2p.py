"""Native `s2p config.json` against `s2p_stereo` through our server, on a local cluster of the same cores.

For each case (the test ROI, the whole 1024x1024 image) and each run, both are run in
alternating order. Native s2p runs with its own multiprocessing pool; ours is a real
`wps-server serve` (Dask scheduler and one single-threaded worker per core, job runner,
gunicorn, SQLite job store) that OWSLib drives as a user would: an asynchronous Execute with
the images by reference, status polled every 0.25 s until it succeeds; then the DSM is
downloaded. Measured: wall time (ours: from the Execute request to the success status),
CPU seconds of the whole process tree (native: s2p and its pool; ours: every process the
server runs, s2p's C tools included), so CPU efficiency = CPU / (wall x cores); peak RSS
per worker process (with the C tools it runs); DSM agreement (s2p's acceptance thresholds,
ours against native and, for the test ROI, against s2p's expected DSM). Besides the wall-time ratio of
each pair of runs, its value at equal CPU-seconds (the ratio times native CPU / ours CPU, which is
native's CPU efficiency over ours): both run the same C code, so this cancels the speed drift of a
shared machine between the two runs of a pair and keeps what the scheduling gains.

The server is started once and warmed with one small job, as a service would be; its
start-up and warm-up times are reported apart. Prints a table and writes JSON to
benchmarks/results/.

    .venv/bin/python -m benchmarks.bench_s2p --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import distributed
import psutil
import requests
from owslib.wps import ASYNC, ComplexDataInput, WebProcessingService

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processes.s2p.evaluation import compare_dsms  # noqa: E402
from processes.s2p.s2p_state import s2p_version  # noqa: E402
from tests.e2e.server import Server  # noqa: E402

PAIR_DIR = ROOT / "tests" / "data" / "s2p" / "pair"
RESULTS_DIR = ROOT / "benchmarks" / "results"
CASES = {"test_roi": "150,150,700,700", "full_image": "0,0,1024,1024"}
REQUEST_KEYS = {"images", "roi", "tile_size", "dsm_resolution", "out_dir"}


class TreeSampler:
    """Samples the RSS of given process trees every 250 ms; keeps each root's peak (root + descendants)."""

    def __init__(self, roots: Callable[[], Iterable[int]]) -> None:
        self.roots = roots
        self.peaks: dict[int, int] = {}
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss(pid: int) -> int:
        try:
            proc = psutil.Process(pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            return total
        except psutil.Error:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            sample = {pid: self._tree_rss(pid) for pid in self.roots()}
            for pid, rss in sample.items():
                self.peaks[pid] = max(self.peaks.get(pid, 0), rss)
            self.peak_total = max(self.peak_total, sum(sample.values()))

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_of(pids: Iterable[int]) -> float:
    """User + system CPU seconds of processes and their waited-for children."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def _measures(wall: float, cpu: float, cores: int, sampler: TreeSampler) -> dict[str, float]:
    """Wall, CPU, CPU efficiency and peak memory of one run, as both sides report them."""
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "cpu_efficiency": cpu / (wall * cores),
        "peak_rss_per_worker_mb": max(sampler.peaks.values(), default=0) / 2**20,
        "peak_rss_total_mb": sampler.peak_total / 2**20,
    }


def native_config(roi: str, out_dir: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((PAIR_DIR / "s2p_config.json").read_text())
    for image in config["images"]:
        image["img"] = str(PAIR_DIR / image["img"])
    x, y, w, h = (int(v) for v in roi.split(","))
    config["roi"] = {"x": x, "y": y, "w": w, "h": h}
    config["out_dir"] = str(out_dir)
    return config


def run_native(roi: str, workdir: Path, cores: int) -> dict[str, Any]:
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(native_config(roi, workdir / "out")))
    cli = Path(sys.executable).with_name("s2p")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(workdir / "native.log", "w") as log:
        proc = subprocess.Popen(
            [str(cli), str(config_path)], cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
        with TreeSampler(
            lambda: [c.pid for c in psutil.Process(proc.pid).children()] or [proc.pid]
        ) as sampler:
            proc.wait()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"native s2p failed, see {workdir / 'native.log'}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**_measures(wall, cpu, cores, sampler), "dsm": str(workdir / "out" / "dsm.tif")}


SERVER_CONFIG = """
[server]
processes = processes:shipped_processes
[inputs]
data_roots = {pair}
[dask]
workers = {cores}
threads_per_worker = 1
dashboard =
[jobs]
max_concurrent = 1
[logging]
level = WARNING
format = text
"""
IMAGE_MIME = "image/tiff; application=geotiff"
POLL_SECONDS = 0.25


class ServedS2P:
    """A real `wps-server serve` (Dask scheduler and `cores` single-threaded workers, job runner,
    gunicorn) that runs `s2p_stereo` on the test pair; OWSLib is the client."""

    def __init__(self, folder: Path, cores: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.server = Server(folder, SERVER_CONFIG.format(pair=PAIR_DIR, cores=cores)).start()
        scheduler_file = folder / "var" / "dask" / "scheduler.json"
        with distributed.Client(scheduler_file=str(scheduler_file)) as client:
            self.worker_pids = list(client.run(os.getpid).values())
        self.wps = WebProcessingService(f"{self.server.url}/wps", skip_caps=True)

    def tree(self) -> list[int]:
        """The server and every process it runs (supervisor, scheduler, workers, runner, gunicorn)."""
        assert self.server.process is not None
        return [self.server.process.pid, *(p.pid for p in self.server.descendants())]

    def run(self, roi: str, workdir: Path, cores: int) -> dict[str, Any]:
        config = json.loads((PAIR_DIR / "s2p_config.json").read_text())
        options = {k: v for k, v in config.items() if k not in REQUEST_KEYS}
        inputs: list[tuple[str, Any]] = [
            ("images", ComplexDataInput(f"file://{PAIR_DIR / i['img']}", mimeType=IMAGE_MIME))
            for i in config["images"]
        ]
        inputs += [
            ("roi_pixels", roi),
            ("tile_size", str(config["tile_size"])),
            ("dsm_resolution", str(config["dsm_resolution"])),
            ("s2p_options", json.dumps(options)),
        ]
        tree = self.tree()
        cpu_before = _cpu_of(tree)
        started = time.perf_counter()
        with TreeSampler(lambda: self.worker_pids) as sampler:
            execution = self.wps.execute(
                "s2p_stereo", inputs, output=[("dsm", True), ("report", True)], mode=ASYNC
            )
            while not execution.isComplete():
                time.sleep(POLL_SECONDS)
                execution.checkStatus(sleepSecs=0)
        wall = time.perf_counter() - started
        cpu = _cpu_of(tree) - cpu_before
        if not execution.isSucceded():
            raise RuntimeError(f"s2p_stereo failed: {[e.text for e in execution.errors]}")
        references = {o.identifier: o.reference for o in execution.processOutputs}
        dsm = workdir / "dsm.tif"
        dsm.write_bytes(requests.get(references["dsm"], timeout=120).content)
        report = requests.get(references["report"], timeout=60).json()
        return {
            **_measures(wall, cpu, cores, sampler),
            "graph_wall_seconds": report["job"]["wall_seconds"],
            "worker_seconds_in_steps": report["tasks"]["worker_seconds"],
            "retries": report["tasks"]["retries"],
            "stages": report["stages"],
            "dsm": str(dsm),
        }

    def stop(self) -> None:
        self.server.stop()


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
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    scratch = Path(tempfile.mkdtemp(prefix="bench_s2p-"))

    t0 = time.perf_counter()
    served = ServedS2P(scratch / "server", args.cores)
    server_start = time.perf_counter() - t0
    t0 = time.perf_counter()
    (scratch / "warmup").mkdir()
    served.run("400,400,200,200", scratch / "warmup", args.cores)
    warmup = time.perf_counter() - t0

    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
    try:
        for r in range(args.runs):
            for case in cases:
                roi = CASES[case]
                order = ["native", "ours"] if r % 2 == 0 else ["ours", "native"]
                record: dict[str, Any] = {"run": r, "order": order}
                for method in order:
                    workdir = scratch / f"{case}-{r}-{method}"
                    workdir.mkdir()
                    if method == "native":
                        record[method] = run_native(roi, workdir, args.cores)
                    else:
                        record[method] = served.run(roi, workdir, args.cores)
                    print(f"{case} run {r} {method}: {record[method]['wall_seconds']:.1f} s", flush=True)
                agreement = compare_dsms(Path(record["ours"]["dsm"]), Path(record["native"]["dsm"]))
                record["ours_vs_native"] = agreement.to_json_dict()
                if case == "test_roi":
                    expected = PAIR_DIR / "expected_dsm.tif"
                    record["ours_vs_expected"] = compare_dsms(
                        Path(record["ours"]["dsm"]), expected
                    ).to_json_dict()
                    record["native_vs_expected"] = compare_dsms(
                        Path(record["native"]["dsm"]), expected
                    ).to_json_dict()
                record["wall_ratio"] = record["ours"]["wall_seconds"] / record["native"]["wall_seconds"]
                # the same ratio as if both had run on a machine of the same speed: this VM's speed
                # drifts between runs, and CPU-seconds of the same work drift with it
                record["wall_ratio_at_equal_cpu"] = (
                    record["wall_ratio"] * record["native"]["cpu_seconds"] / record["ours"]["cpu_seconds"]
                )
                runs[case].append(record)
    finally:
        served.stop()

    summary: dict[str, Any] = {}
    print()
    header = (
        f"{'case':<11} {'method':<7} {'wall s (med/min/max)':<22} {'CPU eff':>8} {'peak RSS/worker MB':>19}"
    )
    print(header)
    print("-" * len(header))
    for case, records in runs.items():
        summary[case] = {
            "wall_ratio": summarise([r["wall_ratio"] for r in records]),
            "wall_ratio_at_equal_cpu": summarise([r["wall_ratio_at_equal_cpu"] for r in records]),
        }
        for method in ("native", "ours"):
            wall = summarise([r[method]["wall_seconds"] for r in records])
            eff = statistics.median(r[method]["cpu_efficiency"] for r in records)
            rss = max(r[method]["peak_rss_per_worker_mb"] for r in records)
            summary[case][method] = {
                "wall_seconds": wall,
                "cpu_efficiency_median": eff,
                "peak_rss_per_worker_mb": rss,
            }
            walls = f"{wall['median']:.1f}/{wall['min']:.1f}/{wall['max']:.1f}"
            print(f"{case:<11} {method:<7} {walls:<22} {eff:>8.0%} {rss:>19.0f}")
        ratio, normalised = summary[case]["wall_ratio"], summary[case]["wall_ratio_at_equal_cpu"]
        strict = all(r["ours_vs_native"]["acceptable"] for r in records)
        overlap = all(r["ours_vs_native"]["acceptable_on_overlap"] for r in records)
        summary[case]["dsm_agreement_all_acceptable"] = strict
        summary[case]["dsm_agreement_all_acceptable_on_overlap"] = overlap
        print(
            f"{case:<11} ratio   ours/native median {ratio['median']:.3f} (min {ratio['min']:.3f}, "
            f"max {ratio['max']:.3f}); at equal CPU-seconds {normalised['median']:.3f} "
            f"({normalised['min']:.3f} to {normalised['max']:.3f}); DSMs agree: strict {strict}, "
            f"on the common grid {overlap}"
        )
    print(f"\nserver start {server_start:.1f} s, warm-up job {warmup:.1f} s (not in the figures above)")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"bench_s2p-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "machine": {
                    "cores": args.cores,
                    "cpu_count": os.cpu_count(),
                    "load_average_at_end": os.getloadavg(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                },
                "s2p": s2p_version(),
                "server_start_seconds": server_start,
                "warmup_seconds": warmup,
                "summary": summary,
                "runs": runs,
            },
            indent=1,
        )
    )
    print(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
