"""SSA catalogue: TDM reading and ingest throughput, and query latency, on SQLite and PostgreSQL.

Data: TDM KVN messages made from the 256 real 2026 element sets of the test fixtures
(tests/data/ssa/gpconf/alpha5/), propagated with SGP4 and seen from ESA's OGS site as optical
RA/Dec + magnitude (3 measurements per epoch, one catalogue row). Geometry only: no visibility
filter, so every object is "observed" every 10 s, which is what a throughput test needs.

Measured:
- reading: our ``processes.ssa.tdm.read_tdm`` against ``ccsds-ndm``'s ``NdmIo`` (GPL, installed
  into the virtualenv for this benchmark only; skipped when absent) on the same message;
- ingest: ``processes.ssa.catalogue.ingest`` end to end (hash, parse, rows, one transaction),
  measurements/s and rows/s (wall clock), and measurements per CPU second of the benchmark
  process (for SQLite that is all the work, so it holds on a busy machine), per backend;
- queries: p50/p95 latency of object+window, sensor+window, window only (limit 1000), and a
  1-degree cone over one day, against the ingested catalogue, with planner statistics current
  (``refresh_statistics``, what the job runner's catalogue maintenance does); on PostgreSQL also
  straight after the load, with only the statistics the ingests refreshed themselves
  (``refresh_after_ingest``, called after every message as ``ssa_ingest`` does, and timed with it).

    .venv/bin/python benchmarks/bench_ssa_ingest.py                 # 200,000 rows (600k measurements)
    .venv/bin/python benchmarks/bench_ssa_ingest.py --rows 10000000  # the full run (make bench)

PostgreSQL is used when ``--postgres URL`` or ``WPS_TEST_DATABASE_URL`` is given (its tables
are created in a throw-away schema). Prints a table and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processes.ssa.catalogue import (  # noqa: E402
    Cone,
    create_schema,
    ingest,
    load_sensors,
    make_engine,
    query_observations,
)
from processes.ssa.catalogue.maintenance import refresh_after_ingest, refresh_statistics  # noqa: E402
from processes.ssa.epochs import format_epoch, from_us, to_us  # noqa: E402
from processes.ssa.propagation import PropagationError, geodetic_to_ecef, gmst_rad, propagate_teme  # noqa: E402
from processes.ssa.records import Orbit  # noqa: E402
from processes.ssa.tdm import read_tdm  # noqa: E402
from processes.ssa.tle import read_tle  # noqa: E402

DATA = ROOT / "tests" / "data" / "ssa"
RESULTS_DIR = ROOT / "benchmarks" / "results"
SNAPSHOT = DATA / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"
SITE = geodetic_to_ecef(28.2994, -16.5097, 2.393)  # ESA OGS, Tenerife
STEP_S = 10
OBJECTS_PER_MESSAGE = 100
EPOCHS_PER_SEGMENT = 1000  # one message: 100,000 rows, 300,000 measurements
START = datetime(2026, 9, 21, tzinfo=UTC)


def make_message(orbits: list[Orbit], t0_us: int, epochs: int) -> bytes:
    """One TDM KVN: a RADEC+MAG segment per object over ``epochs`` steps from ``t0_us``."""
    us = t0_us + np.arange(epochs, dtype=np.int64) * STEP_S * 1_000_000
    g = gmst_rad(us)
    site = np.column_stack(
        [
            np.cos(g) * SITE[0] - np.sin(g) * SITE[1],
            np.sin(g) * SITE[0] + np.cos(g) * SITE[1],
            np.full(len(us), SITE[2]),
        ]
    )
    stamps = [format_epoch(from_us(int(u))) for u in us]
    out = [
        "CCSDS_TDM_VERS = 2.0",
        "CREATION_DATE = 2026-10-01T00:00:00",
        f"ORIGINATOR = BENCH-{uuid.uuid4().hex[:8]}",
    ]
    for orbit in orbits:
        r, _ = propagate_teme(orbit, us)
        d = r - site
        rng = np.linalg.norm(d, axis=1)
        ra = np.round(np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 360.0, 7).tolist()
        dec = np.round(np.degrees(np.arcsin(d[:, 2] / rng)), 7).tolist()
        mag = np.round(5.0 + 5.0 * np.log10(rng / 1000.0), 2).tolist()
        out += ["META_START", "TIME_SYSTEM = UTC", "PARTICIPANT_1 = OGS-TENERIFE"]
        out += [f"PARTICIPANT_2 = {orbit.norad_id}", "ANGLE_TYPE = RADEC", "META_STOP", "DATA_START"]
        for e, a, b, m in zip(stamps, ra, dec, mag, strict=True):
            out += [f"ANGLE_1 = {e} {a}", f"ANGLE_2 = {e} {b}", f"MAG = {e} {m}"]
        out.append("DATA_STOP")
    return ("\n".join(out) + "\n").encode()


def usable(orbits: list[Orbit], rows: int) -> list[Orbit]:
    """The element sets SGP4 propagates without error (no decay) over the whole benchmark span."""
    blocks = rows // (OBJECTS_PER_MESSAGE * EPOCHS_PER_SEGMENT) + 1
    span_us = blocks * EPOCHS_PER_SEGMENT * STEP_S * 1_000_000
    probe = to_us(START) + np.linspace(0, span_us, 64).astype(np.int64)
    keep = []
    for orbit in orbits:
        try:
            propagate_teme(orbit, probe)
        except PropagationError:
            continue
        keep.append(orbit)
    return keep


def messages(orbits: list[Orbit], rows: int) -> Iterator[tuple[int, bytes]]:
    """Messages of up to 100,000 rows, each a later time block, cycling through the objects."""
    made, k = 0, 0
    while made < rows:
        group = [orbits[(k * OBJECTS_PER_MESSAGE + i) % len(orbits)] for i in range(OBJECTS_PER_MESSAGE)]
        epochs = min(EPOCHS_PER_SEGMENT, max(1, (rows - made) // len(group)))
        t0 = to_us(START) + k * EPOCHS_PER_SEGMENT * STEP_S * 1_000_000
        yield k, make_message(group, t0, epochs)
        made += epochs * len(group)
        k += 1


def bench_readers(large: bytes, small: bytes) -> dict[str, Any]:
    """Our reader on a large and a small message; ccsds-ndm on the small one (it is slow)."""

    def ours(data: bytes) -> tuple[int, float]:
        t = time.perf_counter()
        n = sum(len(s) for s in read_tdm(data).segments)
        return n, n / (time.perf_counter() - t)

    n_large, rate_large = ours(large)
    n_small, rate_small = ours(small)
    result: dict[str, Any] = {
        "large_measurements": n_large,
        "ours_large_per_s": round(rate_large),
        "small_measurements": n_small,
        "ours_small_per_s": round(rate_small),
    }
    try:
        from ccsds_ndm.ndm_io import NdmIo
    except ImportError:
        result["ccsds_ndm_small_per_s"] = None
        return result
    with tempfile.NamedTemporaryFile(suffix=".kvn") as f:
        f.write(small)
        f.flush()
        t = time.perf_counter()
        tdm = NdmIo().from_path(f.name)
        theirs = sum(len(s.data.observation) for s in tdm.body.segment) / (time.perf_counter() - t)
    result["ccsds_ndm_small_per_s"] = round(theirs)
    result["speedup_small"] = round(rate_small / theirs, 1)
    return result


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def bench_queries(engine: sa.Engine, span: timedelta, norads: list[int], repeats: int) -> dict[str, Any]:
    rnd = random.Random(7)
    with engine.connect() as conn:
        sample = conn.execute(
            sa.text(
                "SELECT angle_1, angle_2, epoch_us FROM ssa_observations WHERE sky_cell IS NOT NULL LIMIT 2000"
            )
        ).all()

    def window(length: timedelta) -> tuple[datetime, datetime]:
        start = START + rnd.random() * max(span - length, timedelta(0))
        return start, start + length

    def object_window() -> int:
        a, b = window(timedelta(hours=1))
        return len(query_observations(engine, a, b, norad_id=rnd.choice(norads), limit=1000).rows)

    def sensor_window() -> int:
        a, b = window(timedelta(minutes=10))
        return len(query_observations(engine, a, b, sensor="OGS-TENERIFE", limit=1000).rows)

    def object_week() -> int:
        a, b = window(timedelta(days=7))
        return len(query_observations(engine, a, b, norad_id=rnd.choice(norads), limit=1000).rows)

    def sensor_hour() -> int:
        a, b = window(timedelta(hours=1))
        return len(query_observations(engine, a, b, sensor="OGS-TENERIFE", limit=1000).rows)

    def time_window() -> int:
        a, b = window(timedelta(minutes=10))
        return len(query_observations(engine, a, b, limit=1000).rows)

    def cone() -> int:
        ra, dec, us = rnd.choice(sample)
        a = from_us(us) - timedelta(hours=12)
        return len(
            query_observations(engine, a, a + timedelta(days=1), cone=Cone(ra, dec, 1.0), limit=1000).rows
        )

    out: dict[str, Any] = {}
    cases: dict[str, Callable[[], int]] = {
        "object_1h": object_window,
        "object_7d": object_week,
        "sensor_10min": sensor_window,
        "sensor_1h": sensor_hour,
        "window_10min": time_window,
        "cone_1deg_1day": cone,
    }
    for name, run in cases.items():
        run()  # warm
        times, found = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            found.append(run())
            times.append(time.perf_counter() - t)
        out[name] = {**percentiles(times), "mean_rows": round(statistics.mean(found), 1)}
    return out


def run_backend(name: str, url: str, orbits: list[Orbit], rows: int, repeats: int) -> dict[str, Any]:
    engine = make_engine(url)
    create_schema(engine)
    load_sensors(engine, DATA / "tdm" / "sensors.yaml")
    ingest(engine, SNAPSHOT.read_bytes(), SNAPSHOT.name, "celestrak")
    totals = {"measurements": 0, "rows": 0, "seconds": 0.0, "cpu_seconds": 0.0}
    rates = []
    for k, message in messages(orbits, rows):
        t, c = time.perf_counter(), time.process_time()
        summary = ingest(engine, message, f"bench-{k}.kvn", "bench")
        refresh_after_ingest(engine, [summary])  # as ssa_ingest and `catalogue ingest` do
        dt, dc = time.perf_counter() - t, time.process_time() - c
        totals["measurements"] += summary.n_observations
        totals["rows"] += summary.n_rows
        totals["seconds"] += dt
        totals["cpu_seconds"] += dc
        rates.append(summary.n_observations / dt)
        print(
            f"  {name}: message {k}: {summary.n_observations / dt:,.0f} measurements/s wall, "
            f"{summary.n_observations / dc:,.0f} per CPU second of this process",
            file=sys.stderr,
        )
    span = timedelta(seconds=STEP_S * EPOCHS_PER_SEGMENT * (k + 1))
    norads = sorted({o.norad_id or 0 for o in orbits})
    before: dict[str, Any] | None = None
    if engine.dialect.name == "postgresql":
        # Straight after the load: statistics from the ingests' own ANALYZE (the early messages
        # grew the table by more than a tenth), not yet the runner's periodic maintenance.
        before = bench_queries(engine, span, norads, repeats)
    t = time.perf_counter()
    analyzed = refresh_statistics(engine)
    analyze_seconds = time.perf_counter() - t
    result = {
        "measurements": totals["measurements"],
        "rows": totals["rows"],
        "ingest_seconds": round(totals["seconds"], 2),
        "measurements_per_s": round(totals["measurements"] / totals["seconds"]),
        "rows_per_s": round(totals["rows"] / totals["seconds"]),
        # In-process CPU only: all of SQLite's work, but not the PostgreSQL server's.
        "measurements_per_cpu_s": round(totals["measurements"] / totals["cpu_seconds"]),
        "load_average": os.getloadavg()[0],
        "slowest_message_measurements_per_s": round(min(rates)),
        "analyzed": analyzed,
        "analyze_seconds": round(analyze_seconds, 2),
        "queries": bench_queries(engine, span, norads, repeats),
    }
    if before is not None:
        result["queries_after_load"] = before
    engine.dispose()
    return result


def postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    admin = make_engine(url)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}", drop


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=200_000, help="catalogue rows to ingest (3 measurements each)"
    )
    parser.add_argument(
        "--postgres", default=os.environ.get("WPS_TEST_DATABASE_URL", ""), help="PostgreSQL URL"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--repeats", type=int, default=200, help="runs per query kind")
    parser.add_argument(
        "--reader-sample", type=int, default=3000, help="measurements read by both TDM readers"
    )
    args = parser.parse_args(argv)
    orbits = usable(read_tle(SNAPSHOT.read_text()), args.rows)
    report: dict[str, Any] = {
        "benchmark": "ssa_ingest",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "rows_requested": args.rows,
        "objects": len(orbits),
    }
    per_object = max(1, args.reader_sample // 3 // 3)
    report["readers"] = bench_readers(
        make_message(orbits[:OBJECTS_PER_MESSAGE], to_us(START), EPOCHS_PER_SEGMENT),
        make_message(orbits[:3], to_us(START), per_object),
    )
    backends: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            backends["sqlite"] = run_backend(
                "sqlite", f"sqlite:///{tmp}/bench.sqlite", orbits, args.rows, args.repeats
            )
    if args.postgres:
        url, drop = postgres_schema(args.postgres)
        try:
            backends["postgresql"] = run_backend("postgresql", url, orbits, args.rows, args.repeats)
        finally:
            drop()
    report["backends"] = backends
    print_table(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"ssa_ingest_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwritten {out.relative_to(ROOT)}")
    return report


def print_table(report: dict[str, Any]) -> None:
    r = report["readers"]
    print("\nTDM reading (KVN, measurements/s)")
    print(f"  processes.ssa.tdm   {r['ours_large_per_s']:>12,}   ({r['large_measurements']:,} measurements)")
    print(f"  processes.ssa.tdm   {r['ours_small_per_s']:>12,}   ({r['small_measurements']:,} measurements)")
    if r.get("ccsds_ndm_small_per_s"):
        print(
            f"  ccsds-ndm NdmIo     {r['ccsds_ndm_small_per_s']:>12,}   ({r['small_measurements']:,} measurements;"
            f" ours x{r['speedup_small']})"
        )
    else:
        print("  ccsds-ndm           not installed")
    print("\nIngest (parse + rows + one transaction per message)")
    print(
        f"  {'backend':<11} {'rows':>11} {'measurem.':>11} {'meas./s':>10} {'rows/s':>9} "
        f"{'slowest msg':>12} {'meas./CPU s':>12} {'load':>5}"
    )
    for name, b in report["backends"].items():
        print(
            f"  {name:<11} {b['rows']:>11,} {b['measurements']:>11,} {b['measurements_per_s']:>10,} "
            f"{b['rows_per_s']:>9,} {b['slowest_message_measurements_per_s']:>12,} "
            f"{b['measurements_per_cpu_s']:>12,} {b['load_average']:>5.1f}"
        )
    for key, title in (
        ("queries", "Query latency (ms), planner statistics current"),
        (
            "queries_after_load",
            "Query latency (ms) straight after the load, before the periodic ANALYZE (PostgreSQL)",
        ),
    ):
        print(f"\n{title}")
        print(f"  {'backend':<11} {'query':<16} {'p50':>8} {'p95':>8} {'max':>8} {'rows':>7}")
        for name, b in report["backends"].items():
            for q, v in b.get(key, {}).items():
                print(
                    f"  {name:<11} {q:<16} {v['p50_ms']:>8} {v['p95_ms']:>8} {v['max_ms']:>8} {v['mean_rows']:>7}"
                )


if __name__ == "__main__":
    main()
