"""Offline XSD checks of every document the server returns, against the OGC schemas in tests/data."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

SCHEMAS = Path(__file__).parent / "data" / "ogc-schemas"
_ROOTS = {
    ("http://www.opengis.net/wps/1.0.0", "Capabilities"): "wps/1.0.0/wpsGetCapabilities_response.xsd",
    ("http://www.opengis.net/wps/1.0.0", "ProcessDescriptions"): "wps/1.0.0/wpsDescribeProcess_response.xsd",
    ("http://www.opengis.net/wps/1.0.0", "ExecuteResponse"): "wps/1.0.0/wpsExecute_response.xsd",
    ("http://www.opengis.net/wps/1.0.0", "Execute"): "wps/1.0.0/wpsExecute_request.xsd",
    ("http://www.opengis.net/ows/1.1", "ExceptionReport"): "ows/1.1.0/owsExceptionReport.xsd",
    ("http://www.opengis.net/ows/2.0", "ExceptionReport"): "ows/2.0/owsExceptionReport.xsd",
}
for _name in ("Capabilities", "ProcessOfferings", "StatusInfo", "Result", "Execute"):
    _ROOTS[("http://www.opengis.net/wps/2.0", _name)] = "wps/2.0/wps.xsd"


class _Offline(etree.Resolver):
    """Serve schemas.opengis.net and www.w3.org schema imports from the local copies."""

    def resolve(self, url: str, pubid: str, context: object) -> object:
        if url.startswith("http://schemas.opengis.net/"):
            return self.resolve_filename(
                str(SCHEMAS / url.removeprefix("http://schemas.opengis.net/")), context
            )
        if url.startswith("http://www.w3.org/"):
            return self.resolve_filename(str(SCHEMAS / "w3c" / url.rsplit("/", 1)[-1]), context)
        return None


@cache
def _schema(relative: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_Offline())
    return etree.XMLSchema(etree.parse(str(SCHEMAS / relative), parser))


def schema_errors(document: bytes) -> list[str]:
    root = etree.fromstring(document, etree.XMLParser(no_network=True, resolve_entities=False))
    name = etree.QName(root)
    relative = _ROOTS.get((name.namespace, name.localname))
    if relative is None:
        return [f"no schema for {name}"]
    schema = _schema(relative)
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def assert_valid(document: bytes) -> None:
    errors = schema_errors(document)
    assert not errors, "\n".join(errors[:10]) + "\n" + document.decode(errors="replace")[:2000]
