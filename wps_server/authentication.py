"""Who sent a request: HTTP Basic against the users file, or an OpenID Connect bearer token (a JWT
checked with PyJWT against the issuer's published keys). Failures are counted per user and address
(:mod:`wps_server.login_failures`) and answered 429 past the limit."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import Any

import jwt
from sqlalchemy.engine import Engine

from wps_server.access import AuthSettings, OidcSettings, User, signed_in_user
from wps_server.login_failures import LoginThrottle
from wps_server.users import UsersError, UsersFile, verify_password

#: seconds of clock difference tolerated between the issuer and this server
LEEWAY_S = 30
#: seconds the issuer's keys are cached (an unknown key id refetches them, at most once a request)
JWKS_LIFESPAN_S = 300


class AuthFailure(Exception):
    """The request's credentials are not accepted: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Authenticator:
    def __init__(self, auth: AuthSettings, engine: Engine) -> None:
        self.auth = auth
        self.users = UsersFile(auth.users_file)
        self.throttle = LoginThrottle(engine, auth.max_failed_logins, auth.failed_login_window)
        self._jwks: jwt.PyJWKClient | None = None
        if auth.oidc is not None:
            self._jwks = jwt.PyJWKClient(
                auth.oidc.jwks_url, cache_keys=True, lifespan=JWKS_LIFESPAN_S, timeout=10
            )

    def identify(self, authorization: str, client: str) -> User:
        """The signed-in user of an ``Authorization`` header; :class:`AuthFailure` otherwise."""
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and "basic" in self.auth.methods:
            return self._basic(credentials.strip(), client)
        if scheme == "bearer" and self._jwks is not None and self.auth.oidc is not None:
            return self._bearer(credentials.strip(), client, self._jwks, self.auth.oidc)
        offered = " or ".join(sorted({"basic": "Basic", "oidc": "Bearer"}[m] for m in self.auth.methods))
        raise AuthFailure(401, f"this server accepts {offered} credentials only")

    def _check_throttle(self, key: str, client: str) -> None:
        waits = [
            self.throttle.retry_after(key),
            self.throttle.retry_after(f"address|{client}", self.auth.max_failed_logins_per_address),
        ]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            raise AuthFailure(
                429,
                f"too many failed sign-ins; try again in {math.ceil(wait)} s",
                retry_after=math.ceil(wait),
            )

    def _failed(self, key: str, client: str) -> None:
        self.throttle.failed(key)
        self.throttle.failed(f"address|{client}")

    def _basic(self, credentials: str, client: str) -> User:
        try:
            name, sep, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep, name, password = "", "", ""
        if not sep or not name:
            raise AuthFailure(401, "the Basic credentials are not base64 of user:password")
        key = f"basic|{name}|{client}"
        self._check_throttle(key, client)
        try:
            account = self.users.account(name)
        except UsersError:
            raise AuthFailure(503, "sign-in is not possible now; the operator's log says why") from None
        if not verify_password(account, password):
            self._failed(key, client)
            raise AuthFailure(
                401, "the user name and password were not accepted (wrong, unknown or disabled)"
            )
        assert account is not None
        self.throttle.succeeded(key)
        return signed_in_user(account.name, account.roles, account.groups)

    def _bearer(self, token: str, client: str, jwks: jwt.PyJWKClient, oidc: OidcSettings) -> User:
        key = f"bearer|{client}"
        self._check_throttle(key, client)
        try:
            signing_key = jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=list(oidc.algorithms),
                audience=oidc.audience,
                issuer=oidc.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", oidc.user_claim]},
            )
            user = _user_from_claims(claims, oidc)
        except jwt.PyJWKClientConnectionError:
            raise AuthFailure(503, "the token issuer's keys cannot be fetched now; try again later") from None
        except (jwt.PyJWTError, AuthFailure) as exc:
            self._failed(key, client)
            raise AuthFailure(401, _token_problem(exc)) from None
        self.throttle.succeeded(key)
        return user


def _token_problem(exc: Exception) -> str:
    if isinstance(exc, AuthFailure):
        return exc.message
    reasons: list[tuple[type[Exception], str]] = [
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet (nbf or iat in the future)"),
        (jwt.InvalidAudienceError, "the token is for another audience"),
        (jwt.InvalidIssuerError, "the token comes from another issuer"),
        (jwt.InvalidAlgorithmError, "the token's signature algorithm is not accepted"),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
        (jwt.PyJWKClientError, "the token's key is not one the issuer publishes"),
        (jwt.MissingRequiredClaimError, f"the token lacks a required claim ({getattr(exc, 'claim', '')})"),
    ]
    for kind, text in reasons:
        if isinstance(exc, kind):
            return text
    return "the bearer token is not a valid signed JWT"


def _user_from_claims(claims: Mapping[str, Any], oidc: OidcSettings) -> User:
    name = claims.get(oidc.user_claim)
    if not isinstance(name, str) or not name or len(name) > 200:
        raise AuthFailure(401, f"the token's {oidc.user_claim} claim is not a user name")
    value: Any = claims
    for part in oidc.roles_claim.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    roles = [] if value is None else value
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthFailure(401, f"the token's {oidc.roles_claim} claim is not a list of role names")
    return signed_in_user(name, roles)
