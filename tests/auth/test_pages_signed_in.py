"""The pages with sign-in on: each user's counts and lists hold their own jobs, an admin's all, and
someone not signed in sees no count and no job, yet gets the pages' style sheets, scripts and map
library, which hold nobody's data."""

from __future__ import annotations

import re

from tests.auth.conftest import basic
from tests.wps.interfaces import CheckedClient

HTML = {"Accept": "text/html"}


def _counts(page: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'class="badge (\w+)"[^>]*>\w+ <b>(\d+)</b>', page)}


def test_counts_and_lists_are_the_requesters_own(web: CheckedClient) -> None:
    for _ in range(2):
        done = web.post(
            "/ogcapi/processes/hello/execution", json={"inputs": {"name": "a"}}, headers=basic("alice")
        )
        assert done.status_code == 200
    alice = web.get("/", headers=HTML | basic("alice")).get_data(as_text=True)
    bob = web.get("/", headers=HTML | basic("bob")).get_data(as_text=True)
    root = web.get("/", headers=HTML | basic("root")).get_data(as_text=True)
    anonymous = web.get("/", headers=HTML).get_data(as_text=True)
    assert _counts(alice)["successful"] == 2 and _counts(root)["successful"] >= 2
    assert _counts(bob)["successful"] == 0
    assert _counts(anonymous) == {}
    listed = web.get("/ogcapi/jobs?f=html", headers=HTML | basic("bob")).get_data(as_text=True)
    assert "hello" not in re.sub(r"<option[^>]*>[^<]*</option>", "", listed)
    assert web.get("/ogcapi/jobs?f=html", headers=HTML).status_code == 401


MISSING = "0f4c2b9e-5d8a-4b8e-9a43-5d0b8c1e2f3a"
STATIC = ["pages.css", "pages.js", "map.js", "leaflet/leaflet.js", "leaflet/leaflet.css"]


def test_the_pages_files_are_public_and_a_job_page_is_its_owners(web: CheckedClient) -> None:
    for name in [*STATIC, "leaflet/images/marker-icon.png"]:
        shipped = web.get(f"/ogcapi/static/{name}")
        assert shipped.status_code == 200 and shipped.get_data(), name
    assert (
        web.post(
            "/ogcapi/processes/hello/execution", json={"inputs": {"name": "a"}}, headers=basic("alice")
        ).status_code
        == 200
    )
    job_id = web.get("/ogcapi/jobs", headers=basic("alice")).get_json()["jobs"][0]["jobID"]
    for path in [f"/ogcapi/jobs/{job_id}?f=html", f"/ogcapi/jobs/{job_id}", f"/ogcapi/jobs/{job_id}/results"]:
        assert web.get(path, headers=HTML).status_code == 401, path
    own = web.get(f"/ogcapi/jobs/{job_id}?f=html", headers=basic("alice"))
    assert own.status_code == 200 and own.mimetype == "text/html" and job_id in own.get_data(as_text=True)
    others = web.get(f"/ogcapi/jobs/{job_id}?f=html", headers=HTML | basic("bob"))
    missing = web.get(f"/ogcapi/jobs/{MISSING}?f=html", headers=HTML | basic("bob"))
    assert others.status_code == missing.status_code == 404
    assert others.get_data(as_text=True).replace(job_id, MISSING) == missing.get_data(as_text=True)
