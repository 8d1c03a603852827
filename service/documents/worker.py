"""The worker that translates document jobs, one at a time per worker, as bulk work.

A job's units go to the translator in chunks, so progress moves as they are done and interactive requests keep
their place in the decoder (bulk work holds at most BULK_ROW_SHARE of the rows). A full queue makes the worker wait
and try again, never fails the job; a file that turns out bad, or an unknown direction, fails it with the usual
error shape in its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable

from service.documents.formats import extract
from service.documents.jobs import Claim, ClaimLost, Job, JobStore
from service.documents.limits import DocumentLimits
from service.edge.http_errors import http_status
from service.engine.formats import translate_texts
from service.engine.glossaries import GlossaryStore, request_glossary
from service.engine.translator import Translator
from service.errors import DeadlineExceeded, EngineFailure, NotFound, Overloaded, ServiceError, UnknownDirection
from service.metrics import DOCUMENT_JOBS, DOCUMENT_QUEUE_DEPTH, DOCUMENT_SEGMENTS
from service.settings import Settings
from service.text.detection import LazyDetector, detect_within
from service.validation import AUTO_SOURCE

log = logging.getLogger(__name__)
CHUNK_UNITS = 16  # units per translation call: progress moves at least this often
_TAGS = re.compile(r"<[^>]*>")
_RETRY_S = 0.5


def limits_of(settings: Settings) -> DocumentLimits:
    return DocumentLimits(
        max_bytes=settings.max_document_bytes,
        max_unpacked_bytes=settings.max_document_unpacked_bytes,
        max_units=settings.max_document_segments,
    )


class DocumentWorker:
    def __init__(
        self,
        store: JobStore,
        translator: Callable[[], Translator],
        glossaries: GlossaryStore,
        detector: LazyDetector,
        settings: Settings,
        consumer: str,
    ):
        self.store = store
        self.translator = translator
        self.glossaries = glossaries
        self.detector = detector
        self.settings = settings
        self.consumer = consumer

    async def run(self) -> None:
        while True:
            try:
                async for claim in self.store.claims(self.consumer):
                    await self.work(claim)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis gone for a moment: the jobs wait in the stream, the worker comes back
                log.exception("document worker: the job queue failed; retrying")
                await asyncio.sleep(1.0)

    async def work(self, claim: Claim) -> None:
        job = await self.store.get(claim.job_id)
        data = await self.store.input(claim.job_id) if job is not None else None
        if job is None or job.status in ("done", "error"):
            await claim.done()  # expired, or finished by a worker that died before acknowledging it
            return
        if data is None:
            await self._fail(job, NotFound("the uploaded file expired before the job ran", code="document_expired"))
            await claim.done()
            return
        work = asyncio.create_task(self._translate(job, data))
        keeper = asyncio.create_task(self._keep(claim, work))
        try:
            await work
        except asyncio.CancelledError:
            if keeper.done() and not keeper.cancelled() and isinstance(keeper.exception(), ClaimLost):
                log.warning("document job %s was taken over by another replica", job.id)
                return  # theirs now: neither answered nor acknowledged here
            work.cancel()
            raise  # shutting down: the claim stays pending, another replica takes the job over
        except ServiceError as exc:
            await self._fail(job, exc)
        except Exception as exc:
            log.exception("document job %s failed", job.id)
            await self._fail(job, EngineFailure(f"the document could not be translated: {type(exc).__name__}"))
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await claim.done()
        DOCUMENT_QUEUE_DEPTH.set(await self.store.depth())

    async def _keep(self, claim: Claim, work: asyncio.Task[None]) -> None:
        """Claim the job again every third of CLAIM_IDLE_S; if another replica took it over, stop the work."""
        while True:
            await asyncio.sleep(max(0.5, self.settings.document_claim_idle_s / 3))
            try:
                await claim.keep()
            except ClaimLost:
                work.cancel()
                raise
            except Exception:  # Redis away for a moment: try again next time
                log.warning("document job %s: could not renew its claim", claim.job_id)

    async def _translate(self, job: Job, data: bytes) -> None:
        job.status, job.started_at, job.segments_done = "translating", time.time(), 0
        await self.store.save(job)
        extracted = await asyncio.to_thread(extract, job.filename, data, limits_of(self.settings))
        units = extracted.units
        job.segments_total = len(units)
        job.characters = sum(len(_TAGS.sub("", u)) for u in units)
        source = job.source
        if source == AUTO_SOURCE:
            sample = "\n".join(_TAGS.sub(" ", u) for u in units[:200])
            found = await detect_within(self.detector, sample, self.settings)
            if not found:
                raise UnknownDirection("no language can be detected: no model is loaded")
            source = job.detected_language = found[0].language
        translator = self.translator()
        translator.engine.resolve(source, job.target)  # an unknown direction fails the job before any work
        glossary = await request_glossary(
            self.glossaries, job.owner, source, job.target, None, job.options.get("glossary_id"), self.settings
        )
        literals = tuple(job.options.get("do_not_translate", ()))
        protect = bool(job.options.get("protect", True))
        await self.store.save(job)
        translations: list[str] = []
        for start in range(0, len(units), CHUNK_UNITS):
            chunk = units[start : start + CHUNK_UNITS]
            while True:
                try:
                    results = await translate_texts(
                        translator,
                        source,
                        job.target,
                        chunk,
                        extracted.unit_format,
                        None,
                        protect,
                        literals,
                        glossary,
                        priority="bulk",
                    )
                    break
                except (Overloaded, DeadlineExceeded):  # other work came first: wait, the job is not at fault
                    await asyncio.sleep(_RETRY_S)
            # a unit that failed alone, or came back without any text, stays as it was: nothing is lost
            translations += [
                r.text if _TAGS.sub("", r.text).strip() else u for r, u in zip(results, chunk, strict=True)
            ]
            DOCUMENT_SEGMENTS.inc(len(chunk))
            job.segments_done = len(translations)
            await self.store.save(job)
        output = await asyncio.to_thread(extracted.rebuild, translations)
        job.status, job.finished_at = "done", time.time()
        await self.store.put_result(job, output)
        DOCUMENT_JOBS.labels("done").inc()

    async def _fail(self, job: Job, error: ServiceError) -> None:
        job.status, job.finished_at = "error", time.time()
        job.error = {"code": error.code, "message": error.message, "status": http_status(error)}
        await self.store.save(job)
        DOCUMENT_JOBS.labels("error").inc()


def _kept(translation: str, unit: str) -> str:
    return translation if _TAGS.sub("", translation).strip() else unit
