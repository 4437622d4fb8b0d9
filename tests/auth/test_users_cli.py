"""`wps-server users ...` as an operator runs it: passwords from a prompt or standard input only, the
file written whole with mode 0600, and every bad input answered with one line saying what to change."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import REPO
from wps_server.users import UsersFile, verify_password


def wps(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "wps_server.cli", "--config", str(config), "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "server.cfg"
    path.write_text(f"[server]\ndata_dir = {tmp_path / 'var'}\n")
    return path


def test_add_list_disable_passwd_budget(config: Path, tmp_path: Path) -> None:
    added = wps(
        config,
        "add",
        "alice",
        "--role",
        "s2p",
        "--group",
        "team",
        "--password-stdin",
        stdin="a-long-secret\n",
    )
    assert added.returncode == 0, added.stderr
    [audit] = [json.loads(line)["audit"] for line in added.stderr.splitlines() if '"audit"' in line]
    assert (audit["action"], audit["user"], audit["target"]) == ("users add", "operator", "alice")
    assert "a-long-secret" not in added.stderr
    users_file = tmp_path / "var" / "users.json"
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    assert "a-long-secret" not in users_file.read_text()
    assert verify_password(UsersFile(users_file).account("alice"), "a-long-secret")

    assert wps(config, "budget", "alice", "120.50", "EUR").returncode == 0
    assert wps(config, "budget", "team", "1000", "EUR", "--group").returncode == 0
    listed = wps(config, "list").stdout
    assert "alice  enabled" in listed and "roles=s2p" in listed and "budget=120.50 EUR/month" in listed
    assert json.loads(users_file.read_text())["groups"] == {
        "team": {"budget": {"amount": "1000", "currency": "EUR"}}
    }

    assert wps(config, "passwd", "alice", "--password-stdin", stdin="another-secret\n").returncode == 0
    account = UsersFile(users_file).account("alice")
    assert verify_password(account, "another-secret") and not verify_password(account, "a-long-secret")

    assert wps(config, "disable", "alice").returncode == 0
    assert not verify_password(UsersFile(users_file).account("alice"), "another-secret")
    assert "alice  disabled" in wps(config, "list").stdout
    assert wps(config, "disable", "alice", "--enable").returncode == 0
    assert verify_password(UsersFile(users_file).account("alice"), "another-secret")
    assert wps(config, "budget", "alice", "--remove").returncode == 0
    assert "budget=-" in wps(config, "list").stdout


def test_an_entry_without_password_for_a_token_user(config: Path, tmp_path: Path) -> None:
    added = wps(config, "add", "dave", "--no-password", "--group", "team")
    assert added.returncode == 0 and "no password" in added.stdout, added.stderr
    assert wps(config, "budget", "dave", "200", "EUR").returncode == 0
    listed = wps(config, "list").stdout
    assert "dave  enabled" in listed and "budget=200 EUR/month" in listed and "password=none" in listed
    account = UsersFile(tmp_path / "var" / "users.json").account("dave")
    assert account is not None and account.groups == ("team",) and account.password_hash == ""
    assert not verify_password(account, "") and not verify_password(account, "a-long-secret")
    assert wps(config, "passwd", "dave", "--password-stdin", stdin="a-long-secret\n").returncode == 0
    assert verify_password(UsersFile(tmp_path / "var" / "users.json").account("dave"), "a-long-secret")


BAD = [
    (["add", "dave", "--no-password", "--password-stdin"], "x\n", "--password-stdin or --no-password"),
    (["add", "bad name!", "--password-stdin"], "a-long-secret\n", "user name 'bad name!' is not valid"),
    (["add", "dave", "--password-stdin"], "short\n", "at least 8 characters"),
    (["add", "dave", "--password-stdin"], "", "no password on standard input"),
    (["add", "dave", "--role", "a b", "--password-stdin"], "a-long-secret\n", "role or group name 'a b'"),
    (["add", "alice", "--password-stdin"], "a-long-secret\n", "already a user alice"),
    (["passwd", "nobody", "--password-stdin"], "a-long-secret\n", "there is no user 'nobody'"),
    (["disable", "nobody"], "", "there is no user 'nobody'"),
    (["budget", "alice", "lots", "EUR"], "", "budget amount must be a number"),
    (["budget", "alice", "--", "-5", "EUR"], "", "zero or more"),
    (["budget", "alice", "5", "euro"], "", "ISO 4217"),
    (["budget", "alice", "5"], "", "give the CURRENCY"),
    (["budget", "alice"], "", "give AMOUNT and CURRENCY"),
    (["add", "dave", "--password", "on-the-command-line"], "", "No such option '--password'"),
]


@pytest.mark.parametrize(("args", "stdin", "words"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input_is_one_clear_line(config: Path, args: list[str], stdin: str, words: str) -> None:
    assert wps(config, "add", "alice", "--password-stdin", stdin="a-long-secret\n").returncode == 0
    result = wps(config, *args, stdin=stdin)
    assert result.returncode != 0
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_users_file_is_reported(config: Path, tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "users.json").write_text("{not json")
    result = wps(config, "list")
    assert result.returncode == 1
    assert "the users file cannot be read" in result.stderr and "Traceback" not in result.stderr
