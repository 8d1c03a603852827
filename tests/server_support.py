"""A real `python -m service` subprocess on a free port, for tests that need a server over TCP
(SIGTERM handling, PyPI clients, browsers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.service_support import free_port, make_model_dir

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT, no trailing slash
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(tiny_bundle: Path, workdir: Path, **env_overrides: str) -> Iterator[Server]:
    """Start the service on the tiny bundle (no Redis unless REDIS_URL is given), wait for readiness, and
    kill it afterwards (its log is printed, so a failing test shows what the server said)."""
    port = free_port()
    env = {**os.environ, "MODEL_DIR": str(make_model_dir(tiny_bundle, workdir)), "PORT": str(port),
           "HOST": "127.0.0.1", "DEVICE": "cpu", "ORT_INTRA_THREADS": "1", "OMP_NUM_THREADS": "1",
           "LOG_LEVEL": "info", "CACHE_KEY_PREFIX": f"nmt-test-{os.getpid()}-{os.urandom(4).hex()}:"}
    env.pop("REDIS_URL", None)
    env.update(env_overrides)
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        for _ in range(1200):
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"server never became ready:\n{server.log()}")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        print(server.log())
