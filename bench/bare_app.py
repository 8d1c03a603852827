"""A bare FastAPI endpoint answering a fixed translation JSON: the floor for the cached-path benchmark."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()
_ANSWER = {"translations": [{"text": "Ein Hund rennt.", "cached": True}], "model": {"id": "bare", "version": "0"}}


@app.post("/v1/translate")
async def translate(request: Request) -> dict[str, Any]:
    await request.json()
    return _ANSWER


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}
