"""A test-only vector process with the inputs and outputs QGIS's WPS plugins use: a layer in as GML
(or GeoJSON), a GeoJSON layer and a CSV table out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lxml import etree

from wps_server.config import Settings
from wps_server.errors import ProcessError
from wps_server.process import (
    FORMATS,
    VECTOR_FORMATS,
    ComplexInput,
    ComplexOutput,
    JobContext,
    LiteralOutput,
    Process,
    ProcessInputs,
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_MEMBERS = {"featureMember", "member"}
_COORDINATES = {"pos", "coordinates", "posList"}


def _gml_points(data: bytes) -> list[tuple[float, float]]:
    """The first position of each feature of a GML feature collection (GML 2, 3.1 or 3.2)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ProcessError(f"the layer is not well-formed GML: {exc.msg}", "layer") from None
    features = [
        child for member in root.iter() if etree.QName(member).localname in _MEMBERS for child in member
    ]
    features += [
        child
        for holder in root.iter()
        if etree.QName(holder).localname == "featureMembers"
        for child in holder
    ]
    points = []
    for feature in features:
        position = next((e for e in feature.iter() if etree.QName(e).localname in _COORDINATES), None)
        if position is None or not (position.text or "").strip():
            continue
        numbers = [float(v) for v in (position.text or "").replace(",", " ").split()]
        first, second = numbers[0], numbers[1]
        points.append((second, first) if _latitude_first(position) else (first, second))
    return points


def _latitude_first(element: etree._Element) -> bool:
    """EPSG:4326 named as a URN or an http URI means latitude first (GML 3); ``EPSG:4326`` does not."""
    for holder in (element, *element.iterancestors()):
        name = holder.get("srsName")
        if name:
            lowered = name.lower()
            return lowered.endswith(("::4326", "/4326")) and ("urn:" in lowered or "/def/crs/" in lowered)
    return False


def _geojson_points(data: bytes) -> list[tuple[float, float]]:
    document = json.loads(data)
    points = []
    for feature in document.get("features", []):
        coordinates = (feature.get("geometry") or {}).get("coordinates")
        while isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], list):
            coordinates = coordinates[0]
        if coordinates:
            points.append((float(coordinates[0]), float(coordinates[1])))
    return points


def _features(inputs: ProcessInputs, ctx: JobContext) -> Mapping[str, Any]:
    layer = inputs.one("layer")
    data = layer.read_bytes()
    points = _geojson_points(data) if "json" in layer.mime_type else _gml_points(data)
    if not points:
        raise ProcessError("the layer has no feature with a position", "layer")
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"n": n}, "geometry": {"type": "Point", "coordinates": [x, y]}}
            for n, (x, y) in enumerate(points)
        ],
    }
    table = "n,x,y\n" + "".join(f"{n},{x},{y}\n" for n, (x, y) in enumerate(points))
    return {"points": json.dumps(collection), "table": table, "count": len(points)}


def vector_processes(settings: Settings | None = None) -> list[Process]:
    return [
        Process(
            "features",
            "First position of each feature",
            _features,
            abstract="Reads a vector layer (GML or GeoJSON) and returns one point per feature.",
            inputs=(ComplexInput("layer", "Vector layer", VECTOR_FORMATS),),
            outputs=(
                ComplexOutput("points", "Points", (FORMATS["geojson"], FORMATS["json"])),
                ComplexOutput("table", "Points as a table", (FORMATS["csv"],)),
                LiteralOutput("count", "Features read", "integer"),
            ),
        )
    ]
