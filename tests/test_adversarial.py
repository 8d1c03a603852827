"""Inputs an attacker would send: each once answered 500, dropped the connection or stalled the event loop.

Time bounds here are generous (orders of magnitude above the linear cost) and only catch the
super-linear behaviour that was there before: they are correctness checks, not benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from service.markup.document import is_document
from service.segmentation import split_sentences
from tests.service_support import assert_error_shape, make_model_dir, running_app, settings_for

pytestmark = pytest.mark.asyncio


def seconds(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


async def test_a_run_of_comments_is_scanned_in_linear_time() -> None:
    # 26 empty comments took 6.6 s (each one more doubled it) in the old document-start regex.
    assert seconds(lambda: is_document("<!---->" * 40)) < 0.05
    assert seconds(lambda: is_document("<!----> " * 100_000 + "<p>")) < 0.5
    assert is_document("<!-- a --> <!---->\n<!DOCTYPE html><p>x")
    assert not is_document("<!---->" * 40 + "<p>x</p>")


async def test_long_whitespace_runs_split_in_linear_time() -> None:
    # `\s*\n\s*` rescanned a run of spaces from each of its positions: quadratic.
    text = "a" + " " * 200_000 + "b\n c"
    assert seconds(lambda: split_sentences(text)) < 0.5
    split = split_sentences(text)
    assert split.sentences[0].startswith("a") and split.sentences[-1] == "c"


async def test_a_run_of_abbreviations_splits_in_linear_time() -> None:
    # Each "Mr." extended the candidate sentence, which was copied and scanned again: quadratic.
    text = "Mr. " * 50_000
    assert seconds(lambda: split_sentences(text)) < 0.5


@pytest_asyncio.fixture
async def client(tiny_bundle: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(make_model_dir(tiny_bundle, tmp_path), max_text_chars=20_000)
    async with running_app(settings) as (_, client):
        yield client


NATIVE = "/v1/translate"


def native(text: Any, **extra: Any) -> dict[str, Any]:
    return {"text": text, "source": "en", "target": "de", **extra}


@pytest.mark.parametrize("character", ["\x00", "\x08", "\x0b", "\x1c", "\x1f", "\ufffe", "\uffff"])
async def test_html_that_lxml_cannot_store_is_a_422(client: httpx.AsyncClient, character: str) -> None:
    for text in (f"a{character}b", f"<p>the dog{character}</p>", f'<img alt="x{character}">'):
        response = await client.post(NATIVE, json=native(text, format="html"))
        error = assert_error_shape(response, 422, "invalid_text")
        assert f"U+{ord(character):04X}" in error["message"]
        libre = await client.post("/translate", json={"q": text, "source": "en", "target": "de", "format": "html"})
        assert libre.status_code == 400 and "U+" in libre.json()["error"]


async def test_a_form_feed_in_html_is_whitespace(client: httpx.AsyncClient) -> None:
    response = await client.post(NATIVE, json=native("<p>the\x0cdog</p>", format="html"))
    assert response.status_code == 200, response.text
    assert "\x0c" not in response.json()["translations"][0]["text"]


@pytest.mark.parametrize(
    "document",
    ["<!DOCTYPE html>", "<?xml version='1.0'?><!DOCTYPE html>", "  <!doctype html>\n", "<!-- c --><!DOCTYPE x>"],
)
async def test_a_document_without_elements_comes_back_unchanged(client: httpx.AsyncClient, document: str) -> None:
    response = await client.post(NATIVE, json=native(document, format="html"))
    assert response.status_code == 200, response.text
    assert response.json()["translations"][0]["text"] == document


async def test_deeply_nested_json_is_a_400_on_every_route(client: httpx.AsyncClient) -> None:
    depth = 20_000  # far past the JSON parser's recursion limit, and within the body limit
    headers = {"content-type": "application/json"}
    nested = "[" * depth + "]" * depth
    response = await client.post(NATIVE, content=f'{{"text": {nested}}}', headers=headers)
    assert_error_shape(response, 400)
    for route in ("/translate", "/detect"):
        response = await client.post(route, content=f'{{"q": {nested}}}', headers=headers)
        assert response.status_code == 400 and response.json() == {"error": "Invalid JSON format"}


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "1e400", "NaN", '"many"', "[1]"])
async def test_alternatives_that_are_no_integer_are_refused(client: httpx.AsyncClient, value: str) -> None:
    headers = {"content-type": "application/json"}
    libre = f'{{"q": "the dog", "source": "en", "target": "de", "alternatives": {value}}}'
    response = await client.post("/translate", content=libre, headers=headers)
    assert response.status_code == 400 and "alternatives" in response.json()["error"]
    body = f'{{"text": "the dog", "source": "en", "target": "de", "options": {{"alternatives": {value}}}}}'
    assert_error_shape(await client.post(NATIVE, content=body, headers=headers), 422)
