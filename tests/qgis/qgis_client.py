"""Run by Debian's /usr/bin/python3 (python3-qgis, python3-owslib), offscreen: a QGIS layer goes to the
server as the two QGIS WPS plugins send it, and the outputs come back as QGIS layers.

- the "OWSLib-based WPS Client" way: OWSLib, asynchronous, polling, the layer inline as GML with no
  mimeType, outputs by reference;
- the older "WPS Client" way: synchronous XML POST, GML as ``text/xml; subtype=gml/3.1.1``.

Usage: python3 qgis_client.py SERVER_URL WORK_FOLDER; prints one JSON object of what it saw.
"""

import json
import os
import sys
import time
import urllib.request

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from lxml import etree
from owslib.wps import ASYNC, FeatureCollection, WebProcessingService

from qgis.core import (
    QgsApplication,
    QgsCoordinateTransformContext,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsPointXY,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

WPS = "http://www.opengis.net/wps/1.0.0"
OWS = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"
GML3 = "text/xml; subtype=gml/3.1.1"
POINTS = [(55.45, -20.88), (55.53, -21.01), (55.72, -21.37)]


class InlineLayer(FeatureCollection):
    """The layer inline in wps:ComplexData with no mimeType, as the OWSLib-based plugin sends it."""

    def __init__(self, gml: bytes):
        super().__init__()
        self.gml = gml

    def getXml(self):
        data = etree.Element(f"{{{WPS}}}Data")
        etree.SubElement(data, f"{{{WPS}}}ComplexData").append(etree.fromstring(self.gml))
        return data


def gml_layer(folder):
    layer = QgsVectorLayer("Point?crs=EPSG:4326", "stations", "memory")
    provider = layer.dataProvider()
    provider.addAttributes([QgsField("name", QVariant.String)])
    layer.updateFields()
    for index, (x, y) in enumerate(POINTS):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
        feature.setAttribute("name", f"station {index}")
        provider.addFeature(feature)
    path = os.path.join(folder, "stations.gml")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GML"
    options.datasourceOptions = ["FORMAT=GML3"]
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsCoordinateTransformContext(), options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    with open(path, "rb") as handle:
        return handle.read()


def download(url, path):
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as handle:
        handle.write(response.read())
    return path


def load_outputs(references, folder, tag):
    points = download(references["points"], os.path.join(folder, f"{tag}_points.geojson"))
    table = download(references["table"], os.path.join(folder, f"{tag}_table.csv"))
    vector = QgsVectorLayer(points, f"{tag} points", "ogr")
    csv = QgsVectorLayer(
        f"file://{table}?delimiter=,&xField=x&yField=y&crs=EPSG:4326", f"{tag} table", "delimitedtext"
    )
    first = next(vector.getFeatures()).geometry().asPoint()
    return {
        "points_valid": vector.isValid(),
        "points_count": vector.featureCount(),
        "first_point": [round(first.x(), 6), round(first.y(), 6)],
        "table_valid": csv.isValid(),
        "table_count": csv.featureCount(),
    }


def owslib_plugin_way(url, gml, folder):
    service = WebProcessingService(f"{url}/wps")
    described = service.describeprocess("features")
    formats = [v.mimeType for v in described.dataInputs[0].supportedValues]
    execution = service.execute(
        "features", [("layer", InlineLayer(gml))], output=[("points", True), ("table", True)], mode=ASYNC
    )
    polls = 0
    while not execution.isComplete():
        time.sleep(0.5)
        execution.checkStatus(sleepSecs=0)
        polls += 1
        assert polls < 240, "the job did not finish"
    assert execution.isSucceded(), [e.text for e in execution.errors]
    references = {o.identifier: o.reference for o in execution.processOutputs}
    return {"formats": formats, **load_outputs(references, folder, "async")}


def wps_client_plugin_way(url, gml, folder):
    body = f"""<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" xmlns:xlink="{XLINK}" service="WPS" version="1.0.0">
      <ows:Identifier>features</ows:Identifier>
      <wps:DataInputs><wps:Input><ows:Identifier>layer</ows:Identifier><wps:Data>
        <wps:ComplexData mimeType="{GML3}" schema="http://schemas.opengis.net/gml/3.1.1/base/feature.xsd">
        {gml.decode().split("?>", 1)[-1]}</wps:ComplexData></wps:Data></wps:Input></wps:DataInputs>
      <wps:ResponseForm><wps:ResponseDocument storeExecuteResponse="false">
        <wps:Output asReference="true"><ows:Identifier>points</ows:Identifier></wps:Output>
        <wps:Output asReference="true"><ows:Identifier>table</ows:Identifier></wps:Output>
        <wps:Output><ows:Identifier>count</ows:Identifier></wps:Output>
      </wps:ResponseDocument></wps:ResponseForm></wps:Execute>"""
    request = urllib.request.Request(
        f"{url}/wps", data=body.encode(), headers={"Content-Type": "text/xml"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        root = etree.fromstring(response.read())
    ns = {"wps": WPS, "ows": OWS}
    references = {
        o.findtext(f"{{{OWS}}}Identifier"): o.find(f"{{{WPS}}}Reference").get("href")
        for o in root.iterfind(".//wps:Output", ns)
        if o.find(f"{{{WPS}}}Reference") is not None
    }
    count = root.xpath("//wps:Output[ows:Identifier='count']//wps:LiteralData/text()", namespaces=ns)
    return {"count": count, **load_outputs(references, folder, "sync")}


def main():
    url, folder = sys.argv[1], sys.argv[2]
    application = QgsApplication([], False)
    application.initQgis()
    try:
        gml = gml_layer(folder)
        seen = {
            "qgis": __import__("qgis.core").core.Qgis.QGIS_VERSION,
            "owslib_plugin": owslib_plugin_way(url, gml, folder),
            "wps_client_plugin": wps_client_plugin_way(url, gml, folder),
        }
    finally:
        application.exitQgis()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
