"""Parsed requests, independent of the dialect (KVP or XML) they arrived in."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GetCapabilities:
    accept_versions: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class DescribeProcess:
    identifiers: tuple[str, ...]
    version: str
    language: str | None = None


@dataclass(frozen=True)
class InputSpec:
    """One input value as the client sent it, before it is checked against the process."""

    identifier: str
    value: str | None = None
    href: str | None = None
    method: str = "GET"
    body: bytes | None = None
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    data_type: str | None = None
    uom: str | None = None
    crs: str | None = None
    bbox: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    xml: bytes | None = None
    kind: str | None = None  # "literal", "complex" or "bbox" when the request said which; None from KVP


@dataclass(frozen=True)
class OutputSpec:
    identifier: str
    as_reference: bool = False
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    uom: str | None = None


@dataclass(frozen=True)
class Execute:
    identifier: str
    version: str
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    raw_output: OutputSpec | None = None
    lineage: bool = False
    store: bool = False
    status: bool = False
    language: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


Operation = GetCapabilities | DescribeProcess | Execute
