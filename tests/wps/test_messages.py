"""Messages name the request's own words: "did you mean" for a misspelt process, input or output, a
path sent as content is told to come as a reference, and no message shows the server's folders."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from lxml import etree

from tests.xsd import assert_valid

OWS11 = "{http://www.opengis.net/ows/1.1}"
OWS20 = "{http://www.opengis.net/ows/2.0}"
KVP = "/wps?service=WPS&version=1.0.0&request=Execute&identifier=echo&DataInputs="


def report(response: Any, ows: str = OWS11) -> tuple[str, str | None, str]:
    assert_valid(response.get_data())
    exception = etree.fromstring(response.get_data()).find(f"{ows}Exception")
    assert exception is not None
    return exception.get("exceptionCode"), exception.get("locator"), exception.findtext(f"{ows}ExceptionText")


def test_a_misspelt_process_gets_a_suggestion_in_every_dialect(app: Flask) -> None:
    web = app.test_client()
    one = report(web.get("/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=helo"))
    assert one[2] == "there is no process 'helo'; did you mean hello?"
    two = report(web.get("/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=Hello"), OWS20)
    assert two[0] == "NoSuchProcess" and "did you mean hello?" in two[2]
    api = web.get("/ogcapi/processes/slep")
    assert api.status_code == 404 and "did you mean sleep?" in api.get_json()["detail"]
    nothing_near = report(web.get("/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=zzzz"))
    assert "did you mean" not in nothing_near[2]


def test_a_misspelt_input_or_output_gets_a_suggestion(app: Flask) -> None:
    web = app.test_client()
    code, locator, text = report(web.get(f"{KVP}cuont=3"))
    assert (code, locator) == ("InvalidParameterValue", "cuont")
    assert "has no input 'cuont'; did you mean count?" in text
    code, locator, text = report(web.get(f"{KVP}count=3&ResponseDocument=dubled"))
    assert "has no output 'dubled'; did you mean doubled?" in text


@pytest.mark.parametrize(
    "content",
    [
        "/data/pair/img_01.tif",
        "./img.tif",
        "../up/img.tif",
        "file:///data/x.tif",
        "https://example.org/x",
        "s3://b/k",
    ],
)
def test_a_path_sent_as_content_is_told_to_come_as_a_reference(app: Flask, content: str) -> None:
    web = app.test_client()
    settings = app.extensions["wps"].settings
    answers = [
        report(web.get(f"{KVP}document={content}@mimeType=text/plain")),
        report(
            web.post(
                "/wps",
                data=(
                    '<wps:Execute xmlns:wps="http://www.opengis.net/wps/1.0.0" '
                    'xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" version="1.0.0">'
                    "<ows:Identifier>echo</ows:Identifier><wps:DataInputs><wps:Input>"
                    "<ows:Identifier>document</ows:Identifier><wps:Data>"
                    f'<wps:ComplexData mimeType="text/plain">{content}</wps:ComplexData>'
                    "</wps:Data></wps:Input></wps:DataInputs></wps:Execute>"
                ),
                content_type="text/xml",
            )
        ),
    ]
    api = web.post("/ogcapi/processes/echo/execution", json={"inputs": {"document": content}})
    assert api.status_code == 400
    answers.append(("InvalidParameterValue", "document", api.get_json()["detail"]))
    for code, locator, text in answers:
        assert (code, locator) == ("InvalidParameterValue", "document"), text
        assert "looks like a path or URL: send it as a reference" in text
        assert str(settings.data_dir) not in text
    assert app.extensions["wps"].store.list() == []


@pytest.mark.parametrize(
    "content", ['{"path": "/data/x.tif"}', "a line that mentions /data/x.tif", "/data/x\n/data/y\n"]
)
def test_content_that_merely_contains_a_path_is_content(app: Flask, content: str) -> None:
    web = app.test_client()
    answer = web.post(
        "/ogcapi/processes/echo/execution",
        json={"inputs": {"document": {"value": content, "mediaType": "text/plain"}}, "response": "document"},
    )
    assert answer.status_code == 200, answer.get_data()
    assert json.loads(answer.get_data())
