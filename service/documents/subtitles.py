"""SubRip (.srt) and WebVTT (.vtt): each cue's text is a unit, its lines joined by <br> so the breaks follow their
words; cue numbers, timecodes, settings, headers, NOTE and STYLE blocks are written back byte for byte."""

from __future__ import annotations

import html
import re

from service.documents.extracted import Extracted, decoded
from service.documents.limits import DocumentLimits
from service.errors import BadDocument, PayloadTooLarge

_TIMING = re.compile(r"^\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[,.]\d{1,3}\s*-->\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[,.]\d{1,3}")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


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
    units = ["<br>".join(html.escape(line, quote=False) for line in lines[a:b]) for a, b in cues]

    def rebuild(translations: list[str]) -> bytes:
        out: list[str] = []
        at = 0
        for (a, b), translated in zip(cues, translations, strict=True):
            out.extend(lines[at:a])
            parts = [html.unescape(part).strip() for part in _BREAK.split(translated)]
            out.extend([part for part in parts if part] or [""])  # an empty line would end the cue
            at = b
        out.extend(lines[at:])
        return newline.join(out).encode("utf-8")

    return Extracted(units, "html", rebuild)
