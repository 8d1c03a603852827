"""ICU MessageFormat plurals and selects: the keywords and argument names are kept, the branch texts translated.

`{count, plural, one {# file} other {# files}}` is cut into what must stay as it is (`{count, plural, one {`,
`} other {`, `}}`) and the texts to translate (`# file`, `# files`), each translated on its own. The `#` of a
plural branch (the number) becomes a placeholder that protection keeps. Simple arguments (`{name}`) stay inside
their text, where protection keeps them too. One pass over the text, nesting bounded: linear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER_SIGN = "{ICU_NUMBER_SIGN}"
"""What a plural branch's `#` is while its text is translated (a placeholder that protection keeps)."""

_HEAD = re.compile(r"\{\s*\w{1,64}\s*,\s*(plural|selectordinal|select)\s*,\s*(?:offset:\d{1,9}\s*)?")
_SELECTOR = re.compile(r"\s*(=\d{1,9}|\w{1,64})\s*\{")
_SIMPLE = re.compile(r"\{[^{}]{0,200}\}")
_MAX_DEPTH = 8


@dataclass(frozen=True)
class Part:
    text: str
    translate: bool


class _Malformed(Exception):
    pass


def split_message(text: str) -> list[Part] | None:
    """The parts of an ICU message with a plural or select, in order; None for any other text (or a
    malformed one, which is then translated as ordinary text)."""
    if NUMBER_SIGN in text or not _HEAD.search(text):
        return None
    parts: list[Part] = []
    try:
        end = _message(text, 0, parts, depth=0, in_plural=False)
    except _Malformed:
        return None
    if end != len(text):
        return None  # an unmatched closing brace
    return _merged(parts)


def _message(text: str, pos: int, parts: list[Part], depth: int, in_plural: bool) -> int:
    """Parse message text from `pos` up to an unmatched `}` (or the end); returns where it stopped."""
    pending: list[str] = []

    def flush() -> None:
        if pending:
            parts.append(Part("".join(pending), translate=True))
            pending.clear()

    while pos < len(text):
        char = text[pos]
        if char == "}":
            break
        if char == "{":
            head = _HEAD.match(text, pos)
            if head is None:
                simple = _SIMPLE.match(text, pos)
                if simple is None:
                    raise _Malformed
                pending.append(simple.group())
                pos = simple.end()
                continue
            if depth >= _MAX_DEPTH:
                raise _Malformed
            flush()
            parts.append(Part(head.group(), translate=False))
            pos = _branches(text, head.end(), parts, depth + 1, head.group(1) != "select")
            continue
        pending.append(NUMBER_SIGN if char == "#" and in_plural else char)
        pos += 1
    flush()
    return pos


def _branches(text: str, pos: int, parts: list[Part], depth: int, plural: bool) -> int:
    """`key {message}` pairs up to the argument's closing brace; returns the position after it."""
    count = 0
    while True:
        selector = _SELECTOR.match(text, pos)
        if selector is None:
            break
        parts.append(Part(selector.group(), translate=False))
        pos = _message(text, selector.end(), parts, depth, plural)
        if pos >= len(text):
            raise _Malformed
        parts.append(Part("}", translate=False))
        pos += 1
        count += 1
    closing = re.compile(r"\s*\}").match(text, pos)
    if closing is None or count == 0:
        raise _Malformed
    parts.append(Part(closing.group(), translate=False))
    return closing.end()


def _merged(parts: list[Part]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if out and not part.translate and not out[-1].translate:
            out[-1] = Part(out[-1].text + part.text, translate=False)
        else:
            out.append(part)
    return out


def joined(parts: list[Part], translations: list[str]) -> str:
    """The message again, each translated part (in order) replaced by its translation."""
    found = iter(translations)
    return "".join(_in_place(p.text, next(found)) if p.translate else p.text for p in parts)


def _in_place(source: str, translation: str) -> str:
    """A translated part with the `#` back and the source part's outer spacing (the keywords' neighbours)."""
    lead = source[: len(source) - len(source.lstrip())]
    trail = source[len(source.rstrip()) :]
    return lead + translation.strip().replace(NUMBER_SIGN, "#") + trail
