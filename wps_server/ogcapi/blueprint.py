"""Thin Flask adapters from HTTP to :class:`wps_server.ogcapi.api.ProcessesAPI`.

JSON or HTML on the same URLs: ``f=json|html`` wins, then the Accept header (JSON unless HTML is
preferred). Errors are problem+json, also for unknown paths and methods under the prefix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from wps_server.config import Settings
from wps_server.engine import Engine
from wps_server.ogcapi.api import JSON, Answer, ProcessesAPI
from wps_server.ogcapi.html import render
from wps_server.ogcapi.pages import Pages
from wps_server.ogcapi.problems import PROBLEM_JSON, ApiError, bad_request, no_such_job, type_for

PREFIX = "/ogcapi"
log = logging.getLogger(__name__)


STATIC = Path(__file__).resolve().parents[1] / "static"


def make_blueprint(engine: Engine, settings: Settings) -> tuple[Blueprint, Callable[[], Response]]:
    """The API's blueprint, and the view of its landing page as HTML (which ``/`` shows too)."""
    api = ProcessesAPI(engine)
    pages = Pages(api, engine, settings)
    # the pages' scripts, styles and Leaflet, shipped with the package (never from a CDN)
    blueprint = Blueprint("ogcapi", __name__, static_folder=STATIC, static_url_path="/static")

    def base() -> str:
        return base_url(settings)

    def page(render_page: Callable[[], str]) -> Response:
        try:
            text = render_page()
        except ApiError as exc:
            return problem(exc)
        return Response(text, 200, content_type="text/html; charset=utf-8")

    def answer(handler: Callable[[], Answer]) -> Response:
        try:
            wants_html = _wants_html()
            result = handler()
        except ApiError as exc:
            return problem(exc)
        if result.body is not None:
            return Response(
                result.body, result.status, headers=result.headers, content_type=result.content_type
            )
        if wants_html and request.method == "GET":
            page = render(result.title, result.document, _json_url())
            return Response(
                page, result.status, headers=result.headers, content_type="text/html; charset=utf-8"
            )
        text = json.dumps(result.document, default=str)
        return Response(text, result.status, headers=result.headers, content_type=result.content_type)

    @blueprint.get("", strict_slashes=False)
    def landing() -> Response:
        if _html_asked():
            return page(lambda: pages.landing(base()))
        return answer(lambda: api.landing(base()))

    @blueprint.get("/conformance")
    def conformance() -> Response:
        return answer(lambda: api.conformance(base()))

    @blueprint.get("/api")
    def openapi() -> Response:
        return answer(lambda: api.api(base()))

    @blueprint.get("/processes")
    def processes() -> Response:
        return answer(lambda: api.processes(base()))

    @blueprint.get("/processes/<process_id>")
    def process(process_id: str) -> Response:
        return answer(lambda: api.process(base(), process_id))

    @blueprint.post("/processes/<process_id>/execution")
    def execute(process_id: str) -> Response:
        def run() -> Answer:
            mime = (request.mimetype or "").lower()
            if mime and mime != JSON and not mime.endswith("+json"):
                raise ApiError(
                    415, type_for("InvalidParameterValue"), "Unsupported media type", "send application/json"
                )
            return api.execute(
                base(), process_id, request.get_data(cache=False), request.headers.get("Prefer", "")
            )

        return answer(run)

    @blueprint.get("/me")
    def me() -> Response:
        return answer(lambda: api.me(base()))

    @blueprint.get("/jobs")
    def jobs() -> Response:
        if _html_asked():
            return page(lambda: pages.jobs(base(), request.args.to_dict(flat=False)))
        return answer(lambda: api.jobs(base(), request.args.to_dict(flat=False)))

    @blueprint.get("/jobs/<job_id>")
    def job(job_id: str) -> Response:
        if _html_asked():
            return page(lambda: pages.job(base(), job_id))
        return answer(lambda: api.job(base(), job_id))

    @blueprint.delete("/jobs/<job_id>")
    def dismiss(job_id: str) -> Response:
        return answer(lambda: api.dismiss(base(), job_id))

    @blueprint.get("/jobs/<job_id>/results")
    def results(job_id: str) -> Response:
        return answer(lambda: api.results(base(), job_id))

    @blueprint.get("/jobs/<job_id>/stac")
    def stac_item(job_id: str) -> Response:
        return answer(lambda: api.stac_item(base(), job_id))

    return blueprint, lambda: page(lambda: pages.landing(base()))


def owns(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def problem(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(error.body(request.path))
    return Response(body, error.status, headers=headers or {}, content_type=PROBLEM_JSON)


def http_problem(exc: HTTPException) -> Response:
    """A routing error (unknown path, wrong method, body too large) under the prefix, as a problem."""
    status = exc.code or 500
    codes = {404: "NoSuchResource", 405: "OperationNotSupported", 413: "FileSizeExceeded"}
    detail = exc.description or exc.name
    if status == 405:
        detail = f"HTTP {request.method} is not supported on {request.path}"
    error = ApiError(status, type_for(codes.get(status, "NoApplicableCode")), exc.name, detail)
    if status == 404 and request.path.startswith(PREFIX + "/jobs/"):  # e.g. a job id with a slash
        error = no_such_job(request.path.removeprefix(PREFIX + "/jobs/"))
    headers = {}
    valid = getattr(exc, "valid_methods", None)
    if valid:
        headers["Allow"] = ", ".join(valid)
    return problem(error, headers)


def internal_problem() -> Response:
    log.exception("unhandled error on %s", request.path)
    return problem(
        ApiError(
            500,
            type_for("NoApplicableCode"),
            "Internal server error",
            "internal server error; the operator's log has the details",
        )
    )


def base_url(settings: Settings) -> str:
    """The OGC API's base URL: from ``[server] url``, else from the request."""
    if settings.url:
        return settings.url.rsplit("/", 1)[0] + PREFIX
    return request.url_root.rstrip("/") + PREFIX


def register(app: Flask, engine: Engine, settings: Settings) -> Callable[[], Response]:
    """Adds the OGC API and its pages under the prefix; returns the landing page's view (for ``/``)."""
    blueprint, landing_page = make_blueprint(engine, settings)
    app.register_blueprint(blueprint, url_prefix=PREFIX)
    return landing_page


def _html_asked() -> bool:
    """HTML asked for, by ``f=html`` or the Accept header; a bad ``f`` is left to the JSON answer."""
    try:
        return _wants_html()
    except ApiError:
        return False


def _wants_html() -> bool:
    f = request.args.get("f")
    if f is not None:
        if f not in {"json", "html"}:
            raise bad_request(f"f must be json or html, not {f!r}")
        return f == "html"
    best = request.accept_mimetypes.best_match([JSON, "text/html"], default=JSON)
    return best == "text/html"


def _json_url() -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "f"]
    return request.base_url + "?" + urlencode([*args, ("f", "json")])
