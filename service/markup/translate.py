"""translate_html: translate the text of an HTML page or fragment and keep its markup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.markup.classify import TRANSLATED_ATTRIBUTES, iter_translatable
from service.markup.document import EmptyDocument, parse_html, serialize
from service.markup.projection import SpanNode, project
from service.markup.protocol import AlignedTranslation, Translate
from service.markup.runs import Run, collect_runs, pinned, replace_run, run_source, shifted


def worth_translating(text: str) -> bool:
    """Runs without letters (numbers, punctuation, symbols, whitespace) are left as they are."""
    return any(c.isalpha() for c in text)


def _split_edges(text: str) -> tuple[str, str, str]:
    core = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    return lead, core, text[len(lead) + len(core) :]


@dataclass
class _TextJob:
    """A run to translate. Zero-width elements in its leading/trailing whitespace (an icon before the text, a
    badge after it) stay pinned to the edges with that whitespace; only the core goes through projection."""

    run: Run
    text: str
    tree: SpanNode

    def __post_init__(self) -> None:
        lead, self.core, _ = _split_edges(self.text)
        self.core_start, self.core_end = len(lead), len(lead) + len(self.core)
        kids = self.tree.children
        self.head = [c for c in kids if not c.has_text and c.start <= self.core_start]
        self.tail = [c for c in kids if not c.has_text and c.start >= self.core_end and c not in self.head]
        middle = SpanNode(self.tree.start, self.tree.end, [c for c in kids if c not in self.head + self.tail])
        self.middle = shifted(middle, self.core_start, len(self.core))

    def apply(self, result: AlignedTranslation) -> None:
        target = result.text.strip()
        placed = project(self.middle, self.core, result.source_pieces, target, result.target_pieces, result.alignment)
        head = pinned(self.text, 0, self.core_start, self.head)
        tail = pinned(self.text, self.core_end, len(self.text), self.tail)
        replace_run(self.run, head, placed, target, tail)


@dataclass
class _AttributeJob:
    element: Any
    name: str
    lead: str
    core: str
    trail: str

    def apply(self, result: AlignedTranslation) -> None:
        self.element.set(self.name, self.lead + result.text.strip() + self.trail)


def _text_jobs(root: Any) -> list[_TextJob]:
    jobs = []
    for run in collect_runs(root):
        text, tree = run_source(run)
        if worth_translating(text):
            jobs.append(_TextJob(run, text, tree))
    return jobs


def _attribute_jobs(root: Any) -> list[_AttributeJob]:
    jobs = []
    for element in iter_translatable(root):
        for name in TRANSLATED_ATTRIBUTES:
            value = element.get(name)
            if value and worth_translating(value):
                jobs.append(_AttributeJob(element, name, *_split_edges(value)))
    return jobs


async def translate_html(html: str, translate: Translate) -> str:
    """Translate a fragment or whole document; tags, skipped regions and comments stay, text is translated.

    All segments go to `translate` in one call: block texts in document order, then attribute values.
    """
    try:
        parsed = parse_html(html)
    except EmptyDocument:
        return html  # a doctype or declaration alone: nothing to translate, and nothing to rewrite
    text_jobs = _text_jobs(parsed.root)
    attribute_jobs = _attribute_jobs(parsed.root)
    segments = [job.core for job in text_jobs] + [job.core for job in attribute_jobs]
    if not segments:
        return serialize(parsed)
    results = list(await translate(segments))
    if len(results) != len(segments):
        raise ValueError(f"translator returned {len(results)} results for {len(segments)} segments")
    # attributes first: inline tags are rebuilt as copies and must copy the translated values
    for attribute_job, result in zip(attribute_jobs, results[len(text_jobs) :], strict=True):
        attribute_job.apply(result)
    for text_job, result in zip(text_jobs, results[: len(text_jobs)], strict=True):
        text_job.apply(result)
    return serialize(parsed)
