"""Request-body limits at the ASGI edge, before any route, parser or key check runs.

A body is refused with 413 as soon as its declared Content-Length, or the bytes actually streamed
(chunked uploads declare none), pass `max_body_bytes`; nothing past the limit is read. A client that
sends its body too slowly gets 408 once `body_timeout_s` has passed since the request arrived
(slow-loris). Both answers close the connection, so the rest of the upload is never accepted.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.edge.http_errors import ErrorShape, closing_json_headers, native_shape


class BodyRefused(HTTPException):
    """Raised from `receive` inside the app; FastAPI passes HTTPExceptions through its body parsing."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, message, headers={"Connection": "close"})
        self.code = code


@dataclass(frozen=True)
class UploadLimit:
    """File uploads (document jobs) get a body cap and a body deadline of their own on these paths."""

    paths: tuple[str, ...] = ()
    max_bytes: int = 0
    timeout_s: float = 0.0


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_timeout_s: float,
        shape: ErrorShape = native_shape,
        uploads: UploadLimit | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.shape = shape
        self.uploads = uploads or UploadLimit()

    def too_large(self, limit: int, size: int | None = None) -> BodyRefused:
        body = f"request body of {size} bytes" if size is not None else "request body"
        return BodyRefused(413, "body_too_large", f"{body} exceeds the limit of {limit} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("path", "") in self.uploads.paths
        limit = self.uploads.max_bytes if upload else self.max_body_bytes
        timeout_s = self.uploads.timeout_s if upload else self.body_timeout_s
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self.refuse(scope, send, self.too_large(limit, declared))
            return
        received = 0
        deadline = time.monotonic() + timeout_s
        started = False

        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # later calls wait for the client to leave (a stream's watch): no deadline then
                return await receive()
            try:
                async with asyncio.timeout_at(_loop_deadline(deadline)):
                    message = await receive()
            except TimeoutError:
                raise BodyRefused(408, "body_timeout", f"request body not received within {timeout_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self.too_large(limit)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyRefused as refused:
            if started:
                raise
            await self.refuse(scope, send, refused)

    async def refuse(self, scope: Scope, send: Send, refused: BodyRefused) -> None:
        body = json.dumps(self.shape(scope.get("path", ""), refused.code, str(refused.detail), refused.status_code))
        payload = body.encode()
        headers = closing_json_headers(payload)
        await send({"type": "http.response.start", "status": refused.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _loop_deadline(monotonic_deadline: float) -> float:
    """asyncio's deadlines are on the loop's clock, which need not be time.monotonic()."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
