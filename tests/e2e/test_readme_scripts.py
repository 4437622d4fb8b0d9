"""The README's scripts, run as a user runs them from the repository's folder, unchanged but for the
server's address, against a real serve logging JSON: the S2P script gives s2p's reference DSM, the SSA
walkthrough registers its sensors, ingests, queries, predicts and prints the error of a refused request.
Every line the server logs is JSON, and S2P's own output is in the job's log, not the server's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from processes.s2p.evaluation import compare_dsms
from tests.e2e.server import REPO, Server

pytestmark = pytest.mark.slow
README = (REPO / "README.md").read_text()
CONFIG = """
[server]
processes = processes:shipped_processes
data_dir = {folder}/var
[inputs]
data_roots = ./data, {pair}
[dask]
workers = 2
"""


def block(after: str, language: str) -> str:
    """The first ``language`` code block of the README after the text ``after``."""
    return README.split(after, 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("readme")
    running = Server(folder, CONFIG.format(folder=folder, pair=REPO / "tests/data/s2p/pair"))
    yield running.start()
    assert running.stop() == 0


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A folder a user runs the scripts from: the repository's files (its tests/data), and room for
    what the scripts download."""
    (tmp_path / "tests").symlink_to(REPO / "tests")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    return tmp_path


def run_python(script: str, server: Server, folder: Path) -> subprocess.CompletedProcess[str]:
    assert "http://127.0.0.1:5000/wps" in script
    script = script.replace("http://127.0.0.1:5000/wps", f"{server.url}/wps")
    return subprocess.run(
        [sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=600, check=False
    )


def server_log_lines(server: Server) -> list[dict[str, Any]]:
    """Every line the server wrote, each a JSON object (json.loads fails the test otherwise)."""
    return [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]


def test_the_s2p_script_gives_the_reference_dsm(server: Server, repository: Path) -> None:
    result = run_python(block("The test pair, asynchronously, with OWSLib", "python"), server, repository)
    assert result.returncode == 0, result.stdout + result.stderr
    percents = [int(line.split("%")[0]) for line in result.stdout.splitlines() if "%" in line]
    assert percents == sorted(percents) and any(0 < p < 100 for p in percents)
    agreement = compare_dsms(repository / "dsm.tif", REPO / "tests/data/s2p/pair/expected_dsm.tif")
    assert agreement.acceptable, agreement
    assert (repository / "quicklook.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    lines = server_log_lines(server)  # all JSON
    assert not [line for line in lines if "RUN:" in line["message"]], "S2P's output reached the server's log"
    jobs = {line.get("job_id") for line in lines if line.get("process_id") == "s2p_stereo"} - {None}
    (job,) = jobs
    log = requests.get(f"{server.url}/outputs/{job}/log.txt", timeout=30)
    assert (
        log.status_code == 200
        and "RUN:" in log.text
        and "== stereo_matching_tile" in log.text
        and "/var/jobs/" not in log.text
    )


def test_the_ssa_walkthrough_runs_as_written(server: Server, repository: Path) -> None:
    shell = block("A walkthrough, from the repository's folder", "sh")
    env = {"PYWPS_CFG": str(server.config), "PATH": "/usr/bin:/bin"}
    for command in [line.split("#")[0].strip() for line in shell.splitlines() if line.strip()]:
        registered = subprocess.run(
            command.split(),
            cwd=repository,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert registered.returncode == 0, registered.stderr
        assert "2 sensors registered: OGS-TENERIFE, TIRA" in registered.stdout
    result = run_python(block("A walkthrough, from the repository's folder", "python"), server, repository)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    summary, _ = json.JSONDecoder().raw_decode(out)
    assert summary["totals"]["n_orbits"] == 6 and summary["totals"]["n_tracks"] == 2, summary
    assert ",TIRA," in out and f"{server.url}/outputs/" in out, out
    assert 'exceptionCode="InvalidParameterValue" locator="sensor"' in out
    assert "unknown sensor 'OGS-TENERIF'; did you mean OGS-TENERIFE?" in out
    assert "Traceback" not in result.stderr
