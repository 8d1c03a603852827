"""Translate whole texts in a given format ("text" or "html") through the one `Translator` entry point.

Both the native API and the LibreTranslate-compatible routes call `translate_texts`, so an HTML page's
segments go through the same sentence cache, single-flight and batching as plain text: translating the
same page twice decodes nothing the second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from service.errors import InvalidRequest
from service.markup import translate_html
from service.results import SegmentResult
from service.translator import Translator
from service.validation import TranslationOptions

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
                group.create_task(_translate_document(translator, source, target, html, options)) for html in texts
            ]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # the API answers the first error in its own shape
    return [task.result() for task in tasks]


async def _translate_document(
    translator: Translator, source: str, target: str, html: str, options: TranslationOptions | None
) -> TextResult:
    seen: list[SegmentResult] = []

    async def translate(segments: list[str]) -> Sequence[SegmentResult]:
        results = await translator.translate_segments(source, target, segments, options)
        seen.extend(results)
        return results

    translated = await translate_html(html, translate)
    hits = sum(r.cached for r in seen)
    # A document with nothing to translate decoded nothing: it counts as cached, like an empty segment.
    return TextResult(translated, hits == len(seen), len(seen), hits)
