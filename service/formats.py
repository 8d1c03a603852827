"""Translate whole texts in a given format ("text" or "html") through the one `Translator` entry point.

Both the native API and the LibreTranslate-compatible routes call `translate_texts`, so an HTML page's
segments go through the same sentence cache, single-flight and batching as plain text: translating the
same page twice decodes nothing the second time.

An HTML document's CPU work (parsing, collecting its texts, projecting the inline tags, writing it back)
runs in a pool of HTML_WORKERS threads, never on the event loop, cache hits included; only the awaiting of
the translations happens on the loop. Documents beyond MAX_HTML_ELEMENTS / MAX_INLINE_TAGS are refused
with 413 `html_too_complex` right after parsing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from service.errors import HtmlTooComplex, InvalidRequest
from service.markup import HtmlLimits, TooComplex, translate_html
from service.results import SegmentResult
from service.translator import Translator
from service.validation import TranslationOptions

T = TypeVar("T")

TextFormat = Literal["text", "html"]
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


async def translate_texts(
    translator: Translator,
    source: str,
    target: str,
    texts: list[str],
    text_format: TextFormat,
    options: TranslationOptions | None = None,
) -> list[TextResult]:
    """Translate each text in order; HTML documents concurrently (the scheduler batches their segments)."""
    if text_format == "text":
        results = await translator.translate_segments(source, target, texts, options)
        return [TextResult(r.text, r.cached, 1, int(r.cached), r.alternatives) for r in results]
    if options is not None and options.alternatives:
        raise InvalidRequest("options.alternatives: only for format text", code="alternatives_unsupported")
    # A task group cancels the other documents as soon as one fails: nobody waits for them any more.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(_translate_document(translator, source, target, html, options, index))
                for index, html in enumerate(texts)
            ]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # the API answers the first error in its own shape
    return [task.result() for task in tasks]


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
    index: int = 0,
) -> TextResult:
    settings = translator.settings
    pool = html_pool(settings.html_workers)
    loop = asyncio.get_running_loop()
    seen: list[SegmentResult] = []

    async def offload(work: Callable[[], T]) -> T:
        return await loop.run_in_executor(pool, work)

    async def translate(segments: list[str]) -> Sequence[SegmentResult]:
        results = await translator.translate_segments(source, target, segments, options)
        seen.extend(results)
        return results

    limits = HtmlLimits(settings.max_html_elements, settings.max_inline_tags)
    try:
        translated = await translate_html(html, translate, limits=limits, offload=offload)
    except TooComplex as exc:
        raise HtmlTooComplex(f"text[{index}]: {exc} (format html)") from None
    hits = sum(r.cached for r in seen)
    # A document with nothing to translate decoded nothing: it counts as cached, like an empty segment.
    return TextResult(translated, hits == len(seen), len(seen), hits)
