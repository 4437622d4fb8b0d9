"""Who is asking, and what they may do: the requester of the current request, the ``[auth]`` settings
and the policy every interface applies (which processes and profiles a user may use, whose jobs they
may see), with one audit line per refusal or change.

The requester lives in a context variable: the web layer sets it for each request; the CLI and the job
runner leave its default, the operator, who may do everything.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from wps_server.config import ConfigError, Settings, section_number

ADMIN = "admin"
METHODS = frozenset({"basic", "oidc"})
audit_log = logging.getLogger("wps_server.audit")


@dataclass(frozen=True)
class User:
    """A requester: ``name`` None is nobody in particular (the operator, or anyone when nobody signs in)."""

    name: str | None
    roles: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()
    is_admin: bool = False
    signed_in: bool = False

    @property
    def shown(self) -> str:
        return self.name or ("operator" if self.is_admin else "anonymous")


#: the CLI, the job runner, and everyone when no sign-in is configured
OPERATOR = User(None, is_admin=True)
ANONYMOUS = User(None)
_requester: ContextVar[User] = ContextVar("requester", default=OPERATOR)
_client: ContextVar[str | None] = ContextVar("client", default=None)


def requester() -> User:
    return _requester.get()


@contextmanager
def acting_as(user: User, client: str | None = None) -> Iterator[None]:
    """Make ``user`` (from the address ``client``) the requester while the block runs."""
    token, address = _requester.set(user), _client.set(client)
    try:
        yield
    finally:
        _client.reset(address)
        _requester.reset(token)


def signed_in_user(name: str, roles: Iterable[str], groups: Iterable[str] = ()) -> User:
    chosen = frozenset(roles)
    return User(name, chosen, tuple(groups), is_admin=ADMIN in chosen, signed_in=True)


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...]
    roles_claim: str
    user_claim: str


@dataclass(frozen=True)
class AuthSettings:
    methods: frozenset[str]
    users_file: Path
    realm: str
    anonymous: str
    allow_unauthenticated_public: bool
    process_roles: Mapping[str, frozenset[str]]
    oidc: OidcSettings | None
    max_failed_logins: int
    max_failed_logins_per_address: int
    failed_login_window: float

    @property
    def enabled(self) -> bool:
        return bool(self.methods)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthSettings:
        section = settings.section("auth")
        methods = frozenset(
            m.strip().lower() for m in re.split(r"[,\s]+", section.get("methods", "")) if m.strip()
        )
        unknown = sorted(methods - METHODS)
        if unknown:
            raise ConfigError(f"[auth] methods: {unknown[0]!r} is not a method; use basic, oidc or both")
        anonymous = section.get("anonymous", "discovery").strip().lower()
        if anonymous not in {"discovery", "none"}:
            raise ConfigError(f"[auth] anonymous must be discovery or none, not {anonymous!r}")
        public = section.get("allow_unauthenticated_public", "false").strip().lower()
        if public not in {"true", "false"}:
            raise ConfigError(f"[auth] allow_unauthenticated_public must be true or false, not {public!r}")
        users_file = section.get("users_file", "").strip()
        return cls(
            methods=methods,
            users_file=Path(users_file).absolute() if users_file else settings.data_dir / "users.json",
            realm=section.get("realm", "space-wps").strip().replace('"', "") or "space-wps",
            anonymous=anonymous,
            allow_unauthenticated_public=public == "true",
            process_roles=_process_roles(section.get("process_roles", "")),
            oidc=_oidc(section) if "oidc" in methods else None,
            max_failed_logins=int(section_number("auth", section, "max_failed_logins", 1, 10**6, whole=True)),
            max_failed_logins_per_address=int(
                section_number("auth", section, "max_failed_logins_per_address", 1, 10**6, whole=True)
            ),
            failed_login_window=section_number("auth", section, "failed_login_window", 1, 86400 * 7),
        )


def _process_roles(text: str) -> dict[str, frozenset[str]]:
    rules: dict[str, frozenset[str]] = {}
    for line in (item.strip() for item in text.splitlines()):
        if not line:
            continue
        process, sep, roles = line.partition("=")
        names = frozenset(r.strip() for r in roles.split(",") if r.strip())
        if not sep or not process.strip() or not names:
            raise ConfigError(
                f"[auth] process_roles: {line[:60]!r} must read `process = role, role`, e.g. s2p_stereo = s2p"
            )
        rules[process.strip()] = names
    return rules


def _oidc(section: Mapping[str, str]) -> OidcSettings:
    values = {key: section.get(f"oidc_{key}", "").strip() for key in ("issuer", "audience", "jwks_url")}
    for key, value in values.items():
        if not value:
            raise ConfigError(f"[auth] oidc_{key} must be set when methods has oidc")
    if not values["jwks_url"].startswith(("https://", "http://127.", "http://localhost", "http://[::1]")):
        raise ConfigError("[auth] oidc_jwks_url must be an https:// URL (http only on loopback)")
    algorithms = tuple(a.strip() for a in section.get("oidc_algorithms", "").split(",") if a.strip())
    allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
    bad = [a for a in algorithms if a not in allowed]
    if bad or not algorithms:
        raise ConfigError(
            f"[auth] oidc_algorithms: {(bad or [''])[0]!r} is not accepted; use public-key algorithms "
            f"among {', '.join(sorted(allowed))}"
        )
    return OidcSettings(
        issuer=values["issuer"],
        audience=values["audience"],
        jwks_url=values["jwks_url"],
        algorithms=algorithms,
        roles_claim=section.get("oidc_roles_claim", "").strip() or "roles",
        user_claim=section.get("oidc_user_claim", "").strip() or "sub",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(auth: AuthSettings, host: str) -> None:
    """Refuse to serve on ``host`` when it is not loopback and nobody signs in, unless the
    configuration says a proxy in front authenticates (a ConfigError naming the keys to set)."""
    if not auth.enabled and not auth.allow_unauthenticated_public and not is_loopback(host):
        raise ConfigError(
            f"serving on {host} with no sign-in would let everyone who reaches it run jobs and "
            "spend on clusters: set [auth] methods (basic, oidc), or listen on 127.0.0.1, or set "
            "[auth] allow_unauthenticated_public = true if a proxy in front authenticates"
        )


class Policy:
    """What a user may do under the ``[auth]`` settings (everything when nobody signs in)."""

    def __init__(self, auth: AuthSettings) -> None:
        self.auth = auth

    def may_run(self, user: User, process_id: str) -> bool:
        if user.is_admin:
            return True
        if not user.signed_in:
            return False
        needed = self.auth.process_roles.get(process_id)
        return needed is None or bool(needed & user.roles)

    def visible(self, user: User, process_id: str) -> bool:
        """Whether the process is listed and described to the user: those they may run; to someone
        not signed in, those every signed-in user may run."""
        if not user.signed_in and not user.is_admin:
            return process_id not in self.auth.process_roles
        return self.may_run(user, process_id)

    def needed_roles(self, process_id: str) -> frozenset[str]:
        return self.auth.process_roles.get(process_id, frozenset())

    @staticmethod
    def may_use_profile(user: User, roles: Iterable[str]) -> bool:
        needed = frozenset(roles)
        return user.is_admin or not needed or bool(needed & user.roles)

    @staticmethod
    def owns(user: User, owner: str | None) -> bool:
        """Whether the user may see and act on something owned by ``owner``."""
        return user.is_admin or (user.name is not None and owner == user.name)


def audit(action: str, outcome: str, client: str | None = None, **fields: object) -> None:
    """One JSON log line for a change or a refusal: who, what, which object, from where (no secrets)."""
    user = requester()
    entry = {
        "action": action,
        "outcome": outcome,
        "user": user.shown,
        "client": client or _client.get(),
        **fields,
    }
    audit_log.info("audit %s", json.dumps(entry, default=str, sort_keys=True), extra={"audit": entry})
