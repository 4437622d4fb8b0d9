"""Fixtures for the S2P domain tests: the test pair, a real Dask cluster, one shared DSM run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import distributed
import pytest
from s2p_testdata import pair_request

from processes.s2p.graph import StereoResult, run_stereo
from processes.s2p.inputs import StereoRequest


@pytest.fixture(scope="session")
def dask_client() -> Iterator[distributed.Client]:
    """A real 2-process LocalCluster (no dashboard: other suites may run beside this one)."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@dataclass
class PairRun:
    """The shared run on s2p's test configuration."""

    request: StereoRequest
    result: StereoResult
    workdir: Path
    progress: list[tuple[float, str]]


@pytest.fixture(scope="session")
def pair_run(dask_client: distributed.Client, tmp_path_factory: pytest.TempPathFactory) -> PairRun:
    """Run the whole graph once on the test pair's ROI (700x700 px, 2x2 tiles, 0.5 m)."""
    workdir = tmp_path_factory.mktemp("pair_job")
    progress: list[tuple[float, str]] = []
    request = pair_request()
    result = run_stereo(request, workdir, dask_client, lambda p, m: progress.append((p, m)), lambda: False)
    return PairRun(request, result, workdir, progress)
