"""A stock ``pywps.Service`` serving this server's S2P and SSA processes, driven by OWSLib: the same
inputs and outputs, the catalogue in the configured database, S2P's tiles on the configured Dask
scheduler, and the test pair's DSM."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from owslib.wps import ASYNC, SYNC, ComplexDataInput, WebProcessingService

from processes import shipped_processes
from processes.s2p.evaluation import compare_dsms
from tests.e2e.server import REPO, dask_cluster_processes
from tests.pywps_interop.stock import StockPyWPS
from wps_server.config import load_settings

pytestmark = pytest.mark.slow
DATA = Path(__file__).parents[1] / "data"
PAIR = DATA / "s2p" / "pair"
IMAGE = "image/tiff; application=geotiff"
CONFIG = """
[server]
data_dir = {folder}/var
[database]
url = sqlite:///{folder}/catalogue.sqlite
[dask]
scheduler = tcp://127.0.0.1:{port}
[inputs]
data_roots = {data}
[ssa]
sensors_file = {sensors}
[logging]
format = text
"""


class Deployment:
    """This server's configuration file, its migrated database, and stock PyWPS serving the processes."""

    def __init__(self, folder: Path, port: int) -> None:
        self.scheduler = f"tcp://127.0.0.1:{port}"
        self.data = folder / "data"
        shutil.copytree(PAIR, self.data / "pair")
        shutil.copy(DATA / "ssa" / "tdm" / "radar_azel.kvn", self.data)
        self.config = folder / "space-wps.cfg"
        self.config.write_text(
            CONFIG.format(
                folder=folder, port=port, data=self.data, sensors=DATA / "ssa" / "tdm" / "sensors.yaml"
            )
        )
        self.cli("migrate")
        self.stock = StockPyWPS(
            folder / "stock",
            "tests.pywps_interop.ours_in_stock:processes",
            [folder],  # PyWPS may read more than this server's data roots let through
            env={"SPACE_WPS_CONFIG": str(self.config)},
        ).start()
        self.wps = WebProcessingService(f"{self.stock.url}/wps")

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "wps_server.cli", "--config", str(self.config), *args],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout


@pytest.fixture(scope="module")
def scheduler_port() -> Iterator[int]:
    with dask_cluster_processes(threads=2) as port:
        yield port


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, scheduler_port: int) -> Iterator[Deployment]:
    running = Deployment(tmp_path_factory.mktemp("ours-in-pywps"), scheduler_port)
    yield running
    running.stock.stop()


def follow(execution: Any, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while not execution.isComplete():
        assert time.monotonic() < deadline
        time.sleep(0.5)
        execution.checkStatus(sleepSecs=0)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    return {o.identifier: o for o in execution.processOutputs}


def text_of(output: Any) -> str:
    if output.reference:
        return requests.get(output.reference, timeout=60).text
    return "".join(output.data)


def test_stock_pywps_describes_the_shipped_processes_as_this_server_does(deployment: Deployment) -> None:
    ours = shipped_processes(load_settings([deployment.config], environ={}))
    assert [p.identifier for p in deployment.wps.processes] == [p.identifier for p in ours]
    for process in ours:
        described = deployment.wps.describeprocess(process.identifier)
        assert [(i.identifier, i.minOccurs, i.maxOccurs) for i in described.dataInputs] == [
            (i.identifier, i.min_occurs, i.max_occurs) for i in process.inputs
        ]
        assert [o.identifier for o in described.processOutputs] == [o.identifier for o in process.outputs]
    stereo = deployment.wps.describeprocess("s2p_stereo")
    (dsm,) = [o for o in stereo.processOutputs if o.identifier == "dsm"]
    assert [f.mimeType for f in dsm.supportedValues] == [
        "image/tiff; application=geotiff; profile=cloud-optimized",
        "image/tiff; application=geotiff",
    ]
    (algorithm,) = [i for i in stereo.dataInputs if i.identifier == "matching_algorithm"]
    assert algorithm.allowedValues == ["mgm", "mgm_multi", "tvl1"]


def test_ssa_ingest_and_queries_through_stock_pywps(deployment: Deployment) -> None:
    tle = (DATA / "ssa" / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle").read_text()
    messages = [
        ("messages", ComplexDataInput(tle, mimeType="text/plain")),
        ("messages", ComplexDataInput((deployment.data / "radar_azel.kvn").as_uri(), mimeType="text/plain")),
        ("source", "pywps"),
    ]
    ingest = follow(deployment.wps.execute("ssa_ingest", messages, mode=SYNC))
    report = json.loads(text_of(ingest["result"]))
    assert [(m["kind"], m["format"]) for m in report["messages"]] == [("TLE", "TLE"), ("TDM", "KVN")]
    stats = json.loads(deployment.cli("catalogue", "stats", "--json"))  # the configured database
    assert stats["observation_rows"] == report["totals"]["n_rows"] > 0
    assert stats["orbits"] == report["totals"]["n_orbits"] > 0
    window = [("start", "2026-09-20T00:00:00Z"), ("end", "2026-09-21T00:00:00Z")]
    found = follow(
        deployment.wps.execute(
            "ssa_query_observations",
            [*window, ("sensor", "TIRA"), ("limit", "50")],
            output=[("result", False, "text/csv"), ("summary", False)],
            mode=SYNC,
        )
    )
    rows = list(csv.DictReader(io.StringIO(text_of(found["result"]))))
    assert len(rows) == 50 and {r["sensor"] for r in rows} == {"TIRA"}
    assert json.loads(text_of(found["summary"]))["next_offset"] == 50
    orbits = follow(
        deployment.wps.execute(
            "ssa_query_orbits",
            [("object_id", "100404")],  # A0404 in Alpha-5
            output=[("result", True, "text/plain; subtype=tle")],
            mode=ASYNC,
        )
    )
    assert orbits["result"].reference.startswith(deployment.stock.url)
    assert text_of(orbits["result"]).startswith("1 A0404U")


def test_a_refused_message_is_a_process_error_with_this_servers_message(deployment: Deployment) -> None:
    corrupt = (DATA / "ssa" / "gpconf" / "corrupt" / "c1-checksum-digit.tle").read_text()
    execution = deployment.wps.execute(
        "ssa_ingest", [("messages", ComplexDataInput(corrupt, "text/plain"))], mode=SYNC
    )
    assert not execution.isSucceded()
    text = execution.errors[0].text
    assert "message 1 of 1" in text and "checksum" in text and "Traceback" not in text
    outside = ComplexDataInput(deployment.config.as_uri(), mimeType="text/plain")
    refused = deployment.wps.execute("ssa_ingest", [("messages", outside)], mode=SYNC)
    assert not refused.isSucceded()  # PyWPS's allowedinputpaths let it through; the data roots do not
    assert "is outside the folders this server may read" in refused.errors[0].text


def test_s2p_stereo_in_stock_pywps_gives_the_reference_dsm_on_the_configured_scheduler(
    deployment: Deployment, tmp_path: Path
) -> None:
    options = json.dumps(
        {"horizontal_margin": 20, "vertical_margin": 5, "disp_range_method": "sift", "msk_erosion": 0}
    )
    inputs = [
        *[
            ("images", ComplexDataInput((deployment.data / "pair" / n).as_uri(), mimeType=IMAGE))
            for n in ("img_01.tif", "img_02.tif")
        ],
        ("roi_pixels", "150,150,700,700"),
        ("tile_size", "300"),
        ("dsm_resolution", "0.5"),
        ("s2p_options", options),
    ]
    execution = deployment.wps.execute(
        "s2p_stereo", inputs, output=[("dsm", True), ("report", True)], mode=ASYNC
    )
    percents = []
    while not execution.isComplete():
        time.sleep(1)
        execution.checkStatus(sleepSecs=0)
        percents.append(execution.percentCompleted)
    outputs = follow(execution)
    assert percents == sorted(percents) and any(0 < p < 100 for p in percents)
    dsm = tmp_path / "dsm.tif"
    dsm.write_bytes(requests.get(outputs["dsm"].reference, timeout=60).content)
    agreement = compare_dsms(dsm, PAIR / "expected_dsm.tif")
    assert agreement.acceptable, agreement
    report = requests.get(outputs["report"].reference, timeout=60).json()
    assert report["cluster"]["scheduler"] == deployment.scheduler  # the configured scheduler did the work
    assert report["cost"]["busy_task_seconds"] > 0
