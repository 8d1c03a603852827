"""Helpers shared by the service tests: a MODEL_DIR holding the tiny bundle, in-process apps, real
`python -m service` processes, free ports, metric values."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def make_model_dir(tiny_bundle: Path, root: Path) -> Path:
    model_dir = root / "models"
    model_dir.mkdir(exist_ok=True)
    link = model_dir / tiny_bundle.name
    if not link.exists():
        link.symlink_to(tiny_bundle, target_is_directory=True)
    return model_dir


def settings_for(model_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "model_dir": str(model_dir),
        "device": "cpu",
        "ort_intra_threads": 1,
        "cache_key_prefix": f"nmt-test-{os.getpid()}-{os.urandom(4).hex()}:",
        "api_keys": "",  # not from the developer's environment
        "redis_url": None,
    }
    base.update(overrides)
    return Settings(**base)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with its lifespan (models loaded, scheduler running) behind an in-process client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            yield app, client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_error_shape(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "status"} <= set(error), error
    assert error["status"] == status and isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def metric_value(exposition: str, series: str) -> float:
    """One sample of a Prometheus text exposition, e.g. `nmt_cache_hits_total{tier="redis"}`; 0 when absent
    (a labelled counter has no sample until its first increment)."""
    return next((float(line.split()[-1]) for line in exposition.splitlines() if line.startswith(series + " ")), 0.0)


class ServiceProcess:
    """A real `python -m service` subprocess on a free port, configured only through its environment.

    `start()` returns at once so that several replicas can load their models concurrently;
    `wait_ready()` then blocks until /readyz answers 200.
    """

    def __init__(self, model_dir: Path, log_path: Path, **env: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "MODEL_DIR": str(model_dir),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "DEVICE": "cpu",
            "ORT_INTRA_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "LOG_LEVEL": "info",
        }
        # a developer's shell must not silently add a shared cache, or API keys that would 401 every test
        self.env.pop("REDIS_URL", None)
        self.env.pop("API_KEYS", None)
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, "start() first"
        return self.process

    def wait_ready(self, attempts: int = 600) -> ServiceProcess:
        for _ in range(attempts):
            if self.popen.poll() is not None:
                pytest.fail(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"server never became ready:\n{self.log_path.read_text()}")

    def close(self) -> None:
        """Kill it if a test left it running, and show its log (pytest prints it for failing tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.log_path.exists():
            print(f"--- {self.log_path.name} ---\n{self.log_path.read_text()}")


@contextmanager
def service_process(model_dir: Path, log_path: Path, **env: str) -> Iterator[ServiceProcess]:
    """One started, ready service process, killed (if still running) on exit."""
    service = ServiceProcess(model_dir, log_path, **env)
    try:
        yield service.start().wait_ready()
    finally:
        service.close()


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def shared_redis(workdir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    """The Redis the tests share: TEST_REDIS_URL (default the machine's, 127.0.0.1:6379) when it answers, or a
    `redis-server` of our own on a free port (then also returned, for the caller to stop)."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url, None
    except redis.ConnectionError:
        pass
    port = free_port()
    return f"redis://127.0.0.1:{port}/0", start_redis(port, workdir)


def unique_tag(nbytes: int = 3) -> str:
    """A word no other test (or earlier run) has sent: random, and never all digits (a number is protected)."""
    return "u" + os.urandom(nbytes).hex()
