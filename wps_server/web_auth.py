"""Sign-in on every request: who sent it (:mod:`wps_server.authentication`), and a refusal in the
request's own dialect when it may not be made: an OWS ExceptionReport on ``/wps`` and ``/outputs``,
an RFC 7807 problem under ``/ogcapi``; 401 with ``WWW-Authenticate`` for missing or bad credentials,
429 with ``Retry-After`` after too many failures."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask, Response, g, request
from lxml import etree

from wps_server.access import ANONYMOUS, OPERATOR, AuthSettings, acting_as, audit
from wps_server.authentication import Authenticator, AuthFailure
from wps_server.errors import OWSError
from wps_server.ogcapi.problems import PROBLEM_JSON, ApiError, type_for

_DISCOVERY_OPERATIONS = {"getcapabilities", "describeprocess"}
_DISCOVERY_PATHS = {"/", "/ogcapi", "/ogcapi/", "/ogcapi/conformance", "/ogcapi/api", "/ogcapi/processes"}
_STATIC_PREFIX = "/ogcapi/static/"


class _NotSignedIn(OWSError):
    code = "AccessDenied"


def is_discovery() -> bool:
    """Whether the request only discovers the service: capabilities, descriptions, landing pages,
    conformance, the API definition, and the pages' shipped style sheets, scripts and map library."""
    if request.method not in {"GET", "HEAD", "POST"}:
        return False
    path = request.path
    if request.method != "POST" and (
        path in _DISCOVERY_PATHS
        or (path.startswith("/ogcapi/processes/") and path.count("/") == 3)
        or path.startswith(_STATIC_PREFIX)
    ):
        return True
    if path != "/wps":
        return False
    if request.method == "GET" or request.form:
        args = {k.lower(): v for k, v in (request.args if request.method == "GET" else request.form).items()}
        return args.get("request", "").lower() in _DISCOVERY_OPERATIONS
    try:
        root = etree.fromstring(
            request.get_data(cache=True),
            etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False),
        )
    except etree.XMLSyntaxError:
        return False
    return etree.QName(root).localname.lower() in _DISCOVERY_OPERATIONS


def install(
    app: Flask,
    auth: AuthSettings,
    authenticator: Authenticator | None,
    ows_error: Callable[[OWSError], Response],
) -> None:
    """Identify the requester of every request of ``app`` before it is answered."""

    def challenge() -> list[tuple[str, str]]:
        headers = []
        if "basic" in auth.methods:
            headers.append(("WWW-Authenticate", f'Basic realm="{auth.realm}", charset="UTF-8"'))
        if "oidc" in auth.methods:
            headers.append(("WWW-Authenticate", f'Bearer realm="{auth.realm}"'))
        return headers

    def refuse(status: int, message: str, retry_after: float | None = None) -> Response:
        headers = challenge() if status == 401 else []
        if retry_after is not None:
            headers.append(("Retry-After", str(int(retry_after))))
        if request.path == "/ogcapi" or request.path.startswith("/ogcapi/"):
            titles = {
                401: "Not signed in",
                403: "Access denied",
                429: "Too many requests",
                503: "Unavailable",
            }
            code = {429: "ServerBusy", 503: "ServerBusy"}.get(status, "AccessDenied")
            problem = ApiError(status, type_for(code), titles.get(status, "Refused"), message)
            response = Response(json.dumps(problem.body(request.path)), status, content_type=PROBLEM_JSON)
        else:
            response = ows_error(_NotSignedIn(message))
            response.status_code = status
        for key, value in headers:
            response.headers.add(key, value)
        return response

    @app.before_request
    def identify() -> Response | None:
        if not auth.enabled:
            user = OPERATOR
        elif request.path == "/health":
            user = ANONYMOUS
        else:
            header = request.headers.get("Authorization")
            if header:
                assert authenticator is not None
                try:
                    user = authenticator.identify(header, request.remote_addr or "")
                except AuthFailure as exc:
                    with acting_as(ANONYMOUS):
                        audit(
                            "sign-in",
                            "refused",
                            client=request.remote_addr,
                            status=exc.status,
                            path=request.path,
                        )
                    return refuse(exc.status, exc.message, exc.retry_after)
            elif auth.anonymous == "discovery" and is_discovery():
                user = ANONYMOUS
            else:
                return refuse(401, "sign in to do this: send your credentials with the request")
        g.requester_scope = acting_as(user, request.remote_addr)
        g.requester_scope.__enter__()
        return None

    @app.after_request
    def private(response: Response) -> Response:
        """With sign-in on, answers depend on who asks: no cache (a proxy's, QGIS's) may hand one
        user's answer to another, or an anonymous one to a signed-in user. QGIS's cache ignores
        ``Vary`` and even ``no-cache`` (measured: it answered a signed-in request with the anonymous
        answer it kept): only ``no-store`` keeps answers out of it."""
        if auth.enabled:
            response.vary.add("Authorization")
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.teardown_request
    def forget(_exc: BaseException | None) -> None:
        scope = g.pop("requester_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)
