"""The glue between callers and the decoder: sentence splitting, cache, single-flight and scheduler.

`Translator.translate_segments` is the one entry point every front-end uses (the JSON API, and
later the HTML and LibreTranslate endpoints): segments in, `SegmentResult`s out, in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from nmt_core.search import Hypothesis, SearchOptions
from service.engine.backends import Engine, LoadedModel, alignment_of
from service.engine.cache import TranslationCache, cache_key
from service.engine.queue import WorkItem, WorkQueue, next_request_id
from service.engine.results import SegmentResult, SentenceResult
from service.errors import DeadlineExceeded, InvalidRequest, ShuttingDown, TextFailed
from service.metrics import SEGMENTS, TOKENS
from service.settings import Settings
from service.text.segmentation import Split, has_letters, normalize, split_sentences
from service.validation import TranslationOptions

log = logging.getLogger(__name__)

T = TypeVar("T")
SentenceOutcome = SentenceResult | TextFailed
"""What a sentence came to: its translation, or the fault that stopped it (which fails its segment only)."""
_GRACE_S = 0.5  # the scheduler enforces deadlines; this backstop only catches a stuck scheduler


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
        self._inflight: dict[str, asyncio.Future[SentenceOutcome]] = {}

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

    async def translate_segments(
        self, source: str, target: str, segments: list[str], options: TranslationOptions | None = None
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
            return await self._translate(model, source, target, segments, decoding)
        finally:
            self.active_requests -= 1

    async def _translate(
        self, model: LoadedModel, source: str, target: str, segments: list[str], decoding: Decoding
    ) -> list[SegmentResult]:
        """Each segment is prepared, and later assembled, on its own: a fault in one (splitting, encoding,
        joining) fails that segment alone, never its neighbours."""
        deadline = time.monotonic() + self.settings.request_timeout_s
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
        found, from_cache = await self._resolve(model, source, target, decoding, texts, deadline)
        found.update(verbatim)
        from_cache.update(verbatim)  # nothing was decoded for them, as for an empty segment
        SEGMENTS.labels(f"{source}-{target}").inc(sum(len(p[1]) for p in prepared if not isinstance(p, TextFailed)))
        return [
            _finish(segment, outcome, found, from_cache, decoding.alternatives)
            for segment, outcome in zip(segments, prepared, strict=True)
        ]

    async def _resolve(
        self, model: LoadedModel, source: str, target: str, decoding: Decoding, texts: dict[str, str], deadline: float
    ) -> tuple[dict[str, SentenceOutcome], set[str]]:
        """Cache first, then share sentences already being decoded, then decode the rest together."""
        found: dict[str, SentenceOutcome] = dict(await self.cache.get_many(list(texts)))
        from_cache = set(found)
        shared: dict[str, asyncio.Future[SentenceOutcome]] = {}
        mine: dict[str, asyncio.Future[SentenceOutcome]] = {}
        loop = asyncio.get_running_loop()
        for key in texts:
            if key in found:
                continue
            if key in self._inflight:
                shared[key] = self._inflight[key]
            else:
                mine[key] = self._inflight[key] = loop.create_future()
        try:
            if mine:
                decoded = await self._decode(model, source, target, decoding, {k: texts[k] for k in mine}, deadline)
                for key, result in decoded.items():
                    mine[key].set_result(result)
                found.update(decoded)
                await self.cache.put_many({k: r for k, r in decoded.items() if isinstance(r, SentenceResult)})
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else _LeaderGone()
            for future in mine.values():
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # mark retrieved: followers may not exist
            raise
        finally:
            for key in mine:
                self._inflight.pop(key, None)
        orphaned: dict[str, str] = {}
        for key, future in shared.items():
            try:
                found[key] = await _wait(asyncio.shield(future), deadline)
            except (_LeaderGone, DeadlineExceeded):
                # The request we were sharing with gave up (cancelled, or its earlier deadline):
                # within our own deadline, decode the sentence ourselves.
                if time.monotonic() >= deadline:
                    raise DeadlineExceeded("the request deadline passed") from None
                orphaned[key] = texts[key]
        if orphaned:
            found.update((await self._resolve(model, source, target, decoding, orphaned, deadline))[0])
        return found, from_cache

    async def _decode(
        self, model: LoadedModel, source: str, target: str, decoding: Decoding, texts: dict[str, str], deadline: float
    ) -> dict[str, SentenceOutcome]:
        loop = asyncio.get_running_loop()
        request_id = next_request_id()
        limit = self.settings.max_source_pieces
        outcomes: dict[str, SentenceOutcome] = {}
        sources: dict[str, list[int]] = {}
        for key, text in texts.items():
            try:
                sources[key] = model.vocab.source(text, target, limit)
            except Exception:
                outcomes[key] = _failed("encoded into pieces")
        if not sources:
            return outcomes
        items = {
            key: WorkItem(
                model, ids, decoding.search, decoding.max_length, request_id, deadline, loop.create_future(), loop
            )
            for key, ids in sources.items()
        }
        self.queue.put(list(items.values()))
        try:
            hypotheses = await _wait(asyncio.gather(*(item.future for item in items.values())), deadline)
        finally:
            for item in items.values():
                # On a timeout or cancellation, gather has already cancelled the futures, so
                # "not done" is not enough: a cancelled item must also leave the scheduler.
                if not item.future.done() or item.future.cancelled():
                    item.abandoned = True
                    item.future.cancel()
        self.decoded_sentences += len(items)
        direction = f"{source}-{target}"
        TOKENS.labels(direction, "source").inc(sum(len(ids) for ids in sources.values()))
        TOKENS.labels(direction, "target").inc(sum(len(h.tokens) + 1 for h in hypotheses))
        for (key, ids), hypothesis in zip(sources.items(), hypotheses, strict=True):
            try:
                outcomes[key] = _to_result(model, ids, hypothesis, decoding.alternatives)
            except Exception:
                outcomes[key] = _failed("turned back into text")
        return outcomes


class _LeaderGone(Exception):
    """Set on a single-flight future whose decoding request was cancelled; followers take over."""


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


def _to_result(model: LoadedModel, source_ids: list[int], hypothesis: Hypothesis, alternatives: int) -> SentenceResult:
    vocab = model.vocab
    text = vocab.decode(hypothesis.tokens)
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
