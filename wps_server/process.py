"""Process definitions as data: inputs, outputs, formats and the handler contract.

One definition serves every interface (WPS 1.0.0 documents, and the other dialects built on them).
A handler receives checked :class:`ProcessInputs` and a :class:`JobContext` and returns its outputs
as a dict: python values for literals, ``bytes``/``str``/``Path`` for complex outputs (or a
:class:`ComplexResult` naming the format written, when the handler chose it), and :class:`BoundingBox`
for bounding boxes. ``ProcessInputs.output_format`` tells a handler the format a client asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from distributed import Client

    from cluster.profiles import ClusterProfile

LiteralType = Literal[
    "string",
    "integer",
    "float",
    "boolean",
    "dateTime",
    "anyURI",
    "date",
    "time",
    "scale",
    "angle",
    "nonNegativeInteger",
    "positiveInteger",
]
RangeClosure = Literal["closed", "open", "closed-open", "open-closed"]
MetadataLink = tuple[str, str] | tuple[str, str, str]
"""ows:Metadata of a process, input or output: (title, href) or (title, href, role); href may be empty."""


@dataclass(frozen=True)
class Format:
    mime_type: str
    encoding: str | None = None
    schema: str | None = None
    extension: str = ".dat"


FORMATS = {
    "json": Format("application/json", extension=".json"),
    "geojson": Format("application/geo+json", extension=".geojson"),
    "csv": Format("text/csv", extension=".csv"),
    "text": Format("text/plain", extension=".txt"),
    "xml": Format("text/xml", extension=".xml"),
    "png": Format("image/png", extension=".png"),
    "geotiff": Format("image/tiff; application=geotiff", extension=".tif"),
    "cog": Format("image/tiff; application=geotiff; profile=cloud-optimized", extension=".tif"),
    "ply": Format("application/ply", extension=".ply"),
    # GML as the QGIS WPS plugins send and read it: the "WPS Client" plugin looks for this spelling,
    # and a vector input whose first format is GML also takes the plugins' inline GML with no mimeType.
    "gml3": Format(
        "text/xml; subtype=gml/3.1.1",
        schema="http://schemas.opengis.net/gml/3.1.1/base/feature.xsd",
        extension=".gml",
    ),
    "gml2": Format(
        "text/xml; subtype=gml/2.1.2",
        schema="http://schemas.opengis.net/gml/2.1.2/feature.xsd",
        extension=".gml",
    ),
    "gml32": Format("application/gml+xml; version=3.2", extension=".gml"),
}


@dataclass(frozen=True)
class ValueRange:
    """One range of allowed values, as ows:Range has it: bounds (None: unbounded), spacing, closure."""

    minimum: float | None = None
    maximum: float | None = None
    spacing: float | None = None
    closure: RangeClosure = "closed"

    def contains(self, value: float) -> bool:
        low, high = self.minimum, self.maximum
        if low is not None and (value < low or (value == low and self.closure in {"open", "open-closed"})):
            return False
        if high is not None and (value > high or (value == high and self.closure in {"open", "closed-open"})):
            return False
        if self.spacing and low is not None:
            steps = (Decimal(str(value)) - Decimal(str(low))) / Decimal(str(abs(self.spacing)))
            return steps == steps.to_integral_value()
        return True


VECTOR_FORMATS = (FORMATS["gml3"], FORMATS["gml2"], FORMATS["gml32"], FORMATS["geojson"])
"""Formats of a vector input that QGIS can send: GML first, so GML with no mimeType is understood."""


@dataclass(frozen=True)
class LiteralInput:
    identifier: str
    title: str
    data_type: LiteralType = "string"
    abstract: str = ""
    min_occurs: int = 1
    max_occurs: int = 1
    default: Any = None
    allowed_values: tuple[Any, ...] = ()
    value_range: tuple[float | None, float | None] | None = None
    uom: str | None = None
    #: Further ranges; a value is allowed when it is one of ``allowed_values`` or in any range.
    ranges: tuple[ValueRange, ...] = ()
    keywords: tuple[str, ...] = ()
    metadata: tuple[MetadataLink, ...] = ()

    def all_ranges(self) -> tuple[ValueRange, ...]:
        """``value_range`` (closed) and ``ranges``, in that order."""
        if self.value_range is None:
            return self.ranges
        return (ValueRange(*self.value_range), *self.ranges)


@dataclass(frozen=True)
class ComplexInput:
    identifier: str
    title: str
    formats: tuple[Format, ...]
    abstract: str = ""
    min_occurs: int = 1
    max_occurs: int = 1
    max_megabytes: int | None = None
    keywords: tuple[str, ...] = ()
    metadata: tuple[MetadataLink, ...] = ()


@dataclass(frozen=True)
class BoundingBoxInput:
    identifier: str
    title: str
    crss: tuple[str, ...] = ("EPSG:4326",)
    abstract: str = ""
    min_occurs: int = 1
    max_occurs: int = 1
    dimensions: int = 2
    keywords: tuple[str, ...] = ()
    metadata: tuple[MetadataLink, ...] = ()


@dataclass(frozen=True)
class LiteralOutput:
    identifier: str
    title: str
    data_type: LiteralType = "string"
    abstract: str = ""
    uom: str | None = None
    keywords: tuple[str, ...] = ()
    metadata: tuple[MetadataLink, ...] = ()


@dataclass(frozen=True)
class ComplexOutput:
    identifier: str
    title: str
    formats: tuple[Format, ...]
    abstract: str = ""
    keywords: tuple[str, ...] = ()
    metadata: tuple[MetadataLink, ...] = ()


@dataclass(frozen=True)
class BoundingBoxOutput:
    identifier: str
    title: str
    crss: tuple[str, ...] = ("EPSG:4326",)
    abstract: str = ""
    keywords: tuple[str, ...] = ()
    metadata: tuple[MetadataLink, ...] = ()


InputDefinition = LiteralInput | ComplexInput | BoundingBoxInput
OutputDefinition = LiteralOutput | ComplexOutput | BoundingBoxOutput


@dataclass(frozen=True)
class BoundingBox:
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    crs: str = "EPSG:4326"

    @property
    def dimensions(self) -> int:
        return len(self.lower)


@dataclass(frozen=True)
class ComplexValue:
    """A complex input: its bytes are on disk at ``path`` (inline data is written to the job folder)."""

    path: Path
    mime_type: str
    encoding: str | None = None
    schema: str | None = None
    href: str | None = None

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read_text(self) -> str:
        return self.path.read_text()


InputValue = str | int | float | bool | datetime | date | time | ComplexValue | BoundingBox


@dataclass(frozen=True)
class ComplexResult:
    """A complex output written in a format the handler chose (one of the output's formats).

    A handler whose output has several formats returns this when the content depends on the format:
    the output is stored and served under ``mime_type``, whatever the output's default format.
    """

    content: bytes | str | Path
    mime_type: str


@dataclass(frozen=True)
class ExternalReference:
    """A complex output the process left at a URL of its own (one of the output's formats): returned
    by reference as that URL; a request that wants it by value gets :class:`ComplexResult` instead."""

    url: str
    mime_type: str


class ProcessInputs:
    """The checked values of one Execute request, by input identifier, and the output formats asked for."""

    def __init__(
        self,
        values: Mapping[str, list[InputValue]],
        output_formats: Mapping[str, str] | None = None,
        texts: Mapping[str, list[str]] | None = None,
    ) -> None:
        self._values = dict(values)
        self._output_formats = dict(output_formats or {})
        self._texts = dict(texts or {})

    def texts(self, identifier: str) -> list[str]:
        """A literal input's values as the client wrote them, before conversion (empty: none was sent,
        so a default, if any, is in :meth:`all`)."""
        return list(self._texts.get(identifier, []))

    def output_format(self, identifier: str) -> str | None:
        """The mimeType the client asked for output ``identifier``; None when it named none."""
        return self._output_formats.get(identifier)

    def all(self, identifier: str) -> list[InputValue]:
        return list(self._values.get(identifier, []))

    def one(self, identifier: str, default: Any = None) -> Any:
        values = self._values.get(identifier)
        return values[0] if values else default

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._values

    def items(self) -> list[tuple[str, list[InputValue]]]:
        return list(self._values.items())


#: (profile, workers) -> predicted cost in the profile's currency
CostModel = Callable[["ClusterProfile", int], float]


class JobContext(Protocol):
    """What the engine gives a running handler."""

    job_id: str
    workdir: Path
    #: Outputs the request named explicitly (empty: it named none, so all are returned).
    requested_outputs: frozenset[str]
    #: Outputs the request wants by reference.
    by_reference: frozenset[str]
    #: What each cluster the job used cost, as recorded when it closed (see ``cluster``).
    costs: list[Mapping[str, Any]]
    #: The user the job runs for, whose records alone it may see and change; None: anyone's (the
    #: operator, an admin, or everyone when nobody signs in).
    owner: str | None
    #: The cluster profiles the job's submitter may use (to offer, compare or name in an error);
    #: None: every profile.
    profiles: tuple[str, ...] | None

    def progress(self, percent: float, message: str) -> None:
        """Report real work done; percent never goes backwards."""

    def cancelled(self) -> bool:
        """True once the job has been dismissed: stop and raise."""

    def client(self) -> Client:
        """A Dask client on the server's own cluster (created on first use)."""

    def budget(self) -> Mapping[str, Any] | None:
        """The owner's monthly budget now (limit, spent, left), or None when they have none."""

    def cluster(
        self,
        profile: str | None,
        tasks: int,
        seconds_per_task: float,
        max_workers: int | None = None,
        task_durations: Mapping[str, float] | None = None,
        *,
        max_cost: float | None = None,
        predicted_cost: CostModel | None = None,
    ) -> AbstractContextManager[Client]:
        """A client on a cluster of the named profile sized for ``tasks`` tasks of about
        ``seconds_per_task`` each, closed when the block ends and billed to the job.

        On a priced profile, the job's predicted cost (``predicted_cost``, else the tasks' seconds at
        the profile's price) is first reserved against the requester's monthly budget; the job stops
        (``cancelled()`` turns true) when its running bill reaches ``max_cost``."""

    def record_cost(self, cost: Mapping[str, Any]) -> None:
        """Keep ``cost`` as the job's recorded cost: the last cluster's bill (one of ``costs``) with what
        the process measured beside it, which later estimates learn from."""

    def finished_costs(self, process_id: str, limit: int = 100) -> Sequence[Mapping[str, Any]]:
        """The recorded costs of this server's newest successful jobs of ``process_id``, newest first
        (empty where jobs are not kept in a store)."""


Handler = Callable[[ProcessInputs, JobContext], Mapping[str, Any]]


@dataclass(frozen=True)
class Process:
    identifier: str
    title: str
    handler: Handler
    abstract: str = ""
    version: str = "1.0.0"
    inputs: tuple[InputDefinition, ...] = ()
    outputs: tuple[OutputDefinition, ...] = ()
    keywords: tuple[str, ...] = ()
    metadata: tuple[MetadataLink, ...] = field(default=())
    store_supported: bool = True
    status_supported: bool = True

    def input(self, identifier: str) -> InputDefinition | None:
        return next((i for i in self.inputs if i.identifier == identifier), None)

    def output(self, identifier: str) -> OutputDefinition | None:
        return next((o for o in self.outputs if o.identifier == identifier), None)
