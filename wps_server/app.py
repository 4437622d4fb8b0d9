"""The Flask application: thin adapters from HTTP to :class:`wps_server.service.WPSService`."""

from __future__ import annotations

import logging
import mimetypes
import re

from flask import Flask, Response, g, jsonify, request, send_from_directory, stream_with_context
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from cluster.storage import LocalFolder, StorageError
from wps_server import web_auth
from wps_server.access import AuthSettings, Policy
from wps_server.authentication import Authenticator
from wps_server.budgets import budgets_for
from wps_server.cluster_client import SchedulerConnection
from wps_server.clusters import JobClusters
from wps_server.config import Settings
from wps_server.database import make_engine
from wps_server.engine import Engine
from wps_server.errors import (
    FileSizeExceeded,
    NoApplicableCode,
    NoSuchJob,
    OperationNotSupported,
    OWSError,
    quoted,
)
from wps_server.jobs.store import JobStore
from wps_server.ogcapi import blueprint as ogcapi
from wps_server.process import Process
from wps_server.registry import load_processes
from wps_server.service import Reply, WPSService
from wps_server.wps2.parse import HEAD, VERSION, kvp_version, names_wps2
from wps_server.wps2.service import WPS2Service

log = logging.getLogger(__name__)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def create_app(settings: Settings, processes: list[Process] | None = None) -> Flask:
    """Build the application for ``settings``; starts nothing and touches no global configuration."""
    offered = load_processes(settings) if processes is None else processes
    auth = AuthSettings.from_settings(settings)
    database = make_engine(settings.database_url)
    engine = Engine(
        settings,
        {p.identifier: p for p in offered},
        JobStore(database),
        SchedulerConnection(settings.dask.scheduler),
        JobClusters(settings, settings.dask.scheduler),
        Policy(auth) if auth.enabled else None,
        budgets_for(settings, database),
    )
    service = WPSService(engine)
    app = Flask(__name__)
    if settings.trusted_proxies:  # the client as the proxies in front saw it (see [server] trusted_proxies)
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_size
    app.url_map.merge_slashes = False  # an id or a name with "//" is not found, not redirected
    app.extensions["wps"] = service
    wps2 = WPS2Service(engine, lambda url: service.get({"service": "WPS", "request": "GetCapabilities"}, url))
    landing_page = ogcapi.register(app, engine, settings)
    web_auth.install(
        app, auth, Authenticator(auth, database) if auth.enabled else None, lambda e: ows_error(e)
    )

    def service_url() -> str:
        return settings.url or request.url_root.rstrip("/") + "/wps"

    def reply(answer: Reply) -> Response:
        return Response(
            answer.body, status=answer.status, content_type=answer.content_type, headers=answer.headers
        )

    def ows_error(error: OWSError) -> Response:
        """``error`` answered outside the services, as the report of the request's version: 2.0 when
        its query says version=2.0.0 or its body's start names the WPS 2.0 namespace, else 1.0.0."""
        asks_wps2 = kvp_version(request.args.to_dict()) == VERSION or names_wps2(_body_head())
        return reply(wps2.error(error) if asks_wps2 else service.error(error))

    @app.route("/wps", methods=["GET", "POST"])
    def wps() -> Response:
        if request.method == "GET":
            args = request.args.to_dict()
            return reply(wps2.dispatch_get(args, service_url()) or service.get(args, service_url()))
        body = request.get_data(cache=False)
        g.body_head = body[:HEAD]
        if not body.strip() and request.form:
            args = request.form.to_dict()
            return reply(wps2.dispatch_get(args, service_url()) or service.get(args, service_url()))
        return reply(wps2.dispatch_post(body, service_url()) or service.post(body, service_url()))

    @app.get("/wps/status/<job_id>")
    def status(job_id: str) -> Response:
        return reply(service.status_document(job_id, service_url()))

    @app.get("/outputs/<job_id>/<name>")
    def outputs(job_id: str, name: str) -> Response:
        missing = NoSuchJob(f"there is no output {quoted(job_id + '/' + name)}", "href")
        if not _UUID.match(job_id) or not _SAFE_NAME.match(name):
            return reply(service.error(missing))
        if engine.policy is not None and engine.job(job_id) is None:  # another user's: as if absent
            return reply(service.error(missing))
        if isinstance(engine.storage, LocalFolder):  # conditional and range requests, as files allow
            try:
                return send_from_directory(engine.storage.path(f"outputs/{job_id}"), name, max_age=3600)
            except NotFound:
                return reply(service.error(missing))
        try:
            found = engine.storage.stream(f"outputs/{job_id}/{name}")
        except StorageError as exc:
            log.error("output not read: %s", exc, extra={"job_id": job_id})
            return reply(service.error(NoApplicableCode("the output cannot be read now; try again later")))
        if found is None:
            return reply(service.error(missing))
        size, chunks = found
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {"Content-Length": str(size), "Cache-Control": "public, max-age=3600"}
        # streamed from the job storage (a folder or an object store), never whole in memory
        return Response(stream_with_context(chunks), content_type=kind, headers=headers)

    @app.get("/health")
    def health() -> tuple[Response, int]:
        checks: dict[str, object] = {}
        healthy = True
        try:
            service.store.ping()
            checks["database"] = "ok"
        except Exception as exc:  # the point of a health check is to report any failure
            checks["database"] = f"error: {type(exc).__name__}"
            healthy = False
        try:
            checks["scheduler"] = service.scheduler.ping()
        except Exception as exc:
            checks["scheduler"] = f"error: {type(exc).__name__}: {exc}"
            healthy = False
        checks["status"] = "ok" if healthy else "unhealthy"
        return jsonify(checks), 200 if healthy else 503

    @app.get("/")
    def landing() -> Response:
        return landing_page()

    @app.errorhandler(NotFound)
    def not_found(exc: HTTPException) -> Response | HTTPException:
        if ogcapi.owns(request.path):
            return ogcapi.http_problem(exc)
        if request.path.startswith(("/wps/status/", "/outputs/")):  # an id or a name with a slash
            return reply(service.error(NoSuchJob(f"there is no job or output at {quoted(request.path)}")))
        return exc

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: HTTPException) -> Response:
        if ogcapi.owns(request.path):
            return ogcapi.http_problem(exc)
        limit = settings.max_request_size
        return ows_error(FileSizeExceeded(f"the request is larger than {limit} bytes", "request"))

    @app.errorhandler(MethodNotAllowed)
    def bad_method(exc: HTTPException) -> Response:
        if ogcapi.owns(request.path):
            return ogcapi.http_problem(exc)
        answer = ows_error(OperationNotSupported(f"HTTP {request.method} is not supported here", "request"))
        answer.status_code = 405
        answer.headers["Allow"] = "GET, POST"
        return answer

    @app.errorhandler(Exception)
    def internal(exc: Exception) -> Response | HTTPException:
        if isinstance(exc, HTTPException):
            return exc
        if ogcapi.owns(request.path):
            return ogcapi.internal_problem()
        log.exception("unhandled error on %s", request.path)
        return ows_error(NoApplicableCode("internal server error; the operator's log has the details"))

    return app


def _body_head() -> bytes:
    """The start of the request's body: what the /wps route read, or read now from the client (at most
    HEAD bytes of a body of known length; the rest stays unread, so a body too large is never read)."""
    head = g.get("body_head")
    if head is None:
        length = request.content_length or 0
        stream = request.environ.get("wsgi.input")
        head = stream.read(min(length, HEAD)) if length and stream is not None else b""
        g.body_head = head
    return head
