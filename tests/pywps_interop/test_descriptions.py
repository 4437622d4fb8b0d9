"""The PyWPS suite described by this server (in process, no HTTP): WPS 1.0.0 and 2.0.0 documents valid
against the OGC schemas, and OGC API - Processes descriptions valid against the server's OpenAPI
document and their schemas against OpenAPI 3.0's (tests/ogcapi_schema.py), with what the PyWPS
definitions say."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jsonschema
import pytest
from flask.testing import FlaskClient
from lxml import etree
from openapi_spec_validator import validate
from pywps import configuration as pywps_configuration

from tests.ogcapi_schema import assert_schemas_valid
from tests.xsd import assert_valid
from wps_server.app import create_app
from wps_server.config import Settings
from wps_server.database import make_engine, migrate

SUITE = "tests.pywps_interop.suite:processes"
OWS2 = "http://www.opengis.net/ows/2.0"


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[FlaskClient]:
    settings = make_settings(server={"processes": SUITE})
    migrate(make_engine(settings.database_url))
    yield create_app(settings).test_client()
    pywps_configuration.load_hardcoded_configuration()


@pytest.mark.parametrize("version", ["1.0.0", "2.0.0"])
def test_wps_documents_validate(client: FlaskClient, version: str) -> None:
    for request in ("GetCapabilities", "DescribeProcess&identifier=all"):
        answer = client.get(f"/wps?service=WPS&version={version}&request={request}")
        assert answer.status_code == 200
        assert_valid(answer.data)


def test_wps2_description_keeps_ranges_keywords_metadata_and_leaves_out_a_bad_version(
    client: FlaskClient,
) -> None:
    root = etree.fromstring(
        client.get(
            "/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=literal_types,failing"
        ).data
    )
    offerings = root.findall("{http://www.opengis.net/wps/2.0}ProcessOffering")
    assert offerings[0].get("processVersion") == "2.1.0"
    assert offerings[1].get("processVersion") is None  # PyWPS's default version "None" is no x.y.z
    ratio = root.xpath("//*[ows:Identifier='ratio']//ows:Range", namespaces={"ows": OWS2})[0]
    assert ratio.get(f"{{{OWS2}}}rangeClosure") == "open-closed"
    spacing = root.xpath("//*[ows:Identifier='count']//ows:Spacing/text()", namespaces={"ows": OWS2})
    assert spacing == ["5"]
    role = root.xpath(
        "//*[ows:Identifier='colour']/ows:Metadata/@xlink:role",
        namespaces={"ows": OWS2, "xlink": "http://www.w3.org/1999/xlink"},
    )
    assert role == ["https://example.org/role"]


def test_ogcapi_descriptions_validate_against_the_openapi_document(client: FlaskClient) -> None:
    api = client.get("/ogcapi/api").get_json()
    validate(api)
    schema = {"$ref": "#/components/schemas/process", "components": api["components"]}
    for summary in client.get("/ogcapi/processes").get_json()["processes"]:
        described = client.get(f"/ogcapi/processes/{summary['id']}").get_json()
        jsonschema.validate(described, schema)
        assert_schemas_valid(described)
    literal = client.get("/ogcapi/processes/literal_types").get_json()
    assert literal["inputs"]["moment"]["schema"] == {"type": "string", "format": "date-time"}
    assert literal["inputs"]["flag"]["schema"] == {"type": "boolean", "default": False}
    assert literal["inputs"]["heading"]["schema"] == {"type": "number"}
    assert literal["outputs"]["total"]["schema"] == {"type": "number"}
