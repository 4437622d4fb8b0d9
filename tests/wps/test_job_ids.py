"""Whatever is sent where a job id or an output's file name goes, the answer is "no such job": 404 and
NoSuchJob in every dialect, a schema-valid report of the request's own version, never a 500."""

from __future__ import annotations

import json
from urllib.parse import quote
from xml.sax.saxutils import escape

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.xsd import assert_valid

OWS11 = "http://www.opengis.net/ows/1.1"
OWS20 = "http://www.opengis.net/ows/2.0"
WPS20 = "http://www.opengis.net/wps/2.0"

HOSTILE = [
    "\x00",
    "%00",
    "\x01\x02\x1b[31m",
    "a" * 5000,
    "'\"<>&",
    "../../etc/passwd",
    "..",
    "./x",
    "a/b/c",
    "\\..\\windows",
    "\ufffe\uffff",
    "00000000-0000-0000-0000-000000000000",
    "00000000-0000-0000-0000-00000000000G",
    " 00000000-0000-0000-0000-000000000000",
    "DROP TABLE wps_jobs;--",
    "%",
    "?",
    "#",
]
# any text (controls, slashes...) and any bytes (not UTF-8 at all), as a URL carries them
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300) | st.sampled_from(HOSTILE)
ids = (texts.map(str.encode) | st.binary(min_size=1, max_size=300)).filter(
    lambda b: b.decode(errors="replace").strip()  # a blank id is a missing one (MissingParameterValue)
)
xml_ids = texts.map(lambda s: "".join(c for c in s if c in "\t\n\r" or " " <= c <= "\ud7ff")).filter(
    lambda s: s.strip()
)
fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    return app.test_client()


def _report(body: bytes, ows: str) -> etree._Element:
    assert_valid(body)
    root = etree.fromstring(body)
    assert root.tag == f"{{{ows}}}ExceptionReport", body[:300]
    assert root.find(f"{{{ows}}}Exception").get("exceptionCode") == "NoSuchJob"
    assert b"Traceback" not in body
    return root


def _wps1_no_such_job(response: object) -> None:
    assert response.status_code == 404  # type: ignore[attr-defined]
    root = _report(response.get_data(), OWS11)  # type: ignore[attr-defined]
    assert root.get("version") == "1.0.0"


def _wps2_no_such_job(response: object) -> None:
    assert response.status_code == 404  # type: ignore[attr-defined]
    root = _report(response.get_data(), OWS20)  # type: ignore[attr-defined]
    assert root.get("version") == "2.0.0"


def _problem(response: object) -> None:
    assert response.status_code == 404  # type: ignore[attr-defined]
    problem = json.loads(response.get_data())  # type: ignore[attr-defined]
    assert problem["type"].endswith("/no-such-job"), problem


@fuzz
@given(job_id=ids, name=ids)
def test_wps1_status_and_outputs(web: FlaskClient, job_id: bytes, name: bytes) -> None:
    _wps1_no_such_job(web.get(f"/wps/status/{quote(job_id, safe='')}"))
    _wps1_no_such_job(web.get(f"/outputs/{quote(job_id, safe='')}/{quote(name, safe='')}"))


@fuzz
@given(job_id=ids, operation=st.sampled_from(["GetStatus", "GetResult", "Dismiss"]))
def test_wps2_kvp(web: FlaskClient, job_id: bytes, operation: str) -> None:
    query = f"service=WPS&version=2.0.0&request={operation}&JobID={quote(job_id, safe='')}"
    _wps2_no_such_job(web.get(f"/wps?{query}"))


@fuzz
@given(job_id=xml_ids, operation=st.sampled_from(["GetStatus", "GetResult", "Dismiss"]))
def test_wps2_xml(web: FlaskClient, job_id: str, operation: str) -> None:
    body = (
        f'<wps:{operation} xmlns:wps="{WPS20}" service="WPS" version="2.0.0">'
        f"<wps:JobID>{escape(job_id)}</wps:JobID></wps:{operation}>"
    )
    _wps2_no_such_job(web.post("/wps", data=body.encode(), content_type="text/xml"))


@fuzz
@given(job_id=ids)
def test_ogcapi(web: FlaskClient, job_id: bytes) -> None:
    path = f"/ogcapi/jobs/{quote(job_id, safe='')}"
    _problem(web.get(path))
    _problem(web.get(path + "/results"))
    _problem(web.get(path + "/stac"))
    _problem(web.get(path + "?f=html"))  # the job's page
    _problem(web.delete(path))


def test_an_internal_error_of_a_wps2_request_is_an_ows2_report(app: Flask) -> None:
    store = app.extensions["wps"].store
    with store.engine.begin() as db:  # a real fault: the job table is gone under the service
        db.execute(sa.text("DROP TABLE wps_jobs"))
    response = app.test_client().get(
        "/wps?service=WPS&version=2.0.0&request=GetStatus&JobID=00000000-0000-0000-0000-000000000000"
    )
    assert response.status_code == 500
    assert_valid(response.get_data())
    root = etree.fromstring(response.get_data())
    assert root.tag == f"{{{OWS20}}}ExceptionReport" and root.get("version") == "2.0.0"
    assert b"wps_jobs" not in response.get_data() and b"Traceback" not in response.get_data()
