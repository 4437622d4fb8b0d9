"""WPS 1.0.0 response documents, valid against the OGC schemas.

Capabilities and process descriptions depend only on the process list and the service URL, so the
caller builds them once and caches the bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from lxml import etree

from wps_server.config import Settings
from wps_server.errors import OWSError
from wps_server.inputs import bounding_box
from wps_server.jobs.model import Job, OutputRecord, Status
from wps_server.operations import InputSpec
from wps_server.process import (
    BoundingBoxInput,
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
from wps_server.wps1.parse import OWS, VERSION, WPS, XLINK
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

SCHEMAS = "http://schemas.opengis.net/wps/1.0.0"
NSMAP = {"wps": WPS, "ows": OWS, "xlink": XLINK, "xsi": XSI}
XS_TYPES = "http://www.w3.org/TR/xmlschema-2/#"


def _root(name: str, schema: str, language: str) -> etree._Element:
    root = etree.Element(q(WPS, name), nsmap=NSMAP)
    root.set(q(XSI, "schemaLocation"), f"{WPS} {SCHEMAS}/{schema}")
    root.set("service", "WPS")
    root.set("version", VERSION)
    root.set(q(XML_NS, "lang"), language)
    return root


def _describe(parent: etree._Element, identifier: str, title: str, abstract: str) -> None:
    sub(parent, OWS, "Identifier", identifier)
    sub(parent, OWS, "Title", title)
    if abstract:
        sub(parent, OWS, "Abstract", abstract)


def capabilities(settings: Settings, url: str, processes: Iterable[Process]) -> bytes:
    meta = settings.metadata
    root = _root("Capabilities", "wpsGetCapabilities_response.xsd", settings.language)
    ident = sub(root, OWS, "ServiceIdentification")
    sub(ident, OWS, "Title", meta.title)
    sub(ident, OWS, "Abstract", f"{meta.abstract} Source code (AGPL-3.0): {meta.source_url}")
    ows_keywords(ident, OWS, meta.keywords)
    sub(ident, OWS, "ServiceType", "WPS")
    sub(ident, OWS, "ServiceTypeVersion", VERSION)
    sub(ident, OWS, "Fees", "NONE")
    sub(ident, OWS, "AccessConstraints", "NONE")
    service_provider(root, OWS, XLINK, meta)
    operations = sub(root, OWS, "OperationsMetadata")
    for name in ("GetCapabilities", "DescribeProcess", "Execute"):
        http = sub(sub(sub(operations, OWS, "Operation", name=name), OWS, "DCP"), OWS, "HTTP")
        sub(http, OWS, "Get").set(q(XLINK, "href"), url + "?")
        sub(http, OWS, "Post").set(q(XLINK, "href"), url)
    offerings = sub(root, WPS, "ProcessOfferings")
    for process in processes:
        brief = sub(offerings, WPS, "Process")
        brief.set(q(WPS, "processVersion"), process.version)
        _describe(brief, process.identifier, process.title, process.abstract)
        ows_metadata(brief, OWS, XLINK, process.metadata)
    languages = sub(root, WPS, "Languages")
    sub(sub(languages, WPS, "Default"), OWS, "Language", settings.language)
    sub(sub(languages, WPS, "Supported"), OWS, "Language", settings.language)
    return serialise(root)


def process_descriptions(processes: Iterable[Process], language: str) -> bytes:
    root = _root("ProcessDescriptions", "wpsDescribeProcess_response.xsd", language)
    for process in processes:
        root.append(process_description(process))
    return serialise(root)


def process_description(process: Process) -> etree._Element:
    """One ProcessDescription element (cached by the caller, combined per request)."""
    element = etree.Element("ProcessDescription", nsmap=NSMAP)
    element.set(q(WPS, "processVersion"), process.version)
    element.set("storeSupported", str(process.store_supported).lower())
    element.set("statusSupported", str(process.status_supported).lower())
    _describe(element, process.identifier, process.title, process.abstract)
    ows_metadata(element, OWS, XLINK, process.metadata)
    if process.inputs:
        inputs = etree.SubElement(element, "DataInputs")
        for definition in process.inputs:
            _input_description(inputs, definition)
    outputs = etree.SubElement(element, "ProcessOutputs")
    for output in process.outputs:
        _output_description(outputs, output)
    return element


def _formats(parent: etree._Element, formats: tuple[Format, ...]) -> None:
    def fmt(holder: etree._Element, f: Format) -> None:
        element = etree.SubElement(holder, "Format")
        etree.SubElement(element, "MimeType").text = f.mime_type
        if f.encoding:
            etree.SubElement(element, "Encoding").text = f.encoding
        if f.schema:
            etree.SubElement(element, "Schema").text = f.schema

    fmt(etree.SubElement(parent, "Default"), formats[0])
    supported = etree.SubElement(parent, "Supported")
    for f in formats:
        fmt(supported, f)


def _crss(parent: etree._Element, crss: tuple[str, ...]) -> None:
    etree.SubElement(etree.SubElement(parent, "Default"), "CRS").text = crss[0]
    supported = etree.SubElement(parent, "Supported")
    for crs in crss:
        etree.SubElement(supported, "CRS").text = crs


def _literal_type(parent: etree._Element, data_type: str, uom: str | None) -> None:
    xs = XS_TYPE_NAMES[data_type]
    sub(parent, OWS, "DataType", xs, **{q(OWS, "reference"): XS_TYPES + xs})
    if uom:
        uoms = etree.SubElement(parent, "UOMs")
        sub(etree.SubElement(uoms, "Default"), OWS, "UOM", uom)
        sub(etree.SubElement(uoms, "Supported"), OWS, "UOM", uom)


def _input_description(parent: etree._Element, definition: InputDefinition) -> None:
    element = etree.SubElement(
        parent, "Input", minOccurs=str(definition.min_occurs), maxOccurs=str(definition.max_occurs)
    )
    _describe(element, definition.identifier, definition.title, definition.abstract)
    ows_metadata(element, OWS, XLINK, definition.metadata)
    if isinstance(definition, LiteralInput):
        literal = etree.SubElement(element, "LiteralData")
        _literal_type(literal, definition.data_type, definition.uom)
        if definition.allowed_values or definition.all_ranges():
            allowed_values(literal, OWS, definition)
        else:
            sub(literal, OWS, "AnyValue")
        if definition.default is not None:
            etree.SubElement(literal, "DefaultValue").text = literal_text(definition.default)
    elif isinstance(definition, ComplexInput):
        complex_data = etree.SubElement(element, "ComplexData")
        if definition.max_megabytes:
            complex_data.set("maximumMegabytes", str(definition.max_megabytes))
        _formats(complex_data, definition.formats)
    elif isinstance(definition, BoundingBoxInput):
        _crss(etree.SubElement(element, "BoundingBoxData"), definition.crss)


def _output_description(parent: etree._Element, definition: OutputDefinition) -> None:
    element = etree.SubElement(parent, "Output")
    _describe(element, definition.identifier, definition.title, definition.abstract)
    ows_metadata(element, OWS, XLINK, definition.metadata)
    if isinstance(definition, LiteralOutput):
        _literal_type(etree.SubElement(element, "LiteralOutput"), definition.data_type, definition.uom)
    elif isinstance(definition, ComplexOutput):
        _formats(etree.SubElement(element, "ComplexOutput"), definition.formats)
    elif isinstance(definition, BoundingBoxOutput):
        _crss(etree.SubElement(element, "BoundingBoxOutput"), definition.crss)


def exception_report(error: OWSError, language: str = "en-US") -> bytes:
    root = etree.Element(q(OWS, "ExceptionReport"), nsmap={"ows": OWS, "xsi": XSI})
    root.set(q(XSI, "schemaLocation"), f"{OWS} http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd")
    root.set("version", VERSION)
    root.set(q(XML_NS, "lang"), language)
    _exception(root, error.code, error.message, error.locator)
    return serialise(root)


def _exception(parent: etree._Element, code: str, text: str, locator: str | None) -> None:
    exc = sub(parent, OWS, "Exception", exceptionCode=code)
    if locator:
        exc.set("locator", locator)
    sub(exc, OWS, "ExceptionText", text)


def _time(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def execute_response(
    job: Job,
    process: Process,
    service_url: str,
    status_url: str | None,
    output_url: str,
    read_output: Callable[[str, str], bytes],
    language: str,
) -> bytes:
    """The ExecuteResponse for a job, rebuilt from what the store says of it."""
    request = job.request
    root = _root("ExecuteResponse", "wpsExecute_response.xsd", language)
    root.set("serviceInstance", service_url + "?service=WPS&request=GetCapabilities")
    if status_url:
        root.set("statusLocation", status_url)
    brief = sub(root, WPS, "Process")
    brief.set(q(WPS, "processVersion"), process.version)
    _describe(brief, process.identifier, process.title, process.abstract)
    status = sub(root, WPS, "Status", creationTime=_time(job.finished or job.started or job.created))
    if job.status == Status.ACCEPTED:
        sub(status, WPS, "ProcessAccepted", job.message or "Accepted, waiting in the queue")
    elif job.status == Status.RUNNING:
        sub(status, WPS, "ProcessStarted", job.message or "Running", percentCompleted=str(job.percent))
    elif job.status == Status.SUCCESSFUL:
        sub(status, WPS, "ProcessSucceeded", job.message or "Succeeded")
    else:
        failed = sub(status, WPS, "ProcessFailed")
        report = sub(failed, OWS, "ExceptionReport", version=VERSION)
        error = job.error
        if job.status == Status.DISMISSED:
            _exception(report, "NoApplicableCode", "The job was dismissed", None)
        elif error is not None:
            _exception(report, error.code, error.text, error.locator)
        else:
            _exception(report, "NoApplicableCode", job.message or "The job failed", None)
    requested = {o.identifier: o for o in request.outputs}
    if request.lineage:
        inputs = sub(root, WPS, "DataInputs")
        for given in request.inputs:
            _lineage_input(inputs, given, process.input(given.identifier))
    if request.lineage and request.outputs:
        definitions = sub(root, WPS, "OutputDefinitions")
        for spec in request.outputs:
            out = sub(
                definitions,
                WPS,
                "Output",
                asReference=str(spec.as_reference).lower(),
                mimeType=spec.mime_type,
                encoding=spec.encoding,
                schema=spec.schema,
                uom=spec.uom,
            )
            sub(out, OWS, "Identifier", spec.identifier)
    if job.status == Status.SUCCESSFUL and job.outputs:
        chosen = [o for o in job.outputs if not requested or o.identifier in requested]
        outputs = sub(root, WPS, "ProcessOutputs")
        for record in chosen:
            definition = process.output(record.identifier)
            wanted = requested.get(record.identifier)
            as_reference = wanted.as_reference if wanted else False
            _output(
                outputs,
                record,
                definition,
                as_reference,
                f"{output_url}/{job.id}",
                lambda name: read_output(job.id, name),
            )
    return serialise(root)


def _lineage_input(parent: etree._Element, spec: InputSpec, definition: InputDefinition | None) -> None:
    element = sub(parent, WPS, "Input")
    sub(element, OWS, "Identifier", spec.identifier)
    if spec.href:
        ref = sub(
            element,
            WPS,
            "Reference",
            method=spec.method,
            mimeType=spec.mime_type,
            encoding=spec.encoding,
            schema=spec.schema,
        )
        ref.set(q(XLINK, "href"), spec.href)
        return
    data = sub(element, WPS, "Data")
    if isinstance(definition, BoundingBoxInput):
        box_value = bounding_box(definition, spec)
        box = sub(data, WPS, "BoundingBoxData", crs=box_value.crs, dimensions=str(box_value.dimensions))
        sub(box, OWS, "LowerCorner", " ".join(map(str, box_value.lower)))
        sub(box, OWS, "UpperCorner", " ".join(map(str, box_value.upper)))
    elif isinstance(definition, ComplexInput):
        complex_data = sub(
            data, WPS, "ComplexData", mimeType=spec.mime_type, encoding=spec.encoding, schema=spec.schema
        )
        if spec.xml is not None:
            complex_data.append(etree.fromstring(spec.xml))
        else:
            complex_data.text = spec.value or ""
    else:
        sub(data, WPS, "LiteralData", spec.value or "", dataType=spec.data_type, uom=spec.uom)


def _output(
    parent: etree._Element,
    record: OutputRecord,
    definition: OutputDefinition | None,
    as_reference: bool,
    base_url: str,
    read: Callable[[str], bytes],
) -> None:
    element = sub(parent, WPS, "Output")
    title = definition.title if definition else record.identifier
    _describe(element, record.identifier, title, definition.abstract if definition else "")
    if record.kind == "complex" and (as_reference or record.href):
        sub(
            element,
            WPS,
            "Reference",
            href=record.href or f"{base_url}/{record.file}",
            mimeType=record.mime_type,
            encoding=record.encoding,
            schema=record.schema,
        )
        return
    data = sub(element, WPS, "Data")
    if record.kind == "literal":
        sub(data, WPS, "LiteralData", record.value or "", dataType=record.data_type, uom=record.uom)
    elif record.kind == "bbox":
        box = sub(data, WPS, "BoundingBoxData", crs=record.crs, dimensions=str(len(record.lower)))
        sub(box, OWS, "LowerCorner", " ".join(map(str, record.lower)))
        sub(box, OWS, "UpperCorner", " ".join(map(str, record.upper)))
    else:
        assert record.file is not None
        content = read(record.file)
        _complex_content(data, content, record)


def _complex_content(data: etree._Element, content: bytes, record: OutputRecord) -> None:
    element = sub(data, WPS, "ComplexData", mimeType=record.mime_type, schema=record.schema)
    embed_content(element, content, record.mime_type)
