"""The FastAPI application: `create_app(settings)` wires routes, errors, metrics and the lifespan.

Front-ends are APIRouters that depend on `service.api.native.get_translator`: the native API (`api.router`),
the LibreTranslate-compatible API (`libretranslate.router`) and the browser files (`web`).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api import documents, glossaries, libretranslate
from service.api import native as api
from service.api.documents import DOCUMENT_PATHS
from service.api.web import install_web
from service.edge.auth import document_keys
from service.edge.http_errors import error_body, install_error_handlers
from service.edge.limits import BodyLimit, UploadLimit
from service.engine.runtime import Runtime
from service.metrics import REQUEST_DURATION, REQUESTS, LoopLagMonitor
from service.settings import Settings
from service.text.detection import LazyDetector

log = logging.getLogger(__name__)
UPLOAD_TIMEOUT_S = 300.0  # a document of MAX_DOCUMENT_BYTES over a slow line


class RequestMetrics:
    """Counts and times every HTTP request by route template (not raw path, to bound label cardinality)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(route, str(status)).inc()
            REQUEST_DURATION.labels(route).observe(time.perf_counter() - start)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings)
    detector = LazyDetector()

    loop_lag = LoopLagMonitor()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # Start-up objects (models, vocabularies, imports) go to the permanent generation, so a full
        # collection no longer scans them: its pauses of the event loop fell from 45 ms to 4-11 ms.
        gc.freeze()
        # Built in a thread while the first requests are already served; `source: auto` waits for it.
        detector.start(sorted({source for source, _, _ in runtime.translator.engine.directions()}))
        runtime.start_documents(detector)
        loop_lag.start()  # nmt_event_loop_lag_seconds
        try:
            yield
        finally:
            await loop_lag.stop()
            await runtime.stop()
            await detector.stop()

    app = FastAPI(
        title="GNMT translation service",
        version="0.1.0",
        lifespan=lifespan,
        description="Neural machine translation served from ONNX Runtime with continuous batching.",
    )
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.detector = detector
    install_error_handlers(app, shape)
    app.include_router(api.router)
    app.include_router(glossaries.router)
    app.include_router(documents.router)
    app.include_router(libretranslate.router)
    install_web(app)
    document_keys(app, bool(settings.api_key_list))
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    uploads = UploadLimit(DOCUMENT_PATHS, settings.max_document_bytes + 64 * 1024, UPLOAD_TIMEOUT_S)
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.body_limit,
        body_timeout_s=settings.body_timeout_s,
        shape=shape,
        uploads=uploads,
    )
    app.add_middleware(RequestMetrics)
    return app


def shape(path: str, code: str, message: str, status: int) -> dict[str, Any]:
    """Errors answered before routing take the shape of the API the path belongs to."""
    return libretranslate.libre_shape(path, code, message, status) or error_body(code, message, status)
