"""Every command of the README's command table, run as a user would in an empty folder, against an
unreachable database, and with a missing job: one line that says what to do, a non-zero exit, no
traceback, and nothing created."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.cost import CostReport, WorkerBill
from tests.e2e.server import REPO, free_port
from wps_server.database import make_engine
from wps_server.jobs.model import Job, Status
from wps_server.jobs.store import JobStore
from wps_server.operations import Execute

README = REPO / "README.md"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DONE = "5ccef000-0000-4000-8000-000000000001"  # successful, with a measured cost
TWINS = ["abcd0000-0000-4000-8000-000000000002", "abcd0000-0000-4000-8000-000000000003"]  # one failed
UNREACHABLE = "postgresql://nobody@127.0.0.1:9/nowhere"  # the discard port: nothing listens
ANY_FILE = REPO / "tests" / "data" / "ssa" / "tdm" / "optical_radec.kvn"
SENSOR = ["--kind", "optical", "--lat", "28.3", "--lon", "-16.5", "--height", "2390"]
TIME = ["--start", "2026-09-20T00:00:00Z", "--end", "2026-09-21T00:00:00Z"]

# the arguments each command gets; a command of the README without a line here fails the first test
ARGUMENTS: dict[str, list[str]] = {
    "serve": ["--workers", "0"],  # a bad argument: an empty folder would otherwise just serve
    "runner": [],
    "migrate": [],
    "jobs list": ["--status", "running"],
    "jobs show": ["0a1b2c3d"],
    "jobs dismiss": ["0a1b2c3d"],
    "jobs cost": [],
    "calibrate": [str(ANY_FILE), str(ANY_FILE)],
    "catalogue ingest": [str(ANY_FILE)],
    "catalogue query objects": ["--id", "25544"],
    "catalogue query orbits": ["--id", "25544"],
    "catalogue query observations": TIME,
    "catalogue stats": [],
    "catalogue sensors add": ["OGS", *SENSOR],
    "catalogue sensors list": [],
    "catalogue sensors load": [str(ANY_FILE)],
    "users add": ["bad name!", "--password-stdin"],
    "users list": [],
    "users disable": ["nobody"],
    "users passwd": ["nobody", "--password-stdin"],
    "users budget": ["nobody", "5", "EUR"],
}
# the users file, not the job store: these refuse their bad arguments (users list has none) and create nothing
USERS_MESSAGES = {
    "users add": "user name 'bad name!' is not valid",
    "users list": "no user yet",
    "users disable": "there is no user 'nobody'",
    "users passwd": "there is no user 'nobody'",
    "users budget": "there is no user 'nobody'",
}


def readme_commands() -> list[str]:
    """The commands of the README's table (``catalogue query objects|orbits|...`` counts three)."""
    table = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    found: list[str] = []
    for row in re.findall(r"^\| (`.*?) \|", table, flags=re.MULTILINE):
        group = ""
        for chunk in re.findall(r"`([^`]+)`", row):
            words = chunk.replace("\\|", "|").split()
            words = words[1:] if words[0] == "wps-server" else [group, *words]
            command = list(itertools.takewhile(lambda w: re.fullmatch(r"[a-z|]+", w), words))
            group = command[0]
            head, last = command[:-1], command[-1]
            found += [" ".join([*head, alternative]) for alternative in last.split("|")]
    return found


def run(
    folder: Path,
    command: str,
    database: str | None = None,
    arguments: list[str] | None = None,
    settings: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``command`` run in ``folder`` with its ARGUMENTS (or ``arguments``) and WPS_* ``settings``."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": str(folder), **(settings or {})}
    if database:
        env["WPS_DATABASE_URL"] = database
    given = ARGUMENTS[command] if arguments is None else arguments
    return subprocess.run(
        [sys.executable, "-m", "wps_server.cli", *command.split(), *given],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *wanted: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(("Error: ", "Usage: ")) or "Error:" in message, result.stderr
    for text in wanted:
        assert text in result.stderr, result.stderr


def test_the_table_is_the_cli() -> None:
    assert sorted(readme_commands()) == sorted(ARGUMENTS)


@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_in_an_empty_folder(tmp_path: Path, command: str) -> None:
    if command == "migrate":  # its job is to create the store: it gets the unreachable one instead
        result = run(tmp_path, command, UNREACHABLE)
        assert_one_clear_line(result, "cannot reach the database postgresql://nobody@127.0.0.1:9/nowhere")
    else:
        result = run(tmp_path, command)
        if command == "serve":
            assert_one_clear_line(result, "--workers")
        elif command == "users list":
            assert result.returncode == 0 and USERS_MESSAGES[command] in result.stderr
        elif command in USERS_MESSAGES:
            assert_one_clear_line(result, USERS_MESSAGES[command])
        elif command == "calibrate":
            assert_one_clear_line(result)  # not GeoTIFFs with RPCs: refused before any store is read
        else:
            assert_one_clear_line(result, "there is no job store at", "run `wps-server migrate`")
    assert list(tmp_path.iterdir()) == [], "the command created files"


@pytest.mark.parametrize("command", sorted(c for c in ARGUMENTS if c not in {"calibrate", *USERS_MESSAGES}))
def test_against_an_unreachable_database(tmp_path: Path, command: str) -> None:
    arguments = ["--port", str(free_port())] if command == "serve" else None  # serve reaches the database
    result = run(tmp_path, command, UNREACHABLE, arguments)
    assert_one_clear_line(result, "cannot reach the database", "[database] url")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("storage", ["in the data folder", "elsewhere"])
def test_serve_with_a_data_folder_it_cannot_make(tmp_path: Path, storage: str) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    settings = {"WPS_SERVER_DATA_DIR": str(tmp_path / "file" / "var")}
    if storage == "elsewhere":  # then the jobs' storage check passes, and making the data folder fails
        settings["WPS_JOBS_STORAGE"] = str(tmp_path / "storage")
    result = run(tmp_path, "serve", arguments=["--port", str(free_port())], settings=settings)
    assert_one_clear_line(result, f"[server] data_dir {tmp_path / 'file' / 'var'}", "cannot")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_migrate_with_a_database_folder_it_cannot_make(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    result = run(tmp_path, "migrate", f"sqlite:///{tmp_path / 'file' / 'db' / 'jobs.sqlite'}")
    assert_one_clear_line(result, "cannot create the database sqlite:///", "[database] url")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.parametrize("command", ["jobs show", "jobs dismiss", "jobs cost"])
def test_a_missing_job_or_a_bad_id(tmp_path: Path, command: str) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    missing = run(tmp_path, command, arguments=["0a1b2c3d"])
    assert_one_clear_line(missing, "there is no job 0a1b2c3d", "jobs list")
    bad = subprocess.run(
        [sys.executable, "-m", "wps_server.cli", *command.split(), "../etc"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "is not a job id" in bad.stderr and "Traceback" not in bad.stderr


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A folder whose default store holds a successful job with its cost, a failed and a queued one."""
    assert run(tmp_path, "migrate").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'jobs.sqlite'}")
    store = JobStore(engine)
    for job_id in [DONE, *TWINS]:
        store.create(Job(job_id, "hello", Execute("hello", "1.0.0")))
    store.finish(DONE, Status.SUCCESSFUL, "done")
    store.finish(TWINS[0], Status.FAILED, "it broke")
    bill = WorkerBill("tcp://10.0.0.5:4000", 1_790_000_000.0, 1_790_000_090.5, 2, 90.5, 120, 150.0)
    report = CostReport(
        job_id=DONE,
        profile="aws",
        kind="ec2",
        shared=False,
        priced=True,
        currency="EUR",
        price_per_worker_hour=0.2,
        price_as_of="2026-01-01",
        wall_seconds=100.0,
        boot_seconds=9.5,
        workers=(bill,),
        raw_worker_seconds=90.5,
        billed_worker_seconds=120,
        billed_thread_seconds=240,
        scheduler_billed_seconds=0,
        busy_task_seconds=150.0,
        tasks=12,
        failed_tasks=0,
        efficiency=0.625,
        worker_cost=0.00667,
        scheduler_cost=0.0,
        cost=0.00667,
    )
    store.record_cost(DONE, report.to_dict())
    engine.dispose()
    return tmp_path


def test_jobs_show_takes_a_prefix_and_shows_the_cost_and_iso_times(seeded: Path) -> None:
    result = run(seeded, "jobs show", arguments=["5CCEF"])
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert (job["id"], job["status"], job["message"]) == (DONE, "successful", "done")
    assert ISO_UTC.match(job["created"]) and ISO_UTC.match(job["finished"])
    assert job["cost"]["billed_worker_seconds"] == 120 and job["cost"]["currency"] == "EUR"
    assert job["cost"]["workers"][0]["start"] == "2026-09-21T14:13:20.000Z"


def test_jobs_cost_of_one_job_and_of_all(seeded: Path) -> None:
    one = run(seeded, "jobs cost", arguments=[DONE[:8]])
    assert one.returncode == 0, one.stderr
    bill = json.loads(one.stdout)
    assert bill["job_id"] == DONE and bill["efficiency"] == 0.625
    assert bill["workers"][0]["end"] == "2026-09-21T14:14:50.500Z"
    table = run(seeded, "jobs cost").stdout.splitlines()
    assert len(table) == 2 and table[1].split()[:3] == [DONE, "hello", "-"] and "0.0067 EUR" in table[1]
    unpriced = run(seeded, "jobs cost", arguments=[TWINS[0]])
    assert_one_clear_line(unpriced, f"job {TWINS[0]} (failed) has no measured cost")


def test_an_ambiguous_prefix_asks_for_more(seeded: Path) -> None:
    for command in ["jobs show", "jobs cost", "jobs dismiss"]:
        result = run(seeded, command, arguments=["abcd0000"])
        assert_one_clear_line(result, "abcd0000 is the start of several jobs", "give more characters")


def test_jobs_list_filters_by_the_services_state_words(seeded: Path) -> None:
    result = run(seeded, "jobs list", arguments=["--status", "successful"])
    assert result.returncode == 0, result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [[DONE, "successful"]]
    assert len(run(seeded, "jobs list", arguments=[]).stdout.splitlines()) == 3
    refused = run(seeded, "jobs list", arguments=["--status", "succeeded"])
    assert refused.returncode == 2 and "'succeeded' is not one of" in refused.stderr


@pytest.mark.parametrize("command", ["jobs list", "jobs show", "jobs cost", "jobs dismiss"])
def test_a_database_without_tables_asks_for_migrate_and_stays_as_it_was(tmp_path: Path, command: str) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "jobs.sqlite").write_bytes(b"")  # exists, but nothing migrated it
    result = run(tmp_path, command)
    assert_one_clear_line(result, "has no tables yet", "run `wps-server migrate`")
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["jobs.sqlite"]  # no -wal nor -shm
    assert (tmp_path / "var" / "jobs.sqlite").stat().st_size == 0
