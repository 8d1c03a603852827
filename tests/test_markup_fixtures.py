"""Every fixture page keeps its markup when translated: tags, nesting, skipped regions, well-formedness."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import html5lib
import pytest
from lxml import etree

from service.text.markup import translate_html
from service.text.markup.classify import ATOM_TAGS, SKIPPED_TAGS, TRANSLATED_ATTRIBUTES
from service.text.markup.document import parse_html, serialize
from tests.markup_support import Aligned, TinyTranslator, ToyTranslator

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "html").glob("*.html"))


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURES) >= 30


@pytest.fixture(scope="module")
def translators(tiny_bundle: Path) -> dict[str, Any]:
    return {"tiny": TinyTranslator(tiny_bundle), "toy": ToyTranslator(tiny_bundle)}


def _skipped(element: Any) -> bool:
    if not isinstance(element.tag, str):
        return False
    if element.tag in SKIPPED_TAGS or element.get("translate", "").lower() == "no":
        return True
    return "notranslate" in element.get("class", "").split()


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalpha())


def _text(root: Any) -> str:
    """Text a reader would see translated: outside skipped subtrees, atoms and comments, in document order."""
    parts: list[str] = []

    def walk(element: Any) -> None:
        if not isinstance(element.tag, str) or _skipped(element) or element.tag in ATOM_TAGS:
            return
        parts.append(element.text or "")
        for child in element:
            walk(child)
            parts.append(child.tail or "")

    walk(root)
    return "".join(parts)


def _translatable_elements(root: Any) -> list[Any]:
    out = []

    def walk(element: Any) -> None:
        if not isinstance(element.tag, str) or _skipped(element):
            return
        out.append(element)
        for child in element:
            walk(child)

    walk(root)
    return out


def _attributes(root: Any, translatable_only: bool = True) -> list[str]:
    values = [
        e.get(name) for e in _translatable_elements(root) for name in TRANSLATED_ATTRIBUTES if e.get(name) is not None
    ]
    return [v for v in values if bool(_letters(v)) == translatable_only]


def _signature(root: Any) -> Counter[tuple[Any, ...]]:
    """Multiset of ancestor chains of every element (translated attribute values left out)."""
    chains: Counter[tuple[Any, ...]] = Counter()

    def label(element: Any) -> Any:
        if not isinstance(element.tag, str):
            return ("#special", element.text)
        attrs = tuple(sorted((k, v) for k, v in element.attrib.items() if k not in TRANSLATED_ATTRIBUTES))
        return (element.tag, attrs)

    def walk(element: Any, chain: tuple[Any, ...]) -> None:
        chain = (*chain, label(element))
        chains[chain] += 1
        for child in element:
            walk(child, chain)

    walk(root, ())
    return chains


def _skipped_regions(root: Any) -> list[str]:
    regions = []

    def walk(element: Any) -> None:
        if _skipped(element):
            regions.append(etree.tostring(element, method="html", encoding="unicode", with_tail=False))
            return
        for child in element:
            walk(child)

    walk(root)
    return sorted(regions)


def _strict_parse(html: str, is_document: bool) -> None:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    if is_document:
        parser.parse(html)
    else:
        parser.parseFragment(html)


@pytest.mark.parametrize("kind", ["tiny", "toy"])
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_fixture_keeps_markup(fixture: Path, kind: str, translators: dict[str, Any]) -> None:
    translator = translators[kind]
    source = fixture.read_text(encoding="utf-8")
    calls_before = len(translator.calls)
    output = asyncio.run(translate_html(source, translator))
    before, after = parse_html(source), parse_html(output)

    # well-formed: a strict HTML5 parser accepts it, and our parser reads back exactly what we wrote
    _strict_parse(output, after.is_document)
    assert serialize(after) == output
    assert after.is_document == before.is_document

    # every element (inline tags included) is there once, under the same ancestors
    assert _signature(after.root) == _signature(before.root)

    # skipped regions are untouched, byte for byte in the output
    regions = _skipped_regions(before.root)
    assert _skipped_regions(after.root) == regions
    for region in regions:
        assert region in output

    # what was sent: all visible text in order, then the translatable attributes
    attributes = _attributes(before.root)
    assert len(translator.calls) == calls_before + 1
    segments, results = translator.calls[-1]
    text_count = len(segments) - len(attributes)
    assert [s.strip() for s in segments[text_count:]] == [a.strip() for a in attributes]
    assert _letters("".join(segments[:text_count])) == _letters(_text(before.root))

    # what came back replaced the text and the attributes
    texts: list[Aligned] = results[:text_count]
    assert _letters(_text(after.root)) == _letters("".join(r.text for r in texts))
    sent_back = [r.text.strip() for r in results[text_count:]]
    kept = [a.strip() for a in _attributes(before.root, translatable_only=False)]
    written = [a.strip() for a in _attributes(after.root) + _attributes(after.root, translatable_only=False)]
    assert Counter(written) == Counter(sent_back + kept)
