"""Protected spans: what a translation must keep byte for byte (URLs, e-mail addresses, @handles, #hashtags,
emoji, inline code, i18n placeholders), found in a text so that the model never sees them.

A text with protected spans is translated as an HTML fragment whose spans are empty inline elements (atoms):
the model translates the words around them, and the attention-based placement that carries inline HTML tags
puts each span back where its neighbours went (service/markup). The spans come back exactly as they were.

Every pattern is bounded or possessive-free and the search is one pass of one regex, so finding spans is linear
in the text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import lxml.html

from service.text.glossary import EMPTY, Glossary
from service.text.markup.document import NOT_IN_HTML
from service.text.terms import TermMatcher

_TRAILING = ".,;:!?)]}'\"»”’"  # punctuation that ends a sentence rather than a URL

# (kind, pattern), tried left to right at each position: the first that matches wins.
_KINDS: list[tuple[str, str]] = [
    ("code", r"`[^`\s](?:[^`\n]{0,198}[^`\s])?`"),  # no space inside the ticks' edges: not TeX-style `quotes
    ("url", r"\b(?:https?|ftp)://[^\s<>\"'`]{1,2000}|\bwww\.[^\s<>\"'`]{1,2000}"),
    ("email", r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b"),
    ("placeholder", r"\{\{[^{}\n]{0,200}\}\}|\{%[^{}\n]{0,200}%\}"),  # Mustache, Handlebars, Jinja
    ("placeholder", r"\$\{\w{1,64}\}|%\{\w{1,64}\}|%\(\w{1,64}\)[-#0 +]?\d{0,3}(?:\.\d{1,3})?[sdifrxXeEgGc]"),
    ("placeholder", r"\{\w{0,64}\}"),  # Python/.NET/ICU simple arguments: {name}, {0}, {}
    (
        "placeholder",
        r"%\d{1,2}\$[-#0 +]?\d{0,3}(?:\.\d{1,3})?[sdifuxXeEgGc@]|%[-#0+]?\d{0,3}(?:\.\d{1,3})?[sdifuxXeEgGc@](?!\w)",
    ),
    ("handle", r"(?<![\w@/])@\w{1,64}"),
    ("hashtag", r"(?<![\w#&/])#[^\W\d]\w{0,99}"),
    (
        "emoji",
        r"(?:[\U0001F1E6-\U0001F1FF]{2}|[\u2600-\u27BF\U0001F000-\U0001FAFF][\uFE0F\U0001F3FB-\U0001F3FF]*)"
        r"(?:\u200D[\u2600-\u27BF\U0001F000-\U0001FAFF][\uFE0F\U0001F3FB-\U0001F3FF]*){0,10}",
    ),
]
_PATTERN = re.compile("|".join(f"(?P<k{i}>{pattern})" for i, (_, pattern) in enumerate(_KINDS)))
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
    for match in _PATTERN.finditer(text):
        kind = _KINDS[int(match.lastgroup[1:])][0] if match.lastgroup else "other"
        start, end = match.span()
        if kind == "url":
            while end > start and text[end - 1] in _TRAILING:
                end -= 1
        if end > start:
            spans.append(Span(kind, start, end))
    return spans


def protectable(text: str) -> bool:
    """Whether the HTML round trip gives `text` back exactly (HTML can hold it; no CR, which parsers fold)."""
    return "\r" not in text and "\f" not in text and not NOT_IN_HTML.search(text)


def as_markup(text: str, spans: list[Span]) -> str:
    """`text` as an HTML fragment: a kept span as an empty inline element (the model never sees it), a glossary
    term as an inline element around its words (the model translates them; the placement says where they went)."""
    parts, position = [], 0
    for index, span in enumerate(spans):
        inner = "" if span.target is None else html.escape(text[span.start : span.end], quote=False)
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
    head = element.text or ""
    rest = "".join(_text_of(child, text, spans) + (child.tail or "") for child in element)
    mark = element.get(_MARK) if isinstance(element.tag, str) else None
    if mark is not None and mark.isdigit() and int(mark) < len(spans):
        span = spans[int(mark)]
        if span.target is None:
            return head + text[span.start : span.end] + rest
        inner = head + rest
        stripped = inner.strip()
        if not stripped:
            return inner + span.target
        lead = inner[: len(inner) - len(inner.lstrip())]
        trail = inner[len(inner.rstrip()) :]
        return lead + span.target + trail
    return head + rest
