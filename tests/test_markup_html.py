"""translate_html behaviour on small inputs: escaping, whitespace, documents, batching."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from service.text.markup import translate_html
from tests.markup_support import Aligned, ToyTranslator

FIXTURES = Path(__file__).parent / "fixtures" / "html"


@pytest.fixture(scope="module")
def toy(tiny_bundle: Path) -> ToyTranslator:
    return ToyTranslator(tiny_bundle)


def run(html: str, translate: ToyTranslator) -> str:
    return asyncio.run(translate_html(html, translate))


def test_special_characters_are_escaped_again(toy: ToyTranslator) -> None:
    out = run("<p>Tom &amp; Jerry &lt;tag&gt; caf&eacute;</p>", toy)
    assert "&amp;" in out and "&gt;gat&lt;" in out and ">gat<" not in out
    assert "éfac" in out.lower()  # the toy language reverses words: the entity became a real character


def test_whitespace_around_text_is_kept(toy: ToyTranslator) -> None:
    out = run("<div>\n  <p>   Leading and trailing spaces   </p>\n</div>", toy)
    assert re.fullmatch(r"<div>\n  <p>   \S.*\S   </p>\n</div>", out)


def test_whole_document_keeps_doctype_head_and_translates_title(toy: ToyTranslator) -> None:
    source = (FIXTURES / "15_full_document.html").read_text()
    out = run(source, toy)
    assert out.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in out
    segments, _ = toy.calls[-1]
    assert "About us — Example" in segments


def test_repeated_segments_are_sent_every_time(toy: ToyTranslator) -> None:
    run((FIXTURES / "38_repeated_segments.html").read_text(), toy)
    segments, _ = toy.calls[-1]
    assert segments.count("Read more") == 3
    assert segments.count("the cat sits") == 2


def test_block_text_is_sent_once_not_per_fragment(toy: ToyTranslator) -> None:
    run("<p>This is <b>very <i>really</i> important</b> for everyone.</p>", toy)
    segments, _ = toy.calls[-1]
    assert segments == ["This is very really important for everyone."]


def test_nothing_to_translate_makes_no_call(toy: ToyTranslator) -> None:
    calls = len(toy.calls)
    assert run("  <p> 12 | 34 </p><pre>code</pre>  ", toy) == "  <p> 12 | 34 </p><pre>code</pre>  "
    assert run("", toy) == ""
    assert len(toy.calls) == calls


def test_a_translator_that_loses_segments_is_an_error() -> None:
    async def short(segments: list[str]) -> list[Aligned]:
        return []

    with pytest.raises(ValueError, match="results for 1 segments"):
        asyncio.run(translate_html("<p>Hello</p>", short))


def test_a_document_without_doctype_does_not_get_one(toy: ToyTranslator) -> None:
    out = run("<html><head><title>the dog</title></head><body><p>the cat</p></body></html>", toy)
    assert out.startswith("<html>")
    assert "DOCTYPE" not in out
