"""The HTTP edge of the native API: service errors become statuses, headers and one JSON shape,
{"error": {"code", "message", "status"}}.

Clients (and the LibreTranslate/HTML layers built on top) branch on `code`, which is stable;
`message` is for humans. FastAPI's own validation and routing errors are converted too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import (
    BadDocument,
    ClientGone,
    DeadlineExceeded,
    DocumentNotReady,
    EngineFailure,
    Forbidden,
    InvalidRequest,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    Unauthorized,
    UnknownDirection,
    UnsupportedDocument,
)

log = logging.getLogger(__name__)

# Most specific class first wins (looked up along the MRO).
HTTP_STATUS: dict[type[ServiceError], int] = {
    UnknownDirection: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    PayloadTooLarge: 413,
    InvalidRequest: 422,
    RateLimited: 429,
    EngineFailure: 500,
    ClientGone: 499,  # nginx's "client closed request": nobody reads it, the access log does
    BadDocument: 422,
    UnsupportedDocument: 415,
    DocumentNotReady: 409,
    Overloaded: 503,
    DeadlineExceeded: 504,
    ServiceError: 400,
}


def http_status(exc: ServiceError) -> int:
    return next(HTTP_STATUS[cls] for cls in type(exc).__mro__ if cls in HTTP_STATUS)


def http_headers(exc: ServiceError) -> dict[str, str]:
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return headers


def error_body(code: str, message: str, status: int, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def closing_json_headers(payload: bytes, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Raw ASGI headers of a JSON error answered below the app (edge refusals), which closes the connection."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        *extra,
    ]


def error_response(exc: ServiceError) -> JSONResponse:
    status = http_status(exc)
    return JSONResponse(error_body(exc.code, exc.message, status), status_code=status, headers=http_headers(exc))


_HTTP_CODES = {
    400: "invalid_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


ErrorShape = Callable[[str, str, str, int], dict[str, Any]]  # (path, code, message, status) -> JSON body


def native_shape(path: str, code: str, message: str, status: int) -> dict[str, Any]:
    return error_body(code, message, status)


def install_error_handlers(app: FastAPI, shape: ErrorShape = native_shape) -> None:
    """`shape` picks the body of errors raised before a route's own handler runs (404, 405, body parsing),
    so that a path of the LibreTranslate API answers in its shape even then."""

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            shape(request.url.path, code, str(exc.detail), exc.status_code),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal server error", 500), status_code=500)
