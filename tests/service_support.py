"""Helpers shared by the service tests: a MODEL_DIR holding the tiny bundle, in-process apps, free ports."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from service.app import create_app
from service.settings import Settings


def make_model_dir(tiny_bundle: Path, root: Path) -> Path:
    model_dir = root / "models"
    model_dir.mkdir(exist_ok=True)
    link = model_dir / tiny_bundle.name
    if not link.exists():
        link.symlink_to(tiny_bundle, target_is_directory=True)
    return model_dir


def settings_for(model_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"model_dir": str(model_dir), "device": "cpu", "ort_intra_threads": 1,
                            "cache_key_prefix": f"nmt-test-{os.getpid()}-{os.urandom(4).hex()}:"}
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
