"""`make bench`: every benchmark, one after the other, each printing its table and writing JSON
under benchmarks/results/. Pass names to run only some: python -m benchmarks.run service s2p."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = {
    "service": ["benchmarks.bench_service"],
}


def main(names: list[str]) -> int:
    chosen = names or list(BENCHMARKS)
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", *BENCHMARKS[name]], cwd=Path(__file__).parents[1]).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
