"""[server] processes with PyWPS packages: what loads, the start-up errors that name the entry, and
PyWPS's configuration kept apart from this server's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pywps import configuration as pywps_configuration

from tests.e2e.server import REPO
from wps_server.config import ConfigError, Settings
from wps_server.pywps_processes import PyWPSHandler
from wps_server.registry import load_processes

SUITE = "tests.pywps_interop.suite:processes"


@pytest.fixture(autouse=True)
def pywps_defaults() -> Iterator[None]:
    """Each test leaves PyWPS's global configuration as PyWPS's defaults."""
    yield
    pywps_configuration.load_hardcoded_configuration()


def test_ours_and_pywps_processes_load_side_by_side(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(server={"processes": f"tests.wps.processes:test_processes,\n{SUITE}"})
    processes = {p.identifier: p for p in load_processes(settings)}
    assert {"echo", "literal_types", "outputs", "progress"} <= set(processes)
    assert isinstance(processes["progress"].handler, PyWPSHandler)
    assert not isinstance(processes["echo"].handler, PyWPSHandler)
    literal = processes["literal_types"]
    assert (literal.version, literal.store_supported, literal.keywords) == (
        "2.1.0",
        True,
        ("literal", "test"),
    )


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("no_such_package.processes:get", "module no_such_package.processes cannot be imported"),
        ("tests.pywps_interop.suite:nothing_here", "has no attribute nothing_here"),
        ("tests.pywps_interop.bad_entries:numbers", "returned a int, which is neither"),
        ("tests.pywps_interop.bad_entries:text", "returned a str, not a list of processes"),
        (
            "tests.pywps_interop.bad_entries:output_as_input",
            "PyWPS process odd: input level is not a PyWPS LiteralInput, ComplexInput or BoundingBoxInput",
        ),
    ],
)
def test_an_entry_that_cannot_be_used_is_named(
    make_settings: Callable[..., Settings], entry: str, says: str
) -> None:
    settings = make_settings(server={"processes": f"{SUITE}, {entry}"})
    with pytest.raises(ConfigError) as caught:
        load_processes(settings)
    assert f"[server] processes = {entry}" in str(caught.value) and says in str(caught.value)


def test_duplicate_identifiers_across_entries_name_both(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(server={"processes": f"{SUITE}, tests.pywps_interop.bad_entries:clashing"})
    with pytest.raises(ConfigError) as caught:
        load_processes(settings)
    message = str(caught.value)
    assert "identifier progress" in message
    assert f"{SUITE} and tests.pywps_interop.bad_entries:clashing both offer it" in message
    twice = make_settings(server={"processes": f"{SUITE}, {SUITE}"})
    with pytest.raises(ConfigError, match="offers it twice"):
        load_processes(twice)


def test_serve_refuses_a_bad_entry_at_start_up(tmp_path: Path) -> None:
    config = tmp_path / "server.cfg"
    config.write_text(
        f"[server]\nprocesses = {SUITE}, no_such_package:processes\ndata_dir = {tmp_path}/var\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "wps_server.cli", "--config", str(config), "serve"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "[server] processes = no_such_package:processes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()  # nothing was started or written


def test_pywps_configuration_is_pywps_own(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    ours = tmp_path / "server.cfg"
    ours.write_text("[server]\nurl = http://ours.example/wps\nprocesses = x:y\n")
    theirs = tmp_path / "pywps.cfg"
    theirs.write_text("[server]\nworkdir = /srv/pywps-work\n[birdhouse]\ncache = /srv/cache\n")
    # what importing pywps does with $PYWPS_CFG when it names this server's file
    pywps_configuration.load_configuration([str(ours)])
    assert pywps_configuration.get_config_value("server", "processes") == "x:y"
    settings = make_settings(server={"processes": SUITE}, pywps={"config_files": str(theirs)})
    load_processes(settings)
    value: Callable[[str, str], Any] = pywps_configuration.get_config_value
    assert value("server", "processes") == ""  # nothing of ours is left in PyWPS's configuration
    assert value("server", "url") == "http://localhost/wps"  # PyWPS's default, not ours
    assert (value("server", "workdir"), value("birdhouse", "cache")) == ("/srv/pywps-work", "/srv/cache")
    assert settings.url == ""  # and nothing of PyWPS's reached ours


def test_a_missing_pywps_configuration_file_is_named(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(server={"processes": SUITE}, pywps={"config_files": str(tmp_path / "nope.cfg")})
    with pytest.raises(ConfigError, match=r"\[pywps\] config_files names .*nope.cfg, which does not exist"):
        load_processes(settings)
