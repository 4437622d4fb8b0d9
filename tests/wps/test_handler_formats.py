"""A handler learns the output format a client asked for, and may name the format it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.storage import LocalFolder
from wps_server.config import load_settings
from wps_server.errors import NoApplicableCode
from wps_server.inputs import materialise
from wps_server.operations import Execute, OutputSpec
from wps_server.process import FORMATS, ComplexOutput, ComplexResult, Format, Process
from wps_server.results import store_outputs

TLE = Format("text/plain; subtype=tle", extension=".tle")
PROCESS = Process(
    "formats",
    "Formats",
    lambda inputs, ctx: {},
    outputs=(ComplexOutput("result", "Result", (FORMATS["json"], FORMATS["csv"], FORMATS["text"], TLE)),),
)


def request(*outputs: OutputSpec, raw: OutputSpec | None = None) -> Execute:
    return Execute("formats", "1.0.0", outputs=outputs, raw_output=raw)


def test_the_handler_sees_the_mime_type_asked_for(tmp_path: Path) -> None:
    policy = load_settings(files=[], environ={}).inputs
    asked = materialise(PROCESS, request(OutputSpec("result", mime_type="text/csv")), policy, tmp_path)
    assert asked.output_format("result") == "text/csv"
    raw = materialise(PROCESS, request(raw=OutputSpec("result", mime_type="text/plain")), policy, tmp_path)
    assert raw.output_format("result") == "text/plain"
    assert (
        materialise(PROCESS, request(OutputSpec("result")), policy, tmp_path).output_format("result") is None
    )


def test_a_complex_result_is_stored_in_the_format_it_names(tmp_path: Path) -> None:
    written = ComplexResult("a,b\n1,2\n", "text/csv")
    (record,) = store_outputs(PROCESS, request(), {"result": written}, LocalFolder(tmp_path), "job")
    assert (record.mime_type, record.file) == ("text/csv", "result.csv")
    assert (tmp_path / "job" / "result.csv").read_text() == "a,b\n1,2\n"
    # a plain text/plain request is answered by the subtype the handler chose
    tle = ComplexResult("1 ...\n2 ...\n", TLE.mime_type)
    (record,) = store_outputs(
        PROCESS,
        request(OutputSpec("result", mime_type="text/plain")),
        {"result": tle},
        LocalFolder(tmp_path),
        "job",
    )
    assert (record.mime_type, record.file) == (TLE.mime_type, "result.tle")
    with pytest.raises(NoApplicableCode, match="not as application/json"):
        store_outputs(
            PROCESS,
            request(OutputSpec("result", mime_type="application/json")),
            {"result": written},
            LocalFolder(tmp_path),
            "job",
        )
