"""OGC API - Processes - Part 1: Core, free of any web framework: arguments in, an :class:`Answer` out.

Every function takes the API's base URL (``https://host/ogcapi``) so that links are absolute, and
answers either a JSON-able document (which the web layer may render as HTML) or bytes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from wps_server.access import requester
from wps_server.engine import Engine, RawOutput, multipart, utc_text
from wps_server.errors import OWSError
from wps_server.jobs.model import Job, OutputRecord, Status
from wps_server.ogcapi import describe
from wps_server.ogcapi.execute import parse_execute
from wps_server.ogcapi.openapi import openapi_document
from wps_server.ogcapi.problems import (
    RESULT_NOT_READY,
    ApiError,
    bad_request,
    from_ows,
    no_such_job,
    no_such_process,
)
from wps_server.ogcapi.stac import ITEM_MEDIA_TYPE, REL_ITEM, item_record, linked_item
from wps_server.operations import Execute
from wps_server.process import Process

JSON = "application/json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
]
STATUS = {
    Status.ACCEPTED: "accepted",
    Status.RUNNING: "running",
    Status.SUCCESSFUL: "successful",
    Status.FAILED: "failed",
    Status.DISMISSED: "dismissed",
}
BY_NAME = {name: status for status, name in STATUS.items()}
DEFAULT_LIMIT, MAX_LIMIT = 10, 1000


@dataclass(frozen=True)
class Answer:
    """A JSON document (``document``) or raw bytes (``body``), with its status and headers."""

    status: int = 200
    document: Any = None
    body: bytes | None = None
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    title: str = ""


class ProcessesAPI:
    """The OGC API on one engine; the process descriptions are built once per base URL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings

    # -- discovery ---------------------------------------------------------------------------------
    def landing(self, base: str) -> Answer:
        meta = self.settings.metadata
        links = [
            _link(base, "self", JSON, "this document"),
            _link(f"{base}?f=html", "alternate", "text/html", "this document as HTML"),
            _link(f"{base}/api", "service-desc", OPENAPI_JSON, "the API definition"),
            _link(f"{base}/api?f=html", "service-doc", "text/html", "the API documentation"),
            _link(f"{base}/conformance", describe.REL_CONFORMANCE, JSON, "conformance classes"),
            _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            _link(f"{base}/processes", describe.REL_PROCESSES, JSON, "the processes"),
            _link(f"{base}/jobs", describe.REL_JOB_LIST, JSON, "the jobs"),
            _link(meta.source_url, "license", "text/html", "source code (AGPL-3.0)"),
        ]
        document = {"title": meta.title, "description": meta.abstract, "links": links}
        return Answer(document=document, title=meta.title)

    def conformance(self, base: str) -> Answer:
        return Answer(document={"conformsTo": CONFORMANCE}, title="Conformance")

    def api(self, base: str) -> Answer:
        policy = self.engine.policy
        auth = policy.auth if policy is not None else None
        document = openapi_document(
            self.settings.metadata.title,
            base,
            auth.methods if auth is not None else frozenset(),
            auth is None or auth.anonymous == "discovery",
        )
        return Answer(document=document, content_type=OPENAPI_JSON, title="API definition")

    def processes(self, base: str) -> Answer:
        document = {
            "processes": [describe.summary(p, base) for p in self.engine.offered().values()],
            "links": [
                _link(f"{base}/processes", "self", JSON, "this document"),
                _link(f"{base}/processes?f=html", "alternate", "text/html", "as HTML"),
            ],
        }
        return Answer(document=document, title="Processes")

    def process(self, base: str, identifier: str) -> Answer:
        process = self.engine.narrowed(self._process(identifier, described=True))
        return Answer(document=describe.description(process, base), title=process.title)

    def me(self, base: str) -> Answer:
        """The signed-in user (openEO's ``/me``): name, roles, and what is left of their budget."""
        user = requester()
        document: dict[str, Any] = {
            "user_id": user.shown,
            "roles": sorted(user.roles),
            "groups": list(user.groups),
            "admin": user.is_admin,
            "links": [_link(f"{base}/jobs", describe.REL_JOB_LIST, JSON, "your jobs")],
        }
        standing = self.engine.budgets.standing(user) if self.engine.budgets is not None else None
        document["budget"] = standing.to_json() if standing is not None else None
        return Answer(document=document, title=f"User {user.shown}")

    # -- execution ---------------------------------------------------------------------------------
    def execute(self, base: str, identifier: str, body: bytes, prefer: str) -> Answer:
        process = self._process(identifier)
        try:
            request, response = parse_execute(process, body)
            self.engine.check(process, request)
            wants_async = "respond-async" in {p.strip().split("=")[0].lower() for p in prefer.split(",")}
            if wants_async and process.store_supported and process.status_supported:
                job = self.engine.submit(process, _stored(request))
                return Answer(
                    201,
                    document=self._status(base, job),
                    headers={"Location": f"{base}/jobs/{job.id}", "Preference-Applied": "respond-async"},
                    title=f"Job {job.id}",
                )
            job = self.engine.run(process, request)
        except OWSError as exc:
            raise from_ows(exc) from None
        if job.status != Status.SUCCESSFUL:
            raise _failure(job)
        headers = {"Link": f'<{base}/jobs/{job.id}>; rel="monitor"'}
        if response == "raw":
            return self._raw(job, headers)
        return Answer(document=self._results(base, job), headers=headers, title="Results")

    def _raw(self, job: Job, headers: dict[str, str]) -> Answer:
        parts: list[RawOutput] = [self.engine.raw_output(job, r) for r in self.engine.selected_outputs(job)]
        if len(parts) == 1:
            return Answer(body=parts[0].body, content_type=parts[0].content_type, headers=headers)
        content_type, body = multipart(parts)
        return Answer(body=body, content_type=content_type, headers=headers)

    # -- jobs --------------------------------------------------------------------------------------
    def jobs(self, base: str, query: Mapping[str, Sequence[str]]) -> Answer:
        limit = _integer(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _integer(query, "offset", 0, 0, 10**9)
        process_ids = _listed(query, "processID")
        names = _listed(query, "status")
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise bad_request(f"status {unknown[0]!r} is not one of {', '.join(BY_NAME)}")
        types = _listed(query, "type")
        if any(t != "process" for t in types):
            raise bad_request("type must be process: every job here runs a process")
        found = self.engine.jobs(limit + 1, offset, process_ids, [BY_NAME[n] for n in names])
        page = found[:limit]
        chosen = [
            ("processID", ",".join(process_ids)),
            ("status", ",".join(names)),
            ("type", ",".join(types)),
        ]
        filters = "".join(f"&{urlencode({key: value})}" for key, value in chosen if value)
        links = [_link(f"{base}/jobs?limit={limit}&offset={offset}{filters}", "self", JSON, "this page")]
        if len(found) > limit:
            links.append(_link(f"{base}/jobs?limit={limit}&offset={offset + limit}{filters}", "next", JSON))
        if offset > 0:
            previous = max(0, offset - limit)
            links.append(_link(f"{base}/jobs?limit={limit}&offset={previous}{filters}", "prev", JSON))
        document = {"jobs": [self._status(base, j) for j in page], "links": links}
        return Answer(document=document, title="Jobs")

    def job(self, base: str, job_id: str) -> Answer:
        job = self._job(job_id)
        return Answer(document=self._status(base, job), title=f"Job {job.id}")

    def results(self, base: str, job_id: str) -> Answer:
        job = self._job(job_id)
        if job.status == Status.DISMISSED:
            raise no_such_job(job_id, f"job {job_id} was dismissed; its results are gone")
        if not job.status.finished:
            raise ApiError(
                404, RESULT_NOT_READY, "Result not ready", f"job {job_id} is {STATUS[job.status]}; try later"
            )
        if job.status == Status.FAILED:
            raise _failure(job)
        headers = {}
        if item_record(job) is not None:
            headers["Link"] = f'<{base}/jobs/{job.id}/stac>; rel="{REL_ITEM}"; type="{ITEM_MEDIA_TYPE}"'
        if job.request.extra.get("response") == "raw" and len(self.engine.selected_outputs(job)) == 1:
            return self._raw(job, headers)
        return Answer(document=self._results(base, job), headers=headers, title=f"Results of job {job.id}")

    def stac_item(self, base: str, job_id: str) -> Answer:
        """The results of a successful job as a STAC Item, for jobs whose process made one."""
        job = self._job(job_id)
        record = item_record(job) if job.status == Status.SUCCESSFUL else None
        if record is None:
            state = STATUS[job.status]
            raise no_such_job(
                job_id,
                f"job {job_id} ({state}) has no STAC Item: only successful jobs of processes that make one do",
            )
        try:
            item = linked_item(self.engine, job, record, base.rsplit("/", 1)[0], f"{base}/jobs/{job.id}/stac")
        except OWSError as exc:
            raise from_ows(exc) from None
        return Answer(document=item, content_type=ITEM_MEDIA_TYPE, title=f"STAC Item of job {job.id}")

    def dismiss(self, base: str, job_id: str) -> Answer:
        job = self.engine.dismiss(job_id)
        if job is None:
            raise no_such_job(job_id)
        return Answer(document=self._status(base, job), title=f"Job {job.id}")

    # -- helpers -----------------------------------------------------------------------------------
    def _process(self, identifier: str, described: bool = False) -> Process:
        process = self.engine.process(identifier, described=described)
        if process is None:
            raise no_such_process(self.engine.unknown_process(identifier))
        return process

    def _job(self, job_id: str) -> Job:
        job = self.engine.job(job_id)
        if job is None:
            raise no_such_job(job_id)
        return job

    def _status(self, base: str, job: Job) -> dict[str, Any]:
        url = f"{base}/jobs/{job.id}"
        info: dict[str, Any] = {
            "processID": job.process_id,
            "type": "process",
            "jobID": job.id,
            "status": STATUS[job.status],
            "message": job.message,
            "progress": 100 if job.status == Status.SUCCESSFUL else max(0, min(100, job.percent)),
        }
        for key, moment in (("created", job.created), ("started", job.started), ("finished", job.finished)):
            if moment is not None:
                info[key] = utc_text(moment)
        info |= _billing(job, self.engine.store.cost(job.id))
        links = [
            _link(url, "self", JSON, "this job"),
            _link(f"{url}?f=html", "alternate", "text/html", "as HTML"),
            _link(f"{base}/processes/{job.process_id}", "up", JSON, "the process"),
        ]
        if job.status == Status.SUCCESSFUL:
            links.append(_link(f"{url}/results", describe.REL_RESULTS, JSON, "results"))
            if item_record(job) is not None:
                links.append(_link(f"{url}/stac", REL_ITEM, ITEM_MEDIA_TYPE, "results as a STAC Item"))
        info["links"] = links
        return info

    def _results(self, base: str, job: Job) -> dict[str, Any]:
        requested = {o.identifier: o for o in job.request.outputs}
        root = base.rsplit("/", 1)[0]
        results: dict[str, Any] = {}
        for record in self.engine.selected_outputs(job):
            spec = requested.get(record.identifier)
            if record.kind == "complex" and (record.href or (spec is not None and spec.as_reference)):
                href = record.href or f"{root}/outputs/{job.id}/{record.file}"
                results[record.identifier] = {"href": href, "type": record.mime_type}
            else:
                results[record.identifier] = self._value(job, record)
        return results

    def _value(self, job: Job, record: OutputRecord) -> Any:
        if record.kind == "literal":
            return _typed_literal(record.value or "", record.data_type)
        if record.kind == "bbox":
            return {"bbox": [*record.lower, *record.upper], "crs": record.crs}
        raw = self.engine.raw_output(job, record)
        mime = raw.content_type.split(";")[0].strip().lower()
        if mime.endswith("json"):
            try:
                return {"value": json.loads(raw.body), "mediaType": raw.content_type}
            except (UnicodeDecodeError, json.JSONDecodeError):
                pass
        if mime.startswith("text/") or "xml" in mime or "csv" in mime:
            try:
                return {"value": raw.body.decode("utf-8"), "mediaType": raw.content_type}
            except UnicodeDecodeError:
                pass
        return {
            "value": base64.b64encode(raw.body).decode(),
            "mediaType": raw.content_type,
            "encoding": "base64",
        }


def _billing(job: Job, spent: Mapping[str, Any] | None) -> dict[str, Any]:
    """openEO's words for what a job may spend and spent: ``budget`` (its max_cost), ``costs`` (the
    measured bill), ``currency``, and ``usage``: busy CPU in cpu-seconds, billed worker time, wall time,
    the workers' memory limits over their billed time (``memory``, MB-seconds) and what its stored
    outputs take (``storage``, MB; 1 MB = 10^6 bytes)."""
    billing: dict[str, Any] = {}
    cap = next((spec.value for spec in job.request.inputs if spec.identifier == "max_cost"), None)
    if cap is not None:
        billing["budget"] = float(cap)
    usage: dict[str, Any] = {}
    if spent:
        if spent.get("priced"):
            billing["costs"] = round(float(spent.get("cost") or 0.0), 6)
            billing["currency"] = spent.get("currency")
        usage = {
            "cpu": {"value": round(float(spent.get("busy_task_seconds") or 0.0), 3), "unit": "cpu-seconds"},
            "workers": {
                "value": round(float(spent.get("billed_worker_seconds") or 0.0), 3),
                "unit": "worker-seconds",
            },
            "duration": {"value": round(float(spent.get("wall_seconds") or 0.0), 3), "unit": "seconds"},
        }
        if spent.get("memory_mb_seconds"):
            usage["memory"] = {"value": round(float(spent["memory_mb_seconds"]), 1), "unit": "mb-seconds"}
    stored = [o.size for o in job.outputs if o.size is not None]
    if stored:
        usage["storage"] = {"value": round(sum(stored) / 1e6, 6), "unit": "mb"}
    if usage:
        billing["usage"] = usage
    return billing


def _stored(request: Execute) -> Execute:
    """An asynchronous request is stored with status, as WPS 1.0.0 status documents expect."""
    return replace(request, store=True, status=True)


def _failure(job: Job) -> ApiError:
    if job.status == Status.DISMISSED:
        return no_such_job(job.id, f"job {job.id} was dismissed")
    error = job.error
    exc = OWSError(error.text if error else job.message or "the job failed", error.locator if error else None)
    exc.code = error.code if error else "NoApplicableCode"
    return from_ows(exc)


_SPACED_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:")


def _typed_literal(text: str, data_type: str | None) -> Any:
    """A stored literal output as JSON has it: numbers, booleans, and date-times in ISO 8601 (a PyWPS
    output keeps Python's ``2026-09-20 12:00:00``, as PyWPS writes it in WPS 1.0.0)."""
    if data_type == "dateTime" and _SPACED_DATE_TIME.match(text):
        return text.replace(" ", "T", 1)
    try:
        if data_type in {"integer", "nonNegativeInteger", "positiveInteger"}:
            return int(text)
        if data_type in {"float", "scale", "angle"}:
            return float(text)
    except ValueError:
        return text
    if data_type == "boolean":
        return text.lower() in {"true", "1"}
    return text


def _link(href: str, rel: str, media: str | None = None, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel}
    if media:
        link["type"] = media
    if title:
        link["title"] = title
    return link


def _integer(query: Mapping[str, Sequence[str]], key: str, default: int, low: int, high: int) -> int:
    values = query.get(key) or []
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise bad_request(f"{key} must be an integer from {low} to {high}, not {values[0]!r}") from None
    if not low <= value <= high:
        raise bad_request(f"{key} must be an integer from {low} to {high}, not {value}")
    return value


def _listed(query: Mapping[str, Sequence[str]], key: str) -> list[str]:
    """Values of a repeated or comma-separated parameter; an empty one is refused."""
    values = [v for item in query.get(key) or [] for v in item.split(",")]
    if any(not v for v in values):
        raise bad_request(f"{key} has an empty value; give comma-separated values or leave it out")
    return values
