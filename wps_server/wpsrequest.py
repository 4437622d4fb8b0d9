"""Request-parsing steps the WPS 1.0.0 and 2.0.0 parsers share.

The versions differ in their WPS and OWS namespaces, which the callers pass in.
"""

from __future__ import annotations

from copy import deepcopy

from lxml import etree

from wps_server.errors import InvalidParameterValue, MissingParameterValue


def check_service(service: str | None) -> None:
    """The ``service`` parameter or attribute must be present and say WPS."""
    if not service:
        raise MissingParameterValue("the parameter service=WPS is missing", "service")
    if service.upper() != "WPS":
        raise InvalidParameterValue(f"service must be WPS, not {service!r}", "service")


def element_text(element: etree._Element, locator: str) -> str:
    """The stripped text of an element that must not be empty."""
    text = (element.text or "").strip()
    if not text:
        raise MissingParameterValue(f"element {etree.QName(element).localname} is empty", locator)
    return text


def standalone(element: etree._Element) -> bytes:
    """The element as its own document, without the request's unused namespace declarations."""
    copy = deepcopy(element)
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy)


def bbox_corners(
    identifier: str, element: etree._Element, ows: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The ows:LowerCorner and ows:UpperCorner of a bounding box input, as numbers."""
    corners = []
    for name in ("LowerCorner", "UpperCorner"):
        corner = element.find(f"{{{ows}}}{name}")
        if corner is None or not (corner.text or "").split():
            raise MissingParameterValue(f"bounding box {identifier} needs ows:{name}", identifier)
        try:
            corners.append(tuple(float(v) for v in (corner.text or "").split()))
        except ValueError:
            raise InvalidParameterValue(
                f"bounding box {identifier}: {name} must be numbers", identifier
            ) from None
    return corners[0], corners[1]


def reference_body(identifier: str, reference: etree._Element, wps: str) -> bytes | None:
    """The inline wps:Body of a wps:Reference (its one element, or its text), None without one;
    a wps:BodyReference is refused."""
    if reference.find(f"{{{wps}}}BodyReference") is not None:
        raise InvalidParameterValue("wps:BodyReference is not supported; put the body inline", identifier)
    body_element = reference.find(f"{{{wps}}}Body")
    if body_element is None:
        return None
    children = [c for c in body_element if isinstance(c.tag, str)]
    return standalone(children[0]) if children else (body_element.text or "").encode()
