"""One error shape for every failure: {"error": {"code", "message", "status"}}.

Clients (and the LibreTranslate/HTML layers built on top) branch on `code`, which is stable;
`message` is for humans. FastAPI's own validation and routing errors are converted too.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


class ApiError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class UnknownDirection(ApiError):
    status = 400
    code = "unknown_direction"


class InvalidRequest(ApiError):
    status = 422
    code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str, **kwargs: Any):
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class RateLimited(ApiError):
    """A rate-limit budget is spent (service/ratelimit.py); Retry-After says when the request would pass."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, **kwargs: Any):
        kwargs.setdefault("headers", {"Retry-After": str(retry_after_s)})
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class HtmlTooComplex(PayloadTooLarge):
    """More elements in an HTML document, or inline elements in one of its text runs, than allowed."""

    code = "html_too_complex"


class Overloaded(ApiError):
    status = 503
    code = "overloaded"

    def __init__(self, message: str = "the server is at capacity; retry later", **kwargs: Any):
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(message, **kwargs)


class ShuttingDown(Overloaded):
    code = "shutting_down"


class NotReady(Overloaded):
    code = "not_ready"


class DeadlineExceeded(ApiError):
    status = 504
    code = "deadline_exceeded"


class EngineFailure(ApiError):
    status = 500
    code = "internal_error"


def error_body(code: str, message: str, status: int, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.message, exc.status), status_code=exc.status, headers=exc.headers)


_HTTP_CODES = {
    400: "invalid_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        return JSONResponse(error_body("invalid_request", f"{where}: {first['msg']}", 422, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail), exc.status_code),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal server error", 500), status_code=500)
