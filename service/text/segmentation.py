"""Split long inputs into sentences, the unit the model was trained on and the unit we cache and batch.

A rule-based splitter (terminal punctuation followed by space and a word or an opening quote, or Chinese and
Japanese full-width `。！？；` followed directly by the next sentence) is enough for the languages we serve and
keeps the original spacing, so joining the translated sentences with the original separators preserves
paragraph breaks. Joining adapts the spacing to the script of the translation: none between two Chinese
sentences, one space where a sentence in a spaced script follows one that had none.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from nmt_core.scripts import UNSPACED

_BOUNDARY = re.compile(
    r"(?<=[.!?…。！？])[\"'»”)\]]*(\s+)(?=[\"'«“(\[¿¡]*[\w])"  # a space after the end of a sentence
    r"|(?<=[。！？；])[」』”’）》】〉\"'»)\]]*()(?=[「『“‘（《【〈(\[\"']*\w)",  # CJK: full-width, no space
    re.UNICODE,
)
# Scripts written without spaces between words or sentences (Han, kana, CJK punctuation, full-width forms).
_UNSPACED = re.compile(f"[{UNSPACED}]")
_NEWLINE_RUN = re.compile(r"\n\s*")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w")
# Abbreviations whose period does not end a sentence (lower-cased, without the period).
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "z.b",
        "bzw",
        "usw",
        "nr",
        "ca",
        "hr",
        "fr",
        "no",
        "jr",
        "sr",
    }
)


_ABBREVIATION_WINDOW = 2 + max(len(a) for a in _ABBREVIATIONS) + 4  # ")" or quotes, the word, its periods


@dataclass(frozen=True)
class Split:
    """Sentences and the whitespace that followed each (the last separator may be '')."""

    leading: str
    sentences: list[str]
    separators: list[str]

    def join(self, translated: list[str]) -> str:
        """The translated sentences with the original separators, respaced where the translation's script needs
        it and the source's did not: a space after a sentence in a spaced script (Chinese had none), none
        between two sentences of an unspaced one (English had one). Untranslated, the text comes back as it was."""
        parts = [self.leading]
        last = len(translated) - 1
        for index, (text, sep) in enumerate(zip(translated, self.separators, strict=True)):
            if index < last:
                source = (self.sentences[index], self.sentences[index + 1])
                sep = _respaced(sep, source, (text, translated[index + 1]))
            parts += [text, sep]
        return "".join(parts)


_UNSPACED_COMMAS = "，、；：,"
_CLOSING = "\"'»”’)]）」』》】〉"
_OPENING = "\"'«“‘([（「『《【〈"


def _unspaced(char: str) -> bool:
    return bool(_UNSPACED.match(char))


def _space_after(sentence: str) -> bool:
    """Whether the next sentence needs a space after this one: its end (past closing quotes) is in a spaced script."""
    end = sentence.rstrip(_CLOSING) or sentence
    return bool(end) and not _unspaced(end[-1])


def _no_space_between(before: str, after: str) -> bool:
    """Whether two sentences join without a space: both sides of the boundary are in an unspaced script."""
    end, start = before.rstrip(_CLOSING) or before, after.lstrip(_OPENING) or after
    return bool(end and start) and _unspaced(end[-1]) and _unspaced(start[0])


def _respaced(sep: str, source: tuple[str, str], translated: tuple[str, str]) -> str:
    if not sep and _space_after(translated[0]) and not _space_after(source[0]):
        return " "
    inline = sep.isspace() and "\n" not in sep
    if inline and _no_space_between(*translated) and not _no_space_between(*source):
        return ""
    return sep


_MEMO_MAX_CHARS = 1000  # memoise short, repeated segments only

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Per entry besides the key and value objects: the OrderedDict slot and link node (up to 168 bytes
# under churn, measured with tracemalloc) and the (value, cost) pair kept for each entry.
_MEMO_SLOT_OVERHEAD = 168 + 56 + 32


class _Memo(Generic[K, V]):
    """An LRU bounded by the bytes its entries take as well as by their number.

    `functools.lru_cache` counts entries only: 4,096 distinct texts just under `_MEMO_MAX_CHARS`,
    each split into hundreds of tiny sentences, held about 100 MB. Each entry is charged an upper
    bound of its objects' sizes (`cost`), so adversarial input only shortens what is memoised.
    """

    def __init__(self, max_bytes: int, max_entries: int, cost: Callable[[K, V], int]):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._cost = cost
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._items.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        cost = self._cost(key, value) + _MEMO_SLOT_OVERHEAD
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, cost)
            self._bytes += cost
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _normalize_cost(text: str, normalized: str) -> int:
    return sys.getsizeof(text) + (0 if normalized is text else sys.getsizeof(normalized))


_NORMALIZE_MEMO: _Memo[str, str] = _Memo(2 << 20, 8192, _normalize_cost)


def normalize(text: str) -> str:
    if len(text) > _MEMO_MAX_CHARS:
        return _normalize(text)
    normalized = _NORMALIZE_MEMO.get(text)
    if normalized is None:
        normalized = _normalize(text)
        _NORMALIZE_MEMO.put(text, normalized)
    return normalized


def _normalize(text: str) -> str:
    """The cache's notion of 'the same sentence': NFC, whitespace collapsed and trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def has_letters(text: str) -> bool:
    """Whether a text holds anything to translate. One without letters (a number, a time, a price, a dash, an
    emoji, a symbol) is kept as it is: the model can only damage it."""
    return any(c.isalpha() for c in text)


def _ends_with_abbreviation(chunk: str) -> bool:
    """Whether the last word before a period is an abbreviation or an initial ("Dr.", "J.").

    A tail of only dots and spaces (". a") has no word at all: it ends nothing but a sentence.
    """
    words = chunk.rstrip(".").rsplit(maxsplit=1)
    last = words[-1].lower() if words else ""
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def _split_paragraph(paragraph: str) -> list[tuple[str, str]]:
    pieces: list[tuple[str, str]] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        group = 1 if match.group(1) is not None else 2  # 2: a full-width end with no space after it
        end = match.start(group)
        # Only the last word decides; looking at a bounded tail keeps a run of abbreviations linear.
        tail_start = max(start, end - _ABBREVIATION_WINDOW)
        tail = paragraph[tail_start:end]
        mid_word = tail_start > start and not paragraph[tail_start - 1].isspace() and not any(c.isspace() for c in tail)
        if group == 1 and not mid_word and _ends_with_abbreviation(tail):
            continue
        if not _WORD.search(paragraph, start, end):
            continue  # dots or an ellipsis with no word before them ("... and more") open a sentence
        pieces.append((paragraph[start:end], match.group(group)))
        start = match.end(group)
    pieces.append((paragraph[start:], ""))
    return pieces


def _wrap(sentence: str, max_chars: int) -> list[tuple[str, str]]:
    """Hard-wrap a run-on 'sentence' at spaces so no unit exceeds what the model can attend over.

    Cuts are made at spaces; each cut's whole run of whitespace (a tab or a no-break space beside the space
    included) becomes the unit's separator, so joining units and separators gives back the sentence exactly.
    A word longer than `max_chars` stays whole, except in an unspaced script (Chinese), which is cut after a
    comma, or at the window's end. Each window is
    scanned a bounded number of times, so the cost stays linear in the sentence.
    """
    if len(sentence) <= max_chars:
        return [(sentence, "")]
    out: list[tuple[str, str]] = []
    start, end_of_text = 0, len(sentence)
    while start < end_of_text:
        if end_of_text - start <= max_chars:
            out.append((sentence[start:], ""))
            break
        cut = sentence.rfind(" ", start + 1, start + max_chars + 1)
        if cut == -1 and _UNSPACED.search(sentence, start, start + max_chars):
            # Chinese or Japanese without spaces: after the window's last comma, or at its end
            comma = max(sentence.rfind(c, start + 1, start + max_chars) for c in _UNSPACED_COMMAS)
            out.append((sentence[start : (comma + 1 if comma != -1 else start + max_chars)], ""))
            start = comma + 1 if comma != -1 else start + max_chars
            continue
        if cut == -1:
            cut = sentence.find(" ", start + max_chars)
            cut = end_of_text if cut == -1 else cut
        unit_end, gap_end = cut, cut
        while unit_end > start + 1 and sentence[unit_end - 1].isspace():
            unit_end -= 1
        while gap_end < end_of_text and sentence[gap_end].isspace():
            gap_end += 1
        out.append((sentence[start:unit_end], sentence[unit_end:gap_end]))
        start = gap_end
    return out


def split_sentences(text: str, max_chars: int = 400) -> Split:
    """Sentences of `text`; see `_split_sentences`. Short texts are memoised (see `_MEMO_MAX_CHARS`)."""
    if len(text) > _MEMO_MAX_CHARS:
        return _split_sentences(text, max_chars)
    key = (text, max_chars)
    split = _SPLIT_MEMO.get(key)
    if split is None:
        split = _split_sentences(text, max_chars)
        _SPLIT_MEMO.put(key, split)
    return split


def _split_cost(key: tuple[str, int], split: Split) -> int:
    """An upper bound of what the entry holds: shared one-character separators are counted too,
    the text only once where it is also its own single sentence."""
    text = key[0]
    strings = sum(sys.getsizeof(s) for s in (split.leading, *split.sentences, *split.separators) if s is not text)
    return (
        sys.getsizeof(key)
        + sys.getsizeof(text)
        + sys.getsizeof(split)
        + sys.getsizeof(split.__dict__)
        + sys.getsizeof(split.sentences)
        + sys.getsizeof(split.separators)
        + strings
    )


_SPLIT_MEMO: _Memo[tuple[str, int], Split] = _Memo(4 << 20, 4096, _split_cost)


def _split_sentences(text: str, max_chars: int) -> Split:
    """Sentences of `text` in order; joining them with `separators` rebuilds the original spacing.

    Memoised: pages and clients repeat segments (menus, footers, retries), and on the cached
    path splitting was the largest cost after the framework itself. Callers must not mutate
    the returned lists.
    """
    stripped = text.lstrip()
    leading = text[: len(text) - len(stripped)]
    sentences: list[str] = []
    separators: list[str] = []
    parts = _split_paragraphs(stripped)
    for index in range(0, len(parts), 2):
        paragraph = parts[index]
        paragraph_sep = parts[index + 1] if index + 1 < len(parts) else ""
        units = [
            (chunk, sep)
            for sentence, sentence_sep in _split_paragraph(paragraph)
            for chunk, sep in _with_trailing(_wrap(sentence, max_chars), sentence_sep)
        ]
        units = [(u, s) for u, s in units if u.strip()] or ([] if not paragraph.strip() else units)
        for i, (unit, sep) in enumerate(units):
            trailing_space = unit[len(unit.rstrip()) :]
            sentences.append(unit.rstrip())
            separators.append(trailing_space + (sep if i < len(units) - 1 else sep + paragraph_sep))
        if not units and separators:
            separators[-1] += paragraph + paragraph_sep
        elif not units:
            leading += paragraph + paragraph_sep
    return Split(leading, sentences, separators)


def _split_paragraphs(text: str) -> list[str]:
    """`re.split(r"(\\s*\\n\\s*)", text)` in linear time: that pattern rescans a long run of spaces
    from every position in it. Each separator is a newline run extended back over the whitespace
    before it, never past the previous separator."""
    parts: list[str] = []
    start = 0
    for match in _NEWLINE_RUN.finditer(text):
        begin = match.start()
        while begin > start and text[begin - 1].isspace():
            begin -= 1
        parts += [text[start:begin], text[begin : match.end()]]
        start = match.end()
    parts.append(text[start:])
    return parts


def _with_trailing(chunks: list[tuple[str, str]], trailing: str) -> list[tuple[str, str]]:
    return [*chunks[:-1], (chunks[-1][0], chunks[-1][1] + trailing)]
