"""`python -m service`: uvicorn with the settings, and a SIGTERM that drains before it stops.

Uvicorn alone closes its listener on SIGTERM; we first turn readiness to 503 and refuse new work
(with a JSON 503) while accepted requests finish, bounded by DRAIN_TIMEOUT_S, and only then let
uvicorn shut down. A second signal stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.app import create_app, shape
from service.edge.access_log import install_redaction
from service.edge.http_errors import ErrorShape
from service.edge.protocol_errors import JsonRefusalsProtocol
from service.edge.slow_clients import HeaderDeadlineProtocol
from service.engine.runtime import Runtime
from service.settings import Settings


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime):
        super().__init__(config)
        self.runtime = runtime
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._drain_task: asyncio.Future[None] | None = None

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None or not self.started:
            self.should_exit = True
            self.force_exit = self._draining
            return
        self._draining = True
        # A signal handler must not touch the loop's internals; schedule the drain on it instead.
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._drain_task = asyncio.ensure_future(self._drain_then_exit())  # keep a reference until done

    async def _drain_then_exit(self) -> None:
        await self.runtime.drain(self.runtime.settings.drain_timeout_s)
        self.should_exit = True


def parse_arguments(argv: list[str] | None) -> None:
    """Settings come from the environment only; the command line just explains them."""
    lines = [f"  {name.upper():<28} {_default(field.default)}" for name, field in Settings.model_fields.items()]
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Settings (environment variables, with defaults; docs/configuration.md explains each):\n"
        + "\n".join(lines),
    )
    parser.parse_args(argv)


def _default(value: object) -> str:
    return "(unset)" if value is None or value == "" else str(value)


def edge_protocol(header_timeout_s: float, error_shape: ErrorShape) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection: the header deadline and JSON refusals."""
    attributes = {"header_timeout_s": header_timeout_s, "error_shape": staticmethod(error_shape)}
    return type("EdgeProtocol", (HeaderDeadlineProtocol, JsonRefusalsProtocol), attributes)


def main(argv: list[str] | None = None) -> None:
    parse_arguments(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # The drain happens before uvicorn is told to stop (below), so its own
        # graceful phase only closes idle connections: the whole shutdown stays
        # within preStop + DRAIN_TIMEOUT_S + a few seconds (deploy/k8s).
        timeout_graceful_shutdown=2,
        lifespan="on",
        http=edge_protocol(settings.header_timeout_s, shape),
        limit_concurrency=settings.max_connections,  # 503 beyond it, in JSON (service/edge/protocol_errors.py)
        ws="none",  # no WebSocket routes: an upgrade request is plain HTTP, in the JSON shape and under the cap
        # The client address is the service's decision (TRUSTED_PROXY_HEADER / TRUSTED_PROXIES, rate limits);
        # uvicorn's own proxy handling would believe X-Forwarded-For from any loopback peer.
        proxy_headers=False,
    )
    install_redaction()  # after uvicorn.Config, which (re)configures its loggers
    server = DrainingServer(config, app.state.runtime)
    server.run()


if __name__ == "__main__":
    main()
