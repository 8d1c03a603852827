"""Runs: the inline content between two block boundaries, translated as one segment and rebuilt in place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.text.markup.classify import Roles, is_skipped, is_special
from service.text.markup.projection import Placed, SpanNode

Node = str | Any  # text or an lxml element


@dataclass
class Run:
    """Text of `container` starting after `anchor` (a block child; None: the container's own text),
    followed by the inline children `items` and their tails."""

    container: Any
    anchor: Any | None
    items: list[Any] = field(default_factory=list)


def collect_runs(container: Any, roles: Roles | None = None) -> list[Run]:
    """All runs below `container` (which must not be skipped), in document order."""
    runs: list[Run] = []
    _collect(container, runs, roles or Roles())
    return runs


def _collect(container: Any, runs: list[Run], roles: Roles) -> None:
    run = Run(container, None)
    for child in list(container):
        if roles(child) != "block":
            run.items.append(child)
            continue
        runs.append(run)
        if not is_skipped(child):
            _collect(child, runs, roles)
        run = Run(container, child)
    runs.append(run)


def run_source(run: Run, roles: Roles | None = None) -> tuple[str, SpanNode]:
    """The run's plain text and its tag tree as character spans in that text."""
    roles = roles or Roles()
    parts: list[str] = []
    length = 0  # of the text so far, kept as we go: summing the parts at every tag is quadratic

    def add(text: str | None) -> None:
        nonlocal length
        if text:
            parts.append(text)
            length += len(text)

    def build(element: Any) -> SpanNode:
        if is_special(element) or roles(element) == "atom":
            return SpanNode(length, length, ref=element)
        node = SpanNode(length, 0, ref=element)
        add(element.text)
        for child in element:
            node.children.append(build(child))
            add(child.tail)
        node.end = length
        return node

    add(run.anchor.tail if run.anchor is not None else run.container.text)
    root = SpanNode(0, 0)
    for item in run.items:
        root.children.append(build(item))
        add(item.tail)
    root.end = length
    text = "".join(parts)
    _mark_spacing(root, text)
    return text, root


def _mark_spacing(node: SpanNode, text: str) -> None:
    """Remember whether a zero-width element stood between spaces, so that it is not glued to words later."""
    for child in node.children:
        if not child.has_text:
            before = child.start > 0 and text[child.start - 1].isspace()
            child.spaced = (before, child.start < len(text) and text[child.start].isspace())
        _mark_spacing(child, text)


def shifted(node: SpanNode, offset: int, limit: int) -> SpanNode:
    """The same tree with spans moved by -offset and clamped to [0, limit] (the text was stripped)."""

    def clamp(x: int) -> int:
        return min(max(x - offset, 0), limit)

    return SpanNode(
        clamp(node.start), clamp(node.end), [shifted(c, offset, limit) for c in node.children], node.ref, node.spaced
    )


# An atom's spacing from the source is not repeated against punctuation that clings to it in the target
# ("org ." for "org.", "( 😀" for "(😀").
_CLOSING = frozenset(".,;:!?)]}»”’…")
_OPENING = frozenset("([{«“‘¿¡")


def render(placed: Placed, text: str) -> list[Node]:
    """Content of a placed tag: target text slices and elements (new copies of inline tags, atoms moved)."""
    out: list[Node] = []
    cursor = placed.start
    for child in placed.children:
        start = max(child.start, cursor)
        if start > cursor:
            out.append(text[cursor:start])
        before, after = child.node.spaced if not child.node.has_text else (False, False)
        if before and start > placed.start and not text[start - 1].isspace() and text[start - 1] not in _OPENING:
            out.append(" ")
        out.append(_element(child, text))
        cursor = max(cursor, child.end)
        if after and cursor < placed.end and not text[cursor].isspace() and text[cursor] not in _CLOSING:
            out.append(" ")
    if placed.end > cursor:
        out.append(text[cursor : placed.end])
    return out


def _element(placed: Placed, text: str) -> Any:
    ref = placed.node.ref
    if not placed.node.has_text:  # atom: moved whole, byte-identical
        return ref
    element = ref.makeelement(ref.tag, dict(ref.attrib))
    fill(element, None, render(placed, text))
    return element


def fill(container: Any, anchor: Any | None, nodes: list[Node]) -> None:
    """Insert `nodes` after `anchor` (or at the start of `container`), text going to .text/.tail.

    Each node goes next to the previous one: inserting by index would make lxml walk the children from the
    start every time (quadratic in a container with thousands of children).
    """
    previous = anchor
    pending: list[str] = []

    def flush() -> None:
        value = "".join(pending) or None
        if previous is None:
            container.text = value
        else:
            previous.tail = value
        pending.clear()

    for node in nodes:
        if isinstance(node, str):
            pending.append(node)
            continue
        flush()
        if previous is None:
            container.insert(0, node)
        else:
            previous.addnext(node)
        previous = node
    flush()


def pinned(text: str, start: int, end: int, atoms: list[SpanNode]) -> list[Node]:
    """Source text [start, end) with the zero-width elements that stood in it, where they stood."""
    out: list[Node] = []
    cursor = start
    for atom in atoms:
        out.extend((text[cursor : atom.start], atom.ref))
        cursor = atom.start
    out.append(text[cursor:end])
    return out


def replace_run(run: Run, head: list[Node], placed: Placed, text: str, tail: list[Node]) -> None:
    """Swap the run's old content for the translation; old items go first since atoms move to new parents."""
    for item in run.items:
        run.container.remove(item)
    fill(run.container, run.anchor, [*head, *render(placed, text), *tail])
