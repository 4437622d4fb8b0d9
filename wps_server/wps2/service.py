"""The WPS 2.0.0 service on ``/wps``, beside the 1.0.0 one: same processes, same job store.

:meth:`WPS2Service.dispatch_get` and :meth:`WPS2Service.dispatch_post` answer the requests that are
WPS 2.0.0 (or a GetCapabilities negotiated to it) and return None for the others, which the WPS 1.0.0
service answers.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping

from lxml import etree

from wps_server.engine import Engine, multipart
from wps_server.errors import (
    HTTP_STATUS,
    InvalidParameterValue,
    NoApplicableCode,
    NoSuchJob,
    NoSuchProcess,
    OWSError,
    ResultNotReady,
    quoted,
)
from wps_server.jobs.model import Job, Status
from wps_server.operations import DescribeProcess, Execute, GetCapabilities
from wps_server.process import Process
from wps_server.safexml import parse_xml
from wps_server.service import Reply
from wps_server.wps2 import documents
from wps_server.wps2.parse import (
    VERSION,
    WPS,
    Capabilities,
    JobRequest,
    Operation2,
    kvp_version,
    parse_kvp,
    parse_xml_request,
    xml_version,
)

XML = "text/xml; charset=utf-8"
log = logging.getLogger(__name__)


class WPS2Service:
    """Answers WPS 2.0.0 requests; ``wps1_capabilities`` answers a GetCapabilities negotiated to 1.0.0."""

    def __init__(self, engine: Engine, wps1_capabilities: Callable[[str], Reply]) -> None:
        self.engine = engine
        self.settings = engine.settings
        self._wps1_capabilities = wps1_capabilities
        self._capabilities: dict[str, bytes] = {}
        self._offerings = {
            p.identifier: documents.process_offering(p, self.settings.language)
            for p in engine.processes.values()
        }
        self._lock = threading.Lock()

    # -- routing -----------------------------------------------------------------------------------
    def dispatch_get(self, args: Mapping[str, str], url: str) -> Reply | None:
        if kvp_version(args) != VERSION:
            return None
        return self._answer(lambda: parse_kvp(args), url)

    def dispatch_post(self, body: bytes, url: str) -> Reply | None:
        version, root = xml_version(body)
        if root is None:  # not XML: a 2.0.0 request's parse error is a 2.0 report
            return (
                self._answer(lambda: parse_xml_request(parse_xml(body)), url) if version == VERSION else None
            )
        if etree.QName(root).namespace == WPS:
            return self._answer(lambda: parse_xml_request(root), url)
        if version != VERSION:
            return None
        # a WPS 1.0.0 GetCapabilities whose AcceptVersions prefers 2.0.0
        request = GetCapabilities((VERSION,), root.get("language"))
        return self._answer(lambda: Capabilities(VERSION, request), url)

    def error(self, error: OWSError) -> Reply:
        return Reply(error.http_status, XML, documents.exception_report(error, self.settings.language))

    # -- operations --------------------------------------------------------------------------------
    def _answer(self, parse: Callable[[], Operation2], url: str) -> Reply:
        try:
            operation = parse()
            if isinstance(operation, Capabilities):
                return self._capabilities_reply(operation, url)
            if isinstance(operation, DescribeProcess):
                return Reply(200, XML, self._describe(operation))
            if isinstance(operation, JobRequest):
                return self._job_request(operation, url)
            return self._execute(operation, url)
        except OWSError as exc:
            return self.error(exc)
        except Exception:  # a 2.0.0 request gets a 2.0 report, whatever went wrong
            log.exception("unhandled error in a WPS 2.0.0 request")
            return self.error(NoApplicableCode("internal server error; the operator's log has the details"))

    def _check_language(self, language: str | None) -> None:
        if (
            language
            and language not in {"*", self.settings.language}
            and (language.lower() != self.settings.language.lower())
        ):
            raise InvalidParameterValue(
                f"language {language!r} is not supported; use {self.settings.language}", "language"
            )

    def _capabilities_reply(self, operation: Capabilities, url: str) -> Reply:
        if operation.version != VERSION:
            return self._wps1_capabilities(url)
        self._check_language(operation.request.language)
        offered = self.engine.offered()
        key = url + "|" + ",".join(offered)
        cached = self._capabilities.get(key)
        if cached is None:
            cached = documents.capabilities(self.settings, url, offered.values())
            with self._lock:
                if len(self._capabilities) < 100:
                    self._capabilities[key] = cached
        return Reply(200, XML, cached)

    def _describe(self, request: DescribeProcess) -> bytes:
        self._check_language(request.language)
        offered = [i for i in self._offerings if self.engine.visible(i)]
        identifiers = (
            offered if [i.lower() for i in request.identifiers] == ["all"] else list(request.identifiers)
        )
        for identifier in identifiers:
            if identifier not in offered:
                raise NoSuchProcess(self.engine.unknown_process(identifier), identifier)
        if self.engine.policy is not None:  # each user's own cluster profiles
            language = self.settings.language
            return documents.process_offerings(
                documents.process_offering(self.engine.narrowed(self.engine.processes[i]), language)
                for i in identifiers
            )
        return documents.process_offerings(
            etree.fromstring(etree.tostring(self._offerings[i])) for i in identifiers
        )

    def _process(self, identifier: str) -> Process:
        process = self.engine.process(identifier)
        if process is None:
            raise NoSuchProcess(self.engine.unknown_process(identifier), identifier)
        return process

    def _execute(self, request: Execute, url: str) -> Reply:
        process = self._process(request.identifier)
        self.engine.check(process, request)
        mode = request.extra.get("mode", "sync")
        raw = request.extra.get("response") == "raw"
        can_async = process.store_supported and process.status_supported
        if mode == "async" and raw:
            raise InvalidParameterValue(
                "response=raw is for mode=sync; an asynchronous job's results come as a wps:Result "
                "document from GetResult",
                "response",
            )
        if mode == "auto":
            run_async = can_async and not raw
            request = dataclasses.replace(request, store=run_async, status=run_async)
        if request.store:
            job = self.engine.submit(process, request)
            return Reply(200, XML, documents.status_info(job, None))
        job = self.engine.run(process, request)
        if job.status != Status.SUCCESSFUL:
            raise _job_error(job)
        if raw:
            return self._raw(job)
        return Reply(200, XML, self._result(job, process, url, with_job_id=False))

    def _raw(self, job: Job) -> Reply:
        parts = [self.engine.raw_output(job, record) for record in self.engine.selected_outputs(job)]
        if len(parts) == 1:
            part = parts[0]
            headers = {"Content-Disposition": f'inline; filename="{part.filename}"'} if part.filename else {}
            return Reply(200, part.content_type, part.body, headers)
        content_type, body = multipart(parts)
        return Reply(200, content_type, body)

    def _result(self, job: Job, process: Process, url: str, with_job_id: bool) -> bytes:
        base = url.rsplit("/", 1)[0]
        return documents.result(
            job,
            process,
            self.engine.selected_outputs(job),
            self.engine.expiration(job),
            f"{base}/outputs",
            lambda name: self.engine.read_output(job.id, name),
            with_job_id,
        )

    def _job_request(self, request: JobRequest, url: str) -> Reply:
        if request.operation == "Dismiss":
            dismissed = self.engine.dismiss(request.job_id)
            if dismissed is None:
                raise NoSuchJob(f"there is no job {quoted(request.job_id)}", "JobID")
            return Reply(200, XML, documents.status_info(dismissed, None))
        job = self.engine.job(request.job_id)
        if job is None:
            raise NoSuchJob(f"there is no job {quoted(request.job_id)}", "JobID")
        if request.operation == "GetStatus":
            return Reply(200, XML, documents.status_info(job, self.engine.expiration(job)))
        if job.status == Status.DISMISSED:
            raise NoSuchJob(f"job {job.id} was dismissed; its results are gone", "JobID")
        if not job.status.finished:
            raise ResultNotReady(f"job {job.id} is {job.status.value}; ask again later", "JobID")
        if job.status == Status.FAILED:
            raise _job_error(job)
        process = self.engine.process(job.process_id)
        assert process is not None
        return Reply(200, XML, self._result(job, process, url, with_job_id=True))


def _job_error(job: Job) -> OWSError:
    """The failure of a job, as the exception its client gets."""
    if job.status == Status.DISMISSED:
        return NoSuchJob(f"job {job.id} was dismissed", "JobID")
    error = job.error
    exc = OWSError(error.text if error else job.message or "the job failed", error.locator if error else None)
    code = error.code if error else "NoApplicableCode"
    exc.code = code if code in HTTP_STATUS else "NoApplicableCode"
    return exc
