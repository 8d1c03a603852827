"""Finding user terms (glossary sources, do-not-translate strings) in a text: literal, whole words, longest first.

Terms and text are cut into tokens (runs of word characters, or one other non-space character) and the terms
are kept in a trie of tokens. At each token of the text the trie is walked as far as the text agrees, so a text
costs at most (its tokens x the longest term's tokens), whatever the number of terms: linear in the text for
a bounded term length (MAX_TERM_CHARS). A regex alternation of 5,000 terms would try every term at every
position. Terms are literal: no character of a term has a special meaning.

A term matches where its tokens occur in order with the same spacing between them (a space or none), so
`e-mail` does not match `e - mail`. Chinese and Japanese terms match character by character, wherever
they occur (those scripts mark no word boundaries). With `fold`, matching ignores case and Unicode composition (NFC), as
glossaries do; without it, matching is exact, as a do-not-translate list is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from nmt_core.scripts import CJK

# A CJK character is a token of its own: Chinese has no spaces, so 数据库 is found inside 打开数据库文件.
_TOKEN = re.compile(rf"[{CJK}]|[^\W{CJK}]+|[^\w\s]")
_END = -1  # trie key under which a node keeps the index of the term that ends there


@dataclass(frozen=True)
class TermMatch:
    start: int
    end: int
    term: int
    """Index of the matched term in the list the matcher was built from."""


@dataclass
class _Node:
    children: dict[object, _Node] = field(default_factory=dict)
    term: int | None = None


def normalized(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _tokens(text: str) -> list[tuple[str, int, int, bool]]:
    """(token, start, end, spaced): `spaced` says whether whitespace separates it from the token before."""
    out = []
    previous_end = 0
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        out.append((match.group(), start, end, start > previous_end))
        previous_end = end
    return out


class TermMatcher:
    """Leftmost, then longest, non-overlapping whole-word matches of a fixed list of terms."""

    def __init__(self, terms: Sequence[str], fold: bool = False):
        self.fold = fold
        self._root = _Node()
        self.longest = 0
        for index, term in enumerate(terms):
            tokens = _tokens(self._key(term))
            node = self._root
            for position, (token, _, _, spaced) in enumerate(tokens):
                node = node.children.setdefault((token, position > 0 and spaced), _Node())
            if tokens and node.term is None:  # the first of two equal terms wins
                node.term = index
            self.longest = max(self.longest, len(tokens))

    def _key(self, text: str) -> str:
        return normalized(text) if self.fold else text

    def find(self, text: str) -> list[TermMatch]:
        if self._root.children == {}:
            return []
        composed, origin = _folded_with_origin(text) if self.fold else (text, None)
        tokens = _tokens(composed)
        matches: list[TermMatch] = []
        position = 0
        while position < len(tokens):
            node, best = self._root, None
            for offset in range(min(self.longest, len(tokens) - position)):
                token, _, _, spaced = tokens[position + offset]
                child = node.children.get((token, offset > 0 and spaced))
                if child is None:
                    break
                node = child
                if node.term is not None:
                    best = (offset, node.term)
            if best is None:
                position += 1
                continue
            offset, term = best
            start, end = tokens[position][1], tokens[position + offset][2]
            if origin is not None:
                start, end = origin[start], origin[end]
            matches.append(TermMatch(start, end, term))
            position += offset + 1
        return matches


def _folded_with_origin(text: str) -> tuple[str, list[int] | None]:
    """`text` in NFC and case-folded, with where each of its positions (and its end) starts in `text`, or None
    when folding changes no length (the common case: positions are the same)."""
    if unicodedata.is_normalized("NFC", text):
        folded = text.casefold()
        if len(folded) == len(text):
            return folded, None
    # Per character cluster (a base and its combining marks): what it becomes, and where it came from.
    pieces: list[str] = []
    origin: list[int] = []
    cluster_start = 0
    for index in range(1, len(text) + 1):
        if index < len(text) and unicodedata.combining(text[index]):
            continue
        piece = normalized(text[cluster_start:index])
        pieces.append(piece)
        origin.extend([cluster_start] * len(piece))
        cluster_start = index
    origin.append(len(text))
    return "".join(pieces), origin
