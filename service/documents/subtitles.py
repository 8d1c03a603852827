"""SubRip (.srt) and WebVTT (.vtt): each cue's text is a unit, its lines joined by <br> so the breaks follow their
words; cue numbers, timecodes, settings, headers, NOTE and STYLE blocks are written back byte for byte.

Cue text markup (<i>, <b>, <u>, SubRip's <font color=...>, WebVTT's <c.class>, <v Speaker>, <lang xx>, <ruby>
and karaoke timestamps) goes to the translator as inline elements that carry the tag as written, so the placement
puts them on the translated words and they come back as cue tags, not as escaped text."""

from __future__ import annotations

import html
import re
from typing import Any

import lxml.html

from service.documents.extracted import Extracted, decoded
from service.documents.limits import DocumentLimits
from service.errors import BadDocument, PayloadTooLarge

_TIMING = re.compile(r"^\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[,.]\d{1,3}\s*-->\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[,.]\d{1,3}")
_CUE_TAG = re.compile(r"<(/?)([A-Za-z][\w.-]*|\d[\d:.]*)((?:\s[^<>]*)?)>")
_TAG = "data-cue-tag"  # the opening tag as written
_CLOSE = "data-cue-close"  # the tag that closes it, as written; absent where the cue leaves it open (<v>)
_TIMESTAMP = re.compile(r"\d")


def cue_markup(text: str) -> str:
    """A cue's text (lines joined by newlines) as an HTML fragment: its tags as <span data-cue-tag> elements,
    a karaoke timestamp or a close tag with nothing open as an empty one, the line breaks as <br>."""
    out: list[str] = []
    open_tags: list[tuple[str, int]] = []  # (name, index in out of its opening element)
    position = 0
    for tag in _CUE_TAG.finditer(text):
        out.append(html.escape(text[position : tag.start()], quote=False).replace("\n", "<br>"))
        position = tag.end()
        closing, name, written = tag.group(1), tag.group(2).split(".")[0].lower(), html.escape(tag.group(0))
        if not closing and not _TIMESTAMP.match(name):
            open_tags.append((name, len(out)))
            out.append(f'<span {_TAG}="{written}">')
        elif closing and any(opened == name for opened, _ in open_tags):
            while open_tags:  # a close tag closes what it encloses, as the WebVTT parser does
                opened, at = open_tags.pop()
                out.append("</span>")
                if opened == name:
                    out[at] = f'{out[at][:-1]} {_CLOSE}="{written}">'
                    break
        else:  # a timestamp, or a close tag with nothing open (players ignore it; the file keeps it)
            out.append(f'<span {_TAG}="{written}"></span>')
    out.append(html.escape(text[position:], quote=False).replace("\n", "<br>"))
    out.extend("</span>" for _ in open_tags)
    return "".join(out)


def cue_text(markup: str) -> str:
    """The translated fragment back as cue text: each element that carries a cue tag as that tag around its
    words (and the tag that closed it, if one did), <br> as a new line, any other element as its text."""
    if not markup.strip():
        return ""
    return _text_of(lxml.html.fragment_fromstring(markup, create_parent="div"))


def _text_of(element: Any) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag == "br":
            parts.append("\n")
        elif child.get(_TAG):
            parts.append(child.get(_TAG) + _text_of(child) + child.get(_CLOSE, ""))
        else:
            parts.append(_text_of(child))
        parts.append(child.tail or "")
    return "".join(parts)


def read_subtitles(data: bytes, limits: DocumentLimits, name: str = "subtitles") -> Extracted:
    text = decoded(data, name)
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.replace("\r\n", "\n").split("\n")
    cues: list[tuple[int, int]] = []  # [first text line, end) of each cue's text
    i = 0
    while i < len(lines):
        if _TIMING.match(lines[i]):
            start = end = i + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            if end > start:
                cues.append((start, end))
            i = end
        else:
            i += 1
    if not cues and text.strip():
        raise BadDocument(f"{name}: no subtitle cues (timecode lines) found")
    if len(cues) > limits.max_units:
        raise PayloadTooLarge(f"{len(cues)} cues; at most {limits.max_units}", code="too_many_segments")
    units = [cue_markup("\n".join(lines[a:b])) for a, b in cues]

    def rebuild(translations: list[str]) -> bytes:
        out: list[str] = []
        at = 0
        for (a, b), translated in zip(cues, translations, strict=True):
            out.extend(lines[at:a])
            parts = [part.strip() for part in cue_text(translated).split("\n")]
            out.extend([part for part in parts if part] or [""])  # an empty line would end the cue
            at = b
        out.extend(lines[at:])
        return newline.join(out).encode("utf-8")

    return Extracted(units, "html", rebuild)
