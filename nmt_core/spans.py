"""What a translation must keep, as patterns: URLs, e-mail addresses, handles, hashtags, emoji, inline code,
paths, versions, numbers and i18n placeholders. Neutral ground: the service protects these spans
(service/text/protection.py) and training data can mark them the same way (model/web_data.py).

Every pattern is bounded and the search is one pass of one regex (after a one-character pre-scan), so finding
spans is linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nmt_core.scripts import CJK

_TRAILING = ".,;:!?)]}'\"»”’"  # punctuation that ends a sentence rather than a URL

# Chinese and Japanese write no spaces, so a span sits right against Han or kana characters (共3个, 访问https://…):
# those are word characters to `\w`, but they neither join a span nor keep one from starting or ending.
_FULL_WIDTH = "\u3000-\u303f\uff00-\uffef"  # 。，、「」 and full-width ！？（）：
_W = rf"[^\W{CJK}]"  # a word character that is not CJK
_NOT_W = rf"(?<!{_W})"  # as \b before a span, with CJK letters counted as a boundary
_NOT_W_AFTER = rf"(?!{_W})"

CURRENCY = "$€£¥₹₽₩¢₺₫₪"
# An amount: digits with their separators and decimals, a currency symbol before or after, a percent sign.
_NUMBER = (
    rf"(?<![.,:]){_NOT_W}\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?!{_W}|:|[.,]\d)"  # a time or a score: 17:00, 3:1
    rf"|(?<![.,]){_NOT_W}(?:[{CURRENCY}]\s?)?(?:\d{{1,3}}(?:[,.\u00a0\u202f']\d{{3}}){{1,10}}|\d{{1,30}})"
    rf"(?:[.,]\d{{1,30}})?(?:\s?[%{CURRENCY}])?(?!{_W}|[.,]\d)"
    rf"|(?<![.,]){_NOT_W}'?\d{{1,4}}(?=(?:st|nd|rd|th|s)\b)"  # the digits of 11th, 1980s, '90s
)
_URL_CHAR = rf"[^\s<>\"'`{CJK}{_FULL_WIDTH}]"
_EMAIL_CHAR = rf"(?:{_W}|[.+-])"
_DOMAIN_CHAR = rf"(?:{_W}|-)"
_PATH_CHAR = rf"(?:{_W}|[.@+-])"

# (kind, pattern), tried left to right at each position: the first that matches wins.
_KINDS: list[tuple[str, str]] = [
    ("code", r"`[^`\s](?:[^`\n]{0,198}[^`\s])?`"),  # no space inside the ticks' edges: not TeX-style `quotes
    ("url", rf"{_NOT_W}(?:https?|ftp)://{_URL_CHAR}{{1,2000}}|{_NOT_W}www\.{_URL_CHAR}{{1,2000}}"),
    (
        "email",
        rf"{_NOT_W}{_EMAIL_CHAR}{{1,64}}@{_DOMAIN_CHAR}{{1,63}}(?:\.{_DOMAIN_CHAR}{{1,63}}){{1,8}}{_NOT_W_AFTER}",
    ),
    ("placeholder", r"\{\{[^{}\n]{0,200}\}\}|\{%[^{}\n]{0,200}%\}"),  # Mustache, Handlebars, Jinja
    ("placeholder", r"\$\{\w{1,64}\}|%\{\w{1,64}\}|%\(\w{1,64}\)[-#0 +]?\d{0,3}(?:\.\d{1,3})?[sdifrxXeEgGc]"),
    ("placeholder", r"\{\w{0,64}\}"),  # Python/.NET/ICU simple arguments: {name}, {0}, {}
    (
        "placeholder",
        r"%\d{1,2}\$[-#0 +]?\d{0,3}(?:\.\d{1,3})?[sdifuxXeEgGc@]"
        rf"|%[-#0+]?\d{{0,3}}(?:\.\d{{1,3}})?[sdifuxXeEgGc@]{_NOT_W_AFTER}",
    ),
    (
        "path",
        rf"(?<![/.~]){_NOT_W}(?:(?:~|\.{{1,2}})(?:/{_PATH_CHAR}{{1,255}}){{1,32}}|(?:/{_PATH_CHAR}{{1,255}}){{2,32}})/?"
        r"|\b[A-Za-z]:\\(?:[\w.-]{1,255}\\){0,32}[\w.-]{1,255}",
    ),
    ("number", _NUMBER),
    (
        "version",
        rf"{_NOT_W}v\d{{1,9}}(?:\.\d{{1,9}}){{1,3}}(?:-[\w.]{{1,32}})?{_NOT_W_AFTER}"
        rf"|{_NOT_W}\d{{1,9}}(?:\.\d{{1,9}}){{2,3}}(?:-[\w.]{{1,32}})?{_NOT_W_AFTER}",
    ),
    ("handle", rf"(?<![@/]){_NOT_W}@{_W}{{1,64}}"),
    ("hashtag", rf"(?<![#&/]){_NOT_W}#[^\W\d]\w{{0,99}}"),
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
