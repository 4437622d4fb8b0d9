"""Inputs by s3:// reference, against a local S3 server (moto's, on loopback): only allowed buckets,
with the credentials and endpoint of the environment, sizes bounded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from lxml import etree
from pywps.tests import client_for

from tests.s3server import S3Server
from tests.xsd import assert_valid
from wps_server.wps1.parse import OWS, WPS, XLINK


@pytest.fixture(scope="module")
def buckets(s3_server: S3Server) -> dict[str, str]:
    """An allowed bucket (eo-...) with a small and a large object, and a private one."""
    names = {"eo": s3_server.bucket("eo"), "private": s3_server.bucket("private")}
    s3 = s3_server.s3()
    s3.put_object(Bucket=names["eo"], Key="scenes/note.txt", Body=b"a note in a bucket")
    s3.put_object(Bucket=names["eo"], Key="scenes/big.txt", Body=b"x" * 5000)
    s3.put_object(Bucket=names["private"], Key="secret.txt", Body=b"secret")
    return names


@pytest.fixture
def s3_app(s3_env: S3Server, buckets: dict[str, str], make_app: Callable[..., Flask]) -> Flask:
    return make_app(inputs={"allowed_buckets": "eo-*", "max_reference_size": "4kb"})


def execute(app: Flask, href: str) -> tuple[int, bytes]:
    body = (
        f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" xmlns:xlink="{XLINK}" service="WPS" version="1.0.0">'
        "<ows:Identifier>echo</ows:Identifier><wps:DataInputs><wps:Input><ows:Identifier>document</ows:Identifier>"
        f'<wps:Reference xlink:href="{href}" mimeType="text/plain"/></wps:Input></wps:DataInputs>'
        '<wps:ResponseForm><wps:RawDataOutput mimeType="text/plain"><ows:Identifier>copy</ows:Identifier>'
        "</wps:RawDataOutput></wps:ResponseForm></wps:Execute>"
    )
    response = client_for(app).post("/wps", data=body, content_type="text/xml")
    return response.status_code, response.get_data()


def test_object_in_an_allowed_bucket_is_read(s3_app: Flask, buckets: dict[str, str]) -> None:
    assert execute(s3_app, f"s3://{buckets['eo']}/scenes/note.txt") == (200, b"a note in a bucket")


@pytest.mark.parametrize(
    ("href", "status", "code", "words"),
    [
        ("s3://{private}/secret.txt", 400, "InvalidParameterValue", "not among the buckets"),
        ("s3://{eo}/scenes/missing.txt", 400, "InvalidParameterValue", "does not exist"),
        ("s3://{eo}/scenes/big.txt", 413, "FileSizeExceeded", "over the limit"),
        ("s3://{eo}", 400, "InvalidParameterValue", "s3://bucket/key"),
    ],
)
def test_refused_s3_references(
    s3_app: Flask, buckets: dict[str, str], href: str, status: int, code: str, words: str
) -> None:
    got, body = execute(s3_app, href.format(**buckets))
    assert got == status, body
    assert_valid(body)
    exception = etree.fromstring(body).find(f"{{{OWS}}}Exception")
    assert (
        exception is not None
        and exception.get("exceptionCode") == code
        and exception.get("locator") == "document"
    )
    assert words in (exception.findtext(f"{{{OWS}}}ExceptionText") or "")
    service = s3_app.extensions["wps"]
    assert not service.settings.outputs_dir.exists() or not any(service.settings.outputs_dir.iterdir())


def test_s3_refused_when_no_bucket_is_configured(make_app: Callable[..., Flask]) -> None:
    status, body = execute(make_app(), "s3://eo-images/scenes/note.txt")
    assert status == 400 and b"not among the buckets" in body
