"""The WPS 1.0.0 service, free of any web framework: a request in, a :class:`Reply` out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wps_server.engine import Engine
from wps_server.errors import HTTP_STATUS, InvalidParameterValue, NoSuchJob, OWSError, quoted
from wps_server.jobs.model import Job
from wps_server.operations import DescribeProcess, Execute, GetCapabilities, Operation
from wps_server.process import Process
from wps_server.wps1 import documents
from wps_server.wps1.parse import parse_kvp, parse_xml_request

XML = "text/xml; charset=utf-8"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class WPSService:
    """Answers WPS 1.0.0 requests over the shared :class:`Engine`; capabilities and descriptions
    are built once per service URL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.processes = engine.processes
        self.store = engine.store
        self.scheduler = engine.scheduler
        self._cache: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    # -- entry points ------------------------------------------------------------------------------
    def get(self, args: Mapping[str, str], url: str) -> Reply:
        return self._answer(lambda: parse_kvp(args), url)

    def post(self, body: bytes, url: str) -> Reply:
        return self._answer(lambda: parse_xml_request(body), url)

    def error(self, error: OWSError) -> Reply:
        return Reply(error.http_status, XML, documents.exception_report(error, self.settings.language))

    def status_document(self, job_id: str, url: str) -> Reply:
        job = self.engine.job(job_id)
        if job is None:
            return self.error(NoSuchJob(f"there is no job {quoted(job_id)}", "JobID"))
        return Reply(200, XML, self._execute_response(job, url))

    # -- operations --------------------------------------------------------------------------------
    def _answer(self, parse: Callable[[], Operation], url: str) -> Reply:
        try:
            operation = parse()
            if isinstance(operation, GetCapabilities):
                return Reply(200, XML, self._capabilities(operation, url))
            if isinstance(operation, DescribeProcess):
                return Reply(200, XML, self._describe(operation))
            return self._execute(operation, url)
        except OWSError as exc:
            return self.error(exc)

    def _check_language(self, language: str | None) -> None:
        if language and language.lower() != self.settings.language.lower():
            raise InvalidParameterValue(
                f"language {language!r} is not supported; use {self.settings.language}", "language"
            )

    def _capabilities(self, request: GetCapabilities, url: str) -> bytes:
        self._check_language(request.language)
        offered = self.engine.offered()
        key = ("capabilities", url + "|" + ",".join(offered))
        cached = self._cache.get(key)
        if cached is None:
            cached = documents.capabilities(self.settings, url, offered.values())
            with self._lock:
                self._cache[key] = cached
        return cached

    def _describe(self, request: DescribeProcess) -> bytes:
        self._check_language(request.language)
        offered = self.engine.offered()
        identifiers = (
            list(offered)
            if [i.lower() for i in request.identifiers] == ["all"]
            else list(request.identifiers)
        )
        for identifier in identifiers:
            if identifier not in offered:
                raise InvalidParameterValue(self.engine.unknown_process(identifier), "identifier")
        narrowed = [self.engine.narrowed(self.processes[i]) for i in identifiers]
        profiles = [str(p.input("cluster").allowed_values) for p in narrowed if p.input("cluster")]  # type: ignore[union-attr]
        key = ("describe", ",".join(identifiers) + "|" + ",".join(profiles))
        cached = self._cache.get(key)
        if cached is None:
            cached = documents.process_descriptions(narrowed, self.settings.language)
            if len(identifiers) == 1 or len(self._cache) < 1000:
                with self._lock:
                    self._cache[key] = cached
        return cached

    def process(self, identifier: str) -> Process:
        process = self.engine.process(identifier)
        if process is None:
            raise InvalidParameterValue(self.engine.unknown_process(identifier), "identifier")
        return process

    def _execute(self, request: Execute, url: str) -> Reply:
        self._check_language(request.language)
        process = self.process(request.identifier)
        self.engine.check(process, request)
        if request.store:
            return self._accept(process, request, url)
        job = self.engine.run(process, request)
        error = job.error
        if error is not None and (HTTP_STATUS.get(error.code, 500) < 500 or request.raw_output):
            failure = OWSError(error.text, error.locator)
            failure.code = error.code
            return self.error(failure)
        if request.raw_output is not None:
            record = next(o for o in job.outputs if o.identifier == request.raw_output.identifier)
            raw = self.engine.raw_output(job, record)
            headers = {"Content-Disposition": f'inline; filename="{raw.filename}"'} if raw.filename else {}
            return Reply(200, raw.content_type, raw.body, headers)
        return Reply(200, XML, self._execute_response(job, url))

    def _accept(self, process: Process, request: Execute, url: str) -> Reply:
        """Queue an asynchronous job and answer ProcessAccepted with its status location at once."""
        if request.raw_output is not None:
            raise InvalidParameterValue(
                "RawDataOutput cannot be stored; use a ResponseDocument", "RawDataOutput"
            )
        return Reply(200, XML, self._execute_response(self.engine.submit(process, request), url))

    def _execute_response(self, job: Job, url: str) -> bytes:
        process = self.processes[job.process_id]
        base = url.rsplit("/", 1)[0]
        status_url = f"{url}/status/{job.id}" if job.request.store else None
        return documents.execute_response(
            job,
            process,
            url,
            status_url,
            f"{base}/outputs",
            self.engine.read_output,
            self.settings.language,
        )
