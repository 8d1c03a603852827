"""Carry inline tags from a source sentence to its translation through the word alignment.

Bergamot-style: every tag covers a character span of the source text; target pieces aligned to source pieces
inside that span belong to the tag. Alignments are noisy, so per nesting level we choose, for the children of a
tag, contiguous disjoint target intervals that agree best with the aligned pieces (a small exact dynamic
programme). Every tag is placed exactly once and keeps its parent, so nesting survives by construction. Children
without text (images, icons, skipped code) are zero-width and go to the target position that best separates the
pieces aligned before them from those aligned after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from service.markup.pieces import piece_offsets

NONEMPTY_BONUS = 1.5
"""Score for giving a tag with source text at least one target piece: worth one misaligned piece, not two."""


@dataclass
class SpanNode:
    """A tag in the source text: [start, end) characters; start == end for elements without text."""

    start: int
    end: int
    children: list[SpanNode] = field(default_factory=list)
    ref: Any = None
    spaced: tuple[bool, bool] = (False, False)  # zero-width only: whitespace before/after it in the source

    @property
    def has_text(self) -> bool:
        return self.end > self.start


@dataclass
class Placed:
    """A tag placed in the target text: [start, end) characters, children in target order."""

    node: SpanNode
    start: int
    end: int
    children: list[Placed] = field(default_factory=list)


def _probe(span: tuple[int, int]) -> int:
    """The character that decides which tag a piece belongs to (its middle; pieces may straddle a tag edge)."""
    start, end = span
    return start + (end - start - 1) // 2 if end > start else start


class _Projector:
    def __init__(
        self,
        source_text: str,
        source_pieces: Sequence[str],
        target_text: str,
        target_pieces: Sequence[str],
        alignment: Sequence[int],
    ):
        self.src = piece_offsets(source_text, source_pieces)
        self.tgt = piece_offsets(target_text, target_pieces)
        n_src = len(self.src)
        self.align = [a if 0 <= a < n_src else -1 for a in list(alignment)[: len(self.tgt)]]
        self.align += [-1] * (len(self.tgt) - len(self.align))
        self.probes = [_probe(span) for span in self.src]

    def owner(self, node: SpanNode, j: int) -> bool:
        a = self.align[j]
        return a >= 0 and node.start <= self.probes[a] < node.end

    def source_boundary(self, pos: int) -> int:
        """Number of source pieces before character `pos`."""
        return sum(1 for p in self.probes if p < pos)

    def cut(self, pos: int, lo: int, hi: int) -> int:
        """Target boundary in [lo, hi] that best puts pieces aligned before `pos` left and the rest right."""
        boundary = self.source_boundary(pos)
        score = sum(1 for j in range(lo, hi) if self.align[j] >= boundary)
        best, best_t = score, lo
        for t in range(lo, hi):
            a = self.align[t]
            if a >= 0:
                score += 1 if a < boundary else -1
            if score > best:
                best, best_t = score, t + 1
        return best_t

    def char_at(self, t: int, lo: int, hi: int, cs: int, ce: int) -> int:
        pos = self.tgt[t][0] if t < hi else (self.tgt[hi - 1][1] if hi > lo else cs)
        return min(max(pos, cs), ce)

    def place(self, node: SpanNode, lo: int, hi: int, cs: int, ce: int) -> Placed:
        """Place `node` (already given target pieces [lo, hi), characters [cs, ce)) and its subtree."""
        text_kids = [c for c in node.children if c.has_text]
        empty_kids = [c for c in node.children if not c.has_text]
        intervals = self.split(text_kids, lo, hi)
        order = sorted(range(len(text_kids)), key=lambda i: (intervals[i][0], intervals[i][1], i))
        pending = sorted(((self.snap(self.cut(c.start, lo, hi), intervals), i) for i, c in enumerate(empty_kids)))
        children: list[Placed] = []
        for i in order:
            a, b = intervals[i]
            while pending and pending[0][0] <= a:
                t, k = pending.pop(0)
                children.append(self.zero(empty_kids[k], self.char_at(t, lo, hi, cs, ce)))
            if b > a:
                children.append(self.place(text_kids[i], a, b, self.tgt[a][0], self.tgt[b - 1][1]))
            else:
                pos = self.char_at(a, lo, hi, cs, ce)
                children.append(self.place(text_kids[i], a, a, pos, pos))
        for t, k in pending:
            children.append(self.zero(empty_kids[k], self.char_at(t, lo, hi, cs, ce)))
        return Placed(node, cs, ce, children)

    def zero(self, node: SpanNode, pos: int) -> Placed:
        return Placed(node, pos, pos, [self.zero(c, pos) for c in node.children])

    @staticmethod
    def snap(t: int, intervals: list[tuple[int, int]]) -> int:
        """Never put a zero-width sibling inside another sibling's interval: move it to the nearer edge."""
        for a, b in intervals:
            if a < t < b:
                return a if t - a <= b - t else b
        return t

    def split(self, kids: list[SpanNode], lo: int, hi: int) -> list[tuple[int, int]]:
        """Contiguous, disjoint target intervals for the children that have text, in their likely target order."""
        if not kids:
            return []
        keys = []
        for i, kid in enumerate(kids):
            owned = [j for j in range(lo, hi) if self.owner(kid, j)]
            key = float(owned[len(owned) // 2]) if owned else self.cut(kid.start, lo, hi) - 0.5
            keys.append((key, i))
        order = [i for _, i in sorted(keys)]
        rank = {kid_index: r for r, kid_index in enumerate(order)}
        labels = []
        for j in range(lo, hi):
            label = -1
            for i, kid in enumerate(kids):
                if self.owner(kid, j):
                    label = rank[i]
                    break
            labels.append(label)
        states = _assign(labels, len(kids))
        intervals: list[tuple[int, int]] = []
        for i in range(len(kids)):
            state = 2 * rank[i] + 1
            inside = [lo + j for j, s in enumerate(states) if s == state]
            if inside:
                intervals.append((inside[0], inside[-1] + 1))
            else:
                after = [lo + j for j, s in enumerate(states) if s > state]
                t = after[0] if after else hi
                intervals.append((t, t))
        return intervals


def _assign(labels: list[int], k: int) -> list[int]:
    """Best monotone state sequence gap0, kid0, gap1, kid1, ..., gap_k over the pieces.

    A piece scores 1 in kid r's state if labelled r, and 1 in a gap if labelled -1 (parent text or
    unaligned); entering a kid's state earns NONEMPTY_BONUS. Kids whose state is skipped stay empty.
    """
    n, states = len(labels), 2 * k + 1
    if n == 0:
        return []

    def gain(j: int, s: int) -> float:
        return 1.0 if labels[j] == ((s - 1) // 2 if s % 2 else -1) else 0.0

    def enter(s: int) -> float:
        return NONEMPTY_BONUS if s % 2 else 0.0

    score = [gain(0, s) + enter(s) for s in range(states)]
    back = [[-1] * states for _ in range(n)]
    for j in range(1, n):
        current = [0.0] * states
        best_before, best_state = float("-inf"), -1
        for s in range(states):
            stay, entered = score[s], best_before + enter(s)
            if stay >= entered:
                current[s], back[j][s] = stay + gain(j, s), s
            else:
                current[s], back[j][s] = entered + gain(j, s), best_state
            if score[s] > best_before:
                best_before, best_state = score[s], s
        score = current
    s = max(range(states), key=lambda i: (score[i], -i))
    path = [0] * n
    for j in range(n - 1, -1, -1):
        path[j] = s
        s = back[j][s]
    return path


def project(
    root: SpanNode,
    source_text: str,
    source_pieces: Sequence[str],
    target_text: str,
    target_pieces: Sequence[str],
    alignment: Sequence[int],
) -> Placed:
    """Place `root`'s tag tree (spans in `source_text`) into `target_text`; root covers the whole target."""
    projector = _Projector(source_text, source_pieces, target_text, target_pieces, alignment)
    return projector.place(root, 0, len(projector.tgt), 0, len(target_text))
