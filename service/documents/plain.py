"""Plain text and Markdown: a unit per line with words (blank lines, indentation and line endings kept).

Markdown's block markers (headings, list items, quotes) stay outside the unit, fenced code is not translated, and
inline emphasis, code and links become HTML for the unit, so that a bold word stays bold where the translation puts
it; the link's address never reaches the model."""

from __future__ import annotations

import html
import re

from service.documents.extracted import Extracted, decoded
from service.documents.limits import DocumentLimits
from service.errors import PayloadTooLarge

_LINE = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)
_WORDS = re.compile(r"[^\W\d_]")
_MD_BLOCK = re.compile(r"^(\s*(?:#{1,6}\s+|>\s*|[-*+]\s+|\d{1,9}[.)]\s+)*)(.*)$", re.DOTALL)
_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_INLINE = re.compile(
    r"(?P<code>`[^`\n]+`)|\*\*(?P<b>[^*\n]+)\*\*|__(?P<b2>[^_\n]+)__|\*(?P<i>[^*\n]+)\*"
    r"|(?<!\w)_(?P<i2>[^_\n]+)_(?!\w)|\[(?P<text>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
)


def _check(units: list[str], limits: DocumentLimits) -> None:
    if len(units) > limits.max_units:
        raise PayloadTooLarge(f"{len(units)} paragraphs; at most {limits.max_units}", code="too_many_segments")


def read_text(data: bytes, limits: DocumentLimits, name: str = "text") -> Extracted:
    lines = decoded(data, name).splitlines(keepends=True)
    slots = [i for i, line in enumerate(lines) if _WORDS.search(line)]
    parts = [_LINE.match(lines[i].rstrip("\r\n")) for i in slots]
    units = [p.group(2) if p else lines[i] for p, i in zip(parts, slots, strict=True)]
    _check(units, limits)

    def rebuild(translations: list[str]) -> bytes:
        out = list(lines)
        for i, part, translated in zip(slots, parts, translations, strict=True):
            ending = lines[i][len(lines[i].rstrip("\r\n")) :]
            out[i] = (part.group(1) if part else "") + translated + (part.group(3) if part else "") + ending
        return "".join(out).encode("utf-8")

    return Extracted(units, "text", rebuild)


def markdown_to_html(text: str) -> str:
    """Inline Markdown as HTML: **b**, *i*, `code` (kept as it is), [text](url)."""
    out, at = [], 0
    for found in _MD_INLINE.finditer(text):
        out.append(html.escape(text[at : found.start()], quote=False))
        if found.group("code"):
            out.append(f'<code translate="no">{html.escape(found.group("code"), quote=False)}</code>')
        elif found.group("b") or found.group("b2"):
            out.append(f"<b>{html.escape(found.group('b') or found.group('b2'), quote=False)}</b>")
        elif found.group("i") or found.group("i2"):
            out.append(f"<i>{html.escape(found.group('i') or found.group('i2'), quote=False)}</i>")
        else:
            url = html.escape(found.group("url"))
            out.append(f'<a href="{url}">{html.escape(found.group("text"), quote=False)}</a>')
        at = found.end()
    out.append(html.escape(text[at:], quote=False))
    return "".join(out)


_HTML_INLINE = re.compile(r'<code translate="no">(.*?)</code>|<(/?)(b|i|a)(?: href="([^"]*)")?>', re.DOTALL)


def html_to_markdown(fragment: str) -> str:
    """The translated unit back to Markdown (the tags markdown_to_html wrote, wherever the translation put them)."""
    out: list[str] = []
    links: list[str] = []
    at = 0
    for found in _HTML_INLINE.finditer(fragment):
        out.append(html.unescape(fragment[at : found.start()]))
        if found.group(1) is not None:
            out.append(html.unescape(found.group(1)))
        else:
            closing, tag, url = found.group(2), found.group(3), found.group(4)
            if tag == "b":
                out.append("**")
            elif tag == "i":
                out.append("*")
            elif closing:
                out.append(f"]({html.unescape(links.pop()) if links else ''})")
            else:
                links.append(url or "")
                out.append("[")
        at = found.end()
    out.append(html.unescape(fragment[at:]))
    return "".join(out)


def read_markdown(data: bytes, limits: DocumentLimits, name: str = "markdown") -> Extracted:
    lines = decoded(data, name).splitlines(keepends=True)
    slots: list[tuple[int, str, str, str]] = []  # line, prefix, core, suffix
    fenced = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        body = line.rstrip("\r\n")
        if fenced or not _WORDS.search(body) or body.startswith("    ") or body.lstrip().startswith("|"):
            continue
        block = _MD_BLOCK.match(body)
        prefix, rest = (block.group(1), block.group(2)) if block else ("", body)
        core = rest.rstrip()
        slots.append((i, prefix, core, rest[len(core) :]))
    units = [markdown_to_html(core) for _, _, core, _ in slots]
    _check(units, limits)

    def rebuild(translations: list[str]) -> bytes:
        out = list(lines)
        for (i, prefix, _, suffix), translated in zip(slots, translations, strict=True):
            ending = lines[i][len(lines[i].rstrip("\r\n")) :]
            out[i] = prefix + html_to_markdown(translated) + suffix + ending
        return "".join(out).encode("utf-8")

    return Extracted(units, "html", rebuild)
