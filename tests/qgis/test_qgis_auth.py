"""QGIS with a sign-in kept in its authentication manager, against a real `wps-server serve` with HTTP
Basic: what QGIS users of the WPS plugins do when a server asks for a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auth.conftest import PASSWORDS, issuer
from tests.auth.test_owslib_auth import server
from tests.e2e.server import Server
from tests.qgis.runner import NO_PYQGIS, has_pyqgis, run_client

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not has_pyqgis(), reason=NO_PYQGIS)]

CLIENT = Path(__file__).with_name("qgis_auth_client.py")
__all__ = ["issuer", "server"]  # the signed-in server fixture of the OWSLib tests (and its token issuer)


def test_a_qgis_authentication_configuration_signs_in(server: Server, tmp_path: Path) -> None:
    seen = run_client(CLIENT, [server.url, "alice", PASSWORDS["alice"]], tmp_path)
    # anonymous: discovery only, without the processes that need a role; with the configuration: alice's
    assert "sleep" not in seen["anonymous_processes"]
    assert "sleep" in seen["signed_in_processes"]
    assert seen["execute_anonymous"] == 401
    status, body = seen["execute_signed_in"]
    assert status == 200 and float(body) == pytest.approx(0.1), body
    assert seen["owslib"][0] == "ProcessSucceeded" and float(seen["owslib"][1][0][0]) == pytest.approx(0.1)


def test_a_wrong_password_in_the_configuration_is_refused(server: Server, tmp_path: Path) -> None:
    seen = run_client(CLIENT, [server.url, "bob", "not-bobs-password"], tmp_path)
    assert seen["signed_in_processes"] == 401 and seen["execute_anonymous"] == 401
    assert (
        seen["owslib"][0] == "refused" and "user name and password were not accepted" in seen["owslib"][1]
    ), seen["owslib"]
