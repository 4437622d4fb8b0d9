"""Roles: a user sees in every listing and description only the processes they may run, the `cluster`
input offers only their profiles, and running either without the role is 403."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.auth.conftest import PASSWORDS, basic
from tests.jobs.cluster_processes import cluster_processes
from tests.wps import processes as wps_processes
from tests.wps.interfaces import CheckedClient, checked_client, xml
from wps_server.config import Settings
from wps_server.process import Process
from wps_server.users import UsersFile
from wps_server.wps1.parse import OWS as OWS1
from wps_server.wps2.parse import OWS as OWS2

PROFILES = """
version: 1
default: local
profiles:
  local:
    kind: local
    max_workers: 1
  burst:
    kind: local
    shared: false
    max_workers: 1
    options: {processes: false, threads_per_worker: 1}
    price: {amount: 0.20, currency: EUR, as_of: "2026-11-01"}
    billing: {granularity_seconds: 1}
    startup_seconds: 1
    roles: [cloud]
"""
EVERYONE = ["anonymous", "bob", "alice", "root"]


def all_processes(settings: Settings) -> list[Process]:
    return [*wps_processes.test_processes(settings), *cluster_processes(settings)]


@pytest.fixture
def web(make_auth_app: Callable[..., Flask], tmp_path: Path) -> Iterator[CheckedClient]:
    profiles = tmp_path / "clusters.yaml"
    profiles.write_text(PROFILES)
    app = make_auth_app(processes=all_processes, cluster={"profiles_file": str(profiles)})
    PASSWORDS["erin"] = "erin-secret-55"
    UsersFile(tmp_path / "var" / "users.json").add("erin", PASSWORDS["erin"], ("cloud",), ())
    yield checked_client(app)
    clusters = app.extensions["wps"].engine.clusters
    if clusters is not None:
        clusters.close()


def headers(who: str) -> dict[str, str]:
    return {} if who == "anonymous" else basic(who)


def test_listings_show_what_each_may_run(web: CheckedClient) -> None:
    for who in EVERYONE:
        wps1 = xml(
            web.get("/wps?service=WPS&version=1.0.0&request=GetCapabilities", headers=headers(who)).get_data()
        )
        wps2 = xml(
            web.get("/wps?service=WPS&version=2.0.0&request=GetCapabilities", headers=headers(who)).get_data()
        )
        ogc = web.get("/ogcapi/processes", headers=headers(who)).get_json()
        listed1 = {e.text for e in wps1.iter(f"{{{OWS1}}}Identifier")}
        listed2 = {e.text for e in wps2.iter(f"{{{OWS2}}}Identifier")}
        listed3 = {p["id"] for p in ogc["processes"]}
        assert listed1 == listed2 == listed3, who
        assert ("sleep" in listed1) == (who in {"alice", "root"}), who
        assert {"hello", "cluster_sleep"} <= listed1, who
        described = xml(
            web.get(
                "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=all", headers=headers(who)
            ).get_data()
        )
        assert {e.text for e in described.iter(f"{{{OWS1}}}Identifier")} >= listed1


def test_a_process_one_may_not_run_is_not_described(web: CheckedClient) -> None:
    wps1 = web.get(
        "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=sleep", headers=basic("bob")
    )
    wps2 = web.get(
        "/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=sleep", headers=basic("bob")
    )
    ogc = web.get("/ogcapi/processes/sleep", headers=basic("bob"))
    assert (wps1.status_code, wps2.status_code, ogc.status_code) == (400, 400, 404)
    assert web.get("/ogcapi/processes/sleep", headers=basic("alice")).status_code == 200


def cluster_choices(web: CheckedClient, who: str) -> dict[str, list[str]]:
    ogc = web.get("/ogcapi/processes/cluster_sleep", headers=headers(who)).get_json()
    schema = ogc["inputs"]["cluster"]["schema"]
    enum = next(c["enum"] for c in schema.get("oneOf", [schema]) if "enum" in c)
    wps1 = xml(
        web.get(
            "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=cluster_sleep",
            headers=headers(who),
        ).get_data()
    )
    cluster = next(i for i in wps1.iter("Input") if i.findtext(f"{{{OWS1}}}Identifier") == "cluster")
    values1 = [v.text for v in cluster.iter(f"{{{OWS1}}}Value")]
    wps2 = web.get(
        "/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=cluster_sleep",
        headers=headers(who),
    ).get_data(as_text=True)
    return {"ogc": enum, "wps1": values1, "wps2": [p for p in ("burst", "local") if f">{p}<" in wps2]}


def test_the_cluster_input_offers_ones_own_profiles(web: CheckedClient) -> None:
    assert cluster_choices(web, "bob") == {"ogc": ["local"], "wps1": ["local"], "wps2": ["local"]}
    both = ["burst", "local"]
    assert cluster_choices(web, "erin") == {"ogc": both, "wps1": both, "wps2": both}
    assert cluster_choices(web, "root") == {"ogc": both, "wps1": both, "wps2": both}


def test_a_profile_without_the_role_is_403_and_with_it_runs(web: CheckedClient) -> None:
    body = {"inputs": {"tasks": 1, "seconds": 0.1, "cluster": "burst"}}
    refused = web.post("/ogcapi/processes/cluster_sleep/execution", json=body, headers=basic("bob"))
    assert refused.status_code == 403
    assert "cluster profile 'burst' needs a role bob lacks" in refused.get_json()["detail"]
    wps = web.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=cluster_sleep"
        "&DataInputs=tasks=1;seconds=0.1;cluster=burst",
        headers=basic("bob"),
    )
    assert wps.status_code == 403 and b'exceptionCode="AccessDenied"' in wps.get_data()
    ran = web.post("/ogcapi/processes/cluster_sleep/execution", json=body, headers=basic("erin"))
    assert ran.status_code == 200, ran.get_data(as_text=True)
