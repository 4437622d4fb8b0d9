"""End to end with OWSLib against one real `wps-server serve` (gunicorn, Dask scheduler and workers, job
runner) running the shipped SSA processes: ingest real TDM, OMM and TLE messages, query them back,
predict passes asynchronously on the cluster, move a tasking request through its lifecycle by ingest,
and load the GeoJSON and CSV outputs as QGIS layers (when Debian's PyQGIS is installed)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from owslib.util import ServiceException
from owslib.wps import ASYNC, SYNC, ComplexDataInput, WebProcessingService

from processes.ssa.omm import read_omm
from processes.ssa.records import Sensor, SensorKind
from tests.e2e.server import Server
from tests.ssa_wps.observations import radar_tdm
from tests.xsd import assert_valid

SSA_DATA = Path(__file__).resolve().parents[1] / "data" / "ssa"
SNAPSHOT = SSA_DATA / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"
CONFIG = """
[inputs]
data_roots = {root}
[dask]
workers = 2
dashboard =
[logging]
format = text
[ssa]
sensors_file = {sensors}
pass_chunk_size = 64
"""
PROCESSES = [
    "ssa_ingest",
    "ssa_query_objects",
    "ssa_query_orbits",
    "ssa_query_observations",
    "ssa_predict_passes",
    "ssa_submit_tasking",
    "ssa_tasking_status",
    "ssa_update_tasking",
]
TIRA = Sensor("TIRA", SensorKind.RADAR, 50.6166, 7.1296, 300.0, 20.0, 3000.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve-ssa")
    data = folder / "data"
    data.mkdir()
    for name in ("optical_radec.xml", "radar_azel.kvn"):
        (data / name).write_bytes((SSA_DATA / "tdm" / name).read_bytes())
    config = CONFIG.format(root=data, sensors=SSA_DATA / "tdm" / "sensors.yaml")
    running = Server(folder, config).start()
    yield running
    assert running.stop() == 0


def wps(server: Server) -> WebProcessingService:
    return WebProcessingService(f"{server.url}/wps", skip_caps=True)


def outputs(execution: Any) -> dict[str, Any]:
    assert execution.isSucceded(), [e.text for e in execution.errors]
    return {o.identifier: o for o in execution.processOutputs}


def text_of(output: Any) -> str:
    if output.reference:
        return requests.get(output.reference, timeout=30).text
    return "".join(output.data)


def run(
    server: Server, identifier: str, inputs: list[tuple[str, Any]], *wanted: tuple[Any, ...]
) -> dict[str, Any]:
    return outputs(wps(server).execute(identifier, inputs, output=list(wanted) or None, mode=SYNC))


def test_capabilities_and_descriptions(server: Server) -> None:
    service = WebProcessingService(f"{server.url}/wps")
    assert [p.identifier for p in service.processes if p.identifier.startswith("ssa_")] == PROCESSES
    assert_valid(requests.get(f"{server.url}/wps?service=WPS&request=GetCapabilities", timeout=10).content)
    passes = service.describeprocess("ssa_predict_passes")
    assert {i.identifier for i in passes.dataInputs} >= {"object_ids", "site", "sensor", "start", "end"}
    (result,) = [o for o in passes.processOutputs if o.identifier == "result"]
    assert [f.mimeType for f in result.supportedValues] == [
        "application/json",
        "text/csv",
        "application/geo+json",
    ]


def test_ingest_real_messages_then_query_them_back(server: Server) -> None:
    messages = [
        ("messages", ComplexDataInput(SNAPSHOT.read_text(), mimeType="text/plain")),  # TLE, Alpha-5
        ("messages", ComplexDataInput((SSA_DATA / "beyond" / "omm.kvn").read_text(), mimeType="text/plain")),
        (
            "messages",
            ComplexDataInput((server.folder / "data" / "optical_radec.xml").as_uri(), mimeType="text/xml"),
        ),
        (
            "messages",
            ComplexDataInput((server.folder / "data" / "radar_azel.kvn").as_uri(), mimeType="text/plain"),
        ),
        ("source", "e2e"),
    ]
    report = json.loads(text_of(run(server, "ssa_ingest", messages)["result"]))
    assert [(m["kind"], m["format"]) for m in report["messages"]] == [
        ("TLE", "TLE"),
        ("OMM", "KVN"),
        ("TDM", "XML"),
        ("TDM", "KVN"),
    ]
    assert report["totals"]["n_orbits"] == 257 and report["totals"]["n_tracks"] == 6
    window = [("start", "2026-09-20T00:00:00Z"), ("end", "2026-09-21T00:00:00Z")]
    found = run(
        server,
        "ssa_query_observations",
        [*window, ("sensor", "TIRA"), ("limit", "50")],
        ("result", False, "text/csv"),
        ("summary", False),
    )
    rows = list(csv.DictReader(io.StringIO(text_of(found["result"]))))
    summary = json.loads(text_of(found["summary"]))
    assert found["result"].mimeType == "text/csv" and len(rows) == 50 and summary["next_offset"] == 50
    assert {r["sensor"] for r in rows} == {"TIRA"}
    orbit = run(
        server, "ssa_query_orbits", [("object_id", "25544")], ("result", False, "text/plain; subtype=tle")
    )
    assert text_of(orbit["result"]).startswith("1 25544U 98067A   08264.51782528")
    corrupt = (SSA_DATA / "gpconf" / "corrupt" / "c1-checksum-digit.tle").read_text()
    with pytest.raises(ServiceException) as refused:  # a synchronous refusal is an ExceptionReport (400)
        wps(server).execute("ssa_ingest", [("messages", ComplexDataInput(corrupt, "text/plain"))], mode=SYNC)
    assert 'locator="messages"' in str(refused.value) and "checksum" in str(refused.value)


def test_passes_of_the_whole_catalogue_asynchronously_on_the_cluster(server: Server, tmp_path: Path) -> None:
    inputs = [("sensor", "TIRA"), ("start", "2026-09-21T00:00:00Z"), ("end", "2026-09-22T00:00:00Z")]
    execution = wps(server).execute(
        "ssa_predict_passes",
        inputs,
        output=[("result", True, "application/geo+json"), ("summary", False)],
        mode=ASYNC,
    )
    seen = []
    while not execution.isComplete():
        time.sleep(0.3)
        execution.checkStatus(sleepSecs=0)
        seen.append(execution.percentCompleted)
    found = outputs(execution)
    summary = json.loads(text_of(found["summary"]))
    assert summary["objects_screened"] == 257 and summary["chunks"] == 5 and summary["count"] > 100
    assert seen == sorted(seen)
    geojson = tmp_path / "passes.geojson"
    geojson.write_bytes(requests.get(found["result"].reference, timeout=30).content)
    assert found["result"].reference.endswith("result.geojson")
    assert len(json.loads(geojson.read_text())["features"]) == summary["count"]
    table = run(
        server, "ssa_predict_passes", [*inputs, ("object_ids", "100404,100689")], ("result", True, "text/csv")
    )
    csv_file = tmp_path / "passes.csv"
    csv_file.write_bytes(requests.get(table["result"].reference, timeout=30).content)
    layers = qgis_layers(geojson, csv_file, tmp_path)
    if layers is not None:
        assert layers["geojson"] == {"valid": True, "count": summary["count"], "geometry": "Line"}
        assert layers["csv"]["valid"] and layers["csv"]["geometry"] == "Point"
        assert layers["csv"]["count"] == len(list(csv.DictReader(csv_file.open()))) > 0


def test_tasking_moves_through_its_lifecycle_by_ingest(server: Server) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    window = [("start", start.isoformat()), ("end", (start + timedelta(days=1)).isoformat())]
    decision = json.loads(
        text_of(
            run(
                server,
                "ssa_submit_tasking",
                [("object_id", "100689"), ("sensor", "TIRA"), *window, ("required_observations", "3")],
            )["result"]
        )
    )
    assert (decision["decision"], decision["status"]) == ("ACCEPTED", "SCHEDULED")
    first = decision["windows"][0]
    elements = run(server, "ssa_query_orbits", [("object_id", "100689")], ("result", False, "text/plain"))
    (orbit,) = read_omm(text_of(elements["result"]).encode())  # the orbit the server predicted with
    message = radar_tdm(
        orbit,
        TIRA,
        datetime.fromisoformat(first["start"].replace("Z", "+00:00")),
        datetime.fromisoformat(first["end"].replace("Z", "+00:00")),
    )
    report = json.loads(
        text_of(
            run(server, "ssa_ingest", [("messages", ComplexDataInput(message, mimeType="text/plain"))])[
                "result"
            ]
        )
    )
    assert report["messages"][0]["tasking_updates"] == [
        {"request_id": decision["request_id"], "status": "COMPLETED"}
    ]
    status = json.loads(
        text_of(run(server, "ssa_tasking_status", [("request_id", str(decision["request_id"]))])["result"])
    )
    (request,) = status["requests"]
    assert [e["status"] for e in request["events"]] == ["SCHEDULED", "COLLECTED", "COMPLETED"]


QGIS_LOADER = """
import json, sys
from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes

def seen(layer):
    return {"valid": layer.isValid(), "count": layer.featureCount(),
            "geometry": QgsWkbTypes.geometryDisplayString(layer.geometryType())}

def load():  # the layers must be gone before exitQgis
    geojson = QgsVectorLayer(sys.argv[1], "passes", "ogr")
    table = QgsVectorLayer(
        "file://" + sys.argv[2] + "?delimiter=,&xField=culmination_lon&yField=culmination_lat&crs=EPSG:4326",
        "culminations", "delimitedtext")
    return {"geojson": seen(geojson), "csv": seen(table)}

app = QgsApplication([], False)
app.initQgis()
try:
    layers = load()
finally:
    app.exitQgis()
print(json.dumps(layers))
"""


def qgis_layers(geojson: Path, table: Path, folder: Path) -> dict[str, Any] | None:
    """How Debian's PyQGIS (offscreen) loads the two files; None when PyQGIS is not installed."""
    system = Path("/usr/bin/python3")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"QT_QPA_PLATFORM": "offscreen", "HOME": str(folder), "XDG_RUNTIME_DIR": str(folder)}
    if not system.exists():
        return None
    probe = subprocess.run([str(system), "-c", "import qgis.core"], capture_output=True, env=env, check=False)
    if probe.returncode != 0:
        return None
    done = subprocess.run(
        [str(system), "-c", QGIS_LOADER, str(geojson), str(table)],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def ogcapi_value(result: Any) -> Any:
    """An OGC API result: inline JSON as it is, a qualified value's ``value``, or a fetched href."""
    if isinstance(result, dict) and "href" in result:
        return requests.get(result["href"], timeout=30).text
    if isinstance(result, dict) and "value" in result and set(result) <= {"value", "mediaType", "encoding"}:
        return result["value"]
    return result


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_ssa_through_ogc_api_processes(server: Server) -> None:
    """OWSLib's OGC API - Processes client: a real TDM (KVN) and OMM (XML) ingested asynchronously, then
    read back synchronously with ssa_query_observations (JSON) and ssa_query_orbits (TLE)."""
    from owslib.ogcapi.processes import Processes

    from tests.e2e.test_interfaces import until

    api = Processes(f"{server.url}/ogcapi")
    assert {p["id"] for p in api.processes()} >= set(PROCESSES)
    assert api.process("ssa_ingest")["inputs"]["messages"]["maxOccurs"] > 1
    messages = [
        (SSA_DATA / "tdm" / "optical_radec.kvn").read_text(),  # a string: the default format, text/plain
        {"value": (SSA_DATA / "beyond" / "omm.xml").read_text(), "mediaType": "text/xml"},
    ]
    accepted = api.execute("ssa_ingest", {"messages": messages, "source": "ogcapi"}, async_=True)
    job = f"{server.url}/ogcapi/jobs/{accepted['jobID']}"
    status = until(
        lambda: (s := requests.get(job, timeout=30).json())["status"] not in {"accepted", "running"} and s
    )
    assert status["status"] == "successful", status
    results = requests.get(f"{job}/results", timeout=30, headers={"Accept": "application/json"}).json()
    report = as_json(ogcapi_value(results["result"]))
    assert [(m["kind"], m["format"]) for m in report["messages"]] == [("TDM", "KVN"), ("OMM", "XML")]
    found = api.execute(
        "ssa_query_observations",
        {
            "start": "2026-09-20T00:00:00Z",
            "end": "2026-09-21T00:00:00Z",
            "sensor": "OGS-TENERIFE",
            "limit": 5,
        },
        outputs={"result": {"format": {"mediaType": "application/json"}}, "summary": {}},
    )
    observations = as_json(ogcapi_value(found["result"]))
    assert len(observations) == 5 and {r["sensor"] for r in observations} == {"OGS-TENERIFE"}
    assert as_json(ogcapi_value(found["summary"]))["next_offset"] == 5
    orbits = api.execute(
        "ssa_query_orbits",
        {"object_id": "25544"},
        outputs={"result": {"format": {"mediaType": "text/plain; subtype=tle"}}},
    )
    assert str(ogcapi_value(orbits["result"])).startswith("1 25544U 98067A   08264.51782528")


def test_ssa_through_raw_wps2(server: Server) -> None:
    """Raw WPS 2.0.0, every answer XSD-checked: an OMM and a TDM (KVN) ingested by a sync Execute, then an async
    ssa_query_orbits followed with GetStatus and fetched with GetResult, and a sync ssa_query_observations."""
    from xml.sax.saxutils import escape

    from lxml import etree

    from tests.e2e.test_interfaces import NS2, until, wps2
    from wps_server.wps2.parse import OWS, WPS

    def execute(identifier: str, inputs: list[tuple[str, str]], outputs: str, mode: str) -> bytes:
        given = "".join(f'<wps:Input id="{k}"><wps:Data>{v}</wps:Data></wps:Input>' for k, v in inputs)
        return (
            f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" service="WPS" version="2.0.0" mode="{mode}" '
            f'response="document"><ows:Identifier>{identifier}</ows:Identifier>{given}{outputs}</wps:Execute>'
        ).encode()

    def output(document: etree._Element, identifier: str) -> str:
        return "".join(document.xpath(f"//wps:Output[@id='{identifier}']//text()", namespaces=NS2))

    omm = escape((SSA_DATA / "gpconf" / "v01-baseline-reserialised.kvn").read_text())
    tdm = escape((SSA_DATA / "tdm" / "radar_azel.kvn").read_text())
    ingest = [("messages", omm), ("messages", tdm), ("source", "wps2")]
    report = json.loads(output(wps2(server, execute("ssa_ingest", ingest, "", "sync")), "result"))
    assert [(m["kind"], m["format"]) for m in report["messages"]] == [("OMM", "KVN"), ("TDM", "KVN")]
    accepted = wps2(
        server,
        execute(
            "ssa_query_orbits",
            [("object_id", "25544"), ("history", "true"), ("source", "wps2")],
            '<wps:Output id="result" mimeType="text/plain; subtype=omm" transmission="value"/>',
            "async",
        ),
    )
    job_id = str(accepted.findtext(f"{{{WPS}}}JobID"))
    until(lambda: wps2(server, request="GetStatus", JobID=job_id).findtext(f"{{{WPS}}}Status") == "Succeeded")
    orbits = output(wps2(server, request="GetResult", JobID=job_id), "result")
    assert "NORAD_CAT_ID" in orbits and "1998-11-20T06:49:59" in orbits, orbits[:2000]
    found = wps2(
        server,
        execute(
            "ssa_query_observations",
            [
                ("start", "2026-09-20T00:00:00Z"),
                ("end", "2026-09-21T00:00:00Z"),
                ("sensor", "TIRA"),
                ("limit", "3"),
            ],
            '<wps:Output id="result" mimeType="text/csv" transmission="value"/>',
            "sync",
        ),
    )
    rows = list(csv.DictReader(io.StringIO(output(found, "result"))))
    assert len(rows) == 3 and {r["sensor"] for r in rows} == {"TIRA"}


def test_pyqgis_drives_ingest_and_orbit_query_as_the_owslib_plugin_does(
    server: Server, tmp_path: Path
) -> None:
    """Debian's PyQGIS (offscreen) with the plugin's OWSLib: ssa_ingest of four real element sets and
    ssa_query_orbits as GeoJSON ground tracks, both asynchronous and polled; the tracks load as a layer."""
    from tests.qgis.runner import NO_PYQGIS, has_pyqgis, run_client

    if not has_pyqgis():
        pytest.skip(NO_PYQGIS)
    client = Path(__file__).parents[1] / "qgis" / "qgis_shipped_client.py"
    ids = ["100404", "100410", "100420", "100430"]  # A0404... in Alpha-5
    seen = run_client(
        client, ["ssa", server.url, str(tmp_path), str(SSA_DATA / "tdm" / "source.tle"), *ids], tmp_path
    )
    assert seen["qgis"].startswith("3.") and seen["ingested"]["n_orbits"] == 4
    assert seen["reference"].endswith(".geojson")
    assert (seen["valid"], seen["count"], seen["geometry"], seen["crs"]) == (True, 4, "Line", "EPSG:4326")
    assert -54 < seen["extent"][0] < -50 and 50 < seen["extent"][1] < 54  # 53° inclination ground tracks
