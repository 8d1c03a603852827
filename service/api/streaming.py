"""Answers that follow the client: server-sent events sent as results land, and work withdrawn when it leaves.

Starlette's StreamingResponse notices a closed connection only when it next writes (ASGI 2.4 servers), which for
a stream waiting on the decoder may be many steps later; both helpers here watch `receive` for the
`http.disconnect` message instead, so a client's sentences leave the queue and the running batch at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.errors import ClientGone

T = TypeVar("T")
EVENT_STREAM = "text/event-stream"


async def until_disconnected(receive: Receive) -> None:
    """Returns when the client closes the connection (once the request body is read, that is all that comes)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result, or ClientGone with `work` cancelled the moment the client leaves."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(until_disconnected(request.receive))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    if task.cancelled() or not task.done():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise ClientGone("the client closed the connection")
    return task.result()


def event(data: Any, name: str | None = None) -> bytes:
    """One server-sent event; JSON never holds a raw newline, so `data` is one line."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class EventStream(Response):
    """A response streaming `events`; the generator is cancelled as soon as the client disconnects, and a client
    that stops reading for `send_timeout_s` is disconnected (what waits for it meanwhile is bounded by the
    request's own limits, and holds no decoder rows)."""

    media_type = EVENT_STREAM

    def __init__(self, events: AsyncIterator[bytes], send_timeout_s: float):
        self.events = events
        self.send_timeout_s = send_timeout_s
        self.status_code = 200
        self.background = None
        # no-transform and X-Accel-Buffering: proxies pass each event on at once instead of buffering the stream
        self.init_headers({"cache-control": "no-cache, no-transform", "x-accel-buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = asyncio.ensure_future(self._stream(send))
        watch = asyncio.ensure_future(until_disconnected(receive))
        try:
            await asyncio.wait({stream, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, watch):
                task.cancel()
            for task in (stream, watch):
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
        error = stream.exception() if stream.done() and not stream.cancelled() else None
        if error is not None and not isinstance(error, OSError):  # OSError: the client went away mid-send
            raise error

    async def _stream(self, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.events:
                async with asyncio.timeout(self.send_timeout_s):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            return  # a client that stopped reading: the connection closes unfinished
        finally:
            await self.events.aclose()  # type: ignore[attr-defined]
