"""Stored glossaries: in Redis when REDIS_URL is set (every replica sees the same ones), in memory otherwise.

A glossary belongs to its owner: with API_KEYS on, the key that created it (kept as a digest, never the key
itself); without keys, everyone. Another owner's glossary is answered exactly like an unknown id (404), so
ids cannot be probed. Ids are random (128 bits).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis

from service.errors import InvalidRequest, NotFound, PayloadTooLarge, StoreUnavailable
from service.redis_client import fail_fast_redis
from service.settings import Settings
from service.text.glossary import EMPTY, Glossary, check_glossary

_STORE_TIMEOUT_S = 1.0
_INLINE_BUILD_ENTRIES = 100  # glossaries up to this size are built on the event loop (microseconds)
T = TypeVar("T")


@dataclass(frozen=True)
class StoredGlossary:
    glossary_id: str
    name: str
    source: str
    target: str
    entries: dict[str, str]
    created: str

    @property
    def entry_count(self) -> int:
        return len(self.entries)

    @property
    def glossary(self) -> Glossary:
        """Built once per stored glossary (its entries never change: ids are random and there is no update)."""
        found = _COMPILED.get(self.glossary_id)
        if found is None:
            found = _COMPILED[self.glossary_id] = Glossary(tuple(self.entries.items()))
            while len(_COMPILED) > _COMPILED_KEPT:
                _COMPILED.pop(next(iter(_COMPILED)))
        return found


_COMPILED_KEPT = 64
_COMPILED: dict[str, Glossary] = {}  # glossary_id -> its matcher, oldest first


def owner_of(api_key: str) -> str:
    """Who a glossary belongs to: a digest of the API key ("" when keys are off)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32] if api_key else ""


def new_glossary(name: str, source: str, target: str, entries: dict[str, str]) -> StoredGlossary:
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return StoredGlossary(uuid.uuid4().hex, name, source, target, entries, created)


def _not_found(glossary_id: str) -> NotFound:
    return NotFound(f"glossary {glossary_id!r} not found", code="glossary_not_found")


class GlossaryStore(Protocol):
    async def create(self, owner: str, glossary: StoredGlossary) -> None: ...
    async def get(self, owner: str, glossary_id: str) -> StoredGlossary:
        """The glossary, or NotFound (also for another owner's)."""
        ...

    async def list(self, owner: str) -> list[StoredGlossary]: ...
    async def delete(self, owner: str, glossary_id: str) -> None:
        """NotFound when there is no such glossary of this owner."""
        ...

    async def close(self) -> None: ...


class MemoryGlossaryStore:
    """One replica's glossaries, lost on restart: for a single process without Redis."""

    def __init__(self, max_per_owner: int):
        self.max_per_owner = max_per_owner
        self._owners: dict[str, OrderedDict[str, StoredGlossary]] = {}

    async def create(self, owner: str, glossary: StoredGlossary) -> None:
        mine = self._owners.setdefault(owner, OrderedDict())
        if len(mine) >= self.max_per_owner:
            raise _too_many(self.max_per_owner)
        mine[glossary.glossary_id] = glossary

    async def get(self, owner: str, glossary_id: str) -> StoredGlossary:
        found = self._owners.get(owner, OrderedDict()).get(glossary_id)
        if found is None:
            raise _not_found(glossary_id)
        return found

    async def list(self, owner: str) -> list[StoredGlossary]:
        return list(self._owners.get(owner, OrderedDict()).values())

    async def delete(self, owner: str, glossary_id: str) -> None:
        if self._owners.get(owner, OrderedDict()).pop(glossary_id, None) is None:
            raise _not_found(glossary_id)

    async def close(self) -> None:
        return None


def _too_many(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"at most {limit} stored glossaries per key (MAX_GLOSSARIES); delete one first", code="too_many_glossaries"
    )


class RedisGlossaryStore:
    """Glossaries shared by every replica: `{prefix}glossary:{owner}:{id}` holds one as JSON, and the sorted set
    `{prefix}glossaries:{owner}` its ids by creation time. Redis down answers 503 (never a wrong 404)."""

    def __init__(self, url: str, prefix: str, max_per_owner: int):
        self.prefix = prefix
        self.max_per_owner = max_per_owner
        self.client = fail_fast_redis(url, _STORE_TIMEOUT_S)

    def _key(self, owner: str, glossary_id: str) -> str:
        return f"{self.prefix}glossary:{owner}:{glossary_id}"

    def _index(self, owner: str) -> str:
        return f"{self.prefix}glossaries:{owner}"

    async def _call(self, work: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(work, _STORE_TIMEOUT_S * 2)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"the glossary store is unavailable ({type(exc).__name__}); retry later") from exc

    async def create(self, owner: str, glossary: StoredGlossary) -> None:
        if await self._call(self.client.zcard(self._index(owner))) >= self.max_per_owner:
            raise _too_many(self.max_per_owner)
        raw = json.dumps(asdict(glossary), ensure_ascii=False)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._key(owner, glossary.glossary_id), raw)
            pipe.zadd(self._index(owner), {glossary.glossary_id: datetime.now(UTC).timestamp()})
            await self._call(pipe.execute())

    async def get(self, owner: str, glossary_id: str) -> StoredGlossary:
        if not glossary_id.isalnum():  # ids are hex: anything else cannot be one (and never reaches a key)
            raise _not_found(glossary_id)
        raw = await self._call(self.client.get(self._key(owner, glossary_id)))
        if raw is None:
            raise _not_found(glossary_id)
        return StoredGlossary(**json.loads(raw))

    async def list(self, owner: str) -> list[StoredGlossary]:
        ids = await self._call(self.client.zrange(self._index(owner), 0, -1))
        if not ids:
            return []
        keys = [self._key(owner, i.decode() if isinstance(i, bytes) else str(i)) for i in ids]
        raws = await self._call(self.client.mget(keys))
        return [StoredGlossary(**json.loads(raw)) for raw in raws if raw is not None]

    async def delete(self, owner: str, glossary_id: str) -> None:
        if not glossary_id.isalnum():
            raise _not_found(glossary_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(owner, glossary_id))
            pipe.zrem(self._index(owner), glossary_id)
            deleted, _ = await self._call(pipe.execute())
        if not deleted:
            raise _not_found(glossary_id)

    async def close(self) -> None:
        await self.client.aclose()


def open_store(redis_url: str | None, prefix: str, max_per_owner: int) -> GlossaryStore:
    if redis_url:
        return RedisGlossaryStore(redis_url, prefix, max_per_owner)
    return MemoryGlossaryStore(max_per_owner)


async def request_glossary(
    store: GlossaryStore,
    owner: str,
    source: str,
    target: str,
    inline: Any,
    glossary_id: str | None,
    settings: Settings,
) -> Glossary:
    """The glossary a translation request asks for: a stored one (its direction must be the request's), the
    inline entries, or both (an inline entry wins over a stored one for the same source term)."""
    entries: dict[str, str] = {}
    if glossary_id is not None:
        stored = await store.get(owner, glossary_id)
        if (stored.source, stored.target) != (source, target):
            raise InvalidRequest(
                f"glossary_id: glossary {glossary_id!r} is for {stored.source}->{stored.target},"
                f" not {source}->{target}",
                code="glossary_direction",
            )
        if inline is None:
            return await _off_the_loop(lambda: stored.glossary, len(stored.entries))
        entries.update(stored.entries)
    if inline is None:
        return EMPTY
    limits = settings.max_glossary_entries, settings.max_term_chars
    checked = await _off_the_loop(lambda: check_glossary(inline, *limits), len(inline))
    entries.update(checked.entries)
    if len(entries) == len(checked.entries):
        return checked
    return await _off_the_loop(lambda: check_glossary(entries, *limits), len(entries))


async def checked_glossary(entries: Any, settings: Settings, field: str = "glossary") -> Glossary:
    """`check_glossary` with the service's bounds, in a thread for a large glossary."""
    limits = settings.max_glossary_entries, settings.max_term_chars
    size = len(entries) if isinstance(entries, dict) else 0
    return await _off_the_loop(lambda: check_glossary(entries, *limits, field=field), size)


async def _off_the_loop(build: Callable[[], Glossary], entries: int) -> Glossary:
    """A glossary of many entries is checked and its trie built in a thread: that is milliseconds of work,
    which the event loop (every other request's) must not wait for."""
    return build() if entries <= _INLINE_BUILD_ENTRIES else await asyncio.to_thread(build)
