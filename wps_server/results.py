"""Handler results turned into stored outputs: files under the job's output folder of the job storage
(a local folder or an object store), literals as text."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cluster.storage import JobStorage, StorageError
from wps_server.errors import NoApplicableCode
from wps_server.inputs import find_format, same_mime
from wps_server.jobs.model import OutputRecord
from wps_server.operations import Execute
from wps_server.process import (
    BoundingBox,
    BoundingBoxOutput,
    ComplexOutput,
    ComplexResult,
    ExternalReference,
    LiteralOutput,
    Process,
)


def literal_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def store_outputs(
    process: Process, request: Execute, values: Mapping[str, Any], storage: JobStorage, folder: str
) -> list[OutputRecord]:
    """Write every output the handler returned; complex ones become files under ``folder`` of ``storage``
    (each written whole, so that a reader never sees part of one)."""
    requested = {
        o.identifier: o for o in (*request.outputs, *([request.raw_output] if request.raw_output else []))
    }
    records = []
    for definition in process.outputs:
        if definition.identifier not in values or values[definition.identifier] is None:
            if definition.identifier in requested:
                raise NoApplicableCode(f"the process produced no output {definition.identifier}")
            continue
        value = values[definition.identifier]
        if isinstance(definition, LiteralOutput):
            records.append(
                OutputRecord(
                    definition.identifier,
                    "literal",
                    value=literal_text(value),
                    data_type=definition.data_type,
                    uom=definition.uom,
                )
            )
        elif isinstance(definition, BoundingBoxOutput):
            if not isinstance(value, BoundingBox):
                raise TypeError(f"output {definition.identifier} must be a BoundingBox")
            records.append(
                OutputRecord(
                    definition.identifier, "bbox", lower=value.lower, upper=value.upper, crs=value.crs
                )
            )
        elif isinstance(definition, ComplexOutput):
            spec = requested.get(definition.identifier)
            asked = spec.mime_type if spec else None
            if isinstance(value, ExternalReference):
                fmt = find_format(definition.formats, value.mime_type, definition.identifier)
                records.append(
                    OutputRecord(
                        definition.identifier,
                        "complex",
                        mime_type=fmt.mime_type,
                        encoding=fmt.encoding,
                        schema=fmt.schema,
                        href=value.url,
                    )
                )
                continue
            if isinstance(value, ComplexResult):
                exact = [f for f in definition.formats if _plain(f.mime_type) == _plain(value.mime_type)]
                fmt = (
                    exact[0]
                    if exact
                    else find_format(definition.formats, value.mime_type, definition.identifier)
                )
                if asked and not (same_mime(asked, fmt.mime_type) or same_mime(fmt.mime_type, asked)):
                    raise NoApplicableCode(
                        f"the process wrote {definition.identifier} as {fmt.mime_type}, not as {asked}"
                    )
                value = value.content
            else:
                fmt = find_format(definition.formats, asked, definition.identifier)
            name = f"{definition.identifier}{fmt.extension}"
            size = _write(value, storage, f"{folder}/{name}")
            records.append(
                OutputRecord(
                    definition.identifier,
                    "complex",
                    file=name,
                    mime_type=fmt.mime_type,
                    encoding=fmt.encoding,
                    schema=fmt.schema,
                    size=size,
                )
            )
    return records


def _plain(mime_type: str) -> str:
    return mime_type.replace(" ", "").lower()


def _write(value: object, storage: JobStorage, key: str) -> int:
    """Store one output; its size in bytes."""
    try:
        if isinstance(value, Path):
            return storage.put_file(value, key)
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, bytes):
            storage.put_bytes(value, key)
            return len(value)
        name = key.rsplit("/", 1)[-1].split(".", 1)[0]
        raise TypeError(f"complex output {name} must be bytes, str or Path, not {type(value).__name__}")
    except StorageError as exc:
        raise NoApplicableCode(f"the outputs could not be stored: {exc.reason}") from None
