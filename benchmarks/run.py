"""`make bench`: every benchmark, one after the other, each printing its table and writing JSON
under benchmarks/results/. Pass names to run only some: python -m benchmarks.run service s2p.

PostgreSQL figures are taken against $WPS_TEST_DATABASE_URL, else against the local test server when
it answers (as `make test` does); without either, the benchmarks that take it run on SQLite only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TEST_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
BENCHMARKS = {
    "service": ["benchmarks.bench_service"],
    # issue 4: native `s2p config.json` beside our task graph, test ROI and whole image, 3 runs each
    "s2p": ["benchmarks.bench_s2p", "--runs", "5"],
    # issue 6: 10 million observation rows ingested, then queried, on SQLite and PostgreSQL
    "ssa_ingest": ["benchmarks.bench_ssa_ingest", "--rows", "10000000"],
    # issue 6: 20,000 objects over one site and one day, ours (fastest of 3) on 2 workers beside skyfield
    "passes": ["benchmarks.bench_passes", "--objects", "20000", "--workers", "2", "--repeat", "3"],
    # issue 13: the graph with its job folder on an object store against a shared folder, same workers
    "s2p_storage": ["benchmarks.bench_s2p_storage", "--runs", "3"],
    # issue 14: predicted against measured wall time and bill of s2p_stereo jobs of 1, 4 and 9 tiles
    "estimate": ["benchmarks.bench_estimate", "--rounds", "4"],
}


def environment() -> dict[str, str]:
    """The environment of each benchmark, with the PostgreSQL URL when a server answers."""
    env = dict(os.environ)
    if not env.get("WPS_TEST_DATABASE_URL"):
        try:
            import psycopg

            psycopg.connect(TEST_DATABASE, connect_timeout=3).close()
            env["WPS_TEST_DATABASE_URL"] = TEST_DATABASE
        except Exception as exc:  # any failure only means: no PostgreSQL figures
            print(f"PostgreSQL at {TEST_DATABASE} does not answer ({exc}); SQLite only", flush=True)
    return env


def main(names: list[str]) -> int:
    chosen = names or list(BENCHMARKS)
    env = environment()
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        command = [sys.executable, "-m", *BENCHMARKS[name]]
        if subprocess.run(command, cwd=Path(__file__).parents[1], env=env).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
