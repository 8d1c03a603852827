"""translate_html: translate the text of an HTML page or fragment and keep its markup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from service.text.markup.classify import TRANSLATED_ATTRIBUTES, Roles, iter_translatable
from service.text.markup.document import EmptyDocument, Parsed, TooDeep, parse_html, serialize, storable
from service.text.markup.projection import SpanNode, project
from service.text.markup.protocol import AlignedTranslation, Translate
from service.text.markup.runs import Run, collect_runs, pinned, replace_run, run_source, shifted
from service.text.segmentation import has_letters


def worth_translating(text: str) -> bool:
    """Runs without letters (numbers, punctuation, symbols, whitespace) are left as they are."""
    return has_letters(text)


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
        pinned_ids = {id(c) for c in self.head}  # by identity: list membership would compare whole subtrees
        self.tail = [c for c in kids if not c.has_text and c.start >= self.core_end and id(c) not in pinned_ids]
        pinned_ids.update(id(c) for c in self.tail)
        middle = SpanNode(self.tree.start, self.tree.end, [c for c in kids if id(c) not in pinned_ids])
        self.middle = shifted(middle, self.core_start, len(self.core))

    def apply(self, result: AlignedTranslation) -> None:
        target = storable(result.text).strip()
        pieces = [storable(piece) for piece in result.target_pieces]
        placed = project(self.middle, self.core, result.source_pieces, target, pieces, result.alignment)
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
        self.element.set(self.name, self.lead + storable(result.text).strip() + self.trail)


@dataclass(frozen=True)
class HtmlLimits:
    """How much markup one document may carry (None: no limit). Checked right after parsing, before any
    projection, so that a refused document costs one linear pass."""

    max_elements: int | None = None
    """Elements of the document, comments included."""
    max_inline_tags: int | None = None
    """Inline elements (tags, atoms, comments) in one text run: projection work grows with their number."""


class TooComplex(ValueError):
    """The document is beyond `HtmlLimits`."""


def _text_jobs(root: Any, max_inline_tags: int | None = None) -> list[_TextJob]:
    jobs = []
    roles = Roles()  # one for the whole (still unchanged) tree
    for run in collect_runs(root, roles):
        text, tree = run_source(run, roles)
        if max_inline_tags is not None and (count := _count_tags(tree)) > max_inline_tags:
            raise TooComplex(
                f"a text run holds {count} inline elements; at most {max_inline_tags} are allowed in one run"
            )
        if worth_translating(text):
            jobs.append(_TextJob(run, text, tree))
    return jobs


def _count_tags(tree: SpanNode) -> int:
    count, stack = 0, list(tree.children)
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.children)
    return count


def _attribute_jobs(root: Any) -> list[_AttributeJob]:
    jobs = []
    for element in iter_translatable(root):
        for name in TRANSLATED_ATTRIBUTES:
            value = element.get(name)
            if value and worth_translating(value):
                jobs.append(_AttributeJob(element, name, *_split_edges(value)))
    return jobs


@dataclass
class Prepared:
    """A parsed document and what it sends to the translator; `output` is set when nothing needs sending."""

    parsed: Parsed | None
    text_jobs: list[_TextJob]
    attribute_jobs: list[_AttributeJob]
    output: str | None = None

    @property
    def segments(self) -> list[str]:
        """Block texts in document order, then attribute values."""
        return [job.core for job in self.text_jobs] + [job.core for job in self.attribute_jobs]


KEPT_MARK = "data-nmt-kept"
Keep = Callable[[str], list[tuple[int, int]]]
"""Where a text holds spans to keep as they are (URLs, placeholders, ...): (start, end) pairs, in order."""


def _wrap_kept(root: Any, keep: Keep) -> None:
    """Each span `keep` finds in the document's translatable text becomes a `translate="no"` inline element: an
    atom the model never sees, placed with its neighbours like any other. `_unwrap_kept` takes them out again."""
    for element in list(iter_translatable(root)):
        if isinstance(element.tag, str) and element.tag in ("title", "option", "textarea"):
            continue  # plain-text contents: an element inside would be text, not markup
        _wrap(element, None, keep)
        for index in reversed(range(len(element))):  # from the end: a wrapper inserted shifts what follows
            _wrap(element, index, keep)


def _wrap(parent: Any, index: int | None, keep: Keep) -> None:
    """Wrap the spans of `parent.text` (index None) or of `parent[index].tail`."""
    text = parent.text if index is None else parent[index].tail
    spans = keep(text) if text else []
    if not spans:
        return
    at = 0 if index is None else index + 1
    position = spans[0][0]
    head = text[:position]
    for offset, (start, end) in enumerate(spans):
        wrapper = parent.makeelement("span", {"translate": "no", KEPT_MARK: ""})
        wrapper.text = text[start:end]
        following = spans[offset + 1][0] if offset + 1 < len(spans) else len(text)
        wrapper.tail = text[end:following]
        parent.insert(at + offset, wrapper)
    if index is None:
        parent.text = head
    else:
        parent[index].tail = head


def _unwrap_kept(root: Any) -> None:
    for wrapper in list(root.iter("span")):
        if wrapper.get(KEPT_MARK) is not None:
            wrapper.drop_tag()


def prepare(html: str, limits: HtmlLimits | None = None, keep: Keep | None = None) -> Prepared:
    """Parse, check the limits and collect the segments (CPU only: safe to run in a worker thread)."""
    limits = limits or HtmlLimits()
    try:
        parsed = parse_html(html)
    except EmptyDocument:  # a doctype or declaration alone: nothing to translate, and nothing to rewrite
        return Prepared(None, [], [], output=html)
    except TooDeep as exc:
        raise TooComplex(str(exc)) from None
    if limits.max_elements is not None:
        count = sum(1 for _ in parsed.root.iter()) - (0 if parsed.is_document else 1)  # not our wrapper
        if count > limits.max_elements:
            raise TooComplex(f"the document has {count} elements; at most {limits.max_elements} are allowed")
    if keep is not None:
        _wrap_kept(parsed.root, keep)
    prepared = Prepared(parsed, _text_jobs(parsed.root, limits.max_inline_tags), _attribute_jobs(parsed.root))
    if not prepared.text_jobs and not prepared.attribute_jobs:
        _unwrap_kept(parsed.root)
        prepared.output = serialize(parsed)
    return prepared


def finish(prepared: Prepared, results: Sequence[AlignedTranslation | None]) -> str:
    """Put the translations in (projecting inline tags) and write the document (CPU only, like `prepare`).

    A segment whose result is None (it could not be translated) keeps its source text and markup as they were.
    """
    if prepared.output is not None or prepared.parsed is None:
        return prepared.output or ""
    text_jobs, attribute_jobs = prepared.text_jobs, prepared.attribute_jobs
    if len(results) != len(text_jobs) + len(attribute_jobs):
        raise ValueError(f"translator returned {len(results)} results for {len(prepared.segments)} segments")
    # attributes first: inline tags are rebuilt as copies and must copy the translated values
    for attribute_job, result in zip(attribute_jobs, results[len(text_jobs) :], strict=True):
        if result is not None:
            attribute_job.apply(result)
    for text_job, result in zip(text_jobs, results[: len(text_jobs)], strict=True):
        if result is not None:
            text_job.apply(result)
    _unwrap_kept(prepared.parsed.root)
    return serialize(prepared.parsed)


T = TypeVar("T")


class Offload(Protocol):
    """Runs blocking work somewhere (a bounded thread pool in the service) and awaits its result."""

    def __call__(self, work: Callable[[], T], /) -> Awaitable[T]: ...


async def _here(work: Callable[[], T]) -> T:
    return work()


async def translate_html(
    html: str,
    translate: Translate,
    *,
    limits: HtmlLimits | None = None,
    offload: Offload = _here,
    keep: Keep | None = None,
) -> str:
    """Translate a fragment or whole document; tags, skipped regions and comments stay, text is translated.

    All segments go to `translate` in one call: block texts in document order, then attribute values.
    Parsing with collecting, and projecting with writing, are CPU work that `offload` may move off the event
    loop (the default runs them in place); only the awaiting of `translate` happens here. Raises
    `TooComplex` beyond `limits` and `Unrepresentable` for a character no HTML tree can hold. The spans `keep`
    finds in the text come back as they were.
    """
    prepared = await offload(partial(prepare, html, limits, keep))
    if prepared.output is not None:
        return prepared.output
    results = list(await translate(prepared.segments))
    return await offload(partial(finish, prepared, results))
