"""The OWS exception family and the one table that maps each exception code to an HTTP status."""

from __future__ import annotations

HTTP_STATUS = {
    "MissingParameterValue": 400,
    "InvalidParameterValue": 400,
    "OperationNotSupported": 400,
    "VersionNegotiationFailed": 400,
    "InvalidUpdateSequence": 400,
    "OptionNotSupported": 400,
    "NoSuchProcess": 400,
    "NoSuchJob": 404,
    "ResultNotReady": 400,
    "FileSizeExceeded": 413,
    "StorageNotSupported": 400,
    "NotEnoughStorage": 507,
    "ServerBusy": 503,
    "AccessDenied": 403,
    "PaymentRequired": 402,
    "NoApplicableCode": 500,
}


def quoted(value: str, limit: int = 80) -> str:
    """A user's text for a message: quoted, control characters escaped, cut after ``limit``."""
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


class OWSError(Exception):
    """An error reported to the client as an OWS ExceptionReport."""

    code = "NoApplicableCode"

    def __init__(self, message: str, locator: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.locator = locator

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


class MissingParameterValue(OWSError):
    code = "MissingParameterValue"


class InvalidParameterValue(OWSError):
    code = "InvalidParameterValue"


class OperationNotSupported(OWSError):
    code = "OperationNotSupported"


class VersionNegotiationFailed(OWSError):
    code = "VersionNegotiationFailed"


class FileSizeExceeded(OWSError):
    code = "FileSizeExceeded"


class StorageNotSupported(OWSError):
    code = "StorageNotSupported"


class ServerBusy(OWSError):
    code = "ServerBusy"


class NoSuchJob(OWSError):
    code = "NoSuchJob"


class NoSuchProcess(OWSError):
    code = "NoSuchProcess"


class ResultNotReady(OWSError):
    code = "ResultNotReady"


class AccessDenied(OWSError):
    """The signed-in requester lacks a role this needs (HTTP 403)."""

    code = "AccessDenied"


class PaymentRequired(OWSError):
    """The job does not fit in what is left of the requester's budget (HTTP 402)."""

    code = "PaymentRequired"


class NoApplicableCode(OWSError):
    code = "NoApplicableCode"


class ProcessError(OWSError):
    """Raised by a process handler: the message is shown to the user, so it must say what to change.

    With a ``locator`` (the input identifier) the fault is the user's input (InvalidParameterValue);
    without one it is a failure of the process itself (NoApplicableCode).
    """

    def __init__(self, message: str, locator: str | None = None) -> None:
        super().__init__(message, locator)
        self.code = "InvalidParameterValue" if locator else "NoApplicableCode"
