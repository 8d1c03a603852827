"""The glue between callers and the decoder: sentence splitting, cache, single-flight and scheduler.

`Translator.translate_segments` is the one entry point every front-end uses (the JSON API, and
later the HTML and LibreTranslate endpoints): segments in, `SegmentResult`s out, in order.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from nmt_core.search import Hypothesis, SearchOptions
from service.engine.backends import Engine, LoadedModel, alignment_of
from service.engine.cache import TranslationCache, cache_key
from service.engine.queue import WorkItem, WorkQueue, next_request_id
from service.engine.results import SegmentResult, SentenceResult
from service.errors import DeadlineExceeded, InvalidRequest, ServiceError, ShuttingDown, TextFailed
from service.metrics import SEGMENTS, TOKENS
from service.settings import Settings
from service.text.segmentation import Split, has_letters, normalize, split_sentences
from service.validation import Priority, TranslationOptions

log = logging.getLogger(__name__)

T = TypeVar("T")
SentenceOutcome = SentenceResult | TextFailed
"""What a sentence came to: its translation, or the fault that stopped it (which fails its segment only)."""
_GRACE_S = 0.5  # the scheduler enforces deadlines; this backstop only catches a stuck scheduler

launch_gate: contextvars.ContextVar[asyncio.Future[None] | None] = contextvars.ContextVar("launch_gate", default=None)
"""Set by a caller whose sentences should wait before they are decoded (a streamed request's head start, see
service/api/native.py): cache lookups and single flights still answer at once; sentences that must be decoded
are queued once the future is done."""


@dataclass(eq=False)
class _Flight:
    """One sentence being decoded, shared by every request that waits for it (single flight). It is withdrawn
    from the scheduler when the last of them leaves, not when the one that started it does."""

    outcome: asyncio.Future[SentenceOutcome]
    waiters: int = 1
    item: WorkItem | None = None
    orphaned: bool = False  # the request that started it left: the flight caches its own result


@dataclass(frozen=True)
class Decoding:
    """Effective decoding settings for one request: search options plus the output length cap."""

    search: SearchOptions
    max_length: int
    alternatives: int = 0

    def cache_fields(self) -> dict[str, object]:
        s = self.search
        fields: dict[str, object] = {
            "beam": s.beam_size,
            "lp": s.length_penalty,
            "cp": s.coverage_penalty,
            "ratio": s.max_length_ratio,
            "offset": s.max_length_offset,
            "max_length": self.max_length,
        }
        if self.alternatives:  # only then: entries without alternatives keep their keys
            fields["alt"] = True  # all the beam's runner-ups are kept, so any count shares the entry
        return fields


class Translator:
    def __init__(self, engine: Engine, queue: WorkQueue, cache: TranslationCache, settings: Settings):
        self.engine = engine
        self.queue = queue
        self.cache = cache
        self.settings = settings
        self.accepting = True
        self.active_requests = 0
        self.decoded_sentences = 0  # sentences that went through the decoder (not cache, not shared)
        self._inflight: dict[str, _Flight] = {}
        self._writes: set[asyncio.Task[None]] = set()  # cache writes of orphaned flights, kept referenced

    def decoding_for(
        self, model: LoadedModel, options: TranslationOptions | None, source: str, target: str
    ) -> Decoding:
        options = options or TranslationOptions()
        defaults = model.default_options(f"{source}-{target}")
        alternatives = options.alternatives or 0
        limit = self.settings.max_beam_size
        if alternatives >= limit:
            raise InvalidRequest(
                f"options.alternatives: {alternatives}; at most {limit - 1} (MAX_BEAM_SIZE - 1) on this server",
                code="too_many_alternatives",
            )
        # Never widened for alternatives: asking for them must not change the best translation.
        beam = options.beam_size if options.beam_size is not None else min(defaults.beam_size, limit)
        if beam <= alternatives:
            given = "" if options.beam_size is not None else " (the model's default; set options.beam_size)"
            raise InvalidRequest(
                f"options.alternatives: {alternatives} needs beam_size > {alternatives}, got {beam}{given}",
                code="beam_size_too_small",
            )
        if beam > self.settings.max_beam_size:
            raise InvalidRequest(
                f"options.beam_size: {beam} exceeds the server limit {self.settings.max_beam_size}",
                code="beam_size_too_large",
            )
        max_length = options.max_length if options.max_length is not None else self.settings.max_output_length
        if max_length > self.settings.max_output_length:
            raise InvalidRequest(
                f"options.max_length: {max_length} exceeds the server limit {self.settings.max_output_length}",
                code="max_length_too_large",
            )
        search = SearchOptions(
            beam_size=beam,
            length_penalty=defaults.length_penalty,
            coverage_penalty=defaults.coverage_penalty,
            max_length_ratio=defaults.max_length_ratio,
            max_length_offset=defaults.max_length_offset,
        )
        return Decoding(search, max_length, alternatives)

    def timeout_for(self, priority: Priority) -> float:
        return self.settings.bulk_timeout_s if priority == "bulk" else self.settings.request_timeout_s

    async def translate_segments(
        self,
        source: str,
        target: str,
        segments: list[str],
        options: TranslationOptions | None = None,
        priority: Priority = "interactive",
    ) -> list[SegmentResult]:
        """Translate segments (each split into sentences, cached and batched per sentence), in order.

        Raises ServiceError subclasses only: UnknownDirection (400), InvalidRequest (422),
        Overloaded/ShuttingDown (503), DeadlineExceeded (504).
        """
        if not self.accepting:
            raise ShuttingDown("the server is shutting down")
        model = self.engine.resolve(source, target)
        decoding = self.decoding_for(model, options, source, target)
        self.active_requests += 1
        try:
            return await self._translate(model, source, target, segments, decoding, priority)
        finally:
            self.active_requests -= 1

    async def _translate(
        self,
        model: LoadedModel,
        source: str,
        target: str,
        segments: list[str],
        decoding: Decoding,
        priority: Priority,
    ) -> list[SegmentResult]:
        """Each segment is prepared, and later assembled, on its own: a fault in one (splitting, encoding,
        joining) fails that segment alone, never its neighbours."""
        deadline = time.monotonic() + self.timeout_for(priority)
        fields = decoding.cache_fields()
        prepared: list[tuple[Split, list[str]] | TextFailed] = []
        texts: dict[str, str] = {}
        verbatim: dict[str, SentenceOutcome] = {}
        for segment in segments:
            try:
                split = split_sentences(segment)
                keys = []
                for sentence in split.sentences:
                    if not has_letters(sentence):  # kept as it is, without running the model
                        key = _VERBATIM + sentence
                        verbatim[key] = _verbatim(sentence)
                        keys.append(key)
                        continue
                    text = normalize(sentence)
                    key = cache_key(
                        self.settings.cache_key_prefix,
                        model.model_id,
                        model.model_version,
                        source,
                        target,
                        fields,
                        text,
                    )
                    texts.setdefault(key, text)
                    keys.append(key)
            except Exception:
                prepared.append(_failed("split into sentences"))
                continue
            prepared.append((split, keys))
        found, from_cache = await self._resolve(model, source, target, decoding, texts, deadline, priority)
        found.update(verbatim)
        from_cache.update(verbatim)  # nothing was decoded for them, as for an empty segment
        SEGMENTS.labels(f"{source}-{target}").inc(sum(len(p[1]) for p in prepared if not isinstance(p, TextFailed)))
        return [
            _finish(segment, outcome, found, from_cache, decoding.alternatives)
            for segment, outcome in zip(segments, prepared, strict=True)
        ]

    async def _resolve(
        self,
        model: LoadedModel,
        source: str,
        target: str,
        decoding: Decoding,
        texts: dict[str, str],
        deadline: float,
        priority: Priority,
    ) -> tuple[dict[str, SentenceOutcome], set[str]]:
        """Cache first, then join sentences already being decoded, then decode the rest together."""
        found: dict[str, SentenceOutcome] = dict(await self.cache.get_many(list(texts)))
        from_cache = set(found)
        loop = asyncio.get_running_loop()
        flights: dict[str, _Flight] = {}
        mine: dict[str, _Flight] = {}
        for key in texts:
            if key in found:
                continue
            flight = self._inflight.get(key)
            if flight is not None:
                flight.waiters += 1
                if priority == "interactive" and flight.item is not None and flight.item.priority == "bulk":
                    self.queue.promote(flight.item)  # a person waits for it now (a page scrolled to it)
            else:
                flight = mine[key] = self._inflight[key] = _Flight(loop.create_future())
            flights[key] = flight
        if not flights:
            return found, from_cache
        retry: dict[str, str] = {}
        try:
            try:
                gate = launch_gate.get()
                if mine and gate is not None and not gate.done():
                    await _wait(asyncio.shield(gate), deadline)
                if mine:
                    self._launch(model, source, target, decoding, texts, mine, deadline, priority)
                outcomes = await _wait(_settled([f.outcome for f in flights.values()]), deadline)
            finally:
                for key, flight in flights.items():
                    self._leave(key, flight, started=key in mine)
            for key, outcome in zip(flights, outcomes, strict=True):
                if isinstance(outcome, _Raised):
                    if isinstance(outcome.error, DeadlineExceeded) and time.monotonic() < deadline:
                        retry[key] = texts[key]  # the deadline of the request that started it: decode again
                        continue
                    raise outcome.error
                found[key] = outcome
            written = {k: r for k, r in found.items() if k in mine and isinstance(r, SentenceResult)}
            if written:
                await self.cache.put_many(written)
        finally:
            # A finished sentence stays joinable until it is in the cache; one still running for others
            # (this request left) is cached and let go when it lands.
            for key, flight in mine.items():
                if flight.outcome.done() and self._inflight.get(key) is flight:
                    del self._inflight[key]
        if retry:
            found.update((await self._resolve(model, source, target, decoding, retry, deadline, priority))[0])
        return found, from_cache

    def _launch(
        self,
        model: LoadedModel,
        source: str,
        target: str,
        decoding: Decoding,
        texts: dict[str, str],
        flights: dict[str, _Flight],
        deadline: float,
        priority: Priority,
    ) -> None:
        """Encode the flights' sentences and queue them as one request; each flight lands on its own."""
        loop = asyncio.get_running_loop()
        request_id = next_request_id()
        items: list[WorkItem] = []
        for key, flight in flights.items():
            try:
                ids = model.vocab.source(texts[key], target, self.settings.max_source_pieces)
            except Exception:
                self._inflight.pop(key, None)
                flight.outcome.set_result(_failed("encoded into pieces"))
                continue
            item = WorkItem(
                model,
                ids,
                decoding.search,
                decoding.max_length,
                request_id,
                deadline,
                loop.create_future(),
                loop,
                priority=priority,
            )
            landed = partial(
                self._landed, key, flight, model, ids, texts[key], decoding.alternatives, f"{source}-{target}"
            )
            item.future.add_done_callback(landed)
            flight.item = item
            items.append(item)
        if not items:
            return
        try:
            self.queue.put(items)
        except ServiceError as exc:
            for key, flight in flights.items():
                if self._inflight.get(key) is flight:
                    del self._inflight[key]
                if not flight.outcome.done():
                    flight.outcome.set_exception(exc)
                    flight.outcome.exception()  # retrieved: this request raises it, followers may not exist
            raise

    def _landed(
        self,
        key: str,
        flight: _Flight,
        model: LoadedModel,
        source_ids: list[int],
        sentence: str,
        alternatives: int,
        direction: str,
        done: asyncio.Future[Hypothesis],
    ) -> None:
        """A flight's sentence left the scheduler: its outcome for every waiter."""
        if flight.outcome.done():  # withdrawn meanwhile: nobody waits, but its error counts as seen
            if not done.cancelled():
                done.exception()
            return
        if done.cancelled() or done.exception() is not None:
            if self._inflight.get(key) is flight:
                del self._inflight[key]
            if done.cancelled():
                flight.outcome.cancel()
            else:
                flight.outcome.set_exception(done.exception())  # type: ignore[arg-type]
                flight.outcome.exception()  # retrieved: its waiters may all have left
            return
        hypothesis = done.result()
        self.decoded_sentences += 1
        TOKENS.labels(direction, "source").inc(len(source_ids))
        TOKENS.labels(direction, "target").inc(len(hypothesis.tokens) + 1)
        outcome: SentenceOutcome
        try:
            outcome = _to_result(model, source_ids, sentence, hypothesis, alternatives)
        except Exception:
            outcome = _failed("turned back into text")
        flight.outcome.set_result(outcome)
        if flight.orphaned:  # nobody else caches it
            task = asyncio.get_running_loop().create_task(self._cache_orphan(key, flight, outcome))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _cache_orphan(self, key: str, flight: _Flight, outcome: SentenceOutcome) -> None:
        try:
            if isinstance(outcome, SentenceResult):
                await self.cache.put_many({key: outcome})
        finally:
            if self._inflight.get(key) is flight:
                del self._inflight[key]

    def _leave(self, key: str, flight: _Flight, started: bool) -> None:
        """One request stops waiting for a flight; the last one to leave an unfinished flight withdraws it."""
        flight.waiters -= 1
        flight.orphaned |= started
        if flight.waiters > 0 or flight.outcome.done():
            return
        if self._inflight.get(key) is flight:
            del self._inflight[key]
        flight.outcome.cancel()
        item = flight.item
        if item is not None and not item.future.done():
            item.abandoned = True
            item.future.cancel()
            self.queue.note_abandoned()


@dataclass(frozen=True)
class _Raised:
    """A flight that ended with an exception (a TextFailed outcome is a value, though it is an exception too)."""

    error: BaseException


async def _settled(futures: list[asyncio.Future[SentenceOutcome]]) -> list[SentenceOutcome | _Raised]:
    """Each shared outcome, or the exception it ended with; waiting never cancels the outcomes themselves."""
    await asyncio.gather(*(asyncio.shield(f) for f in futures), return_exceptions=True)
    return [_outcome_of(f) for f in futures]


def _outcome_of(future: asyncio.Future[SentenceOutcome]) -> SentenceOutcome | _Raised:
    if future.cancelled():  # withdrawn while nobody waited: whoever waits now decodes it again
        return _Raised(DeadlineExceeded("the sentence was withdrawn"))
    error = future.exception()
    return _Raised(error) if error is not None else future.result()


async def _wait(awaitable: Awaitable[T], deadline: float) -> T:
    try:
        return await asyncio.wait_for(awaitable, max(0.0, deadline - time.monotonic()) + _GRACE_S)
    except TimeoutError:
        raise DeadlineExceeded("the request deadline passed") from None


_VERBATIM = "\0verbatim\0"  # keys of sentences kept as they are: never a cache key (those start with the prefix)


def _verbatim(sentence: str) -> SentenceResult:
    """A sentence without letters as its own translation, word for word aligned (so markup around it stays)."""
    pieces = ["▁" + word for word in sentence.split()]
    return SentenceResult(sentence, pieces, pieces, list(range(len(pieces))))


def _failed(step: str) -> TextFailed:
    """The fault being handled, logged with its traceback, as the error of the one text it hit."""
    log.exception("a text could not be %s", step)
    return TextFailed(f"the text could not be {step}: a fault of the server, logged there")


def _finish(
    segment: str,
    prepared: tuple[Split, list[str]] | TextFailed,
    found: dict[str, SentenceOutcome],
    from_cache: set[str],
    alternatives: int,
) -> SegmentResult:
    """The segment's result, or its source text with the error that stopped one of its sentences."""
    if isinstance(prepared, TextFailed):
        return SegmentResult(segment, False, error=prepared)
    split, keys = prepared
    sentences: list[SentenceResult] = []
    for key in keys:
        outcome = found[key]
        if isinstance(outcome, TextFailed):
            return SegmentResult(segment, False, error=outcome)
        sentences.append(outcome)
    try:
        return _assemble(split, sentences, all(k in from_cache for k in keys), alternatives)
    except Exception:
        return SegmentResult(segment, False, error=_failed("joined from its sentences"))


def _to_result(
    model: LoadedModel, source_ids: list[int], sentence: str, hypothesis: Hypothesis, alternatives: int
) -> SentenceResult:
    vocab = model.vocab
    text = vocab.decode(hypothesis.tokens)
    if not text.strip():  # the model wrote nothing: the sentence stays as it was rather than being lost
        return _verbatim(sentence)
    return SentenceResult(
        text=text,
        source_pieces=[vocab.id_to_piece(i) for i in source_ids[1:-1]],
        target_pieces=[vocab.id_to_piece(i) for i in hypothesis.tokens],
        alignment=alignment_of(hypothesis.attention, len(hypothesis.tokens), len(source_ids)),
        # Different pieces can detokenize to the same text: keep only texts a reader can tell apart. All of
        # them, whatever count was asked: the cache entry serves every count.
        alternatives=_distinct(map(vocab.decode, hypothesis.runners_up), text, len(hypothesis.runners_up))
        if alternatives
        else [],
    )


def _distinct(candidates: Iterable[str], best: str, limit: int) -> list[str]:
    """Up to `limit` non-blank candidates that differ from `best` and from each other, in order."""
    kept: list[str] = []
    if limit <= 0:
        return kept
    for candidate in candidates:
        if candidate.strip() and candidate != best and candidate not in kept:
            kept.append(candidate)
            if len(kept) >= limit:
                break
    return kept


def _assemble(split: Split, sentences: list[SentenceResult], cached: bool, alternatives: int = 0) -> SegmentResult:
    """Join a segment's sentences; alignments are shifted to index the concatenated source pieces.

    The i-th alternative of a segment joins each sentence's i-th alternative (its best text where it
    has fewer), so a multi-sentence text gets whole-text alternatives as a single sentence does.
    """
    source_pieces: list[str] = []
    target_pieces: list[str] = []
    alignment: list[int] = []
    for sentence in sentences:
        offset = len(source_pieces)
        alignment.extend(i + offset if i >= 0 else i for i in sentence.alignment)
        source_pieces.extend(sentence.source_pieces)
        target_pieces.extend(sentence.target_pieces)
    text = split.join([s.text for s in sentences])
    found = _joined_alternatives(split, sentences, text, alternatives) if alternatives else []
    return SegmentResult(text, cached, source_pieces, target_pieces, alignment, found)


def _joined_alternatives(split: Split, sentences: list[SentenceResult], text: str, count: int) -> list[str]:
    joined = (
        split.join([s.alternatives[i] if i < len(s.alternatives) else s.text for s in sentences])
        for i in range(max((len(s.alternatives) for s in sentences), default=0))  # an empty segment has none
    )
    return _distinct(joined, text, count)
