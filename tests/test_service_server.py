"""A real `python -m service` process: it serves, and on SIGTERM it drains in-flight requests and exits 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_support import assert_error_shape, make_model_dir, metric_value, service_process, unique_tag


@pytest.fixture
def server(tiny_bundle: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    # A wide static window keeps requests in flight long enough to SIGTERM during them.
    with service_process(
        make_model_dir(tiny_bundle, tmp_path),
        tmp_path / "server.log",
        BATCHING_MODE="static",
        STATIC_MAX_BATCH="100",
        STATIC_MAX_WAIT_MS="1500",
        DRAIN_TIMEOUT_S="20",
    ) as service:
        yield service.popen, service.base


def test_smoke(server: tuple[subprocess.Popen[bytes], str]) -> None:
    _, base = server
    response = httpx.post(
        f"{base}/v1/translate", json={"text": ["the dog runs", "a cat"], "source": "en", "target": "de"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["translations"]) == 2
    assert_error_shape(
        httpx.post(f"{base}/v1/translate", json={"text": "x", "source": "en", "target": "zz"}), 400, "unknown_direction"
    )
    assert "nmt_model_info" in httpx.get(f"{base}/metrics").text


def _queue_depth(base: str) -> float:
    return metric_value(httpx.get(f"{base}/metrics", timeout=5).text, "nmt_queue_depth")


def test_sigterm_drains_in_flight_requests(server: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base = server

    async def scenario() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            tasks = [
                asyncio.create_task(
                    client.post(
                        "/v1/translate",
                        json={"text": f"the dog {i} runs {unique_tag(2)}", "source": "en", "target": "de"},
                    )
                )
                for i in range(8)
            ]
            for _ in range(100):  # wait until the server holds all of them
                if await asyncio.to_thread(_queue_depth, base) >= 8:
                    break
                await asyncio.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:  # a new connection while draining
                ready = await fresh.get("/readyz")
                refused = await fresh.post("/v1/translate", json={"text": "a cat", "source": "en", "target": "de"})
            return list(await asyncio.gather(*tasks)), ready, refused

    in_flight, ready, refused = asyncio.run(scenario())
    assert [r.status_code for r in in_flight] == [200] * 8, [r.text for r in in_flight]
    assert ready.status_code == 503
    assert_error_shape(refused, 503, "shutting_down")
    assert refused.headers.get("retry-after")
    assert process.wait(timeout=30) == 0
