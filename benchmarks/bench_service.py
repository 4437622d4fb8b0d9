"""Service latency and job throughput: our server against a stock PyWPS 4.8 app, in the same run.

Both serve the same eight light processes behind gunicorn with the same settings (2 workers, gthread,
4 threads); requests alternate between the two in rounds so machine noise hits both alike.
Figures: median and p95 latency of GetCapabilities, DescribeProcess, a light sync Execute and the
asynchronous ProcessAccepted answer; jobs completed per second for short asynchronous jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from lxml import etree

from tests.e2e.server import REPO, Server, free_port

WPS = "http://www.opengis.net/wps/1.0.0"
OURS_CONFIG = """
[server]
processes = benchmarks.service_processes:ours
[dask]
workers = 1
dashboard =
[jobs]
max_concurrent = 2
max_queued = 1000
[logging]
level = WARNING
format = text
"""
QUERIES = {
    "GetCapabilities": "service=WPS&request=GetCapabilities",
    "DescribeProcess": "service=WPS&version=1.0.0&request=DescribeProcess&identifier=light_3",
    "Execute (sync)": "service=WPS&version=1.0.0&request=Execute&identifier=light_3&DataInputs=name=bench",
    "Execute (async accept)": "service=WPS&version=1.0.0&request=Execute&identifier=light_3&DataInputs=name=bench"
    "&ResponseDocument=greeting&storeExecuteResponse=true&status=true",
}


class Stock:
    """Stock PyWPS under gunicorn with the same settings as ours."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "STOCK_PYWPS_DIR": str(folder),
            "STOCK_PYWPS_PORT": str(self.port),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--log-level",
                "warning",
                "benchmarks.stock_pywps_app:application",
            ],
            cwd=folder,
            env=env,
            start_new_session=True,
        )
        for _ in range(300):
            try:
                requests.get(f"{self.url}/wps?service=WPS&request=GetCapabilities", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("stock PyWPS did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(30)


def timed(url: str) -> float:
    start = time.perf_counter()
    response = requests.get(url, timeout=60)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return elapsed * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latencies(endpoints: dict[str, str], rounds: int, per_round: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {name: {} for name in QUERIES}
    for name, query in QUERIES.items():
        for server, base in endpoints.items():
            for _ in range(5):
                timed(f"{base}/wps?{query}")  # warm-up
            results[name][server] = []
        for _ in range(rounds):
            for server, base in endpoints.items():
                results[name][server].extend(timed(f"{base}/wps?{query}") for _ in range(per_round))
    return results


def throughput(submit: Callable[[], str], done: Callable[[str], bool], jobs: int) -> float:
    start = time.perf_counter()
    pending = {submit() for _ in range(jobs)}
    while pending:
        pending = {job for job in pending if not done(job)}
        time.sleep(0.05)
    return jobs / (time.perf_counter() - start)


def status_location(base: str) -> str:
    response = requests.get(f"{base}/wps?{QUERIES['Execute (async accept)']}", timeout=60)
    return str(etree.fromstring(response.content).get("statusLocation"))


def finished(document: bytes) -> bool:
    root = etree.fromstring(document)
    status = root.find(f"{{{WPS}}}Status")
    return status is not None and etree.QName(status[0]).localname in {"ProcessSucceeded", "ProcessFailed"}


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-service-"))
    (folder / "ours").mkdir()
    (folder / "stock").mkdir()
    ours = Server(folder / "ours", OURS_CONFIG).start()
    try:
        stock = Stock(folder / "stock")
    except RuntimeError:
        ours.stop()
        raise
    try:
        endpoints = {"ours": ours.url, "stock PyWPS 4.8": stock.url}
        lat = latencies(endpoints, args.rounds, args.per_round)

        def stock_done(location: str) -> bool:
            path = folder / "stock" / "outputs" / location.rsplit("/", 1)[-1]
            try:
                return finished(path.read_bytes())
            except (OSError, etree.XMLSyntaxError):
                return False

        rates = {
            "ours": throughput(
                lambda: status_location(ours.url),
                lambda loc: finished(requests.get(loc, timeout=30).content),
                args.jobs,
            ),
            "stock PyWPS 4.8": throughput(lambda: status_location(stock.url), stock_done, args.jobs),
        }
    finally:
        ours.stop()
        stock.stop()
    table = {
        name: {
            server: {"median_ms": statistics.median(v), "p95_ms": percentile(v, 0.95), "n": len(v)}
            for server, v in by_server.items()
        }
        for name, by_server in lat.items()
    }
    result = {"latency": table, "jobs_per_second": rates}
    print(
        f"{'request':<24}{'ours p50':>10}{'ours p95':>10}{'stock p50':>11}{'stock p95':>11}{'ratio p50':>11}"
    )
    for name, by_server in table.items():
        o, s = by_server["ours"], by_server["stock PyWPS 4.8"]
        print(
            f"{name:<24}{o['median_ms']:>10.1f}{o['p95_ms']:>10.1f}{s['median_ms']:>11.1f}{s['p95_ms']:>11.1f}"
            f"{o['median_ms'] / s['median_ms']:>11.2f}"
        )
    print(
        f"short async jobs completed per second: ours {rates['ours']:.1f}, "
        f"stock {rates['stock PyWPS 4.8']:.1f} (ratio {rates['ours'] / rates['stock PyWPS 4.8']:.2f})"
    )
    out = REPO / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "service.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
