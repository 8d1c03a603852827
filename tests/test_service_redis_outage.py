"""A Redis that dies mid-test costs no request: the cache is bypassed, errors are counted, Redis returns."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.service_support import (
    free_port,
    make_model_dir,
    metric_value,
    running_app,
    settings_for,
    start_redis,
    unique_tag,
)

pytestmark = pytest.mark.asyncio


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run `make test` or `apt-get install redis-server`", pytrace=False)
    port = free_port()
    processes = [start_redis(port, tmp_path)]
    yield port, processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_redis_killed_mid_test(
    tiny_bundle: Path, tmp_path: Path, own_redis: tuple[int, list[subprocess.Popen[bytes]]]
) -> None:
    port, processes = own_redis
    settings = settings_for(
        make_model_dir(tiny_bundle, tmp_path), redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=0.2
    )
    body = {"source": "en", "target": "de", "options": {"beam_size": 1}}
    async with running_app(settings) as (app, client):
        first = await client.post("/v1/translate", json={**body, "text": f"the dog runs {unique_tag(3)}"})
        assert first.status_code == 200
        errors_before = metric_value((await client.get("/metrics")).text, "nmt_redis_errors_total")
        processes[0].kill()
        processes[0].wait()
        for i in range(6):
            text = f"a cat sits {i} {unique_tag(3)}"
            response = await client.post("/v1/translate", json={**body, "text": text})
            assert response.status_code == 200, response.text
        assert metric_value((await client.get("/metrics")).text, "nmt_redis_errors_total") > errors_before
        assert app.state.runtime.cache.redis is not None and not app.state.runtime.cache.redis.available

        processes.append(start_redis(port, tmp_path))  # Redis comes back: after the back-off, writes resume
        for _ in range(80):
            text = f"the big tree {unique_tag(3)}"
            assert (await client.post("/v1/translate", json={**body, "text": text})).status_code == 200
            if redis.Redis(port=port).dbsize() > 0:
                break
            await asyncio.sleep(0.25)
        assert redis.Redis(port=port).dbsize() > 0, "the cache should write to Redis again once it is back"
