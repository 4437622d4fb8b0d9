"""The pages with sign-in on: each user's counts and lists hold their own jobs, an admin's all, and
someone not signed in sees no count and no job."""

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
