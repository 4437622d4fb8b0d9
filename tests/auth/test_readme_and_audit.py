"""The README's example configurations work as printed, and every refusal or change leaves one JSON
audit line with the user, the action, the object and the client address, never a secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.auth.conftest import PASSWORDS, basic
from tests.e2e.server import REPO
from tests.wps.interfaces import CheckedClient
from wps_server.access import AuthSettings
from wps_server.config import load_settings

SECTION = (REPO / "README.md").read_text().split("## Users and budgets", 1)[1].split("\n## ", 1)[0]


def ini_blocks() -> list[str]:
    return [chunk.split("```", 1)[0] for chunk in SECTION.split("```ini\n")[1:]]


@pytest.mark.parametrize("index", [0, 1])
def test_the_readme_configurations_load(tmp_path: Path, index: int) -> None:
    config = tmp_path / "server.cfg"
    config.write_text(ini_blocks()[index])
    auth = AuthSettings.from_settings(load_settings(files=[config], environ={}))
    assert auth.enabled and auth.process_roles["s2p_stereo"] == frozenset({"s2p"})
    assert (auth.oidc is not None) == (index == 1)
    assert len(ini_blocks()) == 2


def test_refusals_and_changes_are_audited(web: CheckedClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wps_server.audit")
    web.get("/ogcapi/jobs", headers=basic("alice", "wrong-guess"))
    web.post("/ogcapi/processes/sleep/execution", json={"inputs": {"seconds": 0.01}}, headers=basic("bob"))
    accepted = web.post(
        "/ogcapi/processes/hello/execution",
        json={"inputs": {"name": "x"}},
        headers={"Prefer": "respond-async", **basic("alice")},
    ).get_json()["jobID"]
    web.delete(f"/ogcapi/jobs/{accepted}", headers=basic("alice"))
    entries = [r.audit for r in caplog.records if hasattr(r, "audit")]
    assert [(e["action"], e["outcome"], e["user"]) for e in entries] == [
        ("sign-in", "refused", "anonymous"),
        ("execute", "refused", "bob"),
        ("execute", "accepted", "alice"),
        ("dismiss", "done", "alice"),
    ]
    assert all(e["client"] == "127.0.0.1" for e in entries)
    assert entries[2]["job_id"] == entries[3]["job_id"] == accepted
    text = json.dumps(entries) + caplog.text
    assert not any(secret in text for secret in PASSWORDS.values()) and "wrong-guess" not in text
