"""Building blocks of the WPS 1.0.0 and 2.0.0 XML documents.

The two versions differ in their WPS and OWS namespaces, which the callers pass in; the element
helpers, the OWS blocks both versions write alike and the way complex content is embedded are here.
"""

from __future__ import annotations

import base64
import re

from lxml import etree

from wps_server.config import Metadata
from wps_server.process import LiteralInput, MetadataLink
from wps_server.results import literal_text

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
# the XML Schema type of each literal data type
XS_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "float": "double",
    "boolean": "boolean",
    "dateTime": "dateTime",
    "anyURI": "anyURI",
    "date": "date",
    "time": "time",
    "nonNegativeInteger": "nonNegativeInteger",
    "positiveInteger": "positiveInteger",
    # OWS measure types, named as PyWPS names them
    "scale": "scale",
    "angle": "angle",
}


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot hold (NUL, other controls, lone surrogates) shown
    as U+FFFD, so that no user text can make a document impossible to write."""
    return _NOT_XML.sub("\ufffd", text)


def q(ns: str, name: str) -> str:
    """The qualified (Clark notation) name of ``name`` in namespace ``ns``."""
    return f"{{{ns}}}{name}"


def sub(
    parent: etree._Element, ns: str, local: str, text: str | None = None, **attrs: str | None
) -> etree._Element:
    """A new child of ``parent``; attributes given as None are left out."""
    element = etree.SubElement(
        parent, q(ns, local), {k: xml_safe(v) for k, v in attrs.items() if v is not None}
    )
    if text is not None:
        element.text = xml_safe(text)
    return element


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def ows_keywords(parent: etree._Element, ows: str, words: tuple[str, ...]) -> None:
    """An ows:Keywords block, when there are any keywords."""
    if words:
        holder = sub(parent, ows, "Keywords")
        for word in words:
            sub(holder, ows, "Keyword", word)


def service_provider(root: etree._Element, ows: str, xlink: str, meta: Metadata) -> None:
    provider = sub(root, ows, "ServiceProvider")
    sub(provider, ows, "ProviderName", meta.provider_name)
    sub(provider, ows, "ProviderSite").set(q(xlink, "href"), meta.provider_url)
    contact = sub(provider, ows, "ServiceContact")
    if meta.contact_name:
        sub(contact, ows, "IndividualName", meta.contact_name)
    if meta.contact_email:
        address = sub(sub(contact, ows, "ContactInfo"), ows, "Address")
        sub(address, ows, "ElectronicMailAddress", meta.contact_email)


def allowed_values(parent: etree._Element, ows: str, definition: LiteralInput) -> None:
    """ows:AllowedValues from the definition's values and ranges."""
    allowed = sub(parent, ows, "AllowedValues")
    for value in definition.allowed_values:
        sub(allowed, ows, "Value", literal_text(value))
    for bounds in definition.all_ranges():
        rng = sub(allowed, ows, "Range", **{q(ows, "rangeClosure"): bounds.closure})
        if bounds.minimum is not None:
            sub(rng, ows, "MinimumValue", literal_text(bounds.minimum))
        if bounds.maximum is not None:
            sub(rng, ows, "MaximumValue", literal_text(bounds.maximum))
        if bounds.spacing:
            sub(rng, ows, "Spacing", literal_text(bounds.spacing))


def ows_metadata(parent: etree._Element, ows: str, xlink: str, links: tuple[MetadataLink, ...]) -> None:
    """ows:Metadata elements, each with its xlink title, href and role when it has them."""
    for link in links:
        attributes = {q(xlink, "title"): link[0], q(xlink, "href"): link[1] or None}
        if len(link) > 2:
            attributes[q(xlink, "role")] = link[2] or None
        sub(parent, ows, "Metadata", **attributes)


def embed_content(element: etree._Element, content: bytes, mime_type: str | None) -> None:
    """Put ``content`` into ``element``: as XML if it parses, as text (CDATA) for a text type that
    decodes, otherwise base64 with ``encoding="base64"``."""
    mime = (mime_type or "").lower()
    if "xml" in mime or "gml" in mime:
        try:
            element.append(
                etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
            )
            return
        except etree.XMLSyntaxError:
            pass
    if mime.startswith("text/") or mime.endswith("json") or "csv" in mime:
        try:
            element.text = etree.CDATA(content.decode("utf-8"))
            return
        except (UnicodeDecodeError, ValueError):
            pass
    element.set("encoding", "base64")
    element.text = base64.b64encode(content).decode()
