"""WPS 2.0.0 requests, by KVP (GET) or XML (POST), and the choice of dialect for a ``/wps`` request.

A request is WPS 2.0.0 when its KVP says ``version=2.0.0`` or its XML root is in the WPS 2.0
namespace; a GetCapabilities is answered in the first version of its ``AcceptVersions`` that the
server speaks. Everything else goes to the WPS 1.0.0 parser, so neither version ever answers the
other's requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from wps_server.errors import (
    InvalidParameterValue,
    MissingParameterValue,
    OperationNotSupported,
    VersionNegotiationFailed,
)
from wps_server.operations import DescribeProcess, Execute, GetCapabilities, InputSpec, OutputSpec
from wps_server.safexml import parse_xml
from wps_server.wpsrequest import bbox_corners, check_service, element_text, reference_body, standalone

VERSION = "2.0.0"
WPS = "http://www.opengis.net/wps/2.0"
OWS = "http://www.opengis.net/ows/2.0"
XLINK = "http://www.w3.org/1999/xlink"
WPS1 = "http://www.opengis.net/wps/1.0.0"
SUPPORTED_VERSIONS = ("2.0.0", "1.0.0")
OPERATIONS = ("GetCapabilities", "DescribeProcess", "Execute", "GetStatus", "GetResult", "Dismiss")
JOB_OPERATIONS = ("GetStatus", "GetResult", "Dismiss")


@dataclass(frozen=True)
class JobRequest:
    """GetStatus, GetResult or Dismiss of one job."""

    operation: str
    job_id: str


@dataclass(frozen=True)
class Capabilities:
    """A GetCapabilities, with the version negotiated for the answer."""

    version: str
    request: GetCapabilities


Operation2 = Capabilities | DescribeProcess | Execute | JobRequest


# -- which dialect -----------------------------------------------------------------------------------
def negotiate(accepted: tuple[str, ...], default: str) -> str:
    """The first of the client's versions that the server speaks (OWS order of preference)."""
    if not accepted:
        return default
    for version in accepted:
        if version in SUPPORTED_VERSIONS:
            return version
    raise VersionNegotiationFailed(
        f"none of the versions {', '.join(accepted)} is supported; this server speaks "
        f"{' and '.join(SUPPORTED_VERSIONS)}",
        "AcceptVersions",
    )


def _accept_versions(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def kvp_version(args: Mapping[str, str]) -> str:
    """The version whose documents answer these query parameters ("1.0.0" unless 2.0.0 is asked)."""
    params = {key.lower(): value for key, value in args.items()}
    if params.get("request", "").strip().lower() == "getcapabilities":
        accepted = _accept_versions(params.get("acceptversions", ""))
        default = VERSION if params.get("version", "").strip() == VERSION else "1.0.0"
        try:
            return negotiate(accepted, default)
        except VersionNegotiationFailed:
            return "1.0.0"  # the WPS 1.0.0 parser reports the failure in its own format
    return VERSION if params.get("version", "").strip() == VERSION else "1.0.0"


HEAD = 8192  # how much of a body's start tells its version
_CAPABILITIES = re.compile(rb"GetCapabilities")


def names_wps2(body: bytes) -> bool:
    """Whether the start of a POSTed body names the WPS 2.0 namespace (a 2.0.0 request, even malformed)."""
    return WPS.encode() in body[:HEAD]


def xml_version(body: bytes) -> tuple[str, etree._Element | None]:
    """The version of a POSTed request, and its parsed root when it had to be parsed to tell.

    Only bodies that mention the WPS 2.0 namespace or a GetCapabilities near their start are
    parsed here; any other body (a large WPS 1.0.0 Execute, say) goes untouched to the 1.0.0 parser.
    A body that is not XML has no root: it is 2.0.0 when it names the WPS 2.0 namespace.
    """
    head = body[:HEAD]
    if not names_wps2(head) and not _CAPABILITIES.search(head):
        return "1.0.0", None
    try:
        root = parse_xml(body)
    except InvalidParameterValue:
        return (VERSION if names_wps2(head) else "1.0.0"), None
    name = etree.QName(root)
    if name.localname == "GetCapabilities" and name.namespace in {WPS, WPS1}:
        accepted = tuple(
            (v.text or "").strip()
            for v in root.iter(f"{{{OWS}}}Version", "{http://www.opengis.net/ows/1.1}Version")
        )
        default = VERSION if name.namespace == WPS else "1.0.0"
        try:
            return negotiate(tuple(v for v in accepted if v), default), root
        except VersionNegotiationFailed:
            return default, root
    return (VERSION if name.namespace == WPS else "1.0.0"), root


# -- KVP ---------------------------------------------------------------------------------------------
def parse_kvp(args: Mapping[str, str]) -> Operation2:
    params = {key.lower(): value for key, value in args.items()}
    check_service(params.get("service"))
    request = params.get("request", "").strip()
    if not request:
        raise MissingParameterValue("the parameter request is missing", "request")
    operation = next((op for op in OPERATIONS if op.lower() == request.lower()), None)
    if operation is None:
        raise OperationNotSupported(f"request {request!r} is not one of {', '.join(OPERATIONS)}", "request")
    language = params.get("language") or None
    if operation == "GetCapabilities":
        accepted = _accept_versions(params.get("acceptversions", ""))
        return Capabilities(negotiate(accepted, VERSION), GetCapabilities(accepted, language))
    _check_version(params.get("version"))
    if operation == "Execute":
        raise OperationNotSupported(
            "WPS 2.0.0 Execute is sent as an XML document by HTTP POST, not by KVP", "request"
        )
    if operation == "DescribeProcess":
        identifiers = tuple(i for i in params.get("identifier", "").split(",") if i.strip())
        if not identifiers:
            raise MissingParameterValue("the parameter identifier is missing", "identifier")
        return DescribeProcess(identifiers, VERSION, language)
    job_id = params.get("jobid", "").strip()
    if not job_id:
        raise MissingParameterValue(f"{operation} needs the parameter JobID", "JobID")
    return JobRequest(operation, job_id)


def _check_version(version: str | None) -> None:
    if not version:
        raise MissingParameterValue(f"the parameter version={VERSION} is missing", "version")
    if version != VERSION:
        raise InvalidParameterValue(f"version {version!r} is not supported here; use {VERSION}", "version")


# -- XML ---------------------------------------------------------------------------------------------
def parse_xml_request(root: etree._Element) -> Operation2:
    name = etree.QName(root)
    if name.namespace != WPS or name.localname not in OPERATIONS:
        raise OperationNotSupported(f"{name.localname!r} is not a WPS {VERSION} request", "request")
    check_service(root.get("service"))
    if name.localname == "GetCapabilities":
        accepted = tuple(
            (v.text or "").strip() for v in root.iterfind(f"{{{OWS}}}AcceptVersions/{{{OWS}}}Version")
        )
        accepted = tuple(v for v in accepted if v)
        language = root.findtext(f"{{{OWS}}}AcceptLanguages/{{{OWS}}}Language")
        return Capabilities(negotiate(accepted, VERSION), GetCapabilities(accepted, language))
    _check_version(root.get("version"))
    if name.localname == "DescribeProcess":
        identifiers = tuple(element_text(i, "identifier") for i in root.iterfind(f"{{{OWS}}}Identifier"))
        if not identifiers:
            raise MissingParameterValue("DescribeProcess needs at least one ows:Identifier", "identifier")
        return DescribeProcess(identifiers, VERSION, root.get("{http://www.w3.org/XML/1998/namespace}lang"))
    if name.localname in JOB_OPERATIONS:
        element = root.find(f"{{{WPS}}}JobID")
        if element is None:
            raise MissingParameterValue(f"{name.localname} needs a wps:JobID", "JobID")
        return JobRequest(name.localname, element_text(element, "JobID"))
    return _execute(root)


def _execute(root: etree._Element) -> Execute:
    identifier = root.find(f"{{{OWS}}}Identifier")
    if identifier is None:
        raise MissingParameterValue("Execute needs an ows:Identifier", "identifier")
    mode = (root.get("mode") or "").strip()
    if mode not in {"sync", "async", "auto"}:
        raise InvalidParameterValue(f"mode must be sync, async or auto, not {mode!r}", "mode")
    response = (root.get("response") or "").strip()
    if response not in {"raw", "document"}:
        raise InvalidParameterValue(f"response must be raw or document, not {response!r}", "response")
    inputs = tuple(_input(i) for i in root.iterfind(f"{{{WPS}}}Input"))
    outputs = tuple(_output(o) for o in root.iterfind(f"{{{WPS}}}Output"))
    raw = None
    if response == "raw" and len(outputs) == 1:
        raw, outputs = outputs[0], ()
    return Execute(
        identifier=element_text(identifier, "identifier"),
        version=VERSION,
        inputs=inputs,
        outputs=outputs,
        raw_output=raw,
        store=mode == "async",
        status=mode == "async",
        extra={"interface": "wps2", "mode": mode, "response": response},
    )


def _output(element: etree._Element) -> OutputSpec:
    identifier = (element.get("id") or "").strip()
    if not identifier:
        raise MissingParameterValue("each wps:Output needs an id", "Output")
    if element.find(f"{{{WPS}}}Output") is not None:
        raise InvalidParameterValue(f"output {identifier}: nested outputs are not supported", identifier)
    transmission = (element.get("transmission") or "value").strip()
    if transmission not in {"value", "reference"}:
        raise InvalidParameterValue(
            f"output {identifier}: transmission must be value or reference, not {transmission!r}", identifier
        )
    return OutputSpec(
        identifier=identifier,
        as_reference=transmission == "reference",
        mime_type=element.get("mimeType"),
        encoding=element.get("encoding"),
        schema=element.get("schema"),
    )


def _input(element: etree._Element) -> InputSpec:
    identifier = (element.get("id") or "").strip()
    if not identifier:
        raise MissingParameterValue("each wps:Input needs an id", "Input")
    reference = element.find(f"{{{WPS}}}Reference")
    if reference is not None:
        return _reference(identifier, reference)
    data = element.find(f"{{{WPS}}}Data")
    if data is None:
        if element.find(f"{{{WPS}}}Input") is not None:
            raise InvalidParameterValue(f"input {identifier}: nested inputs are not supported", identifier)
        raise MissingParameterValue(f"input {identifier} needs a wps:Data or wps:Reference", identifier)
    children = [c for c in data if isinstance(c.tag, str)]
    mime_type, encoding, schema = data.get("mimeType"), data.get("encoding"), data.get("schema")
    if len(children) == 1 and children[0].tag == f"{{{WPS}}}LiteralValue":
        child = children[0]
        return InputSpec(
            identifier,
            value=child.text or "",
            data_type=child.get("dataType"),
            uom=child.get("uom"),
            kind="literal",
        )
    if len(children) == 1 and children[0].tag == f"{{{OWS}}}BoundingBox":
        child = children[0]
        return InputSpec(
            identifier, crs=child.get("crs"), bbox=bbox_corners(identifier, child, OWS), kind="bbox"
        )
    if children:
        if len(children) > 1:
            raise InvalidParameterValue(
                f"input {identifier}: wps:Data holds one XML element, not {len(children)}", identifier
            )
        return InputSpec(
            identifier,
            xml=standalone(children[0]),
            mime_type=mime_type,
            encoding=encoding,
            schema=schema,
            kind="complex",
        )
    # plain text: a literal value, a text complex value or a "minx,miny,maxx,maxy" box
    return InputSpec(identifier, value=data.text or "", mime_type=mime_type, encoding=encoding, schema=schema)


def _reference(identifier: str, reference: etree._Element) -> InputSpec:
    href = reference.get(f"{{{XLINK}}}href")
    if not href:
        raise MissingParameterValue(f"the reference of input {identifier} has no xlink:href", identifier)
    body = reference_body(identifier, reference, WPS)
    return InputSpec(
        identifier,
        href=href,
        method="POST" if body is not None else "GET",
        body=body,
        mime_type=reference.get("mimeType"),
        encoding=reference.get("encoding"),
        schema=reference.get("schema"),
    )
