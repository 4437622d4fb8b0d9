"""Run by Debian's /usr/bin/python3 (python3-qgis, python3-owslib), offscreen: the shipped SSA and S2P
processes driven the way the "OWSLib-based WPS Client" plugin drives a process (OWSLib, WPS 1.0.0,
asynchronous Execute, polling GetStatus, outputs by reference), the outputs loaded as QGIS layers.

Usage:
  python3 qgis_shipped_client.py ssa SERVER_URL WORK_FOLDER MESSAGE_FILE OBJECT_ID...
  python3 qgis_shipped_client.py s2p SERVER_URL WORK_FOLDER IMAGE_URL IMAGE_URL
Prints one JSON object of what it saw.
"""

import json
import os
import sys
import time
import urllib.request

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from owslib.wps import ASYNC, ComplexDataInput, WebProcessingService

from qgis.core import Qgis, QgsApplication, QgsRasterLayer, QgsVectorLayer, QgsWkbTypes

IMAGE = "image/tiff; application=geotiff"


def execute(url, identifier, inputs, outputs, timeout):
    """Execute asynchronously and poll, as the plugin does; returns {output: reference} and the percents."""
    service = WebProcessingService(f"{url}/wps")
    service.describeprocess(identifier)  # the plugin describes the process to build its form
    execution = service.execute(identifier, inputs, output=[(o, True) for o in outputs], mode=ASYNC)
    deadline = time.monotonic() + timeout
    percents = []
    while not execution.isComplete():
        assert time.monotonic() < deadline, f"{identifier} did not finish in {timeout} s"
        time.sleep(1)
        execution.checkStatus(sleepSecs=0)
        percents.append(execution.percentCompleted)
    assert execution.isSucceded(), [e.text for e in execution.errors]
    return {o.identifier: o.reference for o in execution.processOutputs}, percents


def download(url, path):
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as handle:
        handle.write(response.read())
    return path


def ssa(url, folder, message_file, object_ids):
    with open(message_file) as handle:
        message = handle.read()
    references, _ = execute(
        url,
        "ssa_ingest",
        [("messages", ComplexDataInput(message, mimeType="text/plain")), ("source", "qgis")],
        ["result"],
        120,
    )
    with urllib.request.urlopen(references["result"], timeout=60) as response:
        report = json.load(response)
    inputs = [("object_id", o) for o in object_ids] + [("format", "geojson"), ("track_minutes", "95")]
    references, _ = execute(url, "ssa_query_orbits", inputs, ["result"], 120)
    tracks = download(references["result"], os.path.join(folder, "tracks.geojson"))
    layer = QgsVectorLayer(tracks, "ground tracks", "ogr")
    return {
        "ingested": report["totals"],
        "reference": references["result"],
        "valid": layer.isValid(),
        "count": layer.featureCount(),
        "geometry": QgsWkbTypes.geometryDisplayString(layer.geometryType()),
        "crs": layer.crs().authid(),
        "extent": [round(v, 3) for v in (layer.extent().yMinimum(), layer.extent().yMaximum())],
    }


def s2p(url, folder, images):
    inputs = [("images", ComplexDataInput(i, mimeType=IMAGE)) for i in images]
    inputs += [("roi_pixels", "300,300,300,300"), ("tile_size", "300"), ("dsm_resolution", "0.5")]
    references, percents = execute(url, "s2p_stereo", inputs, ["dsm"], 300)
    dsm = download(references["dsm"], os.path.join(folder, "dsm.tif"))
    layer = QgsRasterLayer(dsm, "dsm", "gdal")
    stats = layer.dataProvider().bandStatistics(1)
    return {
        "percents": percents,
        "valid": layer.isValid(),
        "size": [layer.width(), layer.height()],
        "bands": layer.bandCount(),
        "crs": layer.crs().authid(),
        "range": [stats.minimumValue, stats.maximumValue],
    }


def main():
    what, url, folder, *rest = sys.argv[1:]
    application = QgsApplication([], False)
    application.initQgis()
    try:
        seen = ssa(url, folder, rest[0], rest[1:]) if what == "ssa" else s2p(url, folder, rest)
    finally:
        application.exitQgis()
    print(json.dumps({"qgis": Qgis.QGIS_VERSION, **seen}))


if __name__ == "__main__":
    main()
