"""XML parsing with no DTD, no entities and no network: the only way request XML is read."""

from __future__ import annotations

from lxml import etree

from wps_server.errors import InvalidParameterValue

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def parse_xml(data: bytes, what: str = "request") -> etree._Element:
    """Parse untrusted XML; a DOCTYPE (and with it any entity) is refused outright."""
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise InvalidParameterValue(f"the {what} XML declares a DOCTYPE or entities, which are not accepted")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidParameterValue(f"the {what} is not well-formed XML: {exc.msg}") from None
    if root is None:
        raise InvalidParameterValue(f"the {what} XML is empty")
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise InvalidParameterValue(f"the {what} XML declares a DOCTYPE, which is not accepted")
    return root
