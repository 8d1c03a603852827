"""translate_html: translate the text of an HTML page or fragment and keep its markup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.markup.classify import TRANSLATED_ATTRIBUTES, iter_translatable
from service.markup.document import parse_html, serialize
from service.markup.projection import SpanNode, project
from service.markup.protocol import AlignedTranslation, Translate
from service.markup.runs import Run, collect_runs, replace_run, run_source, shifted


def worth_translating(text: str) -> bool:
    """Runs of punctuation, symbols or whitespace only are left as they are."""
    return any(c.isalnum() for c in text)


def _split_edges(text: str) -> tuple[str, str, str]:
    core = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    return lead, core, text[len(lead) + len(core):]


@dataclass
class _TextJob:
    run: Run
    lead: str
    core: str
    trail: str
    tree: SpanNode

    def apply(self, result: AlignedTranslation) -> None:
        target = result.text.strip()
        placed = project(self.tree, self.core, result.source_pieces, target, result.target_pieces,
                         result.alignment)
        replace_run(self.run, self.lead, placed, target, self.trail)


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
        lead, core, trail = _split_edges(text)
        if worth_translating(core):
            jobs.append(_TextJob(run, lead, core, trail, shifted(tree, len(lead), len(core))))
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
    parsed = parse_html(html)
    text_jobs = _text_jobs(parsed.root)
    attribute_jobs = _attribute_jobs(parsed.root)
    segments = [job.core for job in text_jobs] + [job.core for job in attribute_jobs]
    if not segments:
        return serialize(parsed)
    results = list(await translate(segments))
    if len(results) != len(segments):
        raise ValueError(f"translator returned {len(results)} results for {len(segments)} segments")
    # attributes first: inline tags are rebuilt as copies and must copy the translated values
    for attribute_job, result in zip(attribute_jobs, results[len(text_jobs):], strict=True):
        attribute_job.apply(result)
    for text_job, result in zip(text_jobs, results[: len(text_jobs)], strict=True):
        text_job.apply(result)
    return serialize(parsed)
