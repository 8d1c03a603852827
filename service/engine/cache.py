"""Two-tier translation cache: a bounded in-process LRU in front of an optional Redis.

Entries are per sentence, keyed by a hash of everything that determines the output (model id and
version, direction, decoding options, normalised text). Redis is an optimisation, never a
dependency: every Redis failure is counted, bypassed, and followed by a back-off before the next
try, so a dead or slow Redis costs at most one short timeout now and then, never a failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import marshal
import sys
import threading
import time
from collections import OrderedDict

from service.engine.results import SentenceResult
from service.metrics import CACHE_HITS, CACHE_MISSES, REDIS_ERRORS
from service.redis_client import fail_fast_redis

log = logging.getLogger(__name__)

_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 30.0


def cache_key(
    prefix: str,
    model_id: str,
    model_version: str,
    source: str,
    target: str,
    options: dict[str, object],
    normalized_text: str,
) -> str:
    digest = hashlib.sha256(_namespace(model_id, model_version, source, target, tuple(sorted(options.items()))))
    digest.update(normalized_text.encode())
    return prefix + digest.hexdigest()


@functools.lru_cache(maxsize=1024)
def _namespace(
    model_id: str, model_version: str, source: str, target: str, options: tuple[tuple[str, object], ...]
) -> bytes:
    """Everything but the text, serialised once per distinct request shape (it is on every cache lookup)."""
    return (
        json.dumps(
            [model_id, model_version, source, target, dict(options)],
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        + b"\x00"
    )


# What an entry costs besides its key and value objects: the dict slot and index, and the
# OrderedDict's link node, amortised over the table (measured with tracemalloc on CPython 3.11: 66 to
# 168 bytes per entry, depending on how full the table is and how much it churned; the middle is charged).
_SLOT_OVERHEAD = 128


def _encode(result: SentenceResult) -> bytes:
    """The compact in-process form: marshal of the fields (about 2.7 us to load, half JSON's time).

    Only bytes this process produced are ever loaded back with marshal; Redis values stay JSON.
    """
    return marshal.dumps(
        (result.text, result.source_pieces, result.target_pieces, result.alignment, result.alternatives)
    )


def _decode(raw: bytes) -> SentenceResult:
    return SentenceResult(*marshal.loads(raw))


class MemoryTier:
    """LRU bounded by the memory its entries really take.

    It keeps each result as compact bytes and decodes them on a hit: the decoded objects (a str
    per piece, an int per alignment index) take about 6x the bytes, so charging the serialised size
    while keeping the objects let a 64 MB tier hold about 400 MB. An entry is charged its key and
    value objects (`sys.getsizeof`) plus the measured container overhead, which tracemalloc agrees
    with to within a few percent (tests/test_cache_memory.py). A hit also returns fresh objects, so
    no caller can alter what the next one gets.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        """What the entries take, as charged against `max_bytes`."""
        return self._bytes

    @staticmethod
    def cost(key: str, raw: bytes) -> int:
        return sys.getsizeof(key) + sys.getsizeof(raw) + _SLOT_OVERHEAD

    def get(self, key: str) -> SentenceResult | None:
        with self._lock:
            raw = self._items.get(key)
            if raw is None:
                return None
            self._items.move_to_end(key)
        return _decode(raw)

    def put(self, key: str, value: SentenceResult) -> None:
        if not self.enabled:
            return
        raw = _encode(value)
        cost = self.cost(key, raw)
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self.cost(key, old)
            self._items[key] = raw
            self._bytes += cost
            while self._bytes > self.max_bytes:
                evicted_key, evicted = self._items.popitem(last=False)
                self._bytes -= self.cost(evicted_key, evicted)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


class RedisTier:
    """Redis with short timeouts, no client-side retries, and a back-off after each failure."""

    def __init__(self, url: str, ttl_seconds: int, timeout_s: float = 0.25):
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.timeout_s = timeout_s
        self.client = fail_fast_redis(url, timeout_s)
        self._down_until = 0.0
        self._backoff = _BACKOFF_START_S

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        REDIS_ERRORS.inc()
        if not self.available:
            return  # another request of the same outage already backed off
        self._down_until = time.monotonic() + self._backoff
        log.warning("redis unavailable (%s: %s); bypassing it for %.1fs", type(exc).__name__, exc, self._backoff)
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    def _succeeded(self) -> None:
        if self._backoff != _BACKOFF_START_S:
            log.info("redis reachable again")
        self._backoff = _BACKOFF_START_S

    async def get_many(self, keys: list[str]) -> list[bytes | None] | None:
        """Values in key order, or None when Redis is (or just became) unavailable."""
        if not keys or not self.available:
            return None
        try:
            values = await asyncio.wait_for(self.client.mget(keys), self.timeout_s * 2)
        except Exception as exc:  # any failure, timeout included: bypass, never raise
            self._failed(exc)
            return None
        self._succeeded()
        return [v.encode() if isinstance(v, str) else v for v in values]

    async def set_many(self, items: dict[str, bytes]) -> None:
        if not items or not self.available:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, ex=self.ttl_seconds)
                await asyncio.wait_for(pipe.execute(), self.timeout_s * 2)
        except Exception as exc:
            self._failed(exc)
            return
        self._succeeded()

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing left to do
            await self.client.aclose()


class TranslationCache:
    def __init__(
        self, memory_bytes: int, redis_url: str | None = None, ttl_seconds: int = 86400, redis_timeout_s: float = 0.25
    ):
        self.memory = MemoryTier(memory_bytes)
        self.redis = RedisTier(redis_url, ttl_seconds, redis_timeout_s) if redis_url else None

    async def get_many(self, keys: list[str]) -> dict[str, SentenceResult]:
        found: dict[str, SentenceResult] = {}
        missing: list[str] = []
        for key in keys:
            hit = self.memory.get(key)
            if hit is None:
                missing.append(key)
            else:
                found[key] = hit
        if found:
            CACHE_HITS.labels("memory").inc(len(found))
        if missing:
            CACHE_MISSES.labels("memory").inc(len(missing))
        if missing and self.redis is not None:
            values = await self.redis.get_many(missing)
            if values is not None:
                hits = 0
                for key, raw in zip(missing, values, strict=True):
                    if raw is None:
                        continue
                    try:
                        found[key] = SentenceResult.from_json(raw)
                    except (ValueError, KeyError, TypeError):
                        continue  # a foreign or corrupt value is a miss
                    self.memory.put(key, found[key])
                    hits += 1
                if hits:
                    CACHE_HITS.labels("redis").inc(hits)
                if len(missing) - hits:
                    CACHE_MISSES.labels("redis").inc(len(missing) - hits)
        return found

    async def put_many(self, results: dict[str, SentenceResult]) -> None:
        for key, result in results.items():
            self.memory.put(key, result)
        if self.redis is not None:
            await self.redis.set_many({key: result.to_json() for key, result in results.items()})

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
