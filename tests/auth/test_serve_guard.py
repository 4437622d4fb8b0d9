"""Secure by default: serve refuses a non-loopback address when nobody signs in, unless the
configuration says a proxy in front authenticates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import REPO, free_port


def serve(folder: Path, host: str, extra: str = "") -> subprocess.CompletedProcess[str]:
    config = folder / "server.cfg"
    config.write_text(f"[server]\ndata_dir = {folder / 'var'}\n{extra}")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wps_server.cli",
            "--config",
            str(config),
            "serve",
            "--host",
            host,
            "--port",
            str(free_port()),
        ],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_public_address_without_sign_in_is_refused(tmp_path: Path, host: str) -> None:
    result = serve(tmp_path, host)
    assert result.returncode == 1
    assert f"serving on {host} with no sign-in" in result.stderr
    assert "[auth] methods" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()


def test_allowing_it_explicitly_passes_the_guard(tmp_path: Path) -> None:
    # past the guard, serve stops at the next check: a bad processes entry
    extra = "processes = no.such.module\n[auth]\nallow_unauthenticated_public = true\n"
    result = serve(tmp_path, "0.0.0.0", extra)
    assert result.returncode == 1
    assert "with no sign-in" not in result.stderr and "no.such.module" in result.stderr


def test_a_bad_auth_setting_stops_serve(tmp_path: Path) -> None:
    result = serve(tmp_path, "127.0.0.1", "[auth]\nmethods = ldap\n")
    assert result.returncode == 1 and "'ldap' is not a method" in result.stderr
