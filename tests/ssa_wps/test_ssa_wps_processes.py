"""The shipped process list: capabilities and descriptions (schema-checked in every dialect), the input
names clients script against, the formats of result, and the [ssa] configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from openapi_spec_validator import validate

from processes import shipped_processes
from tests.ogcapi_schema import assert_schemas_valid
from tests.ssa_wps.conftest import SSAApp
from tests.ssa_wps.wps import NS
from wps_server.config import ConfigError, Settings

EXPECTED_PROCESSES = [
    "ssa_ingest",
    "ssa_query_objects",
    "ssa_query_orbits",
    "ssa_query_observations",
    "ssa_predict_passes",
    "ssa_submit_tasking",
    "ssa_tasking_status",
    "ssa_update_tasking",
]
# The names issue 6 gives clients to script against (each process may take more).
NAMED_INPUTS = {
    "ssa_ingest": {"messages"},
    "ssa_query_objects": {"object_id", "format", "limit", "offset"},
    "ssa_query_orbits": {"object_id", "start", "end", "format", "limit", "offset"},
    "ssa_query_observations": {
        "start",
        "end",
        "object_id",
        "sensor",
        "obs_type",
        "cone",
        "format",
        "limit",
        "offset",
    },
    "ssa_predict_passes": {"object_ids", "site", "sensor", "start", "end", "min_elevation", "optical"},
    "ssa_submit_tasking": {"object_id", "sensor", "start", "end", "priority", "obs_type"},
    "ssa_tasking_status": {"request_id"},
    "ssa_update_tasking": {"request_id", "action"},
}
RESULT_FORMATS = {
    "ssa_query_observations": [
        "application/json",
        "text/csv",
        "text/plain; subtype=tdm",
        "text/xml; subtype=tdm",
    ],
    "ssa_query_orbits": [
        "application/json",
        "text/plain; subtype=omm",
        "text/xml; subtype=omm",
        "text/csv",
        "text/plain; subtype=tle",
        "text/plain; subtype=3le",
        "application/geo+json",
    ],
    "ssa_predict_passes": ["application/json", "text/csv", "application/geo+json"],
}


def ssa_only(identifiers: list[str]) -> list[str]:
    """The SSA processes among those shipped (other families ship beside them)."""
    return [i for i in identifiers if i.startswith("ssa_")]


def test_the_shipped_list_holds_the_ssa_processes_in_order(make_settings: Callable[..., Settings]) -> None:
    identifiers = [p.identifier for p in shipped_processes(make_settings())]
    assert ssa_only(identifiers) == EXPECTED_PROCESSES and len(set(identifiers)) == len(identifiers)


def test_capabilities_and_descriptions_in_every_dialect(ssa: SSAApp) -> None:
    capabilities = etree.fromstring(ssa.client.get("/wps?service=WPS&request=GetCapabilities").get_data())
    assert (
        ssa_only(capabilities.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS))
        == EXPECTED_PROCESSES
    )
    described = etree.fromstring(
        ssa.client.get("/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=all").get_data()
    )
    assert (
        ssa_only(described.xpath("ProcessDescription/ows:Identifier/text()", namespaces=NS))
        == EXPECTED_PROCESSES
    )
    for identifier, names in NAMED_INPUTS.items():
        (description,) = described.xpath(f"ProcessDescription[ows:Identifier='{identifier}']", namespaces=NS)
        inputs = set(description.xpath("DataInputs/Input/ows:Identifier/text()", namespaces=NS))
        assert names <= inputs, (identifier, names - inputs)
        assert description.xpath("ProcessOutputs/Output/ows:Identifier/text()", namespaces=NS)[0] == "result"
        assert description.get("storeSupported") == "true" and description.get("statusSupported") == "true"
    for identifier, formats in RESULT_FORMATS.items():
        (result,) = described.xpath(
            f"ProcessDescription[ows:Identifier='{identifier}']/ProcessOutputs/Output[ows:Identifier='result']",
            namespaces=NS,
        )
        assert result.xpath("ComplexOutput/Supported/Format/MimeType/text()") == formats
        assert result.xpath("ComplexOutput/Default/Format/MimeType/text()") == formats[:1]
    wps2 = ssa.client.get("/wps?service=WPS&request=GetCapabilities&AcceptVersions=2.0.0")
    assert wps2.status_code == 200 and b"ssa_predict_passes" in wps2.get_data()  # schema-checked too
    offerings = ssa.client.get("/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=ALL")
    assert offerings.status_code == 200 and offerings.get_data().count(b"<ows:Identifier>ssa_") == 8
    ogcapi = ssa.client.get("/ogcapi/processes?f=json").get_json()
    assert ssa_only([p["id"] for p in ogcapi["processes"]]) == EXPECTED_PROCESSES
    validate(ssa.client.get("/ogcapi/api").get_json())
    for identifier in EXPECTED_PROCESSES:
        described = ssa.client.get(f"/ogcapi/processes/{identifier}?f=json").get_json()
        assert set(described["inputs"]) >= NAMED_INPUTS[identifier]
        assert_schemas_valid(described)
    formats = ssa.client.get("/ogcapi/processes/ssa_predict_passes?f=json").get_json()["outputs"]["result"]
    assert "application/geo+json" in json.dumps(formats)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_message_size", "lots", "[ssa] max_message_size must be a size"),
        ("max_query_window_days", "0", "[ssa] max_query_window_days must lie between"),
        ("pass_chunk_size", "2.5", "[ssa] pass_chunk_size must be a whole number"),
        ("sensors_file", "no-such-file.yaml", "cannot be read"),
        ("maintenance_interval", "-5", "[ssa] maintenance_interval must lie between 0.1 and 86400, not -5"),
        ("maintenance_interval", "0", "[ssa] maintenance_interval must lie between 0.1 and 86400, not 0"),
        ("maintenance_interval", "nan", "[ssa] maintenance_interval must lie between"),
        ("maintenance_interval", "1min", "[ssa] maintenance_interval must be a number, not '1min'"),
        ("maintenance_interval", "", "[ssa] maintenance_interval must be a number, not ''"),
    ],
)
def test_bad_ssa_settings_stop_the_start_naming_the_key(
    make_settings: Callable[..., Settings], key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        shipped_processes(make_settings(ssa={key: value}))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [("-5", "must lie between"), ("0", "must lie between"), ("soon", "must be a number")],
)
def test_a_bad_maintenance_interval_stops_the_runner_and_serve_at_start_up(
    make_settings: Callable[..., Settings], tmp_path: Path, value: str, message: str
) -> None:
    from click.testing import CliRunner

    from wps_server.cli import main
    from wps_server.jobs.runner import periodic_tasks

    settings = make_settings(
        server={"processes": "processes:shipped_processes"}, ssa={"maintenance_interval": value}
    )
    with pytest.raises(ConfigError, match=rf"\[ssa\] maintenance_interval {message}"):
        periodic_tasks(settings)  # what the job runner schedules
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(
        f"[server]\ndata_dir = {tmp_path / 'served'}\nprocesses = processes:shipped_processes\n"
        f"[ssa]\nmaintenance_interval = {value}\n"
    )
    for command in ("runner", "serve"):
        result = CliRunner().invoke(main, ["--config", str(cfg), command])
        assert result.exit_code == 1, (command, result.output)
        assert f"[ssa] maintenance_interval {message}" in result.output, (command, result.output)
        assert "Traceback" not in result.output


def test_a_bad_sensors_file_is_refused_with_its_line(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    bad = tmp_path / "sensors.yaml"
    bad.write_text("sensors:\n  - code: X\n    kind: sonar\n    latitude_deg: 1\n    longitude_deg: 2\n")
    with pytest.raises(ConfigError, match=r"sensors.yaml: line 2 kind: 'sonar' is not optical or radar"):
        shipped_processes(make_settings(ssa={"sensors_file": str(bad)}))


def test_settings_come_from_the_environment(make_settings: Callable[..., Settings]) -> None:
    from wps_server.config import load_settings

    settings = load_settings(files=[], environ={"WPS_SSA_MAX_PASS_WINDOW_DAYS": "2"})
    (passes,) = [p for p in shipped_processes(settings) if p.identifier == "ssa_predict_passes"]
    assert "at most 2 days" in passes.abstract
