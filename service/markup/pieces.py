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
    spans: list[tuple[int, int] | None] = []
    pos = 0
    for piece in pieces:
        surface = piece.replace(WORD_START, " ").strip()
        at = pos
        while at < len(text) and text[at].isspace():
            at += 1
        found = -1
        if surface:
            if text.startswith(surface, at):
                found = at
            else:
                candidate = text.find(surface, at, at + len(surface) + _LOOKAHEAD)
                # only accept a nearby hit if what we skip is not itself a word we would lose
                if candidate >= 0 and not any(c.isalnum() for c in text[at:candidate]):
                    found = candidate
        if found >= 0:
            spans.append((found, found + len(surface)))
            pos = found + len(surface)
        else:
            spans.append(None)
    return _fill_gaps(text, spans)


def _fill_gaps(text: str, spans: list[tuple[int, int] | None]) -> list[tuple[int, int]]:
    """Unmatched pieces: the first of a run takes the unmatched text up to the next match, the rest are empty."""
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
        next_start = spans[j][0] if j < len(spans) and spans[j] is not None else len(text)  # type: ignore[index]
        start = prev_end
        while start < next_start and text[start].isspace():
            start += 1
        end = next_start
        while end > start and text[end - 1].isspace():
            end -= 1
        out.append((start, end))
        out.extend((end, end) for _ in range(i + 1, j))
        prev_end = end
        i = j
    return out
