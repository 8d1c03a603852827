"""What a translation must keep, as patterns: URLs, e-mail addresses, handles, hashtags, emoji, inline code,
paths, versions, numbers and i18n placeholders. Neutral ground: the service protects these spans
(service/text/protection.py) and training data can mark them the same way (model/web_data.py).

Every pattern is bounded and the search is one pass of one regex (after a one-character pre-scan), so finding
spans is linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TRAILING = ".,;:!?)]}'\"»”’"  # punctuation that ends a sentence rather than a URL

CURRENCY = "$€£¥₹₽₩¢₺₫₪"
# An amount: digits with their separators and decimals, a currency symbol before or after, a percent sign.
_NUMBER = (
    r"(?<![\w.,:])\d{1,2}:\d{2}(?::\d{2})?(?![\w:]|[.,]\d)"  # a time or a score: 17:00, 3:1
    rf"|(?<![\w.,])(?:[{CURRENCY}]\s?)?(?:\d{{1,3}}(?:[,.\u00a0\u202f']\d{{3}}){{1,10}}|\d{{1,30}})(?:[.,]\d{{1,30}})?"
    rf"(?:\s?[%{CURRENCY}])?(?!\w|[.,]\d)"
    r"|(?<![\w.,])'?\d{1,4}(?=(?:st|nd|rd|th|s)\b)"  # the digits of 11th, 1980s, '90s
)

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
    (
        "path",
        r"(?<![\w/.~])(?:(?:~|\.{1,2})(?:/[\w.@+-]{1,255}){1,32}|(?:/[\w.@+-]{1,255}){2,32})/?"
        r"|\b[A-Za-z]:\\(?:[\w.-]{1,255}\\){0,32}[\w.-]{1,255}",
    ),
    ("number", _NUMBER),
    ("version", r"\bv\d{1,9}(?:\.\d{1,9}){1,3}(?:-[\w.]{1,32})?\b|\b\d{1,9}(?:\.\d{1,9}){2,3}(?:-[\w.]{1,32})?\b"),
    ("handle", r"(?<![\w@/])@\w{1,64}"),
    ("hashtag", r"(?<![\w#&/])#[^\W\d]\w{0,99}"),
    (
        "emoji",
        r"(?:[\U0001F1E6-\U0001F1FF]{2}|[\u2600-\u27BF\U0001F000-\U0001FAFF][\uFE0F\U0001F3FB-\U0001F3FF]*)"
        r"(?:\u200D[\u2600-\u27BF\U0001F000-\U0001FAFF][\uFE0F\U0001F3FB-\U0001F3FF]*){0,10}",
    ),
]
_PATTERN = re.compile("|".join(f"(?P<k{i}>{pattern})" for i, (_, pattern) in enumerate(_KINDS)))
# A character (or prefix) without which no pattern above can match: digits, @ # { } % $ ` / ~ \ and emoji.
_TRIGGER = re.compile(r"[\d@#{}%$`/~\\\u2600-\u27BF\U0001F000-\U0001FAFF]|www\.")

STAND_IN = "42"
"""What the model sees in a placeholder's place, in service and in training: a number, which it copies and
places well (bench/ui_strings.py: 80.5% of real UI strings kept their placeholders with empty slots, 100% with
"42", 84.8% with "X")."""


@dataclass(frozen=True)
class Found:
    kind: str
    start: int
    end: int


def pattern_spans(text: str) -> list[Found]:
    """The spans of `text` the patterns find, in order, never overlapping (the first pattern that matches at
    a position wins)."""
    if not _TRIGGER.search(text):
        return []  # most sentences: one scan for a character that can start a span, not the whole alternation
    found = []
    for match in _PATTERN.finditer(text):
        kind = _KINDS[int(match.lastgroup[1:])][0] if match.lastgroup else "other"
        start, end = match.span()
        if kind == "url":
            while end > start and text[end - 1] in _TRAILING:
                end -= 1
        if end > start:
            found.append(Found(kind, start, end))
    return found
