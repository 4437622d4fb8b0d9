"""WPS 2.0.0 response documents (Capabilities, ProcessOfferings, StatusInfo, Result) and OWS 2.0
exception reports, valid against the OGC schemas. They are built from the same process definitions
and job records as the WPS 1.0.0 documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime

from lxml import etree

from wps_server.config import Settings
from wps_server.engine import utc_text
from wps_server.errors import OWSError
from wps_server.jobs.model import Job, OutputRecord, Status
from wps_server.process import (
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    Format,
    InputDefinition,
    LiteralInput,
    LiteralOutput,
    OutputDefinition,
    Process,
)
from wps_server.results import literal_text
from wps_server.wps2.parse import OWS, VERSION, WPS, XLINK
from wps_server.xmlbuild import (
    XML_NS,
    XS_TYPE_NAMES,
    XSI,
    allowed_values,
    embed_content,
    ows_keywords,
    ows_metadata,
    q,
    serialise,
    service_provider,
    sub,
)

NSMAP = {"wps": WPS, "ows": OWS, "xlink": XLINK, "xsi": XSI}
SCHEMA_LOCATION = f"{WPS} http://schemas.opengis.net/wps/2.0/wps.xsd"
XS = "http://www.w3.org/2001/XMLSchema#"
STATUS = {
    Status.ACCEPTED: "Accepted",
    Status.RUNNING: "Running",
    Status.SUCCESSFUL: "Succeeded",
    Status.FAILED: "Failed",
    Status.DISMISSED: "Dismissed",
}
OPERATIONS = ("GetCapabilities", "DescribeProcess", "Execute", "GetStatus", "GetResult", "Dismiss")


def _root(name: str) -> etree._Element:
    root = etree.Element(q(WPS, name), nsmap=NSMAP)
    root.set(q(XSI, "schemaLocation"), SCHEMA_LOCATION)
    return root


def _describe(
    parent: etree._Element, identifier: str, title: str, abstract: str, keywords: tuple[str, ...] = ()
) -> None:
    """The WPS 2.0 order: Title, Abstract, Keywords, Identifier (then Metadata)."""
    sub(parent, OWS, "Title", title)
    if abstract:
        sub(parent, OWS, "Abstract", abstract)
    ows_keywords(parent, OWS, keywords)
    sub(parent, OWS, "Identifier", identifier)


def _metadata(parent: etree._Element, process: Process) -> None:
    ows_metadata(parent, OWS, XLINK, process.metadata)


def ows_version(version: str) -> str | None:
    """A process version as OWS 2.0 writes versions (x.y.z); left out when it has another form."""
    return version if re.fullmatch(r"\d+\.\d?\d\.\d?\d", version) else None


def job_control_options(process: Process) -> str:
    options = ["sync-execute"]
    if process.store_supported and process.status_supported:
        options.append("async-execute")
    return " ".join([*options, "dismiss"])


# -- capabilities and descriptions -------------------------------------------------------------------
def capabilities(settings: Settings, url: str, processes: Iterable[Process]) -> bytes:
    meta = settings.metadata
    root = _root("Capabilities")
    root.set("service", "WPS")
    root.set("version", VERSION)
    ident = sub(root, OWS, "ServiceIdentification")
    sub(ident, OWS, "Title", meta.title)
    sub(ident, OWS, "Abstract", f"{meta.abstract} Source code (AGPL-3.0): {meta.source_url}")
    ows_keywords(ident, OWS, meta.keywords)
    sub(ident, OWS, "ServiceType", "WPS")
    sub(ident, OWS, "ServiceTypeVersion", VERSION)
    sub(ident, OWS, "ServiceTypeVersion", "1.0.0")
    sub(ident, OWS, "Fees", "NONE")
    sub(ident, OWS, "AccessConstraints", "NONE")
    service_provider(root, OWS, XLINK, meta)
    operations = sub(root, OWS, "OperationsMetadata")
    for name in OPERATIONS:
        http = sub(sub(sub(operations, OWS, "Operation", name=name), OWS, "DCP"), OWS, "HTTP")
        if name != "Execute":
            sub(http, OWS, "Get").set(q(XLINK, "href"), url + "?")
        sub(http, OWS, "Post").set(q(XLINK, "href"), url)
    sub(sub(root, OWS, "Languages"), OWS, "Language", settings.language)
    contents = sub(root, WPS, "Contents")
    for process in processes:
        summary = sub(
            contents,
            WPS,
            "ProcessSummary",
            jobControlOptions=job_control_options(process),
            outputTransmission="value reference",
            processVersion=ows_version(process.version),
        )
        _describe(summary, process.identifier, process.title, process.abstract, process.keywords)
        _metadata(summary, process)
    return serialise(root)


def process_offerings(processes: Iterable[etree._Element]) -> bytes:
    root = _root("ProcessOfferings")
    for offering in processes:
        root.append(offering)
    return serialise(root)


def process_offering(process: Process, language: str) -> etree._Element:
    """One wps:ProcessOffering (cached by the caller, copied into each answer)."""
    attributes = {"jobControlOptions": job_control_options(process), "outputTransmission": "value reference"}
    version = ows_version(process.version)
    if version is not None:
        attributes["processVersion"] = version
    offering = etree.Element(q(WPS, "ProcessOffering"), attributes, nsmap=NSMAP)
    element = sub(offering, WPS, "Process")
    element.set(q(XML_NS, "lang"), language)
    _describe(element, process.identifier, process.title, process.abstract, process.keywords)
    _metadata(element, process)
    for definition in process.inputs:
        _input(element, definition)
    for output in process.outputs:
        _output_description(element, output)
    return offering


def _formats(parent: etree._Element, formats: tuple[Format, ...], max_megabytes: int | None = None) -> None:
    for index, fmt in enumerate(formats):
        sub(
            parent,
            WPS,
            "Format",
            mimeType=fmt.mime_type,
            encoding=fmt.encoding,
            schema=fmt.schema,
            maximumMegabytes=str(max_megabytes) if max_megabytes else None,
            default="true" if index == 0 else None,
        )


def _literal(
    parent: etree._Element, data_type: str, uom: str | None, definition: LiteralInput | None = None
) -> None:
    literal = sub(parent, WPS, "LiteralData")
    sub(literal, WPS, "Format", mimeType="text/plain", default="true")
    sub(literal, WPS, "Format", mimeType="text/xml")
    domain = etree.SubElement(literal, "LiteralDataDomain", default="true")  # unqualified in the XSD
    if definition is not None and (definition.allowed_values or definition.all_ranges()):
        allowed_values(domain, OWS, definition)
    else:
        sub(domain, OWS, "AnyValue")
    xs = XS_TYPE_NAMES[data_type]
    sub(domain, OWS, "DataType", xs, **{q(OWS, "reference"): XS + xs})
    if uom:
        sub(domain, OWS, "UOM", uom)
    if definition is not None and definition.default is not None:
        sub(domain, OWS, "DefaultValue", literal_text(definition.default))


def _bbox(parent: etree._Element, crss: tuple[str, ...]) -> None:
    box = sub(parent, WPS, "BoundingBoxData")
    sub(box, WPS, "Format", mimeType="text/plain", default="true")
    sub(box, WPS, "Format", mimeType="text/xml")
    for index, crs in enumerate(crss):
        sub(box, WPS, "SupportedCRS", crs, default="true" if index == 0 else None)


def _input(parent: etree._Element, definition: InputDefinition) -> None:
    maximum = str(definition.max_occurs)
    element = sub(parent, WPS, "Input", minOccurs=str(definition.min_occurs), maxOccurs=maximum)
    _describe(element, definition.identifier, definition.title, definition.abstract, definition.keywords)
    ows_metadata(element, OWS, XLINK, definition.metadata)
    if isinstance(definition, LiteralInput):
        _literal(element, definition.data_type, definition.uom, definition)
    elif isinstance(definition, ComplexInput):
        _formats(sub(element, WPS, "ComplexData"), definition.formats, definition.max_megabytes)
    else:
        _bbox(element, definition.crss)


def _output_description(parent: etree._Element, definition: OutputDefinition) -> None:
    element = sub(parent, WPS, "Output")
    _describe(element, definition.identifier, definition.title, definition.abstract, definition.keywords)
    ows_metadata(element, OWS, XLINK, definition.metadata)
    if isinstance(definition, LiteralOutput):
        _literal(element, definition.data_type, definition.uom)
    elif isinstance(definition, ComplexOutput):
        _formats(sub(element, WPS, "ComplexData"), definition.formats)
    elif isinstance(definition, BoundingBoxOutput):
        _bbox(element, definition.crss)


# -- jobs --------------------------------------------------------------------------------------------
def status_info(job: Job, expiration: datetime | None) -> bytes:
    root = _root("StatusInfo")
    sub(root, WPS, "JobID", job.id)
    sub(root, WPS, "Status", STATUS[job.status])
    if expiration is not None:
        sub(root, WPS, "ExpirationDate", utc_text(expiration))
    if job.status == Status.RUNNING:
        sub(root, WPS, "PercentCompleted", str(max(0, min(100, job.percent))))
    elif job.status == Status.SUCCESSFUL:
        sub(root, WPS, "PercentCompleted", "100")
    return serialise(root)


def result(
    job: Job,
    process: Process,
    records: list[OutputRecord],
    expiration: datetime | None,
    output_url: str,
    read: Callable[[str], bytes],
    with_job_id: bool,
) -> bytes:
    root = _root("Result")
    if with_job_id:
        sub(root, WPS, "JobID", job.id)
    if expiration is not None:
        sub(root, WPS, "ExpirationDate", utc_text(expiration))
    requested = {o.identifier: o for o in job.request.outputs}
    if job.request.raw_output is not None:
        requested[job.request.raw_output.identifier] = job.request.raw_output
    for record in records:
        wanted = requested.get(record.identifier)
        by_reference = bool(wanted and wanted.as_reference)
        _result_output(root, record, by_reference, f"{output_url}/{job.id}", read)
    return serialise(root)


def _result_output(
    parent: etree._Element,
    record: OutputRecord,
    by_reference: bool,
    base_url: str,
    read: Callable[[str], bytes],
) -> None:
    element = sub(parent, WPS, "Output", id=record.identifier)
    if record.kind == "complex" and (by_reference or record.href):
        sub(
            element,
            WPS,
            "Reference",
            mimeType=record.mime_type,
            encoding=record.encoding,
            schema=record.schema,
            **{q(XLINK, "href"): record.href or f"{base_url}/{record.file}"},
        )
        return
    if record.kind == "literal":
        data = sub(element, WPS, "Data", mimeType="text/plain")
        xs = XS_TYPE_NAMES.get(record.data_type or "string", "string")
        sub(data, WPS, "LiteralValue", record.value or "", dataType=XS + xs, uom=record.uom)
    elif record.kind == "bbox":
        data = sub(element, WPS, "Data", mimeType="text/xml")
        box = sub(data, OWS, "BoundingBox", crs=record.crs, dimensions=str(len(record.lower)))
        sub(box, OWS, "LowerCorner", " ".join(map(str, record.lower)))
        sub(box, OWS, "UpperCorner", " ".join(map(str, record.upper)))
    else:
        assert record.file is not None
        _complex(element, read(record.file), record)


def _complex(parent: etree._Element, content: bytes, record: OutputRecord) -> None:
    data = sub(parent, WPS, "Data", mimeType=record.mime_type, schema=record.schema)
    embed_content(data, content, record.mime_type)


def exception_report(error: OWSError, language: str = "en-US") -> bytes:
    root = etree.Element(q(OWS, "ExceptionReport"), nsmap={"ows": OWS, "xsi": XSI})
    root.set(q(XSI, "schemaLocation"), f"{OWS} http://schemas.opengis.net/ows/2.0/owsExceptionReport.xsd")
    root.set("version", VERSION)
    root.set(q(XML_NS, "lang"), language)
    exc = sub(root, OWS, "Exception", exceptionCode=error.code)
    if error.locator:
        exc.set("locator", error.locator)
    sub(exc, OWS, "ExceptionText", error.message)
    return serialise(root)
