"""Paragraphs of XML documents whose inline formatting is nested elements (ODF's text:span and text:a, XHTML's em,
a, span ...): each paragraph a unit, its inline elements as HTML spans that the translation places with their
words, everything else inside it (a frame, a note, a bookmark, a tab) an atom that moves as a whole.

Writing back, the paragraph's content is rebuilt from the translated HTML: each piece of text inside the copies of
the inline elements it ended up in (same tag, same attributes), the atoms where the translation put them (those it
lost at the end, never dropped). The paragraph element itself, its attributes and everything outside it stay.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from lxml import etree


@dataclass(frozen=True)
class Flow:
    """Which elements are paragraphs, which are inline formatting, and which stand for text (ODF's text:s)."""

    paragraphs: frozenset[str]
    inline: frozenset[str]
    as_text: dict[str, Callable[[etree._Element], str]] = field(default_factory=dict)
    blocks: frozenset[str] = frozenset()  # a paragraph holding one of these is left to its inner paragraphs
    spaces: Callable[[int], etree._Element] | None = None
    """Where the format collapses runs of spaces (ODF): the element that stands for `n` more spaces after one."""


_SPACE_RUN = re.compile("(  +)")
_Piece = tuple[str, tuple[int, ...], int]  # text, the inline wrappers it is in (outermost first), atom or -1


class FlowParagraph:
    def __init__(self, element: etree._Element, flow: Flow):
        self.element = element
        self.flow = flow
        self.wrappers: list[etree._Element] = []  # W -> an emptied copy of the inline element
        self.atoms: list[etree._Element] = []
        self.pieces: list[_Piece] = []
        self.html = ""

    def read(self) -> bool:
        if any(isinstance(c.tag, str) and c.tag in self.flow.blocks for c in self.element.iterdescendants()):
            return False
        self._walk(self.element, ())
        self.html = self._as_html()
        return any(text.strip() for text, _, atom in self.pieces if atom < 0)

    def _text(self, text: str | None, stack: tuple[int, ...]) -> None:
        if text:
            self.pieces.append((text, stack, -1))

    def _walk(self, element: etree._Element, stack: tuple[int, ...]) -> None:
        self._text(element.text, stack)
        for child in element:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in self.flow.inline:
                shell = etree.Element(child.tag, attrib=dict(child.attrib), nsmap=child.nsmap)
                self.wrappers.append(shell)
                self._walk(child, (*stack, len(self.wrappers) - 1))
            elif tag in self.flow.as_text:
                self._text(self.flow.as_text[tag](child), stack)
            else:  # comments, processing instructions and every other element: kept whole
                self.pieces.append(("", stack, len(self.atoms)))
                self.atoms.append(child)
            self._text(child.tail, stack)

    def _as_html(self) -> str:
        out: list[str] = []
        open_stack: tuple[int, ...] = ()
        for text, stack, atom in self.pieces:
            common = 0
            while common < min(len(open_stack), len(stack)) and open_stack[common] == stack[common]:
                common += 1
            out.extend("</span>" for _ in open_stack[common:])
            out.extend(f'<span data-w="{w}">' for w in stack[common:])
            open_stack = stack
            out.append(f'<img data-k="{atom}">' if atom >= 0 else html.escape(text, quote=False))
        out.extend("</span>" for _ in open_stack)
        return "".join(out)

    def write(self, translated: str) -> None:
        for child in list(self.element):
            self.element.remove(child)  # atoms are kept in self.atoms, with their tails cleared below
        self.element.text = None
        for atom in self.atoms:
            atom.tail = None
        placed: set[int] = set()
        path: list[tuple[int, etree._Element]] = []  # the open copies of inline elements

        def parent() -> etree._Element:
            return path[-1][1] if path else self.element

        def append_text(text: str) -> None:
            holder = parent()
            if self.flow.spaces is not None and _SPACE_RUN.search(text):
                first, *runs = _SPACE_RUN.split(text)
                _append_plain(holder, first)
                for run, after in zip(runs[::2], runs[1::2], strict=True):
                    _append_plain(holder, " ")
                    holder.append(self.flow.spaces(len(run) - 1))
                    _append_plain(holder, after)
            else:
                _append_plain(holder, text)

        for text, stack, atom in _FlowPieces.of(translated, len(self.wrappers), len(self.atoms)):
            common = 0
            while common < min(len(path), len(stack)) and path[common][0] == stack[common]:
                common += 1
            del path[common:]
            for w in stack[common:]:
                copy = etree.Element(self.wrappers[w].tag, attrib=dict(self.wrappers[w].attrib))
                parent().append(copy)
                path.append((w, copy))
            if atom >= 0:
                if atom not in placed:
                    placed.add(atom)
                    parent().append(self.atoms[atom])
            else:
                append_text(text)
        del path[:]
        for n, atom in enumerate(self.atoms):
            if n not in placed:
                self.element.append(atom)


def _append_plain(holder: etree._Element, text: str) -> None:
    if len(holder):
        holder[-1].tail = (holder[-1].tail or "") + text
    else:
        holder.text = (holder.text or "") + text


class _FlowPieces(HTMLParser):
    def __init__(self, wrappers: int, atoms: int):
        super().__init__(convert_charrefs=True)
        self.wrappers, self.atoms = wrappers, atoms
        self.stack: list[int | None] = []
        self.out: list[_Piece] = []

    @classmethod
    def of(cls, fragment: str, wrappers: int, atoms: int) -> list[_Piece]:
        parser = cls(wrappers, atoms)
        parser.feed(fragment)
        parser.close()
        return parser.out

    def _current(self) -> tuple[int, ...]:
        return tuple(w for w in self.stack if w is not None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            k = values.get("data-k") or ""
            if k.isdigit() and int(k) < self.atoms:
                self.out.append(("", self._current(), int(k)))
        elif tag == "span":
            w = values.get("data-w") or ""
            self.stack.append(int(w) if w.isdigit() and int(w) < self.wrappers else None)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data:
            self.out.append((data, self._current(), -1))
