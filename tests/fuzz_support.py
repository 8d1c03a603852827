"""Helpers for the fuzz and adversarial suites: the served OpenAPI schema built in-process, the documented
error shapes as a check, and a watch on the event loop (/healthz latency, nmt_event_loop_lag_seconds)
while traffic runs against a real server."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from service.api.libretranslate import LIBRE_PATHS
from service.app import create_app
from service.settings import Settings
from tests.service_support import metric_value

LAG_BOUND_S = 0.1  # a bucket bound of nmt_event_loop_lag_seconds: no wake-up may be later than this
HEALTHZ_BOUND_S = 0.1


def app_schema(api_keys: str = "") -> dict[str, Any]:
    """The OpenAPI document the app serves at /openapi.json (it depends on settings only through API_KEYS),
    built without loading a model so that tests can be generated from it at collection time."""
    settings = Settings(model_dir="models-not-loaded", api_keys=api_keys, redis_url=None)
    schema: dict[str, Any] = create_app(settings).openapi()
    return json.loads(json.dumps(schema))  # plain JSON types, as a client reads it


def _libre_operation(summary: str, ok: dict[str, Any], *, source_and_target: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "q": {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        },
        "api_key": {"type": "string"},
    }
    if source_and_target:
        properties |= {
            "source": {"type": "string", "examples": ["en", "auto"]},
            "target": {"type": "string", "examples": ["de"]},
            "format": {"type": "string", "enum": ["text", "html"]},
            "alternatives": {"type": "integer"},
        }
    required = ["q", "source", "target"] if source_and_target else ["q"]
    parameters = {"type": "object", "properties": properties, "required": required}
    error = {
        "description": "refused",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    return {
        "summary": summary,
        "requestBody": {
            "required": True,
            "content": {
                media_type: {"schema": parameters}
                for media_type in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
            },
        },
        "responses": {
            "200": {"description": "done", "content": {"application/json": {"schema": ok}}},
            **{status: error for status in ("400", "403", "429", "503")},
        },
    }


# LibreTranslate's API as its clients use it: the parameters the service's own schema cannot declare (the routes
# read them from JSON, form and multipart bodies alike), and `{"error": message}` for every refusal.
LIBRE_API: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "LibreTranslate-compatible API", "version": "1"},
    "paths": {
        "/translate": {
            "post": _libre_operation(
                "translate",
                {
                    "type": "object",
                    "properties": {
                        "translatedText": {
                            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                        }
                    },
                    "required": ["translatedText"],
                },
                source_and_target=True,
            )
        },
        "/detect": {
            "post": _libre_operation(
                "detect",
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "confidence": {"type": "number", "minimum": 0, "maximum": 100},
                            "language": {"type": "string"},
                        },
                        "required": ["confidence", "language"],
                    },
                },
                source_and_target=False,
            )
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string", "minLength": 1}},
                "required": ["error"],
                "additionalProperties": False,
            }
        }
    },
}


def is_libre_path(path: str) -> bool:
    return path in LIBRE_PATHS


def documented_error(path: str, status: int, body: Any) -> str | None:
    """Why `body` is not the documented error shape for a `status` answer on `path` (None when it is):
    LibreTranslate's routes answer `{"error": "message"}`, every other path the native
    `{"error": {"code", "message", "status"}}` with `status` equal to the HTTP status."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        return f"not a JSON object with the single key 'error': {body!r}"
    error = body["error"]
    if is_libre_path(path):
        if not (isinstance(error, str) and error):
            return f"LibreTranslate route: 'error' must be a non-empty string: {body!r}"
        return None
    if not isinstance(error, dict) or not {"code", "message", "status"} <= set(error):
        return f"native route: 'error' must hold code, message and status: {body!r}"
    if not (isinstance(error["code"], str) and error["code"]):
        return f"native route: 'code' must be a non-empty string: {body!r}"
    if not (isinstance(error["message"], str) and error["message"]):
        return f"native route: 'message' must be a non-empty string: {body!r}"
    if error["status"] != status:
        return f"native route: 'status' {error['status']!r} differs from the HTTP status {status}: {body!r}"
    return None


def error_problem(path: str, status: int, content_type: str, content: bytes) -> str | None:
    """None for an answer below 400, or a 4xx with the documented shape; otherwise what is wrong with it."""
    if status >= 500:
        return f"server error {status}: {content[:500]!r}"
    if status < 400:
        return None
    if not content_type.startswith("application/json"):
        return f"{status} answered as {content_type!r}: {content[:200]!r}"
    try:
        body = json.loads(content)
    except ValueError:
        return f"{status} with a body that is not JSON: {content[:200]!r}"
    return documented_error(path, status, body)


def response_problem(path: str, response: httpx.Response) -> str | None:
    return error_problem(path, response.status_code, response.headers.get("content-type", ""), response.content)


@contextmanager
def collections_paused() -> Iterator[None]:
    """No garbage-cycle collection in this (the test) process inside the block. With torch (from training the
    tiny model), hypothesis and schemathesis loaded, one full collection here takes 680-890 ms, during which a
    prober thread can neither send nor time anything; freezing the heap was not enough (hypothesis' own state
    grows with the examples). The server's collections are unaffected: its loop-lag histogram sees them."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def lag_counts(exposition: str) -> tuple[float, float]:
    """(wake-ups at most 100 ms late, all wake-ups) of nmt_event_loop_lag_seconds."""
    return (
        metric_value(exposition, f'nmt_event_loop_lag_seconds_bucket{{le="{LAG_BOUND_S}"}}'),
        metric_value(exposition, "nmt_event_loop_lag_seconds_count"),
    )


@dataclass
class Observation:
    """What a LoopWatch saw: /healthz latencies and the loop-lag histogram's growth over the window."""

    probes: list[float] = field(default_factory=list)
    failed_probes: list[str] = field(default_factory=list)
    wakeups: float = 0.0
    late_wakeups: float = 0.0
    own_gc_pauses: list[float] = field(default_factory=list)  # the test process's full collections

    @property
    def slowest_probe(self) -> float:
        return max(self.probes, default=0.0)

    @property
    def responsive(self) -> bool:
        return not self.failed_probes and self.slowest_probe < HEALTHZ_BOUND_S and self.late_wakeups == 0

    def describe(self) -> str:
        return (
            f"{len(self.probes)} /healthz probes, slowest {self.slowest_probe * 1000:.0f} ms"
            f" ({sum(p >= HEALTHZ_BOUND_S for p in self.probes)} over {HEALTHZ_BOUND_S * 1000:.0f} ms),"
            f" failed {self.failed_probes[:3]}; {self.late_wakeups:.0f} of {self.wakeups:.0f} loop wake-ups"
            f" over {LAG_BOUND_S * 1000:.0f} ms late; in the test process {len(self.own_gc_pauses)} full"
            f" collections, longest {max(self.own_gc_pauses, default=0.0) * 1000:.0f} ms"
        )


class LoopWatch:
    """From `start()` to `stop()`: a thread polls GET /healthz every 20 ms and times each answer, and the
    loop-lag histogram is read at both ends (a wake-up over 100 ms late means something held the loop)."""

    def __init__(self, base: str, interval_s: float = 0.02):
        self.base = base
        self.interval_s = interval_s
        self.observation = Observation()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lag_before = (0.0, 0.0)
        self._stopped = False
        self._gc_started = 0.0

    def start(self) -> LoopWatch:
        self._lag_before = lag_counts(httpx.get(f"{self.base}/metrics", timeout=10).text)
        gc.callbacks.append(self._on_gc)
        self._thread = threading.Thread(target=self._poll, name="healthz-prober", daemon=True)
        self._thread.start()
        return self

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._gc_started = time.perf_counter()
            else:
                self.observation.own_gc_pauses.append(time.perf_counter() - self._gc_started)

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as prober:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    status = prober.get("/healthz").status_code
                except httpx.HTTPError as exc:
                    self.observation.failed_probes.append(repr(exc))
                else:
                    self.observation.probes.append(time.perf_counter() - start)
                    if status != 200:
                        self.observation.failed_probes.append(f"status {status}")
                self._stop.wait(self.interval_s)

    def stop(self) -> Observation:
        """Ends the window (once: later calls return the same observation)."""
        if self._stopped:
            return self.observation
        self._stopped = True
        self._stop.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._thread is not None:
            self._thread.join()
        after = lag_counts(httpx.get(f"{self.base}/metrics", timeout=10).text)
        self.observation.wakeups = after[1] - self._lag_before[1]
        self.observation.late_wakeups = self.observation.wakeups - (after[0] - self._lag_before[0])
        return self.observation
