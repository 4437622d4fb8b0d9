"""The same light process list for our server and for a stock PyWPS 4.8 app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wps_server.config import Settings
from wps_server.process import FORMATS, ComplexInput, ComplexOutput, LiteralInput, LiteralOutput, Process

NAMES = [f"light_{i}" for i in range(8)]


def _hello(inputs: Any, ctx: Any) -> Mapping[str, Any]:
    return {"greeting": f"Hello {inputs.one('name')}", "size": len(inputs.one("name"))}


def ours(settings: Settings | None = None) -> list[Process]:
    """Eight processes with a handful of inputs each: a realistic capabilities and description."""
    return [
        Process(
            name,
            f"Light process {name}",
            _hello,
            abstract="Greets a name; used to measure the service.",
            inputs=(
                LiteralInput("name", "Name"),
                LiteralInput("count", "Count", "integer", min_occurs=0, value_range=(0, 100)),
                LiteralInput("mode", "Mode", allowed_values=("a", "b", "c"), min_occurs=0),
                ComplexInput("document", "Document", (FORMATS["json"], FORMATS["xml"]), min_occurs=0),
            ),
            outputs=(
                LiteralOutput("greeting", "Greeting"),
                LiteralOutput("size", "Size", "integer"),
                ComplexOutput("report", "Report", (FORMATS["json"],)),
            ),
        )
        for name in NAMES
    ]


def stock() -> list[Any]:
    """The same list as stock pywps.Process objects."""
    from pywps import ComplexInput as PyComplexInput
    from pywps import ComplexOutput as PyComplexOutput
    from pywps import Format
    from pywps import LiteralInput as PyLiteralInput
    from pywps import LiteralOutput as PyLiteralOutput
    from pywps import Process as PyProcess
    from pywps.inout.literaltypes import AllowedValue, AnyValue

    def handler(request: Any, response: Any) -> Any:
        name = request.inputs["name"][0].data
        response.outputs["greeting"].data = f"Hello {name}"
        response.outputs["size"].data = len(name)
        return response

    processes = []
    for name in NAMES:
        processes.append(
            PyProcess(
                handler,
                identifier=name,
                title=f"Light process {name}",
                version="1.0.0",
                abstract="Greets a name; used to measure the service.",
                inputs=[
                    PyLiteralInput("name", "Name", data_type="string", allowed_values=AnyValue()),
                    PyLiteralInput(
                        "count",
                        "Count",
                        data_type="integer",
                        min_occurs=0,
                        allowed_values=[AllowedValue(minval=0, maxval=100)],
                    ),
                    PyLiteralInput(
                        "mode", "Mode", data_type="string", min_occurs=0, allowed_values=["a", "b", "c"]
                    ),
                    PyComplexInput(
                        "document",
                        "Document",
                        supported_formats=[Format("application/json"), Format("text/xml")],
                        min_occurs=0,
                    ),
                ],
                outputs=[
                    PyLiteralOutput("greeting", "Greeting", data_type="string"),
                    PyLiteralOutput("size", "Size", data_type="integer"),
                    PyComplexOutput("report", "Report", supported_formats=[Format("application/json")]),
                ],
                store_supported=True,
                status_supported=True,
            )
        )
    return processes
