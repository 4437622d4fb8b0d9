"""The shipped processes as pywps.Process objects, in a PyWPS service in this process (PyWPS's own test
client): their definitions, a job end to end, and configuration kept apart both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from pywps import Service
from pywps import configuration as pywps_configuration
from pywps.tests import client_for

from processes import shipped_processes
from processes.pywps_service import pywps_processes
from wps_server.config import load_settings
from wps_server.database import make_engine, migrate

WPS = "http://www.opengis.net/wps/1.0.0"
OWS = "http://www.opengis.net/ows/1.1"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This server's file, with a PyWPS deployment's pywps.cfg and $PYWPS_CFG around it."""
    ours = tmp_path / "space-wps.cfg"
    ours.write_text(f"[server]\nurl = http://ours.example/wps\ndata_dir = {tmp_path / 'var'}\n")
    theirs = tmp_path / "pywps.cfg"  # PyWPS's: its [logging] format would be refused as ours
    theirs.write_text("[server]\nurl = http://pywps.example/wps\n[logging]\nformat = %(message)s\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYWPS_CFG", str(theirs))
    settings = load_settings([ours], environ={})
    migrate(make_engine(settings.database_url))
    yield ours
    pywps_configuration.load_hardcoded_configuration()


def test_the_shipped_processes_keep_their_definitions(config: Path) -> None:
    ours = {p.identifier: p for p in shipped_processes(load_settings([config], environ={}))}
    theirs = {p.identifier: p for p in pywps_processes(config)}
    assert list(theirs) == list(ours)
    for identifier, process in ours.items():
        exported = theirs[identifier]
        assert (exported.title, exported.version) == (process.title, process.version)
        assert [(i.identifier, i.min_occurs, i.max_occurs) for i in exported.inputs] == [
            (i.identifier, i.min_occurs, i.max_occurs) for i in process.inputs
        ]
        assert [o.identifier for o in exported.outputs] == [o.identifier for o in process.outputs]
    limit = next(i for i in theirs["ssa_query_objects"].inputs if i.identifier == "limit")
    assert (limit.data_type, limit.allowed_values[0].minval, limit.allowed_values[0].maxval) == (
        "integer",
        1,
        10000,
    )


def test_a_stock_service_runs_one_with_this_servers_configuration(config: Path) -> None:
    service = Service(processes=pywps_processes(config), cfgfiles=[str(config.parent / "pywps.cfg")])
    client = client_for(service)
    answer = client.get(
        "?service=WPS&request=Execute&version=1.0.0&identifier=ssa_query_objects"
        "&DataInputs=limit=5&RawDataOutput=summary"
    )
    assert answer.status_code == 200, answer.data
    assert json.loads(answer.data)["count"] == 0  # the (empty) catalogue of this server's database
    assert pywps_configuration.get_config_value("server", "url") == "http://pywps.example/wps"
    assert load_settings([config], environ={}).url == "http://ours.example/wps"


def test_bad_input_is_this_servers_message_in_a_process_error(config: Path) -> None:
    client = client_for(Service(processes=pywps_processes(config)))
    answer = client.get(
        "?service=WPS&request=Execute&version=1.0.0&identifier=ssa_query_observations"
        "&DataInputs=start=2026-01-01T00:00:00Z;end=2026-12-31T00:00:00Z"
    )
    root = etree.fromstring(answer.data)
    text = root.findtext(f".//{{{OWS}}}ExceptionText") or ""
    assert root.find(f".//{{{WPS}}}ProcessFailed") is not None
    assert "Process error:" in text and "window" in text and "31" in text, text
