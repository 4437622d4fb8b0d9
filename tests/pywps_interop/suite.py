"""PyWPS processes that together use the whole PyWPS process API, run in stock PyWPS and on this server.

Every handler reports what it received in terms that do not depend on the server (values, types,
hashes, base names), so the two servers' outputs can be compared as they are.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

from pywps import (
    FORMATS,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    Process,
)
from pywps.app.Common import Metadata
from pywps.app.exceptions import ProcessError
from pywps.exceptions import InvalidParameterValue
from pywps.inout.literaltypes import AllowedValue
from pywps.validator.allowed_value import RANGECLOSURETYPE

PNG = Format("image/png", extension=".png", encoding="base64")
BINARY = Format("application/octet-stream", extension=".bin", encoding="base64")
# the smallest valid PNG: one transparent pixel
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def _described(value: Any) -> list[str]:
    return [type(value).__name__, str(value)]


class LiteralTypes(Process):
    """Every literal data type PyWPS has, with allowed values, ranges, spacing, closures, defaults, UOMs."""

    def __init__(self) -> None:
        inputs = [
            LiteralInput(
                "colour",
                "Colour",
                data_type="string",
                allowed_values=["red", "green", "blue"],
                default="green",
                min_occurs=0,
                metadata=[
                    Metadata("Colour names", "https://example.org/colours", role="https://example.org/role")
                ],
            ),
            LiteralInput(
                "count",
                "Count",
                data_type="integer",
                allowed_values=[AllowedValue(minval=0, maxval=100, spacing=5)],
            ),
            LiteralInput(
                "ratio",
                "Ratio",
                data_type="float",
                uoms=["metre", "foot"],
                allowed_values=[
                    AllowedValue(minval=-1.5, maxval=1.5, range_closure=RANGECLOSURETYPE.OPENCLOSED),
                    AllowedValue(value=7.25),
                ],
            ),
            LiteralInput("flag", "Flag", data_type="boolean", default=False, min_occurs=0),
            LiteralInput("day", "Day", data_type="date"),
            LiteralInput("clock", "Clock", data_type="time"),
            LiteralInput("moment", "Moment", data_type="dateTime"),
            LiteralInput("link", "Link", data_type="anyURI"),
            LiteralInput("zoom", "Zoom", data_type="scale"),
            LiteralInput("heading", "Heading", data_type="angle"),
            LiteralInput("size", "Size", data_type="nonNegativeInteger"),
            LiteralInput("rank", "Rank", data_type="positiveInteger"),
            LiteralInput("tags", "Tags", data_type="string", min_occurs=0, max_occurs=3),
        ]
        outputs = [
            LiteralOutput("echo", "What the handler received", data_type="string"),
            LiteralOutput("total", "count + ratio", data_type="float", uoms=["metre"]),
            LiteralOutput("flag_out", "The flag", data_type="boolean"),
            LiteralOutput("when", "The moment", data_type="dateTime"),
            LiteralOutput("ranked", "The rank", data_type="integer"),
        ]
        super().__init__(
            self._handler,
            identifier="literal_types",
            title="Every literal type",
            abstract="Echoes each literal input with the Python type PyWPS gave it.",
            version="2.1.0",
            keywords=["literal", "test"],
            metadata=[Metadata("PyWPS", "https://pywps.org"), Metadata("No link")],
            inputs=inputs,
            outputs=outputs,
            store_supported=True,
            status_supported=True,
        )

    @staticmethod
    def _handler(request: Any, response: Any) -> Any:
        echo = {key: [_described(put.data) for put in puts] for key, puts in sorted(request.inputs.items())}
        response.outputs["echo"].data = json.dumps(echo, sort_keys=True)
        total = request.inputs["count"][0].data + request.inputs["ratio"][0].data
        response.outputs["total"].data = total
        response.outputs["flag_out"].data = request.inputs["flag"][0].data
        response.outputs["when"].data = request.inputs["moment"][0].data
        response.outputs["ranked"].data = request.inputs["rank"][0].data
        return response


def _complex_facts(put: Any) -> dict[str, Any]:
    data = put.data
    raw = data if isinstance(data, bytes) else data.encode()
    facts: dict[str, Any] = {
        "prop": put.prop,
        "mime_type": put.data_format.mime_type,
        "data_type": type(data).__name__,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "stream_matches": _read(put.stream) == raw,
        "file_matches": Path(put.file).read_bytes() == raw,
        "file_name": Path(put.file).name if put.prop != "data" else None,
        "url": put.url if put.prop == "url" else None,
    }
    if "xml" in put.data_format.mime_type:
        from lxml import etree

        root = etree.fromstring(raw)
        facts.update(sha256=None, xml_root=etree.QName(root).localname, xml_children=len(root))
    return facts


def _read(stream: Any) -> bytes:
    content = stream.read()
    return content if isinstance(content, bytes) else content.encode()


class ComplexInputs(Process):
    """Complex inputs inline (text, XML, JSON), base64, by reference, several occurrences."""

    def __init__(self) -> None:
        super().__init__(
            self._handler,
            identifier="complex_inputs",
            title="Complex inputs",
            inputs=[
                ComplexInput(
                    "document",
                    "Documents",
                    supported_formats=[FORMATS.TEXT, FORMATS.JSON, Format("text/xml", extension=".xml")],
                    min_occurs=1,
                    max_occurs=4,
                    metadata=[Metadata("Formats", "https://example.org/formats")],
                ),
                ComplexInput("blob", "Binary", supported_formats=[BINARY, PNG], min_occurs=0, max_occurs=2),
            ],
            outputs=[ComplexOutput("facts", "What the handler received", supported_formats=[FORMATS.JSON])],
            store_supported=True,
            status_supported=True,
        )

    @staticmethod
    def _handler(request: Any, response: Any) -> Any:
        facts = {key: [_complex_facts(put) for put in puts] for key, puts in sorted(request.inputs.items())}
        response.outputs["facts"].data = json.dumps(facts, sort_keys=True)
        return response


class BoundingBoxes(Process):
    def __init__(self) -> None:
        super().__init__(
            self._handler,
            identifier="bounding_boxes",
            title="Bounding boxes",
            version="1.0",
            inputs=[
                BoundingBoxInput("area", "Areas", crss=["epsg:4326", "epsg:3857"], min_occurs=1, max_occurs=2)
            ],
            outputs=[
                BoundingBoxOutput("extent", "Union of the areas", crss=["epsg:4326"]),
                LiteralOutput("crss", "The CRSs given", data_type="string"),
            ],
            store_supported=True,
            status_supported=True,
        )

    @staticmethod
    def _handler(request: Any, response: Any) -> Any:
        areas = list(request.inputs["area"])
        lower = [min(a.ll[i] for a in areas) for i in range(2)]
        upper = [max(a.ur[i] for a in areas) for i in range(2)]
        response.outputs["extent"].data = [*lower, *upper]
        response.outputs["crss"].data = " ".join(f"{a.crs}/{a.dimensions}" for a in areas)
        return response


class Progress(Process):
    """A long-running process that reports progress."""

    def __init__(self) -> None:
        super().__init__(
            self._handler,
            identifier="progress",
            title="Long running",
            inputs=[
                LiteralInput("steps", "Steps", data_type="integer", default=4, min_occurs=0),
                LiteralInput("delay", "Seconds per step", data_type="float", default=0.5, min_occurs=0),
            ],
            outputs=[LiteralOutput("done", "Steps done", data_type="integer")],
            store_supported=True,
            status_supported=True,
        )

    @staticmethod
    def _handler(request: Any, response: Any) -> Any:
        steps = request.inputs["steps"][0].data
        for step in range(steps):
            time.sleep(request.inputs["delay"][0].data)
            response.update_status(f"step {step + 1} of {steps}", int(100 * (step + 1) / (steps + 1)))
        response.outputs["done"].data = steps
        return response


class Failing(Process):
    def __init__(self) -> None:
        super().__init__(
            self._handler,
            identifier="failing",
            title="Fails as asked",
            inputs=[LiteralInput("how", "How", allowed_values=["process-error", "pywps-exception", "crash"])],
            outputs=[LiteralOutput("never", "Never set")],
            store_supported=True,
            status_supported=True,
        )

    @staticmethod
    def _handler(request: Any, response: Any) -> Any:
        if request.inputs["how"][0].data == "process-error":
            raise ProcessError("The reservoir level is below the intake: choose another date")
        if request.inputs["how"][0].data == "pywps-exception":
            raise InvalidParameterValue("The archive ends before this date", "how")
        raise RuntimeError("secret internal detail /srv/private/key")


class Outputs(Process):
    """Outputs of several formats, set as data, file, stream and URL."""

    def __init__(self) -> None:
        super().__init__(
            self._handler,
            identifier="outputs",
            title="Outputs of every kind",
            inputs=[LiteralInput("source", "A URL for the url output", data_type="string")],
            outputs=[
                ComplexOutput(
                    "table", "A table", supported_formats=[FORMATS.CSV, FORMATS.JSON, FORMATS.TEXT]
                ),
                ComplexOutput("picture", "A picture (file)", supported_formats=[PNG]),
                ComplexOutput("notes", "Notes (stream)", supported_formats=[FORMATS.TEXT]),
                ComplexOutput("remote", "Remote (url)", supported_formats=[FORMATS.TEXT]),
                ComplexOutput(
                    "doc", "An XML document", supported_formats=[Format("text/xml", extension=".xml")]
                ),
            ],
            store_supported=True,
            status_supported=True,
        )

    def _handler(self, request: Any, response: Any) -> Any:
        rows = [["name", "value"], ["alpha", 1], ["beta", 2]]
        table = response.outputs["table"]
        if table.data_format.mime_type == "application/json":
            table.data = json.dumps(dict(rows[1:]))
        elif table.data_format.mime_type == "text/csv":
            table.data = "\n".join(",".join(map(str, row)) for row in rows) + "\n"
        else:
            table.data = "alpha is 1, beta is 2\n"
        picture = Path(self.workdir) / "pixel.png"
        picture.write_bytes(PIXEL)
        response.outputs["picture"].file = str(picture)
        response.outputs["notes"].stream = io.StringIO("written to a stream\n")
        response.outputs["remote"].url = request.inputs["source"][0].data
        response.outputs["doc"].data = '<result xmlns="urn:test"><item n="1"/><item n="2"/></result>'
        return response


def processes() -> list[Process]:
    return [LiteralTypes(), ComplexInputs(), BoundingBoxes(), Progress(), Failing(), Outputs()]
