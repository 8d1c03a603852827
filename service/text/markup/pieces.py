"""Character offsets of SentencePiece pieces inside the text they came from.

Results carry pieces, not offsets, so we walk the pieces over the text. Normalisation (NFKC, no-break
spaces), unknown pieces and byte-fallback pieces do not match the raw text; those pieces share the gap
up to the next matching piece, so offsets stay monotonic: start_i <= end_i <= start_{i+1}.
"""

from __future__ import annotations

from collections.abc import Sequence

WORD_START = "▁"
_LOOKAHEAD = 8  # how far past skipped whitespace a normalised piece may still be found


def piece_offsets(text: str, pieces: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) character range in `text` of each piece's surface (the word-start mark excluded)."""
    surfaces = [piece.replace(WORD_START, " ").strip() for piece in pieces]
    spans: list[tuple[int, int] | None] = []
    pos = 0
    after_unknown = False  # an unmatched piece (<unk>, a byte) stands for text we must be allowed to skip
    skipped_from, at = -1, 0  # whitespace after `pos` is skipped once, not again for every unmatched piece
    for surface in surfaces:
        if skipped_from != pos:
            skipped_from, at = pos, pos
            while at < len(text) and text[at].isspace():
                at += 1
        found = -1
        if surface:
            if text.startswith(surface, at):
                found = at
            else:
                window = at + len(surface) + _LOOKAHEAD
                candidate = text.find(surface, at, window)
                # a nearby hit skips text; fine after an unknown piece, or if we skip no word characters
                if candidate >= 0 and (after_unknown or not any(c.isalnum() for c in text[at:candidate])):
                    found = candidate
        if found >= 0:
            spans.append((found, found + len(surface)))
            pos = found + len(surface)
            after_unknown = False
        else:
            spans.append(None)
            after_unknown = after_unknown or bool(surface)
    return _fill_gaps(text, spans, surfaces)


def _fill_gaps(text: str, spans: list[tuple[int, int] | None], surfaces: list[str]) -> list[tuple[int, int]]:
    """Each run of unmatched pieces: its first piece with a surface takes the unmatched text, the rest are empty."""
    out: list[tuple[int, int]] = []
    prev_end = 0
    i = 0
    while i < len(spans):
        span = spans[i]
        if span is not None:
            out.append(span)
            prev_end = span[1]
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j] is None:
            j += 1
        following = spans[j] if j < len(spans) else None
        next_start = following[0] if following is not None else len(text)
        start = prev_end
        while start < next_start and text[start].isspace():
            start += 1
        end = next_start
        while end > start and text[end - 1].isspace():
            end -= 1
        owner = next((k for k in range(i, j) if surfaces[k]), i)
        out.extend((start, end) if k == owner else ((start, start) if k < owner else (end, end)) for k in range(i, j))
        prev_end = end
        i = j
    return out
