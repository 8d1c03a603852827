"""Document jobs shared through Redis (issue 21): a job is seen from every replica, and a job whose replica is
SIGKILLed mid-way is taken over by another replica and completes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import redis

from tests.service_support import ServiceProcess, make_model_dir, unique_tag


def test_a_job_whose_replica_dies_completes_on_another(tiny_bundle: Path, tmp_path: Path, redis_url: str) -> None:
    prefix = f"nmt-test-{unique_tag(4)}:"
    env = {
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "DOCUMENT_CLAIM_IDLE_S": "1.5",
        "MAX_BATCH_ROWS": "4",  # slow enough to be caught mid-job
        "MAX_DOCUMENT_SEGMENTS": "2000",
    }
    models = make_model_dir(tiny_bundle, tmp_path)
    lines = [f"the man with the red hat walks along the river {unique_tag(3)} and the dog runs" for _ in range(600)]
    first = ServiceProcess(models, tmp_path / "first.log", **env).start().wait_ready()
    second: ServiceProcess | None = None
    try:
        handle = httpx.post(
            f"{first.base}/v1/documents",
            files={"file": ("long.txt", "\n".join(lines).encode())},
            data={"source": "en", "target": "de"},
            timeout=60,
        ).json()
        job, key = handle["document_id"], handle["document_key"]

        def status(base: str) -> dict[str, object]:
            return dict(httpx.get(f"{base}/v1/documents/{job}", params={"document_key": key}, timeout=10).json())

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = status(first.base)
            if now["status"] == "translating" and 0 < now["progress"]["segments_done"] < 600:  # type: ignore[index]
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"the job never ran on the first replica: {now}")
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait()

        second = ServiceProcess(models, tmp_path / "second.log", **env).start().wait_ready()
        assert status(second.base)["status"] == "translating"  # shared state: the dead replica's job
        deadline = time.monotonic() + 120
        while status(second.base)["status"] not in ("done", "error") and time.monotonic() < deadline:
            time.sleep(0.1)
        final = status(second.base)
        assert final["status"] == "done", final
        result = httpx.get(f"{second.base}/v1/documents/{job}/result", params={"document_key": key}, timeout=30)
        out = result.text.split("\n")
        assert len(out) == 600 and sum(a != b for a, b in zip(out, lines, strict=True)) >= 540
    finally:
        first.close()
        if second is not None:
            second.close()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
