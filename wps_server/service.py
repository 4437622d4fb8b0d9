"""The WPS 1.0.0 service, free of any web framework: a request in, a :class:`Reply` out."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wps_server.cluster_client import SchedulerConnection
from wps_server.config import Settings
from wps_server.errors import HTTP_STATUS, InvalidParameterValue, NoSuchJob, OWSError, ServerBusy
from wps_server.execution import RunContext, run_job
from wps_server.inputs import check_execute
from wps_server.jobs.model import Job, OutputRecord, Status
from wps_server.jobs.store import JobStore, heartbeat
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
    """Answers WPS requests; capabilities and descriptions are built once per service URL."""

    def __init__(
        self, settings: Settings, processes: list[Process], store: JobStore, scheduler: SchedulerConnection
    ) -> None:
        self.settings = settings
        self.processes = {p.identifier: p for p in processes}
        self.store = store
        self.scheduler = scheduler
        self._cache: dict[tuple[str, str], bytes] = {}
        self._descriptions = {p.identifier: documents.process_description(p) for p in processes}
        self._lock = threading.Lock()

    # -- entry points ------------------------------------------------------------------------------
    def get(self, args: Mapping[str, str], url: str) -> Reply:
        return self._answer(lambda: parse_kvp(args), url)

    def post(self, body: bytes, url: str) -> Reply:
        return self._answer(lambda: parse_xml_request(body), url)

    def error(self, error: OWSError) -> Reply:
        return Reply(error.http_status, XML, documents.exception_report(error, self.settings.language))

    def status_document(self, job_id: str, url: str) -> Reply:
        job = self.store.get(job_id) if _is_uuid(job_id) else None
        if job is None or job.process_id not in self.processes:
            return self.error(NoSuchJob(f"there is no job {job_id}", "JobID"))
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
        key = ("capabilities", url)
        cached = self._cache.get(key)
        if cached is None:
            cached = documents.capabilities(self.settings, url, self.processes.values())
            with self._lock:
                self._cache[key] = cached
        return cached

    def _describe(self, request: DescribeProcess) -> bytes:
        self._check_language(request.language)
        identifiers = (
            list(self.processes)
            if [i.lower() for i in request.identifiers] == ["all"]
            else list(request.identifiers)
        )
        for identifier in identifiers:
            if identifier not in self.processes:
                raise InvalidParameterValue(f"there is no process {identifier!r}", "identifier")
        key = ("describe", ",".join(identifiers))
        cached = self._cache.get(key)
        if cached is None:
            cached = documents.process_descriptions(
                (self.processes[i] for i in identifiers), self.settings.language
            )
            if len(identifiers) == 1 or len(self._cache) < 1000:
                with self._lock:
                    self._cache[key] = cached
        return cached

    def process(self, identifier: str) -> Process:
        process = self.processes.get(identifier)
        if process is None:
            raise InvalidParameterValue(f"there is no process {identifier!r}", "identifier")
        return process

    def _execute(self, request: Execute, url: str) -> Reply:
        self._check_language(request.language)
        process = self.process(request.identifier)
        check_execute(process, request, self.settings.inputs)
        if request.store:
            return self._accept(process, request, url)
        job = Job(
            id=str(uuid.uuid4()),
            process_id=process.identifier,
            request=request,
            status=Status.RUNNING,
            message="Running",
        )
        self.store.create(job, sync=True)
        context = RunContext(
            job_id=job.id,
            workdir=self.settings.jobs_dir / job.id,
            report=lambda percent, message: self.store.progress(job.id, percent, message),
            client_factory=self.scheduler.client,
        )
        with heartbeat(self.store, job.id):
            outcome = run_job(process, job, self.settings, context)
        self.store.finish(job.id, outcome.status, outcome.message, outcome.outputs, outcome.error)
        if outcome.error is not None and (
            HTTP_STATUS.get(outcome.error.code, 500) < 500 or request.raw_output
        ):
            error = OWSError(outcome.error.text, outcome.error.locator)
            error.code = outcome.error.code
            return self.error(error)
        if request.raw_output is not None:
            record = next(o for o in outcome.outputs if o.identifier == request.raw_output.identifier)
            return self._raw(job.id, record)
        finished = self.store.get(job.id)
        assert finished is not None
        return Reply(200, XML, self._execute_response(finished, url))

    def _accept(self, process: Process, request: Execute, url: str) -> Reply:
        """Queue an asynchronous job and answer ProcessAccepted with its status location at once."""
        if not process.status_supported:
            raise InvalidParameterValue(f"process {process.identifier} runs synchronously only", "status")
        if request.raw_output is not None:
            raise InvalidParameterValue(
                "RawDataOutput cannot be stored; use a ResponseDocument", "RawDataOutput"
            )
        if self.store.count(Status.ACCEPTED) >= self.settings.jobs.max_queued:
            raise ServerBusy(f"{self.settings.jobs.max_queued} jobs are already waiting; try again later")
        job = Job(
            id=str(uuid.uuid4()),
            process_id=process.identifier,
            request=request,
            message="Accepted, waiting in the queue",
        )
        self.store.create(job)
        log.info("job accepted", extra={"job_id": job.id, "process_id": process.identifier})
        job.created = datetime.now(UTC)
        return Reply(200, XML, self._execute_response(job, url))

    def _raw(self, job_id: str, record: OutputRecord) -> Reply:
        if record.kind == "complex" and record.file:
            body = (self.settings.outputs_dir / job_id / record.file).read_bytes()
            headers = {"Content-Disposition": f'inline; filename="{record.file}"'}
            return Reply(200, record.mime_type or "application/octet-stream", body, headers)
        if record.kind == "literal":
            return Reply(200, "text/plain; charset=utf-8", (record.value or "").encode())
        text = f"{' '.join(map(str, record.lower))} {' '.join(map(str, record.upper))} {record.crs}"
        return Reply(200, "text/plain; charset=utf-8", text.encode())

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
            self.settings.outputs_dir,
            self.settings.language,
        )


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
