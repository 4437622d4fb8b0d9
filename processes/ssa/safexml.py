"""Hardened XML parsing with lxml: no DTD, no entities, no network, no huge trees, size-limited."""

from __future__ import annotations

import io
from collections.abc import Iterator

from lxml import etree

from processes.ssa.errors import MessageError, MessageTooLargeError, UnsafeXMLError
from processes.ssa.textio import DEFAULT_MAX_BYTES


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_pis=True,
    )


def _precheck(data: bytes | str, max_bytes: int) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise MessageTooLargeError(0, "", f"message has {len(raw)} bytes, more than the limit of {max_bytes}")
    for marker in (b"<!DOCTYPE", b"<!ENTITY"):
        pos = raw.find(marker)
        if pos >= 0:
            line = raw.count(b"\n", 0, pos) + 1
            raise UnsafeXMLError(
                line, marker.decode()[2:], "DOCTYPE and entity declarations are not accepted"
            )
    return raw


def iter_xml(data: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[tuple[str, etree._Element]]:
    """Stream ('start' | 'end', element) events with the same refusals as :func:`parse_xml`.

    The caller clears what it has consumed, so memory stays flat for large messages.
    """
    raw = _precheck(data, max_bytes)
    events = etree.iterparse(
        io.BytesIO(raw),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_pis=True,
        remove_comments=True,
    )
    try:
        yield from events
    except etree.XMLSyntaxError as exc:
        raise MessageError(exc.lineno or 0, "", f"malformed XML: {exc.msg}") from None


def parse_xml(data: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse an XML message and return its root element.

    A DOCTYPE or ENTITY declaration is refused outright (no entity can be expanded, internal
    or external); so are documents over ``max_bytes`` and malformed ones, with their line.
    """
    raw = _precheck(data, max_bytes)
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise MessageError(line, "", f"malformed XML: {exc.msg}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise UnsafeXMLError(1, "DOCTYPE", "DOCTYPE declarations are not accepted")
    for node in root.iter(etree.Entity):
        raise UnsafeXMLError(node.sourceline or 0, "ENTITY", "entity references are not accepted")
    return root


def local_name(element: etree._Element) -> str:
    """Tag without namespace ('' for comments and processing instructions)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def text_of(element: etree._Element) -> str:
    return (element.text or "").strip()
