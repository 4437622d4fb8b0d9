"""End to end with sign-in: a real `wps-server serve` with HTTP Basic and OpenID Connect tokens,
driven by OWSLib with `owslib.util.Authentication` (WPS 1.0.0) and by its OGC API client, one client per
user so that no credentials of one can ride along with another's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from owslib import ogcapi
from owslib.ogcapi.processes import Processes
from owslib.util import Authentication, ServiceException
from owslib.wps import ASYNC, WebProcessingService

from tests.auth.conftest import PASSWORDS, write_users
from tests.auth.issuer import AUDIENCE, ISSUER, Issuer
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

CONFIG = """
[server]
processes = tests.wps.processes:test_processes
[dask]
workers = 1
dashboard =
[logging]
format = text
[auth]
methods = basic, oidc
process_roles = sleep = sleeper
oidc_issuer = {issuer}
oidc_audience = {audience}
oidc_jwks_url = {jwks}
oidc_algorithms = RS256
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve-auth")
    write_users(folder / "var" / "users.json")
    config = CONFIG.format(issuer=ISSUER, audience=AUDIENCE, jwks=issuer.jwks_url)
    running = Server(folder, config).start()
    yield running
    assert running.stop() == 0


def wps(server: Server, who: str | None) -> WebProcessingService:
    auth = Authentication(username=who, password=PASSWORDS[who]) if who else None
    return WebProcessingService(f"{server.url}/wps", auth=auth, headers={})


def test_each_user_sees_runs_and_reads_their_own(server: Server, tmp_path: Path) -> None:
    alice, bob = wps(server, "alice"), wps(server, "bob")
    assert "sleep" in [p.identifier for p in alice.processes]
    assert "sleep" not in [p.identifier for p in bob.processes]
    execution = alice.execute("sleep", [("seconds", "0.2")], output=[("slept", False)], mode=ASYNC)
    execution.checkStatus(sleepSecs=0)
    for _ in range(200):
        if execution.isComplete():
            break
        execution.checkStatus(sleepSecs=0.1)
    assert execution.isSucceded(), execution.errors
    status_url = execution.statusLocation
    # bob, with his own client, gets what a missing job gets; nobody signed in gets 401
    theirs = requests.get(status_url, auth=("bob", PASSWORDS["bob"]), timeout=30)
    missing = requests.get(
        status_url[:-36] + "0f4c2b9e-5d8a-4b8e-9a43-5d0b8c1e2f3a", auth=("bob", PASSWORDS["bob"]), timeout=30
    )
    assert theirs.status_code == missing.status_code == 404
    anonymous = requests.get(status_url, timeout=30)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    with pytest.raises(ServiceException, match="running sleep needs the role sleeper; bob lacks it"):
        bob.execute("sleep", [("seconds", "0.1")], output=[("slept", False)])


def test_ogc_api_client_with_its_own_credentials(server: Server) -> None:
    alice = Processes(
        f"{server.url}/ogcapi", auth=Authentication(username="alice", password=PASSWORDS["alice"]), headers={}
    )
    result = alice.execute("hello", {"name": "Alice"})
    assert result["greeting"] == "Hello Alice"
    bob = Processes(
        f"{server.url}/ogcapi", auth=Authentication(username="bob", password=PASSWORDS["bob"]), headers={}
    )
    assert "sleep" not in [p["id"] for p in bob.processes()]
    jobs = requests.get(f"{server.url}/ogcapi/jobs", auth=("bob", PASSWORDS["bob"]), timeout=30).json()[
        "jobs"
    ]
    assert jobs == []
    me = requests.get(f"{server.url}/ogcapi/me", auth=("alice", PASSWORDS["alice"]), timeout=30).json()
    assert me["user_id"] == "alice" and me["roles"] == ["sleeper"]


def test_ogc_api_clients_with_bearer_tokens_each_see_their_own(server: Server, issuer: Issuer) -> None:
    """OWSLib's OGC API client keeps the module-wide headers dict itself and updates it with the
    ``headers`` it is given: a token passed there rides along with every later client of the process.
    Each client here gets its own copy with its own token."""
    shared = dict(ogcapi.REQUEST_HEADERS)

    def client(token: str) -> Processes:
        made = Processes(f"{server.url}/ogcapi")
        made.headers = {**made.headers, "Authorization": f"Bearer {token}"}
        return made

    try:
        leaky = Processes(f"{server.url}/ogcapi", headers={"Authorization": "Bearer x"})
        assert Processes(f"{server.url}/ogcapi").headers is leaky.headers is ogcapi.REQUEST_HEADERS
        ogcapi.REQUEST_HEADERS.clear()
        ogcapi.REQUEST_HEADERS.update(shared)
        erin = client(issuer.token("erin", ["sleeper"]))
        frank = client(issuer.token("frank"))
        assert erin.execute("hello", {"name": "Erin"})["greeting"] == "Hello Erin"
        assert "sleep" in [p["id"] for p in erin.processes()]
        assert "sleep" not in [p["id"] for p in frank.processes()]
        mine = requests.get(f"{server.url}/ogcapi/jobs", headers=erin.headers, timeout=30).json()["jobs"]
        theirs = requests.get(f"{server.url}/ogcapi/jobs", headers=frank.headers, timeout=30).json()["jobs"]
        assert [j["processID"] for j in mine] == ["hello"] and theirs == []
        assert "Authorization" not in ogcapi.REQUEST_HEADERS
    finally:
        ogcapi.REQUEST_HEADERS.clear()
        ogcapi.REQUEST_HEADERS.update(shared)
