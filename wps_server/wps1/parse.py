"""WPS 1.0.0 requests, by KVP (GET) or XML (POST), parsed into :mod:`wps_server.operations`."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from lxml import etree

from wps_server.errors import (
    InvalidParameterValue,
    MissingParameterValue,
    OperationNotSupported,
    VersionNegotiationFailed,
)
from wps_server.operations import DescribeProcess, Execute, GetCapabilities, InputSpec, Operation, OutputSpec
from wps_server.safexml import parse_xml
from wps_server.wpsrequest import bbox_corners, check_service, element_text, reference_body, standalone

VERSION = "1.0.0"
WPS = "http://www.opengis.net/wps/1.0.0"
OWS = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"
OPERATIONS = ("GetCapabilities", "DescribeProcess", "Execute")


def parse_kvp(args: Mapping[str, str]) -> Operation:
    """Parse the query parameters of a GET request (names are case-insensitive)."""
    params = {key.lower(): value for key, value in args.items()}
    check_service(params.get("service"))
    request = _required(params, "request")
    operation = next((op for op in OPERATIONS if op.lower() == request.lower()), None)
    if operation is None:
        raise OperationNotSupported(f"request {request!r} is not one of {', '.join(OPERATIONS)}", "request")
    language = params.get("language") or None
    if operation == "GetCapabilities":
        versions = tuple(v.strip() for v in params.get("acceptversions", "").split(",") if v.strip())
        return GetCapabilities(_negotiate(versions), language)
    version = _check_version(params.get("version"))
    identifiers = tuple(i for i in _required(params, "identifier").split(",") if i)
    if operation == "DescribeProcess":
        return DescribeProcess(identifiers, version, language)
    if len(identifiers) != 1:
        raise InvalidParameterValue("Execute takes exactly one process identifier", "identifier")
    document = params.get("responsedocument")
    raw = params.get("rawdataoutput")
    if document and raw:
        raise InvalidParameterValue("give ResponseDocument or RawDataOutput, not both", "RawDataOutput")
    raw_specs = _kvp_outputs(raw, "RawDataOutput") if raw else ()
    if len(raw_specs) > 1:
        raise InvalidParameterValue("RawDataOutput names exactly one output", "RawDataOutput")
    return Execute(
        identifier=identifiers[0],
        version=version,
        inputs=_kvp_inputs(params.get("datainputs", "")),
        outputs=_kvp_outputs(document, "ResponseDocument") if document else (),
        raw_output=raw_specs[0] if raw_specs else None,
        lineage=_flag(params, "lineage"),
        store=_flag(params, "storeexecuteresponse"),
        status=_flag(params, "status"),
        language=language,
    )


def parse_xml_request(body: bytes) -> Operation:
    """Parse the XML body of a POST request."""
    root = parse_xml(body)
    name = etree.QName(root)
    if name.namespace != WPS or name.localname not in OPERATIONS:
        if name.localname in OPERATIONS:
            raise VersionNegotiationFailed(
                f"{name.localname} in namespace {name.namespace} is not WPS {VERSION}", "version"
            )
        raise OperationNotSupported(f"{name.localname!r} is not a WPS {VERSION} request", "request")
    check_service(root.get("service"))
    language = root.get("language")
    if name.localname == "GetCapabilities":
        versions = tuple(
            v.text.strip() for v in root.iterfind(f"{{{WPS}}}AcceptVersions/{{{OWS}}}Version") if v.text
        )
        return GetCapabilities(_negotiate(versions), language)
    version = _check_version(root.get("version"))
    if name.localname == "DescribeProcess":
        identifiers = tuple(element_text(i, "identifier") for i in root.iterfind(f"{{{OWS}}}Identifier"))
        if not identifiers:
            raise MissingParameterValue("DescribeProcess needs at least one ows:Identifier", "identifier")
        return DescribeProcess(identifiers, version, language)
    return _xml_execute(root, version, language)


def _check_version(version: str | None) -> str:
    if not version:
        raise MissingParameterValue(f"the parameter version={VERSION} is missing", "version")
    if version != VERSION:
        raise InvalidParameterValue(f"version {version!r} is not supported; use {VERSION}", "version")
    return version


def _negotiate(accepted: tuple[str, ...]) -> tuple[str, ...]:
    if accepted and VERSION not in accepted:
        raise VersionNegotiationFailed(
            f"none of the versions {', '.join(accepted)} is supported; this server speaks {VERSION}",
            "AcceptVersions",
        )
    return accepted


def _required(params: Mapping[str, str], key: str) -> str:
    value = params.get(key, "").strip()
    if not value:
        raise MissingParameterValue(f"the parameter {key} is missing", key)
    return value


def _flag(params: Mapping[str, str], key: str) -> bool:
    value = params.get(key, "false").strip().lower()
    if value not in {"true", "false"}:
        raise InvalidParameterValue(f"{key} must be true or false, not {value!r}", key)
    return value == "true"


def _split_attributes(text: str, where: str) -> tuple[str, dict[str, str]]:
    """Split ``value@key=v@key2=v2``; pieces are unquoted once more so clients can escape ; @ =."""
    value, *pairs = text.split("@")
    attributes = {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not sep:
            raise InvalidParameterValue(f"attribute {pair!r} in {where} must be written key=value", where)
        attributes[key.strip().lower()] = unquote(val)
    return unquote(value), attributes


def _kvp_inputs(text: str) -> tuple[InputSpec, ...]:
    inputs = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        identifier, sep, rest = item.partition("=")
        if not sep or not identifier:
            raise InvalidParameterValue(
                f"DataInputs item {item!r} must be written identifier=value", "DataInputs"
            )
        value, attributes = _split_attributes(rest, "DataInputs")
        href = attributes.pop("xlink:href", None) or attributes.pop("href", None)
        inputs.append(
            InputSpec(
                identifier=unquote(identifier.strip()),
                value=None if href else value,
                href=href,
                mime_type=attributes.get("mimetype"),
                encoding=attributes.get("encoding"),
                schema=attributes.get("schema"),
                data_type=attributes.get("datatype"),
                uom=attributes.get("uom"),
            )
        )
    return tuple(inputs)


def _kvp_outputs(text: str, where: str) -> tuple[OutputSpec, ...]:
    outputs = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        head, attributes = _split_attributes(item, where)
        identifier = head.rstrip("=").strip()  # accept both out@asReference=true and out=@asReference=true
        if not identifier:
            raise InvalidParameterValue(f"{where} item {item!r} has no output identifier", where)
        outputs.append(
            OutputSpec(
                identifier=identifier,
                as_reference=_bool_attribute(attributes.get("asreference", "false"), where),
                mime_type=attributes.get("mimetype"),
                encoding=attributes.get("encoding"),
                schema=attributes.get("schema"),
                uom=attributes.get("uom"),
            )
        )
    return tuple(outputs)


def _bool_attribute(value: str, where: str) -> bool:
    if value.lower() not in {"true", "false"}:
        raise InvalidParameterValue(f"asReference must be true or false, not {value!r}", where)
    return value.lower() == "true"


def _xml_execute(root: etree._Element, version: str, language: str | None) -> Execute:
    identifier = root.find(f"{{{OWS}}}Identifier")
    if identifier is None:
        raise MissingParameterValue("Execute needs an ows:Identifier", "identifier")
    inputs = tuple(_xml_input(i) for i in root.iterfind(f"{{{WPS}}}DataInputs/{{{WPS}}}Input"))
    form = root.find(f"{{{WPS}}}ResponseForm")
    document = form.find(f"{{{WPS}}}ResponseDocument") if form is not None else None
    raw = form.find(f"{{{WPS}}}RawDataOutput") if form is not None else None
    outputs: tuple[OutputSpec, ...] = ()
    if document is not None:
        outputs = tuple(_xml_output(o) for o in document.iterfind(f"{{{WPS}}}Output"))
    return Execute(
        identifier=element_text(identifier, "identifier"),
        version=version,
        inputs=inputs,
        outputs=outputs,
        raw_output=_xml_output(raw) if raw is not None else None,
        lineage=_xml_flag(document, "lineage"),
        store=_xml_flag(document, "storeExecuteResponse"),
        status=_xml_flag(document, "status"),
        language=language,
    )


def _xml_flag(element: etree._Element | None, name: str) -> bool:
    if element is None:
        return False
    value = (element.get(name) or "false").strip().lower()
    if value not in {"true", "false", "1", "0"}:
        raise InvalidParameterValue(f"{name} must be true or false, not {value!r}", name)
    return value in {"true", "1"}


def _xml_output(element: etree._Element) -> OutputSpec:
    identifier = element.find(f"{{{OWS}}}Identifier")
    if identifier is None:
        raise MissingParameterValue("each requested output needs an ows:Identifier", "ResponseForm")
    return OutputSpec(
        identifier=element_text(identifier, "identifier"),
        as_reference=_xml_flag(element, "asReference"),
        mime_type=element.get("mimeType"),
        encoding=element.get("encoding"),
        schema=element.get("schema"),
        uom=element.get("uom"),
    )


def _xml_input(element: etree._Element) -> InputSpec:
    id_element = element.find(f"{{{OWS}}}Identifier")
    if id_element is None:
        raise MissingParameterValue("each input needs an ows:Identifier", "DataInputs")
    identifier = element_text(id_element, "identifier")
    reference = element.find(f"{{{WPS}}}Reference")
    if reference is not None:
        return _xml_reference(identifier, reference)
    data = element.find(f"{{{WPS}}}Data")
    if data is None or len(data) != 1:
        raise MissingParameterValue(f"input {identifier} needs a wps:Data or wps:Reference", identifier)
    child = data[0]
    kind = etree.QName(child).localname
    if kind == "LiteralData":
        return InputSpec(
            identifier,
            value=child.text or "",
            data_type=child.get("dataType"),
            uom=child.get("uom"),
            kind="literal",
        )
    if kind == "ComplexData":
        elements = [c for c in child if isinstance(c.tag, str)]
        xml = standalone(elements[0]) if elements else None
        return InputSpec(
            identifier,
            value=None if xml else (child.text or ""),
            xml=xml,
            mime_type=child.get("mimeType"),
            encoding=child.get("encoding"),
            schema=child.get("schema"),
            kind="complex",
        )
    if kind == "BoundingBoxData":
        return InputSpec(
            identifier, crs=child.get("crs"), bbox=bbox_corners(identifier, child, OWS), kind="bbox"
        )
    raise InvalidParameterValue(f"input {identifier}: unknown data element {kind}", identifier)


def _xml_reference(identifier: str, reference: etree._Element) -> InputSpec:
    href = reference.get(f"{{{XLINK}}}href") or reference.get("href")
    if not href:
        raise MissingParameterValue(f"the reference of input {identifier} has no xlink:href", identifier)
    method = (reference.get("method") or "GET").upper()
    if method not in {"GET", "POST"}:
        raise InvalidParameterValue(f"reference method must be GET or POST, not {method}", identifier)
    body = reference_body(identifier, reference, WPS)
    if reference.find(f"{{{WPS}}}Header") is not None:
        raise InvalidParameterValue("request headers in references are not supported", identifier)
    return InputSpec(
        identifier,
        href=href,
        method=method,
        body=body,
        mime_type=reference.get("mimeType"),
        encoding=reference.get("encoding"),
        schema=reference.get("schema"),
    )
