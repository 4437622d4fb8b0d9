"""The compose deployment starts: the image listens on 0.0.0.0, so the `wps` service's environment
must turn sign-in on, or serve's guard refuses it (as it would without those variables)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.e2e.server import REPO
from wps_server.access import AuthSettings, check_exposure
from wps_server.config import ConfigError, Settings, load_settings

_DEFAULTED = re.compile(r"\$\{([A-Z_]+)(?::-([^}]*))?\}")


def image_environment() -> dict[str, str]:
    """The WPS_* variables the image's last stage sets (its ENV lines)."""
    last_stage = (REPO / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    found: dict[str, str] = {}
    for line in last_stage.splitlines():
        if line.startswith("ENV "):
            found |= dict(re.findall(r"(WPS_[A-Z_]+)=(\S+)", line))
    return found


def compose_environment() -> dict[str, str]:
    """The `wps` service's environment, with ${VAR:-default} as compose reads it from an empty .env."""
    service = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["wps"]
    return {
        key: _DEFAULTED.sub(lambda m: m.group(2) or "", str(value))
        for key, value in service["environment"].items()
    }


def container_settings(environ: dict[str, str]) -> Settings:
    # the image runs serve in /srv/wps, where the repository's pywps.cfg is copied
    return load_settings(files=[REPO / "pywps.cfg"], environ=environ)


def test_the_compose_service_passes_the_serve_guard() -> None:
    environ = image_environment() | compose_environment()
    settings = container_settings(environ)
    assert settings.host == "0.0.0.0"
    auth = AuthSettings.from_settings(settings)
    assert auth.methods == {"basic"} and str(auth.users_file) == "/srv/wps/users/users.json"
    check_exposure(auth, settings.host)


def test_without_its_sign_in_variables_the_guard_refuses() -> None:
    environ = {
        k: v
        for k, v in (image_environment() | compose_environment()).items()
        if not k.startswith("WPS_AUTH_")
    }
    settings = container_settings(environ)
    with pytest.raises(ConfigError, match=r"serving on 0\.0\.0\.0 with no sign-in"):
        check_exposure(AuthSettings.from_settings(settings), settings.host)
