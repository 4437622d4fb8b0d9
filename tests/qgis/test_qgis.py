"""QGIS against a real `wps-server serve`: PyQGIS (Debian's QGIS, offscreen) sends a layer the way both
QGIS WPS plugins do and loads the outputs back as layers. Needs Debian's python3-qgis and python3-owslib."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.e2e.server import Server
from tests.xsd import assert_valid

SYSTEM_PYTHON = "/usr/bin/python3"
CLIENT = Path(__file__).with_name("qgis_client.py")
CONFIG = """
[server]
processes = tests.qgis.processes:vector_processes
[dask]
workers = 1
dashboard =
[logging]
format = text
"""


def _has_pyqgis() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core, owslib.wps"], capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _has_pyqgis(), reason="needs Debian's python3-qgis and python3-owslib")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve-qgis")
    running = Server(folder, CONFIG).start()
    yield running
    assert running.stop() == 0


def test_gml_formats_the_plugins_look_for_are_advertised(server: Server) -> None:
    response = requests.get(
        f"{server.url}/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=features", timeout=30
    )
    assert_valid(response.content)
    root = etree.fromstring(response.content)
    default = root.xpath("//Input/ComplexData/Default/Format/MimeType/text()")
    assert default == ["text/xml; subtype=gml/3.1.1"]
    supported = root.xpath("//Input/ComplexData/Supported/Format/MimeType/text()")
    assert "application/geo+json" in supported and "text/xml; subtype=gml/2.1.2" in supported


def test_pyqgis_sends_a_layer_as_both_plugins_do_and_loads_the_outputs(
    server: Server, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    run = subprocess.run(
        [SYSTEM_PYTHON, str(CLIENT), server.url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["qgis"].startswith("3.")
    asynchronous, synchronous = seen["owslib_plugin"], seen["wps_client_plugin"]
    assert "text/xml; subtype=gml/3.1.1" in asynchronous["formats"]
    assert synchronous["count"] == ["3"]
    for way in (asynchronous, synchronous):
        assert way["points_valid"] and way["points_count"] == 3
        assert way["table_valid"] and way["table_count"] == 3
        assert way["first_point"] == [55.45, -20.88]
