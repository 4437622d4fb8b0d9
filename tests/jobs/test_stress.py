"""30 asynchronous jobs with 50 status updates each, and 100 concurrent GetCapabilities, on both stores."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.e2e.server import Server
from tests.jobs.client import submit, wait
from tests.jobs.test_faults import no_zombies, start, store_of

pytestmark = pytest.mark.slow
JOBS = 30
UPDATES = 50
CAPABILITIES = 100


def hammer(server: Server) -> None:
    def capabilities(_: int) -> int:
        return requests.get(f"{server.url}/wps?service=WPS&request=GetCapabilities", timeout=60).status_code

    def job(_: int) -> str:
        job_id = submit(server, "sleep", f"seconds=1;updates={UPDATES}", "slept")
        final, seen = wait(server, job_id, timeout=300)
        assert final.state == "ProcessSucceeded", final
        percents = [s.percent for s in seen if s.percent is not None]
        assert percents == sorted(percents), "progress went backwards"
        return job_id

    with ThreadPoolExecutor(max_workers=40) as pool:
        jobs = pool.map(job, range(JOBS))
        codes = list(pool.map(capabilities, range(CAPABILITIES)))
        job_ids = list(jobs)
    assert codes == [200] * CAPABILITIES
    store = store_of(server)
    finished = [store.get(j) for j in job_ids]
    assert all(j is not None and j.status.value == "successful" and j.percent == 100 for j in finished)
    no_zombies(server)
    log = server.log.read_text()
    assert "database is locked" not in log
    assert '" 500 ' not in log, "an HTTP 500 was served"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stress(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    database = "" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    server = start(tmp_path / backend, concurrent=8, database=database)
    try:
        hammer(server)
    finally:
        assert server.stop() == 0
