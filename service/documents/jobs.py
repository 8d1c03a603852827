"""Document jobs: their state, their files and the queue that hands them to workers.

Without Redis a job lives in this process (one replica). With Redis, state, files and the queue are shared by all
replicas: the queue is a Redis Stream read through a consumer group, so each job goes to one worker; a worker that
holds a job keeps claiming it (XCLAIM resets its idle time), and a job whose worker died (idle past CLAIM_IDLE_S)
is taken over by another replica's worker with XAUTOCLAIM. A job taken over starts again; what its first worker
translated is in the shared translation cache, so it costs little the second time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from service.redis_client import fail_fast_redis

Status = Literal["queued", "translating", "done", "error"]
MAX_DELIVERIES = 3  # a job that took down this many workers is failed, not handed to another


class ClaimLost(Exception):
    """Another replica took the job over (this one was thought dead): stop working on it."""


@dataclass
class Job:
    id: str
    key_digest: str  # sha256 of the document key: the key itself is never stored
    filename: str
    extension: str
    source: str
    target: str
    owner: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # glossary_id, do_not_translate, protect
    status: Status = "queued"
    segments_done: int = 0
    segments_total: int = 0
    characters: int = 0
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    detected_language: str | None = None

    def opens_with(self, key: str) -> bool:
        return hmac.compare_digest(self.key_digest, digest(key))

    def seconds_remaining(self) -> float | None:
        if self.status == "done":
            return 0.0
        if self.status != "translating" or not self.started_at or not self.segments_done:
            return None
        rate = self.segments_done / max(1e-3, time.time() - self.started_at)
        return round((self.segments_total - self.segments_done) / rate, 1)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_job(**fields: Any) -> tuple[Job, str]:
    """A job with a fresh id and key; the key is returned once, to the client."""
    key = secrets.token_urlsafe(24)
    return Job(id=uuid.uuid4().hex, key_digest=digest(key), **fields), key


class JobStore(Protocol):
    async def submit(self, job: Job, data: bytes) -> None: ...
    async def get(self, job_id: str) -> Job | None: ...
    async def save(self, job: Job) -> None: ...
    async def input(self, job_id: str) -> bytes | None: ...
    async def put_result(self, job: Job, data: bytes) -> None: ...
    async def result(self, job_id: str) -> bytes | None: ...
    def claims(self, consumer: str) -> AsyncIterator[Claim]: ...
    async def depth(self) -> int: ...
    async def close(self) -> None: ...


@dataclass
class Claim:
    """A job handed to one worker: `keep()` while working on it, `done()` when it is finished either way."""

    job_id: str
    store: JobStore
    token: str = ""  # the stream message's id
    consumer: str = ""

    async def keep(self) -> None:
        keep = getattr(self.store, "keep", None)
        if keep is not None:
            await keep(self)

    async def done(self) -> None:
        finish = getattr(self.store, "finish", None)
        if finish is not None:
            await finish(self)


class MemoryJobStore:
    """One process: jobs and files in dictionaries, expired after `ttl_s`; an asyncio queue."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._jobs: dict[str, Job] = {}
        self._files: dict[str, bytes] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    def _expire(self) -> None:
        cutoff = time.time() - self.ttl_s
        for job_id in [j.id for j in self._jobs.values() if j.finished_at is not None and j.finished_at < cutoff]:
            del self._jobs[job_id]
            self._files.pop(f"{job_id}:in", None)
            self._files.pop(f"{job_id}:out", None)

    async def submit(self, job: Job, data: bytes) -> None:
        self._expire()
        self._jobs[job.id] = job
        self._files[f"{job.id}:in"] = data
        self._queue.put_nowait(job.id)

    async def get(self, job_id: str) -> Job | None:
        self._expire()
        return self._jobs.get(job_id)

    async def save(self, job: Job) -> None:
        self._jobs[job.id] = job

    async def input(self, job_id: str) -> bytes | None:
        return self._files.get(f"{job_id}:in")

    async def put_result(self, job: Job, data: bytes) -> None:
        self._files[f"{job.id}:out"] = data
        self._files.pop(f"{job.id}:in", None)

    async def result(self, job_id: str) -> bytes | None:
        self._expire()
        return self._files.get(f"{job_id}:out")

    async def claims(self, consumer: str) -> AsyncIterator[Claim]:
        while True:
            yield Claim(await self._queue.get(), self)

    async def depth(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        return None


class RedisJobStore:
    """Every replica: job state as JSON, files as bytes (both expiring after `ttl_s`), and a Redis Stream of job
    ids read through the consumer group GROUP."""

    GROUP = "workers"

    def __init__(self, url: str, prefix: str, ttl_s: float, timeout_s: float, claim_idle_s: float):
        self.redis = fail_fast_redis(url, max(timeout_s, 2.0))
        self.blocking = aioredis.Redis.from_url(url)  # XREADGROUP BLOCK waits longer than a request may
        self.prefix = f"{prefix}doc:"
        self.stream = f"{self.prefix}queue"
        self.ttl = max(1, int(ttl_s))
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self._group_ready = False

    def _key(self, job_id: str, part: str = "") -> str:
        return f"{self.prefix}{job_id}{part}"

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def submit(self, job: Job, data: bytes) -> None:
        await self._ensure_group()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(job.id), json.dumps(asdict(job)), ex=self.ttl)
            pipe.set(self._key(job.id, ":in"), data, ex=self.ttl)
            pipe.xadd(self.stream, {"job": job.id})
            await pipe.execute()

    async def get(self, job_id: str) -> Job | None:
        raw = await self.redis.get(self._key(job_id))
        return Job(**json.loads(raw)) if raw else None

    async def save(self, job: Job) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key(job.id), json.dumps(asdict(job)), ex=self.ttl)
            pipe.expire(self._key(job.id, ":in"), self.ttl)  # an unfinished job keeps its file
            await pipe.execute()

    async def input(self, job_id: str) -> bytes | None:
        data: Any = await self.redis.get(self._key(job_id, ":in"))
        return bytes(data) if data is not None else None

    async def put_result(self, job: Job, data: bytes) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(job.id, ":out"), data, ex=self.ttl)
            pipe.set(self._key(job.id), json.dumps(asdict(job)), ex=self.ttl)
            await pipe.execute()

    async def result(self, job_id: str) -> bytes | None:
        data: Any = await self.redis.get(self._key(job_id, ":out"))
        return bytes(data) if data is not None else None

    async def claims(self, consumer: str) -> AsyncIterator[Claim]:
        """Jobs for this worker: first those whose worker went silent (scanning the whole pending list), then new
        ones. A job already delivered MAX_DELIVERIES times is failed instead."""
        await self._ensure_group()
        cursor = "0-0"
        while True:
            found: Any = await self.blocking.xautoclaim(
                self.stream, self.GROUP, consumer, min_idle_time=self.claim_idle_ms, start_id=cursor, count=1
            )
            cursor = _text(found[0])
            stolen = [m for m in found[1] if m and m[1]]  # a deleted message comes back without fields
            if stolen:
                token, fields = stolen[0]
                claim = Claim(_text(fields[b"job"]), self, _text(token), consumer)
                if await self._deliveries(claim) > MAX_DELIVERIES:
                    await self._give_up(claim)
                    continue
                yield claim
                continue
            if cursor != "0-0":
                continue  # more of the pending list to look through
            answer: Any = await self.blocking.xreadgroup(self.GROUP, consumer, {self.stream: ">"}, count=1, block=1000)
            for _, messages in answer or []:
                for token, fields in messages:
                    yield Claim(_text(fields[b"job"]), self, _text(token), consumer)

    async def keep(self, claim: Claim) -> None:
        """Still working on it: reset the message's idle time, so no other replica takes it over; ClaimLost when
        one already has."""
        pending: Any = await self.redis.xpending_range(self.stream, self.GROUP, claim.token, claim.token, 1)
        if not pending or _text(pending[0]["consumer"]) != claim.consumer:
            raise ClaimLost(claim.job_id)
        await self.redis.xclaim(self.stream, self.GROUP, claim.consumer, 0, [claim.token], justid=True)

    async def _deliveries(self, claim: Claim) -> int:
        pending: Any = await self.redis.xpending_range(self.stream, self.GROUP, claim.token, claim.token, 1)
        return int(pending[0]["times_delivered"]) if pending else 0

    async def _give_up(self, claim: Claim) -> None:
        job = await self.get(claim.job_id)
        if job is not None and job.status not in ("done", "error"):
            job.status, job.finished_at = "error", time.time()
            job.error = {
                "code": "document_failed",
                "message": f"the job stopped its worker {MAX_DELIVERIES} times; it is not tried again",
                "status": 500,
            }
            await self.save(job)
        await self.finish(claim)

    async def finish(self, claim: Claim) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.GROUP, claim.token)
            pipe.xdel(self.stream, claim.token)
            await pipe.execute()

    async def depth(self) -> int:
        await self._ensure_group()
        groups: Any = await self.redis.xinfo_groups(self.stream)
        group = next((g for g in groups if _text(g["name"]) == self.GROUP), None)
        lag = group.get("lag") if group else 0
        pending = group.get("pending", 0) if group else 0
        return int(lag or 0) + int(pending or 0)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.blocking.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def open_job_store(redis_url: str | None, prefix: str, ttl_s: float, timeout_s: float, claim_idle_s: float) -> JobStore:
    if redis_url:
        return RedisJobStore(redis_url, prefix, ttl_s, timeout_s, claim_idle_s)
    return MemoryJobStore(ttl_s)
