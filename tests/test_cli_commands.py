"""Every command of the README's command table, run as a user would in an empty folder, against an
unreachable database, and with a missing job: one line that says what to do, a non-zero exit, no
traceback, and nothing created."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import REPO, free_port

README = REPO / "README.md"
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
    missing = run(tmp_path, command if command != "jobs cost" else "jobs show")
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
