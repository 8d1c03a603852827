"""Translate whole texts in a given format ("text" or "html") through the one `Translator` entry point.

Both the native API and the LibreTranslate-compatible routes call `translate_texts`, so an HTML page's
segments go through the same sentence cache, single-flight and batching as plain text: translating the
same page twice decodes nothing the second time.

An HTML document's CPU work (parsing, collecting its texts, projecting the inline tags, writing it back)
runs in a pool of HTML_WORKERS threads, never on the event loop, cache hits included; only the awaiting of
the translations happens on the loop. Documents beyond MAX_HTML_ELEMENTS / MAX_INLINE_TAGS are refused
with `html_too_complex` right after parsing.

One text never fails its neighbours: what concerns a single text (a character HTML cannot hold, a lone
surrogate, a document beyond the limits, a fault of ours while processing it) comes back as that text's
`error`, with the text as it was sent (for HTML, the document with the failing runs left as they were).
Only what concerns the whole request (overload, deadline, shutdown, an unknown direction) fails it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal, TypeVar

from service.engine.results import SegmentResult
from service.engine.translator import Translator
from service.errors import HtmlTooComplex, InvalidRequest, ServiceError, TextFailed
from service.metrics import GLOSSARY_TERMS_APPLIED, PROTECTED_SPANS
from service.text.glossary import EMPTY, Glossary
from service.text.icu import Part, joined, split_message
from service.text.markup import HtmlLimits, TooComplex, Unrepresentable, check_representable, translate_html
from service.text.markup.translate import Keep
from service.text.protection import Span, as_markup, find_spans, from_markup, hidden_spans, protectable
from service.text.segmentation import has_letters
from service.validation import Priority, TranslationOptions, is_valid_unicode, replacing_lone_surrogates

log = logging.getLogger(__name__)

T = TypeVar("T")

TextFormat = Literal["text", "html"]
_INLINE_MATCH_COST = 50_000  # characters x glossary term tokens that are matched on the event loop
FORMATS: tuple[TextFormat, ...] = ("text", "html")


@dataclass(frozen=True)
class TextResult:
    """One translated text. For HTML, `segments` counts the text runs and attribute values translated
    inside the document and `cached_segments` how many of them were answered from the cache."""

    text: str
    cached: bool
    segments: int
    cached_segments: int
    alternatives: list[str] = field(default_factory=list)
    error: ServiceError | None = None
    """Set when this text could not be translated (whole or in part); `text` is then what could be kept."""
    applied_terms: tuple[tuple[str, str], ...] = ()
    """The glossary entries (source, target) applied, each once, in the order they first occur."""


def text_problem(text: str, text_format: TextFormat) -> InvalidRequest | None:
    """What makes one text untranslatable before any work is spent on it (None: nothing)."""
    if not is_valid_unicode(text):
        return InvalidRequest("not valid Unicode (a lone surrogate escape such as \\ud800)", code="invalid_text")
    if text_format == "html":
        try:
            check_representable(text)
        except Unrepresentable as exc:
            return InvalidRequest(str(exc), code="invalid_text")
    return None


def check_texts(texts: list[str], text_format: TextFormat) -> None:
    """Raise the first text's problem, for routes that take their texts as one (detection, a single text)."""
    for index, text in enumerate(texts):
        if (problem := text_problem(text, text_format)) is not None:
            raise _indexed(problem, index)


def _indexed(error: ServiceError, index: int) -> ServiceError:
    """The same error, its message saying which text of the request it is about."""
    indexed = type(error)(f"text[{index}]: {error.message}", code=error.code)
    indexed.retry_after_s = error.retry_after_s
    return indexed


def _failed_text(text: str, error: ServiceError, index: int) -> TextResult:
    return TextResult(text, False, 0, 0, error=_indexed(error, index))


async def translate_texts(
    translator: Translator,
    source: str,
    target: str,
    texts: list[str],
    text_format: TextFormat,
    options: TranslationOptions | None = None,
    protect: bool = True,
    literals: tuple[str, ...] = (),
    glossary: Glossary = EMPTY,
    priority: Priority = "interactive",
    first_index: int = 0,
) -> list[TextResult]:
    """Translate each text in order; HTML documents concurrently (the scheduler batches their segments).

    A text that cannot be translated gets its `error` (see the module's docstring); errors about the whole
    request are raised. With `protect`, a plain text's protected spans (service/text/protection.py) come back
    byte for byte; the do-not-translate `literals` do, protect or not, and the `glossary`'s terms are applied.
    Errors name a text by its place in the request: `first_index` is that of texts[0] (a stream sends one at a
    time).
    """
    if text_format == "html" and options is not None and options.alternatives:
        raise InvalidRequest("options.alternatives: only for format text", code="alternatives_unsupported")
    problems = [text_problem(text, text_format) for text in texts]
    results: list[TextResult | None] = [
        None if problem is None else _failed_text(replacing_lone_surrogates(text), problem, index)
        for index, (text, problem) in enumerate(zip(texts, problems, strict=True), start=first_index)
    ]
    todo = [index for index, result in enumerate(results) if result is None]
    if not todo:
        return [r for r in results if r is not None]
    if text_format == "text" and protect:
        messages = {i: parts for i in todo if (parts := split_message(texts[i])) is not None}
        if messages:
            translated = await _translate_messages(
                translator, source, target, texts, messages, options, literals, glossary, priority
            )
            for index, result in zip(messages, translated, strict=True):
                results[index] = _of_text(result, first_index + index)
            todo = [i for i in todo if i not in messages]
    guarded: dict[int, list[Span]] = {}
    if text_format == "text" and (protect or literals or glossary):

        def find() -> dict[int, list[Span]]:
            return {
                i: spans
                for i in todo
                if protectable(texts[i]) and (spans := find_spans(texts[i], literals, glossary, patterns=protect))
            }

        # Matching is linear, but a long text against a glossary of long terms is still work for a thread,
        # not for the event loop.
        cost = sum(len(texts[i]) for i in todo) * max(1, glossary.matcher.longest if glossary else 1)
        guarded = await asyncio.to_thread(find) if cost > _INLINE_MATCH_COST else find()
        todo = [i for i in todo if i not in guarded]
    if guarded:
        translated = await _translate_guarded(translator, source, target, texts, guarded, options, priority)
        for index, result in zip(guarded, translated, strict=True):
            results[index] = _of_text(result, first_index + index)
    if todo and text_format == "text":
        segments = await translator.translate_segments(source, target, [texts[i] for i in todo], options, priority)
        for index, r in zip(todo, segments, strict=True):
            results[index] = (
                TextResult(r.text, r.cached, 1, int(r.cached), r.alternatives)
                if r.error is None
                else _failed_text(r.text, r.error, first_index + index)
            )
    elif todo:
        keep = partial(hidden_spans, literals=literals, patterns=protect) if protect or literals else None
        documents = await _translate_documents(
            translator, source, target, [texts[i] for i in todo], options, keep, priority
        )
        for index, result in zip(todo, documents, strict=True):
            results[index] = _of_text(result, first_index + index)
    return [r for r in results if r is not None]


def _of_text(result: TextResult, index: int) -> TextResult:
    """`result` as the request's text[index]: its error, if any, says which text it is about."""
    return result if result.error is None else replace(result, error=_indexed(result.error, index))


async def _translate_documents(
    translator: Translator,
    source: str,
    target: str,
    documents: list[str],
    options: TranslationOptions | None,
    keep: Keep | None = None,
    priority: Priority = "interactive",
) -> list[TextResult]:
    """HTML documents concurrently. A task group cancels the others as soon as one fails the request (overload,
    deadline): nobody waits for them; the API answers the first error in its own shape."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(_translate_document(translator, source, target, d, options, keep, priority))
                for d in documents
            ]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _translate_guarded(
    translator: Translator,
    source: str,
    target: str,
    texts: list[str],
    guarded: dict[int, list[Span]],
    options: TranslationOptions | None,
    priority: Priority,
) -> list[TextResult]:
    """Texts with protected spans, each as an HTML fragment whose spans are atoms, then back to text."""
    plain = options.model_copy(update={"alternatives": None}) if options is not None else None
    for spans in guarded.values():
        for span in spans:
            if span.entry is None:
                PROTECTED_SPANS.labels(span.kind).inc()
    fragments = [as_markup(texts[i], spans) for i, spans in guarded.items()]
    documents = await _translate_documents(translator, source, target, fragments, plain, priority=priority)
    out = []
    for (index, spans), done in zip(guarded.items(), documents, strict=True):
        if done.error is not None:
            out.append(replace(done, text=texts[index]))
            continue
        try:
            text = from_markup(done.text, texts[index], spans)
        except Exception:
            log.exception("a protected text could not be written back")
            error = TextFailed("the text could not be written back: a fault of the server, logged there")
            out.append(TextResult(texts[index], False, 0, 0, error=error))
            continue
        applied = tuple(dict.fromkeys((s.entry, s.target) for s in spans if s.entry is not None and s.target))
        GLOSSARY_TERMS_APPLIED.inc(sum(s.entry is not None for s in spans))
        out.append(TextResult(text, done.cached, 1, int(done.cached), applied_terms=applied))
    return out


async def _translate_messages(
    translator: Translator,
    source: str,
    target: str,
    texts: list[str],
    messages: dict[int, list[Part]],
    options: TranslationOptions | None,
    literals: tuple[str, ...],
    glossary: Glossary,
    priority: Priority,
) -> list[TextResult]:
    """ICU messages with plurals or selects: their branch texts (and the texts around) translated as texts of
    their own, in one call, and put back between the kept keywords (service/text/icu.py)."""
    plain = options.model_copy(update={"alternatives": None}) if options is not None else None
    wanted = [p.text for parts in messages.values() for p in parts if p.translate and has_letters(p.text)]
    done = iter(
        await translate_texts(translator, source, target, wanted, "text", plain, True, literals, glossary, priority)
    )
    out = []
    for index, parts in messages.items():
        pieces = [next(done) if p.translate and has_letters(p.text) else None for p in parts]
        got = [r for r in pieces if r is not None]
        failure = next((r.error for r in got if r.error is not None), None)
        if failure is not None:
            out.append(TextResult(texts[index], False, 0, 0, error=failure))
            continue
        whole = _joined_keeping(parts, pieces)
        applied = tuple(dict.fromkeys(term for r in got for term in r.applied_terms))
        cached = all(r.cached for r in got)
        out.append(TextResult(whole, cached, 1, int(cached), applied_terms=applied))
    return out


def _joined_keeping(parts: list[Part], pieces: list[TextResult | None]) -> str:
    """The message with each translated part in place and each part without letters as it was."""
    return joined(
        [Part(p.text, translate=False) if r is None else p for p, r in zip(parts, pieces, strict=True)],
        [r.text for r in pieces if r is not None],
    )


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def html_pool(workers: int) -> ThreadPoolExecutor:
    """The process' HTML threads: a bounded pool, so that many pages queue instead of spawning threads
    (one pool per size: apps in one test process may differ)."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="html")
        return pool


async def _translate_document(
    translator: Translator,
    source: str,
    target: str,
    html: str,
    options: TranslationOptions | None,
    keep: Keep | None = None,
    priority: Priority = "interactive",
) -> TextResult:
    """One document; its own failures (limits, a character HTML cannot hold, a fault of ours) come back as its
    `error` with the document as it was, a failed run as that run left as it was. What concerns the request
    (overload, deadline) is raised."""
    settings = translator.settings
    pool = html_pool(settings.html_workers)
    loop = asyncio.get_running_loop()
    seen: list[SegmentResult] = []

    async def offload(work: Callable[[], T]) -> T:
        return await loop.run_in_executor(pool, work)

    async def translate(segments: list[str]) -> Sequence[SegmentResult | None]:
        results = await translator.translate_segments(source, target, segments, options, priority)
        seen.extend(results)
        return [None if r.error is not None else r for r in results]  # a failed run stays as it was

    limits = HtmlLimits(settings.max_html_elements, settings.max_inline_tags)
    try:
        translated = await translate_html(html, translate, limits=limits, offload=offload, keep=keep)
    except TooComplex as exc:
        return TextResult(html, False, 0, 0, error=HtmlTooComplex(f"{exc} (format html)"))
    except Unrepresentable as exc:
        return TextResult(html, False, 0, 0, error=InvalidRequest(str(exc), code="invalid_text"))
    except ServiceError:
        raise  # about the request (overload, deadline, shutdown): the API answers it
    except Exception:
        log.exception("an HTML document could not be translated")
        error = TextFailed("the document could not be translated: a fault of the server, logged there")
        return TextResult(html, False, 0, 0, error=error)
    hits = sum(r.cached for r in seen)
    failure = next((r.error for r in seen if r.error is not None), None)
    # A document with nothing to translate decoded nothing: it counts as cached, like an empty segment.
    return TextResult(translated, hits == len(seen), len(seen), hits, error=failure)
