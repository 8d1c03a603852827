"""Protected spans: what a translation must keep (URLs, e-mail addresses, @handles, #hashtags, emoji, inline
code, paths, versions, numbers, i18n placeholders; the patterns are in nmt_core/spans.py), do-not-translate
terms and glossary terms, found in a text and put back after translation.

A text with such spans is translated as an HTML fragment whose spans are inline elements: empty ones (atoms) for
what the model never sees, elements around a stand-in or the words themselves for what it sees and what is then
replaced (placeholders, numbers, glossary terms). The attention-based placement that carries inline HTML tags
(service/text/markup) says where each went; docs/terminology.md tells the whole story.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import lxml.html

from nmt_core.spans import CURRENCY, STAND_IN, pattern_spans
from service.text.glossary import EMPTY, Glossary
from service.text.markup.document import NOT_IN_HTML
from service.text.terms import TermMatcher

_CURRENCY = CURRENCY
_SYMBOLS = frozenset(_CURRENCY + "%")
_DIGIT_RUNS = re.compile(r"\d+")
# Numbers are kept by replacement, not hidden: the model sees them (context for the words around), and the
# words they became are replaced by the original.
KEPT_BY_REPLACEMENT = frozenset({"number"})
_STAND_INS = {"placeholder": STAND_IN}
_DIGITS_BEFORE = re.compile(r"(?:\d[.,]?)+$")
_DIGITS_AFTER = re.compile(r"^(?:[.,]?\d)+")
_MARK = "data-protected"


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int
    target: str | None = None
    """For a glossary term: what replaces the words the span's text became. None: the span comes back as is."""
    entry: str | None = None
    """For a glossary term: the glossary's source term that matched."""
    shown: str | None = None
    """What the model sees in the span's place, when not its own text (a placeholder's stand-in)."""


@lru_cache(maxsize=256)
def _literal_matcher(literals: tuple[str, ...]) -> TermMatcher:
    return TermMatcher(literals)


def find_spans(
    text: str, literals: tuple[str, ...] = (), glossary: Glossary = EMPTY, patterns: bool = True
) -> list[Span]:
    """Spans of `text` to keep or replace, in order and never overlapping: the protected patterns' (with
    `patterns`), the do-not-translate `literals` (whole words, exactly as given) and the `glossary`'s source
    terms (whole words, any case); where two overlap, the one that starts first, then the longer, is kept (a
    literal inside a URL stays part of the URL)."""
    groups = [
        _pattern_spans(text) if patterns else [],
        literal_spans(text, literals),
        [
            Span("term", m.start, m.end, *reversed(glossary.entries[m.term]))
            for m in (glossary.matcher.find(text) if glossary else [])
        ],
    ]
    nonempty = [group for group in groups if group]
    if len(nonempty) <= 1:
        return nonempty[0] if nonempty else []
    candidates = sorted((span for group in nonempty for span in group), key=lambda span: (span.start, -span.end))
    kept: list[Span] = []
    for span in candidates:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


def literal_spans(text: str, literals: tuple[str, ...]) -> list[Span]:
    """Where the do-not-translate `literals` occur in `text` as whole words."""
    return [Span("literal", m.start, m.end) for m in _literal_matcher(literals).find(text)] if literals else []


def _pattern_spans(text: str) -> list[Span]:
    spans = []
    for found in pattern_spans(text):
        kind, start, end = found.kind, found.start, found.end
        if kind in KEPT_BY_REPLACEMENT:
            spans.append(Span(kind, start, end, text[start:end]))
        elif kind in _STAND_INS:
            spans.append(Span(kind, start, end, text[start:end], shown=_STAND_INS[kind]))
        else:
            spans.append(Span(kind, start, end))
    return spans


def hidden_spans(text: str, literals: tuple[str, ...] = (), patterns: bool = True) -> list[tuple[int, int]]:
    """What HTML text runs keep as they are, as atoms: every protected kind but numbers (which the model must
    see), placeholders included, and the do-not-translate literals; `patterns=False`: the literals alone."""
    spans = find_spans(text, literals, patterns=patterns)
    return [(s.start, s.end) for s in spans if s.kind != "number"]


def protectable(text: str) -> bool:
    """Whether the HTML round trip gives `text` back exactly (HTML can hold it; no CR, which parsers fold)."""
    return "\r" not in text and "\f" not in text and not NOT_IN_HTML.search(text)


def as_markup(text: str, spans: list[Span]) -> str:
    """`text` as an HTML fragment: a kept span as an empty inline element (the model never sees it), a glossary
    term as an inline element around its words (the model translates them; the placement says where they went)."""
    parts, position = [], 0
    for index, span in enumerate(spans):
        inner = "" if span.target is None else html.escape(span.shown or text[span.start : span.end], quote=False)
        parts += [html.escape(text[position : span.start], quote=False), f'<span {_MARK}="{index}">{inner}</span>']
        position = span.end
    parts.append(html.escape(text[position:], quote=False))
    return "".join(parts)


def from_markup(markup: str, text: str, spans: list[Span]) -> str:
    """The translated fragment as text: each kept span's element replaced by the span byte for byte, each
    glossary term's element (the words its term became) by the target term, the spacing around it kept."""
    if not markup.strip():
        return markup
    return _text_of(lxml.html.fragment_fromstring(markup, create_parent="div"), text, spans)


def _text_of(element: Any, text: str, spans: list[Span]) -> str:
    out = element.text or ""
    kept = 0  # out[:kept] holds what the last kept span put there: never trimmed
    previous: Span | None = None  # the span written last, while nothing has been written after it
    for child in element:
        piece = _text_of(child, text, spans)
        tail = child.tail or ""
        span = _span_of(child, spans)
        if span is not None and previous is not None and previous.end < span.start and piece:
            # two spans the translation put side by side keep what separated them ("18 10", not "1810")
            between = text[previous.end : span.start]
            out += between if len(between) <= 3 and not any(c.isalpha() for c in between) else " "
        previous = span if span is not None and not tail else None
        if span is not None and (span.kind in KEPT_BY_REPLACEMENT or span.shown is not None):
            # a number (or a stand-in) may have been cut mid-number ("19<n>45</n>"): its digits outside go too
            seen = span.shown or span.target or ""  # what the model saw in the span's place
            if seen[:1].isdigit():
                out = out[:kept] + _DIGITS_BEFORE.sub("", out[kept:])
            tail = _DIGITS_AFTER.sub("", tail) if seen[-1:].isdigit() else tail
        if span is not None and piece:
            out, kept = _spaced(out, piece, tail, text, span)
        else:
            out += piece
        out += tail
    span = _span_of(element, spans)
    if span is None:
        return out
    if span.target is None:
        return out + text[span.start : span.end]  # an atom: empty in the fragment
    if span.kind in KEPT_BY_REPLACEMENT and _same_number(out.strip(), span.target):
        return out  # the model's own writing of it (the target's separators: "3,5 %"), digits and symbols kept
    if not out.strip():
        return out + span.target
    lead = out[: len(out) - len(out.lstrip())]
    trail = out[len(out.rstrip()) :]
    return lead + span.target + trail


def _spaced(out: str, piece: str, tail: str, text: str, span: Span) -> tuple[str, int]:
    """`out` + the span's output, kept apart from a word it would be glued to where the source had no word on
    that side ("Sie %s sind", not "Sie%ssind"); and where that output ends."""
    if out[-1:].isalnum() and not text[span.start - 1 : span.start].isalnum():
        out += " "
    out += piece
    if tail[:1].isalnum() and not text[span.end : span.end + 1].isalnum():
        return out + " ", len(out) + 1
    return out, len(out)


def _same_number(written: str, number: str) -> bool:
    """Whether `written` is `number` in other separators or spacing: the same digits and symbols, no letters."""
    return (
        bool(written)
        and not any(c.isalpha() for c in written)
        and re.sub(r"[\d%" + _CURRENCY + "]", "", written).strip(" .,'\u00a0\u202f") == ""
        and _DIGIT_RUNS.findall(written) == _DIGIT_RUNS.findall(number)  # the same digits, grouped the same
        and sorted(c for c in written if c in _SYMBOLS) == sorted(c for c in number if c in _SYMBOLS)
    )


def _span_of(element: Any, spans: list[Span]) -> Span | None:
    mark = element.get(_MARK) if isinstance(element.tag, str) else None
    return spans[int(mark)] if mark is not None and mark.isdigit() and int(mark) < len(spans) else None
