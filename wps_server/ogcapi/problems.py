"""Errors of the OGC API as RFC 7807 problem details, with the OGC exception type URIs.

The three types OGC API - Processes - Part 1 defines (no-such-process, no-such-job, result-not-ready)
are used for those cases; every other error keeps the OWS exception code the rest of the server uses,
under the same URI prefix, so one client-side table covers all three interfaces.
"""

from __future__ import annotations

import re
from typing import Any

from wps_server.errors import HTTP_STATUS, OWSError, quoted

PROBLEM_JSON = "application/problem+json"
OGC_EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
NO_SUCH_PROCESS = OGC_EXCEPTIONS + "no-such-process"
NO_SUCH_JOB = OGC_EXCEPTIONS + "no-such-job"
RESULT_NOT_READY = OGC_EXCEPTIONS + "result-not-ready"


class ApiError(Exception):
    """An error answered as problem+json."""

    def __init__(self, status: int, type_uri: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.type_uri = type_uri
        self.title = title
        self.detail = detail

    def body(self, instance: str | None = None) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            problem["instance"] = instance
        return problem


def no_such_process(message: str) -> ApiError:
    return ApiError(404, NO_SUCH_PROCESS, "No such process", message)


def no_such_job(job_id: str, why: str = "") -> ApiError:
    return ApiError(404, NO_SUCH_JOB, "No such job", why or f"there is no job {quoted(job_id)}")


def bad_request(detail: str, code: str = "InvalidParameterValue") -> ApiError:
    return ApiError(400, type_for(code), _title(code), detail)


def from_ows(error: OWSError) -> ApiError:
    """An OWS exception (from input checks, the queue, a failed job) as a problem."""
    code = error.code if error.code in HTTP_STATUS else "NoApplicableCode"
    detail = f"{error.message} (at {error.locator})" if error.locator else error.message
    if code == "NoSuchJob":
        return ApiError(404, NO_SUCH_JOB, "No such job", detail)
    if code == "NoSuchProcess":
        return ApiError(404, NO_SUCH_PROCESS, "No such process", detail)
    if code == "ResultNotReady":
        return ApiError(404, RESULT_NOT_READY, "Result not ready", detail)
    return ApiError(HTTP_STATUS[code], type_for(code), _title(code), detail)


def type_for(code: str) -> str:
    """``InvalidParameterValue`` -> ``.../invalid-parameter-value``."""
    return OGC_EXCEPTIONS + re.sub(r"(?<!^)(?=[A-Z])", "-", code).lower()


def _title(code: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", code).capitalize()
