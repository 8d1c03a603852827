"""The service's errors, in domain terms: a stable machine-readable `code` and a message for humans.

They carry no HTTP status. The edge maps them to statuses and headers (`service.edge.http_errors` for the
native API, `service.api.libretranslate.from_service_error` for the LibreTranslate routes), as
text-generation-inference's router maps its validation errors only at its HTTP edge.
"""

from __future__ import annotations

RETRY_AFTER_SECONDS = 1


class ServiceError(Exception):
    """Something the request or the service's state does not allow; `code` is what clients branch on."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after_s = retry_after_s


class UnknownDirection(ServiceError):
    code = "unknown_direction"


class InvalidRequest(ServiceError):
    code = "invalid_request"


class NotFound(ServiceError):
    """A resource (a stored glossary) that does not exist, or that the caller's key does not own."""

    code = "not_found"


class Unauthorized(ServiceError):
    code = "unauthorized"


class Forbidden(ServiceError):
    code = "forbidden"


class PayloadTooLarge(ServiceError):
    code = "payload_too_large"


class HtmlTooComplex(PayloadTooLarge):
    """More elements in an HTML document, or inline elements in one of its text runs, than allowed."""

    code = "html_too_complex"


class RateLimited(ServiceError):
    """A rate-limit budget is spent (service/edge/ratelimit.py); `retry_after_s` says when the request would pass."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None):
        super().__init__(message, code=code, retry_after_s=retry_after_s)


class Overloaded(ServiceError):
    code = "overloaded"

    def __init__(self, message: str = "the server is at capacity; retry later", *, code: str | None = None):
        super().__init__(message, code=code, retry_after_s=RETRY_AFTER_SECONDS)


class ShuttingDown(Overloaded):
    code = "shutting_down"


class NotReady(Overloaded):
    code = "not_ready"


class StoreUnavailable(Overloaded):
    """The shared store (Redis) did not answer: the request may succeed on a retry."""

    code = "store_unavailable"


class DeadlineExceeded(ServiceError):
    code = "deadline_exceeded"


class BadDocument(ServiceError):
    """A file that is not a readable document of its format (corrupt, truncated, encrypted, unsafe XML)."""

    code = "bad_document"


class UnsupportedDocument(ServiceError):
    """A file format the document jobs do not translate (PDF, say)."""

    code = "unsupported_format"


class DocumentNotReady(ServiceError):
    """A document's result was asked for before its job was done."""

    code = "document_not_ready"


class ClientGone(ServiceError):
    """The client closed the connection before its answer was ready; its work was withdrawn."""

    code = "client_closed_request"


class EngineFailure(ServiceError):
    code = "internal_error"


class TextFailed(EngineFailure):
    """One text of a request could not be processed (a fault of ours, logged with its traceback). Reported on
    that text alone: its neighbours are still translated."""

    code = "text_failed"
