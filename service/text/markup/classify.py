"""Which elements are translated, which stay inside a sentence, and which start a new segment."""

from __future__ import annotations

from typing import Any

INLINE_TAGS = frozenset(
    {
        "a",
        "abbr",
        "acronym",
        "b",
        "bdi",
        "bdo",
        "big",
        "cite",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "ins",
        "label",
        "mark",
        "q",
        "s",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
    }
)
"""Phrasing elements whose text is part of the surrounding sentence: translated with it, tag carried over."""

ATOM_TAGS = frozenset(
    {
        "img",
        "input",
        "wbr",
        "code",
        "kbd",
        "samp",
        "var",
        "script",
        "style",
        "noscript",
        "template",
        "textarea",
        "svg",
        "math",
        "iframe",
        "video",
        "audio",
        "canvas",
        "object",
        "embed",
        "picture",
    }
)
"""Phrasing elements moved as a whole: they keep their place in the sentence but their content is not text."""

SKIPPED_TAGS = frozenset(
    {"script", "style", "code", "kbd", "samp", "var", "pre", "noscript", "template", "textarea", "svg", "math"}
)
"""Never translated, subtree included (textarea holds the user's own text; kbd, samp and var hold keys, program
output and variable names, which must come out as they went in)."""

TRANSLATED_ATTRIBUTES = ("title", "alt", "placeholder")


def is_special(node: Any) -> bool:
    """Comments, processing instructions and entities: kept where they are, never translated."""
    return not isinstance(node.tag, str)


def is_skipped(element: Any) -> bool:
    if is_special(element):
        return True
    if element.tag in SKIPPED_TAGS:
        return True
    if (element.get("translate") or "").strip().lower() == "no":
        return True
    return "notranslate" in (element.get("class") or "").split()


class Roles:
    """`role` with each element's subtree facts computed once per document.

    Whether an element is phrasing only, and whether it has text of its own, depend on its whole subtree;
    asked afresh for every element of a chain of nested tags, they would walk the same subtree again and
    again (depth x size). Use one instance per tree, and only while the tree is not being changed.
    """

    def __init__(self) -> None:
        self._phrasing: dict[Any, bool] = {}
        self._texty: dict[Any, bool] = {}

    def __call__(self, element: Any) -> str:
        """'atom' (kept whole inside a sentence), 'inline' (its text is part of the sentence) or 'block'."""
        if is_special(element):
            return "atom"
        phrasing = element.tag in ATOM_TAGS or (element.tag in INLINE_TAGS and self.phrasing_only(element))
        if not phrasing:
            return "block"
        if element.tag in ATOM_TAGS or is_skipped(element) or not self.text_outside_skips(element):
            return "atom"
        return "inline"

    def phrasing_only(self, element: Any) -> bool:
        """True when no descendant would start a new segment (a block, a line break)."""
        known = self._phrasing.get(element)
        if known is None:
            known = self._phrasing[element] = all(
                is_special(child) or child.tag in ATOM_TAGS or (child.tag in INLINE_TAGS and self.phrasing_only(child))
                for child in element
            )
        return known

    def text_outside_skips(self, element: Any) -> bool:
        """Whether the element has translatable text of its own (not only inside atoms or skipped parts)."""
        known = self._texty.get(element)
        if known is None:
            known = self._texty[element] = self._has_text(element)
        return known

    def _has_text(self, element: Any) -> bool:
        if (element.text or "").strip():
            return True
        for child in element:
            if (
                not is_special(child)
                and child.tag not in ATOM_TAGS
                and not is_skipped(child)
                and self.text_outside_skips(child)
            ):
                return True
            if (child.tail or "").strip():
                return True
        return False


def role(element: Any) -> str:
    """'atom' (kept whole inside a sentence), 'inline' (its text is part of the sentence) or 'block'."""
    return Roles()(element)


def iter_translatable(root: Any) -> Any:
    """Elements outside skipped subtrees, document order (used for attributes)."""
    stack = [root]
    while stack:
        element = stack.pop()
        if is_skipped(element):
            continue
        yield element
        stack.extend(reversed([c for c in element if not is_special(c)]))
