"""Everything one serving process owns, with its start-up and drain sequences.

Kept apart from the FastAPI wiring so that `python -m service` (SIGTERM handling) and the
lifespan (shutdown) share one drain implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from service.documents.jobs import JobStore, open_job_store
from service.documents.worker import DocumentWorker
from service.edge.ratelimit import RateLimiter
from service.engine.backends import Engine
from service.engine.cache import TranslationCache
from service.engine.glossaries import open_store
from service.engine.queue import WorkQueue
from service.engine.scheduler import Scheduler
from service.engine.translator import Translator
from service.errors import NotReady
from service.settings import Settings
from service.text.detection import LazyDetector

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine: Engine | None = None
        self.queue = WorkQueue(settings.max_queue)
        self.scheduler = Scheduler(
            self.queue,
            settings.batching_mode,
            settings.max_batch_rows,
            settings.max_batch_tokens,
            settings.static_max_batch,
            settings.static_max_wait_ms / 1000.0,
            settings.admit_waiting_ratio,
            settings.admit_max_steps,
            settings.bulk_row_share,
            settings.bulk_alone_row_share,
        )
        self.cache = TranslationCache(
            int(settings.cache_memory_mb * 1024 * 1024),
            settings.redis_url,
            settings.cache_ttl_seconds,
            settings.redis_timeout_s,
        )
        self.limiter = RateLimiter(settings)
        self.glossaries = open_store(settings.redis_url, settings.cache_key_prefix, settings.max_glossaries)
        self.documents: JobStore = open_job_store(
            settings.redis_url,
            settings.cache_key_prefix,
            settings.document_ttl_s,
            settings.redis_timeout_s,
            settings.document_claim_idle_s,
        )
        self._document_workers: list[asyncio.Task[None]] = []
        self._translator: Translator | None = None
        self.warm = False
        self.draining = False

    @property
    def ready(self) -> bool:
        return self.engine is not None and self.warm and self.scheduler.running and not self.draining

    @property
    def translator(self) -> Translator:
        if self._translator is None:
            raise NotReady("models are still loading")
        return self._translator

    async def start(self) -> None:
        """Load and verify every bundle, warm each up, then start the scheduler (readiness follows)."""
        s = self.settings
        intra = s.ort_intra_threads
        self.engine = await asyncio.to_thread(Engine.load, s.model_dir, s.device, intra, s.precision, s.cuda_tf32)
        await asyncio.to_thread(self.engine.warm_up)
        self.warm = True
        self._translator = Translator(self.engine, self.queue, self.cache, s)
        self.scheduler.start()
        log.info(
            "ready: %d model(s), directions %s, batching=%s, cache=%s",
            len(self.engine.models),
            ",".join(sorted(self.engine.by_direction)),
            s.batching_mode,
            "memory+redis" if s.redis_url else "memory",
        )

    def start_documents(self, detector: LazyDetector) -> None:
        """DOCUMENT_WORKERS workers take document jobs from the (shared, with Redis) queue."""
        name = f"{socket.gethostname()}-{os.getpid()}"
        for n in range(self.settings.document_workers):
            worker = DocumentWorker(
                self.documents, lambda: self.translator, self.glossaries, detector, self.settings, f"{name}-{n}"
            )
            self._document_workers.append(asyncio.create_task(worker.run(), name=f"documents-{n}"))

    async def stop_documents(self) -> None:
        """A job in progress stays claimed in the queue: with Redis, another replica takes it over."""
        for task in self._document_workers:
            task.cancel()
        for task in self._document_workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._document_workers.clear()

    def begin_drain(self) -> None:
        """Readiness turns 503 and new work is refused; work already accepted carries on."""
        if not self.draining:
            log.info("draining: refusing new work, finishing in-flight requests")
        self.draining = True
        if self._translator is not None:
            self._translator.accepting = False

    def busy(self) -> bool:
        active = self._translator.active_requests if self._translator is not None else 0
        return active > 0 or not self.scheduler.idle()

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until every accepted request is answered; True when nothing was cut short."""
        self.begin_drain()
        await self.stop_documents()  # a job in progress waits in the queue for a replica that stays
        deadline = time.monotonic() + timeout
        while self.busy() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.busy():
            log.warning("drain timeout (%.1fs) reached with work in flight", timeout)
            return False
        return True

    async def stop(self) -> None:
        # After a SIGTERM drain this returns at once; it only waits when shutdown came another way.
        if not self.draining or self.busy():
            await self.drain(self.settings.drain_timeout_s if not self.draining else 1.0)
        await self.stop_documents()
        await asyncio.to_thread(self.scheduler.stop)
        await self.cache.close()
        await self.limiter.close()
        await self.glossaries.close()
        await self.documents.close()
        log.info("stopped")
