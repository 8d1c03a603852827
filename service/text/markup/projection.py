"""Carry inline tags from a source sentence to its translation through the word alignment.

Bergamot-style: every tag covers a character span of the source text; target pieces aligned to source pieces
inside that span belong to the tag. Alignments are noisy, so per nesting level we choose, for the children of a
tag, contiguous disjoint target intervals that agree best with the aligned pieces (a small exact dynamic
programme). Every tag is placed exactly once and keeps its parent, so nesting survives by construction. Children
without text (images, icons, skipped code) are zero-width and go to the target position that best separates the
pieces aligned before them from those aligned after them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from service.text.markup.monotone import IntArray, assign
from service.text.markup.pieces import piece_offsets

NONEMPTY_BONUS = 1.5
"""Score for giving a tag with source text at least one target piece: worth one misaligned piece, not two."""
SMALL_WORK = 2048
"""Pieces x children (or x cut positions) up to which a tag is handled by direct scans in plain Python."""
FEW_CUTS = 16
"""Up to this many cut positions in a large tag are computed one numpy pass each; more use one sweep."""


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
        # next_word[t]: the first target boundary at or after t that is not inside a word (or the end): an
        # element without text moved between two pieces of one word would split it ("J 😀'adore")
        pieces = list(target_pieces)
        self.next_word = list(range(len(self.tgt) + 1))
        for t in range(min(len(self.tgt), len(pieces)) - 1, 0, -1):
            if _inside_word(pieces[t - 1], pieces[t]):
                self.next_word[t] = self.next_word[t + 1]
        self.sorted_probes = all(a <= b for a, b in pairwise(self.probes))
        self._arrays: tuple[IntArray, IntArray] | None = None

    @property
    def arrays(self) -> tuple[IntArray, IntArray]:
        """The alignment and the probes as numpy arrays, for tags with many pieces or many children."""
        if self._arrays is None:
            self._arrays = (np.asarray(self.align, dtype=np.int64), np.asarray(self.probes, dtype=np.int64))
        return self._arrays

    def owner(self, node: SpanNode, j: int) -> bool:
        a = self.align[j]
        return a >= 0 and node.start <= self.probes[a] < node.end

    def source_boundary(self, pos: int) -> int:
        """Number of source pieces before character `pos`."""
        if self.sorted_probes:  # always, as piece offsets are monotonic
            return bisect_left(self.probes, pos)
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

    def cuts(self, positions: list[int], lo: int, hi: int) -> list[int]:
        """`cut` for many positions in one range: one sweep over the boundaries instead of one pass each.

        The score at boundary t, less the score at lo, is a prefix sum over the pieces in [lo, t): +1 for a
        piece aligned before the boundary, -1 after, 0 unaligned; the cut is the first longest best prefix.
        """
        if len(positions) * (hi - lo) <= SMALL_WORK:
            return [self.cut(pos, lo, hi) for pos in positions]
        align = self.arrays[0][lo:hi]
        boundaries = [self.source_boundary(pos) for pos in positions]
        if len(positions) <= FEW_CUTS:
            out = []
            for boundary in boundaries:
                prefix = np.cumsum(np.where(align < 0, 0, np.where(align < boundary, 1, -1)))
                at = int(np.argmax(prefix))
                out.append(lo + at + 1 if prefix[at] > 0 else lo)
            return out
        sums = _PrefixSums([-1 if a >= 0 else 0 for a in self.align[lo:hi]])  # boundary 0: all after
        flips = sorted((a, j) for j, a in enumerate(self.align[lo:hi]) if a >= 0)
        results = [lo] * len(positions)
        flipped = 0
        for q in sorted(range(len(positions)), key=boundaries.__getitem__):
            while flipped < len(flips) and flips[flipped][0] < boundaries[q]:
                sums.set(flips[flipped][1], 1)
                flipped += 1
            best, length = sums.best()
            results[q] = lo + length if best > 0 else lo
        return results

    def char_at(self, t: int, lo: int, hi: int, cs: int, ce: int) -> int:
        pos = self.tgt[t][0] if t < hi else (self.tgt[hi - 1][1] if hi > lo else cs)
        return min(max(pos, cs), ce)

    def place(self, node: SpanNode, lo: int, hi: int, cs: int, ce: int) -> Placed:
        """Place `node` (already given target pieces [lo, hi), characters [cs, ce)) and its subtree."""
        text_kids = [c for c in node.children if c.has_text]
        empty_kids = [c for c in node.children if not c.has_text]
        intervals = self.split(text_kids, lo, hi)
        order = sorted(range(len(text_kids)), key=lambda i: (intervals[i][0], intervals[i][1], i))
        snap = _snapper(intervals)
        cuts = [min(self.next_word[t], hi) for t in self.cuts([c.start for c in empty_kids], lo, hi)]
        pending = deque(sorted((snap(t), i) for i, t in enumerate(cuts)))
        children: list[Placed] = []
        for i in order:
            a, b = intervals[i]
            while pending and pending[0][0] <= a:
                t, k = pending.popleft()
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

    def split(self, kids: list[SpanNode], lo: int, hi: int) -> list[tuple[int, int]]:
        """Contiguous, disjoint target intervals for the children that have text, in their likely target order."""
        if not kids:
            return []
        if len(kids) * (hi - lo) <= SMALL_WORK or not _disjoint(kids):
            return self.split_small(kids, lo, hi)
        return self.split_large(kids, lo, hi)

    def split_small(self, kids: list[SpanNode], lo: int, hi: int) -> list[tuple[int, int]]:
        """`split` by direct scans (pieces x children): the reference, and the fastest way for small tags."""
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
        states = assign(labels, len(kids), NONEMPTY_BONUS)
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

    def split_large(self, kids: list[SpanNode], lo: int, hi: int) -> list[tuple[int, int]]:
        """`split_small` in numpy for disjoint children (as the tree of a text always has): each piece finds
        its owner by binary search over the children's starts, so nothing costs pieces x children but the
        dynamic programme itself."""
        n, k = hi - lo, len(kids)
        align_all, probes = self.arrays
        align = align_all[lo:hi]
        starts = np.asarray([kid.start for kid in kids], dtype=np.int64)
        ends = np.asarray([kid.end for kid in kids], dtype=np.int64)
        owner = np.full(n, -1, dtype=np.int64)
        if probes.size:
            aligned = align >= 0
            probe = np.where(aligned, probes[np.where(aligned, align, 0)], -1)
            candidate = np.searchsorted(starts, probe, side="right") - 1
            inside = aligned & (candidate >= 0) & (probe < ends[np.maximum(candidate, 0)])
            owner = np.where(inside, candidate, -1)
        owned_at = np.flatnonzero(owner >= 0)  # relative piece indices, ascending
        owned_by = owner[owned_at]
        counts = np.bincount(owned_by, minlength=k)
        grouped = owned_at[np.argsort(owned_by, kind="stable")]
        firsts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        unowned = [i for i in range(k) if counts[i] == 0]
        cut_at = dict(zip(unowned, self.cuts([kids[i].start for i in unowned], lo, hi), strict=True))
        keys = [
            (float(lo + int(grouped[firsts[i] + counts[i] // 2])) if counts[i] else cut_at[i] - 0.5, i)
            for i in range(k)
        ]
        order = [i for _, i in sorted(keys)]
        rank = np.empty(k, dtype=np.int64)
        rank[order] = np.arange(k)
        labels = np.where(owner >= 0, rank[np.maximum(owner, 0)], -1)
        states = np.asarray(assign(labels, k, NONEMPTY_BONUS), dtype=np.int64)
        positions = np.arange(n)
        first = np.full(2 * k + 2, n, dtype=np.int64)  # one spare state: "no later state"
        last = np.full(2 * k + 1, -1, dtype=np.int64)
        np.minimum.at(first, states, positions)
        np.maximum.at(last, states, positions)
        later = np.minimum.accumulate(first[::-1])[::-1][1:]  # later[s]: first piece in a state above s
        intervals: list[tuple[int, int]] = []
        for i in range(k):
            state = 2 * int(rank[i]) + 1
            if last[state] >= 0:
                intervals.append((lo + int(first[state]), lo + int(last[state]) + 1))
            else:
                t = lo + int(later[state]) if later[state] < n else hi
                intervals.append((t, t))
        return intervals


def _wordish(char: str) -> bool:
    return char.isalnum() or char in "'’-"


def _inside_word(before: str, piece: str) -> bool:
    """Whether the boundary between two target pieces falls inside one word (no space, word characters on both
    sides; an apostrophe or hyphen counts as one: "J'adore", "e-mail")."""
    return not piece.startswith("▁") and _wordish(piece[:1]) and _wordish(before[-1:])


def _disjoint(kids: list[SpanNode]) -> bool:
    """Children in source order that do not overlap (each kid has text, so this also means sorted)."""
    return all(a.end <= b.start for a, b in pairwise(kids))


def _snapper(intervals: list[tuple[int, int]]) -> Callable[[int], int]:
    """`t` moved out of any sibling's interval to its nearer edge (never inside another sibling)."""
    spans = sorted((a, b) for a, b in intervals if b > a)
    if any(b > a2 for (_, b), (a2, _) in pairwise(spans)):  # overlapping: scan them all
        return lambda t: next((a if t - a <= b - t else b for a, b in intervals if a < t < b), t)
    starts = [a for a, _ in spans]

    def snap(t: int) -> int:
        i = bisect_left(starts, t) - 1  # the last interval starting before t is the only one that can hold it
        if i >= 0 and t < spans[i][1]:
            a, b = spans[i]
            return a if t - a <= b - t else b
        return t

    return snap


class _PrefixSums:
    """Point updates and the best prefix sum (the first, shortest one achieving it) of an int sequence."""

    def __init__(self, values: list[int]):
        self.size = 1
        while self.size < max(len(values), 1):
            self.size *= 2
        self.total = [0] * (2 * self.size)
        self.top = [float("-inf")] * (2 * self.size)  # best non-empty prefix in the node
        self.length = [0] * (2 * self.size)
        self.span = [0] * (2 * self.size)
        for i in range(self.size):
            self.span[self.size + i] = 1
        for i, value in enumerate(values):
            self.total[self.size + i] = value
            self.top[self.size + i] = value
            self.length[self.size + i] = 1
        for node in range(self.size - 1, 0, -1):
            self._pull(node)

    def _pull(self, node: int) -> None:
        left, right = 2 * node, 2 * node + 1
        self.total[node] = self.total[left] + self.total[right]
        self.span[node] = self.span[left] + self.span[right]
        through = self.total[left] + self.top[right]
        if self.top[left] >= through:
            self.top[node], self.length[node] = self.top[left], self.length[left]
        else:
            self.top[node], self.length[node] = through, self.span[left] + self.length[right]

    def set(self, index: int, value: int) -> None:
        node = self.size + index
        self.total[node] = self.top[node] = value
        node //= 2
        while node:
            self._pull(node)
            node //= 2

    def best(self) -> tuple[float, int]:
        return self.top[1], self.length[1]


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
