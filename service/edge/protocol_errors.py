"""The answers uvicorn's protocol layer gives itself, before any middleware, in the service's JSON shape.

Two refusals never reach the app: beyond MAX_CONNECTIONS uvicorn answers 503 with its own text/plain
app (`flow_control.service_unavailable`), and a request its HTTP/1.1 parser rejects (not HTTP at all,
such as a TLS hello; an unknown method; malformed headers or framing, such as Content-Length with
Transfer-Encoding) gets a text/plain 400 written straight to the socket. Clients branch on one error
shape, so this protocol answers both in it: the 503 in the shape of the API the path belongs to, with
Retry-After, and the 400 in the native shape. Both close the connection, as uvicorn's own answers do.
The service serves no WebSockets and runs uvicorn with `ws="none"`, so an upgrade request is plain
HTTP to the app (and counts against the cap) rather than a text/plain 403 from the websockets library.
It hooks three methods of uvicorn's httptools protocol, which the pinned uvicorn version
(pyproject.toml) keeps; tests/test_edge_limits.py checks them on a real server.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from service.edge.http_errors import ErrorShape, closing_json_headers, error_body, native_shape
from service.errors import RETRY_AFTER_SECONDS
from service.metrics import EDGE_REFUSALS

log = logging.getLogger(__name__)
AT_CAPACITY_MESSAGE = "the server has too many open connections; retry later"
NOT_HTTP_MESSAGE = "the request is not valid HTTP"


class JsonRefusalsProtocol(HttpToolsProtocol):
    error_shape: ErrorShape = staticmethod(native_shape)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        if app is service_unavailable:
            app = self._at_capacity
        super()._start_asgi_task(cycle, app)

    async def _at_capacity(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        EDGE_REFUSALS.labels(reason="connection_cap").inc()
        body: dict[str, Any] = self.error_shape(str(scope.get("path", "")), "overloaded", AT_CAPACITY_MESSAGE, 503)
        payload = json.dumps(body).encode()
        retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
        await send({"type": "http.response.start", "status": 503, "headers": closing_json_headers(payload, retry)})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    def send_400_response(self, msg: str) -> None:
        EDGE_REFUSALS.labels(reason="invalid_http").inc()
        if self.cycle is not None and not self.cycle.response_complete:
            # a later pipelined request broke while an earlier one is still being answered: a 400 now
            # would read as that earlier request's answer, so the connection just closes
            self.transport.close()
            return
        payload = json.dumps(error_body("invalid_http", NOT_HTTP_MESSAGE, 400)).encode()
        lines = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in [*self.server_state.default_headers, *closing_json_headers(payload)]:
            lines.append(name + b": " + value + b"\r\n")
        self.transport.write(b"".join([*lines, b"\r\n", payload]))
        self.transport.close()

    def _unsupported_upgrade_warning(self) -> None:
        """An upgrade request (WebSocket, h2c) is served as plain HTTP; not worth uvicorn's two warnings."""
        log.debug("upgrade request served as plain HTTP")
