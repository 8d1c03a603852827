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

from service.text.markup.document import NOT_IN_HTML

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


@lru_cache(maxsize=256)
def _literal_pattern(literals: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word matches of literal strings, longest first (an alternation tries them in order)."""
    ordered = sorted(set(literals), key=lambda term: (-len(term), term))
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(term) for term in ordered) + r")(?!\w)")


def find_spans(text: str, literals: tuple[str, ...] = ()) -> list[Span]:
    """Protected spans of `text`, in order and never overlapping: the patterns', and the do-not-translate
    `literals` (whole words, exactly as given); where two overlap, the one that starts first, then the longer,
    is kept (a literal inside a URL stays part of the URL)."""
    spans = _pattern_spans(text)
    if not literals:
        return spans
    candidates = sorted([*spans, *literal_spans(text, literals)], key=lambda span: (span.start, -span.end))
    kept: list[Span] = []
    for span in candidates:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


def literal_spans(text: str, literals: tuple[str, ...]) -> list[Span]:
    """Where the do-not-translate `literals` occur in `text` as whole words."""
    return [Span("literal", *m.span()) for m in _literal_pattern(literals).finditer(text)] if literals else []


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
    """`text` as an HTML fragment, each span an empty inline element."""
    parts, position = [], 0
    for index, span in enumerate(spans):
        parts += [html.escape(text[position : span.start], quote=False), f'<span {_MARK}="{index}"></span>']
        position = span.end
    parts.append(html.escape(text[position:], quote=False))
    return "".join(parts)


def from_markup(markup: str, text: str, spans: list[Span]) -> str:
    """The translated fragment as text, each empty element replaced by its span, byte for byte."""
    if not markup.strip():
        return markup
    return _text_of(lxml.html.fragment_fromstring(markup, create_parent="div"), text, spans)


def _text_of(element: Any, text: str, spans: list[Span]) -> str:
    head = element.text or ""
    rest = "".join(_text_of(child, text, spans) + (child.tail or "") for child in element)
    mark = element.get(_MARK) if isinstance(element.tag, str) else None
    if mark is not None and mark.isdigit() and int(mark) < len(spans):
        span = spans[int(mark)]
        return head + text[span.start : span.end] + rest
    return head + rest
