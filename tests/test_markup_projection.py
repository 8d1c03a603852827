"""Tag projection on hand-made alignments: the algorithm itself, independent of any model."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from service.text.markup import projection
from service.text.markup.monotone import assign_piece_major, assign_python, assign_state_major
from service.text.markup.pieces import piece_offsets
from service.text.markup.projection import NONEMPTY_BONUS, Placed, SpanNode, project


def _spans(placed: Placed, text: str) -> dict[str, str]:
    out = {}
    for child in placed.children:
        out[child.node.ref] = text[child.start : child.end]
        out.update(_spans(child, text))
    return out


def _walk(placed: Placed) -> Iterator[Placed]:
    for child in placed.children:
        yield child
        yield from _walk(child)


def _well_nested(placed: Placed) -> bool:
    cursor = placed.start
    for child in placed.children:
        if not (placed.start <= cursor <= child.start <= child.end <= placed.end) or not _well_nested(child):
            return False
        cursor = child.end
    return True


def _words(text: str) -> list[str]:
    return ["▁" + w for w in text.split()]


def test_link_follows_its_word_through_reordering() -> None:
    source, target = "Click here now", "Jetzt hier klicken"
    root = SpanNode(0, len(source), [SpanNode(6, 10, ref="a")])
    placed = project(root, source, _words(source), target, _words(target), [2, 1, 0])
    assert _spans(placed, target) == {"a": "hier"}


def test_nested_tags_keep_their_nesting() -> None:
    source = "this is very really important"  # <b>very <i>really</i> important</b>
    inner = SpanNode(13, 19, ref="i")
    root = SpanNode(0, len(source), [SpanNode(8, 29, [inner], ref="b")])
    target = "das ist wirklich sehr wichtig"
    placed = project(root, source, _words(source), target, _words(target), [0, 1, 3, 2, 4])
    assert _spans(placed, target) == {"b": "wirklich sehr wichtig", "i": "wirklich"}
    assert [c.node.ref for c in placed.children] == ["b"]
    assert [c.node.ref for c in placed.children[0].children] == ["i"]


def test_scattered_alignment_still_gives_contiguous_disjoint_spans() -> None:
    source = "a b c d"  # <x>a b</x> <y>c d</y>
    root = SpanNode(0, 7, [SpanNode(0, 3, ref="x"), SpanNode(4, 7, ref="y")])
    target = "P Q R S T"
    placed = project(root, source, _words(source), target, _words(target), [0, 2, 1, 3, 0])
    assert _well_nested(placed)
    assert sorted(c.node.ref for c in _walk(placed)) == ["x", "y"]
    assert all(c.end > c.start for c in placed.children)


def test_tag_without_aligned_piece_is_kept_and_gets_a_word() -> None:
    source = "one two three"  # <em>two</em>, but nothing aligns to "two"
    root = SpanNode(0, len(source), [SpanNode(4, 7, ref="em")])
    target = "eins drei"
    placed = project(root, source, _words(source), target, _words(target), [0, 2])
    assert [c.node.ref for c in _walk(placed)] == ["em"]
    assert _well_nested(placed)
    assert placed.children[0].end > placed.children[0].start


def test_zero_width_elements_go_where_their_neighbours_went() -> None:
    source = "hello world"  # <img> before "world", <br-like icon> at the very end
    root = SpanNode(0, len(source), [SpanNode(6, 6, ref="img"), SpanNode(11, 11, ref="icon")])
    target = "welt hallo"
    placed = project(root, source, _words(source), target, _words(target), [1, 0])
    positions = {c.node.ref: c.start for c in placed.children}
    assert positions["img"] == 0  # before "welt", the word that followed it
    assert positions["icon"] == len(target)


def test_empty_translation_keeps_every_tag_once() -> None:
    source = "a b c"
    leaf = SpanNode(2, 3, ref="i")
    root = SpanNode(0, 5, [SpanNode(0, 3, [leaf], ref="b"), SpanNode(5, 5, ref="img")])
    placed = project(root, source, _words(source), "", [], [])
    assert sorted(c.node.ref for c in _walk(placed)) == ["b", "i", "img"]
    assert all(c.start == c.end == 0 for c in _walk(placed))


def test_out_of_range_alignment_is_ignored() -> None:
    source = "a b"
    root = SpanNode(0, 3, [SpanNode(2, 3, ref="b")])
    placed = project(root, source, _words(source), "x y", ["▁x", "▁y"], [7, -3])
    assert [c.node.ref for c in _walk(placed)] == ["b"]
    assert _well_nested(placed)


def test_piece_offsets_walk_over_text() -> None:
    text = "Hello wor\u00a0ld"
    offsets = piece_offsets(text, ["▁He", "llo", "▁wor", "▁ld"])
    assert [text[a:b] for a, b in offsets] == ["He", "llo", "wor", "ld"]


def test_piece_offsets_give_unknown_pieces_the_text_they_replaced() -> None:
    text = "Very nice."
    offsets = piece_offsets(text, ["▁", "<unk>", "e", "r", "y", "▁nice", "<unk>"])
    assert [text[a:b] for a, b in offsets] == ["", "V", "e", "r", "y", "nice", "."]
    assert all(offsets[i][1] <= offsets[i + 1][0] for i in range(len(offsets) - 1))


def test_piece_offsets_survive_pieces_that_do_not_match() -> None:
    text = "caf\u00e9 ok"
    offsets = piece_offsets(text, ["▁caf", "<0xC3>", "<0xA9>", "▁ok"])
    assert [text[a:b] for a, b in offsets] == ["caf", "\u00e9", "", "ok"]


def _random_labels(rng: random.Random, n: int, k: int) -> list[int]:
    shape = rng.random()
    if shape < 0.3:
        return [rng.randint(-1, k - 1) for _ in range(n)]
    if shape < 0.6:
        return sorted(rng.randint(-1, k - 1) for _ in range(n))
    return [-1 if rng.random() < 0.4 else min(k - 1, j * k // n + rng.randint(-1, 1)) for j in range(n)]


def test_the_three_alignment_programmes_agree_ties_included() -> None:
    """Plain Python for small tables, numpy by state or by piece for large ones: the same sequence."""
    rng = random.Random(5)
    for _ in range(400):
        k, n = rng.randint(1, 12), rng.randint(1, 50)
        labels = _random_labels(rng, n, k)
        expected = assign_python(labels, k, NONEMPTY_BONUS)
        array = np.asarray(labels, dtype=np.int64)
        assert assign_state_major(array, k, NONEMPTY_BONUS).tolist() == expected, labels
        assert assign_piece_major(array, k, NONEMPTY_BONUS).tolist() == expected, labels


def _random_children(rng: random.Random, start: int, end: int, depth: int) -> list[SpanNode]:
    kids: list[SpanNode] = []
    pos = start
    while pos < end and rng.random() < 0.85:
        a = rng.randint(pos, end)
        if rng.random() < 0.3:
            kids.append(SpanNode(a, a, ref=f"z{a}.{len(kids)}.{depth}"))
        else:
            b = rng.randint(a, min(end, a + 9))
            kids.append(SpanNode(a, b, _random_children(rng, a, b, depth + 1) if depth < 2 else [], f"t{a}.{depth}"))
        pos = kids[-1].end
    return kids


def _dump(placed: Placed) -> tuple[Any, ...]:
    return (placed.node.ref, placed.start, placed.end, [_dump(c) for c in placed.children])


def test_large_tags_are_placed_exactly_as_small_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy paths for tags with many pieces or children (owner search, cut sweep) change no placement."""
    rng = random.Random(11)
    cases = []
    for _ in range(150):
        words = [rng.choice(["a", "bb", "ccc"]) for _ in range(rng.randint(1, 30))]
        source = " ".join(words)
        root = SpanNode(0, len(source), _random_children(rng, 0, len(source), 0))
        m = rng.randint(0, 30)
        target = " ".join(f"t{j}" for j in range(m))
        alignment = [
            rng.randint(-2, len(words) + 1) if rng.random() < 0.3 else rng.randrange(len(words)) for _ in range(m)
        ]
        cases.append((root, source, _words(source), target, _words(target), alignment))
    expected = [_dump(project(*case)) for case in cases]
    monkeypatch.setattr(projection, "SMALL_WORK", 0)
    for few_cuts in (10**9, 0):  # one numpy pass per cut, then the sweep
        monkeypatch.setattr(projection, "FEW_CUTS", few_cuts)
        assert [_dump(project(*case)) for case in cases] == expected
