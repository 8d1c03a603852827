"""Glossaries (issue 19): term matching, the checks a glossary passes, applying terms whatever the model does,
and the service's inline and stored glossaries (memory and a Redis shared by two replicas, key ownership)."""

from __future__ import annotations

import os
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidRequest, PayloadTooLarge
from service.text.glossary import Glossary, check_glossary, parse_entries
from service.text.markup.translate import finish, prepare
from service.text.protection import as_markup, find_spans, from_markup
from service.text.terms import TermMatcher
from tests.markup_support import reversing
from tests.service_support import (
    assert_error_shape,
    make_model_dir,
    metric_value,
    running_app,
    settings_for,
    unique_tag,
)
from tests.text_strategies import property_settings

APPLIED = "nmt_glossary_terms_applied_total"


def found(matcher: TermMatcher, text: str) -> list[tuple[str, int]]:
    return [(text[m.start : m.end], m.term) for m in matcher.find(text)]


def test_terms_match_whole_words_longest_first_in_any_case() -> None:
    matcher = TermMatcher(["sign", "sign in", "Sign in to Acme", "C++", "e-mail"], fold=True)
    text = "SIGN IN now, or sign in to acme. Signing is not sign. C++ and e-mail, not e - mail."
    assert found(matcher, text) == [
        ("SIGN IN", 1),
        ("sign in to acme", 2),
        ("sign", 0),
        ("C++", 3),
        ("e-mail", 4),
    ]


def test_terms_are_literal_and_exact_without_fold() -> None:
    matcher = TermMatcher(["a.c", "(x)", "Acme"])
    assert found(matcher, "abc a.c (x) x acme Acme") == [("a.c", 0), ("(x)", 1), ("Acme", 2)]


def test_matching_ignores_unicode_composition_and_folds_case() -> None:
    matcher = TermMatcher(["café", "Straße"], fold=True)
    decomposed = unicodedata.normalize("NFD", "Ein Café und die STRASSE.")
    assert [text for text, _ in found(matcher, decomposed)] == [unicodedata.normalize("NFD", "Café"), "STRASSE"]


def test_matching_stays_linear_with_many_overlapping_terms() -> None:
    terms = [f"a {' '.join(['a'] * (i % 40))} b{i}" for i in range(5000)]  # all share a long common prefix
    matcher = TermMatcher(terms, fold=True)
    text = "a " * 100_000
    start = time.process_time()
    assert matcher.find(text) == []
    assert time.process_time() - start < 5.0


@pytest.mark.parametrize(
    ("entries", "error", "code"),
    [
        (["a"], InvalidRequest, "invalid_glossary"),
        ({"a": 3}, InvalidRequest, "invalid_term"),
        ({" ": "x"}, InvalidRequest, "invalid_term"),
        ({"a": ""}, InvalidRequest, "invalid_term"),
        ({"Cookie": "x", "cookie": "y"}, InvalidRequest, "duplicate_term"),
        ({f"t{i}": "x" for i in range(4)}, PayloadTooLarge, "too_many_terms"),
        ({"x" * 11: "y"}, PayloadTooLarge, "term_too_long"),
        ({"x": "y" * 11}, PayloadTooLarge, "term_too_long"),
    ],
)
def test_bad_glossaries_are_refused(entries: object, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as raised:
        check_glossary(entries, max_entries=3, max_term_chars=10)
    assert raised.value.code == code  # type: ignore[attr-defined]


def test_entries_as_deepl_writes_them() -> None:
    assert parse_entries("sign in\tanmelden\n\ncookie\tCookie\n", "tsv") == {"sign in": "anmelden", "cookie": "Cookie"}
    assert parse_entries('"Hello, world","Hallo, Welt"\nx,y', "csv") == {"Hello, world": "Hallo, Welt", "x": "y"}
    for text, fmt, code in [
        ("a\tb\tc", "tsv", "invalid_glossary"),
        ("a", "csv", "invalid_glossary"),
        ("a,b\na,c", "csv", "duplicate_term"),
        ('"a,b', "csv", "invalid_glossary"),
    ]:
        with pytest.raises(InvalidRequest) as raised:
            parse_entries(text, fmt)
        assert raised.value.code == code


words = st.sampled_from(["the", "dog", "Dog", "runs", "sign", "in", "to", "a", "car", "x"])


@property_settings
@given(st.lists(words, min_size=1, max_size=25), st.lists(st.lists(words, min_size=1, max_size=3), max_size=4))
def test_every_found_term_comes_out_as_its_target_whatever_the_translation(
    sentence: list[str], sources: list[list[str]]
) -> None:
    text = " ".join(sentence) + "."
    entries = {" ".join(s): f"T{i}" for i, s in enumerate(dict.fromkeys(" ".join(s).casefold() for s in sources))}
    glossary = Glossary(tuple(entries.items()))
    spans = find_spans(text, glossary=glossary, patterns=False)
    markup = as_markup(text, spans)
    prepared = prepare(markup)
    out = finish(prepared, [reversing(s) for s in prepared.segments]) if prepared.output is None else prepared.output
    back = from_markup(out, text, spans)
    for target in {s.target for s in spans}:
        assert target is not None
        assert back.count(target) >= sum(s.target == target for s in spans), (text, back)


@pytest.fixture
def model_dir(tiny_bundle: Path, tmp_path: Path) -> Path:
    return make_model_dir(tiny_bundle, tmp_path)


@pytest.mark.asyncio
async def test_inline_glossary_through_the_service(model_dir: Path) -> None:
    tag = unique_tag()
    sent = [f"the dog {tag} runs to the car", f"a man {tag} sees the Dog", f"the woman {tag} runs"]
    body = {"text": sent, "source": "en", "target": "de"}
    glossary = {"dog": "Hund", "the car": "das Auto"}
    async with running_app(settings_for(model_dir)) as (_, client):
        plain = (await client.post("/v1/translate", json=body)).json()["translations"]
        assert all("applied_terms" not in t for t in plain)
        before = metric_value((await client.get("/metrics")).text, APPLIED)
        given_ = (await client.post("/v1/translate", json={**body, "glossary": glossary})).json()["translations"]
        assert "Hund" in given_[0]["text"] and "das Auto" in given_[0]["text"]
        assert given_[0]["applied_terms"] == [
            {"source": "dog", "target": "Hund"},
            {"source": "the car", "target": "das Auto"},
        ]
        assert "Hund" in given_[1]["text"] and given_[1]["applied_terms"] == [{"source": "dog", "target": "Hund"}]
        assert given_[2]["applied_terms"] == [] and given_[2]["text"] == plain[2]["text"]
        assert metric_value((await client.get("/metrics")).text, APPLIED) == before + 3

        # Nothing leaks through the cache: the same texts without the glossary answer as before it.
        again = (await client.post("/v1/translate", json=body)).json()["translations"]
        assert [t["text"] for t in again] == [t["text"] for t in plain]

        libre = await client.post(
            "/translate", json={"q": sent[0], "source": "en", "target": "de", "glossary": glossary}
        )
        assert libre.json()["translatedText"] == given_[0]["text"]
        assert libre.json()["appliedTerms"] == given_[0]["applied_terms"]

        for bad, status, code in [
            ({"dog": "x", "DOG": "y"}, 422, "duplicate_term"),
            ({"dog": 1}, 422, "invalid_term"),
            ({f"w{i}": "x" for i in range(5001)}, 413, "too_many_terms"),
        ]:
            refused = await client.post("/v1/translate", json={**body, "glossary": bad})
            assert_error_shape(refused, status, code)


@pytest.mark.asyncio
async def test_stored_glossaries_in_memory(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir, max_glossaries=2)) as (_, client):
        made = await client.post(
            "/v1/glossaries",
            json={"name": "UI", "source": "en", "target": "de", "entries": "dog\tHund\nthe car\tdas Auto\n"},
        )
        assert made.status_code == 201, made.text
        info = made.json()
        assert info["entry_count"] == 2 and info["name"] == "UI" and len(info["glossary_id"]) == 32
        gid = info["glossary_id"]
        listed = (await client.get("/v1/glossaries")).json()["glossaries"]
        assert [g["glossary_id"] for g in listed] == [gid]
        one = (await client.get(f"/v1/glossaries/{gid}")).json()
        assert one["entries"] == {"dog": "Hund", "the car": "das Auto"}

        body = {"text": "the dog runs", "source": "en", "target": "de", "glossary_id": gid}
        used = (await client.post("/v1/translate", json=body)).json()["translations"][0]
        assert "Hund" in used["text"] and used["applied_terms"] == [{"source": "dog", "target": "Hund"}]
        inline_wins = await client.post("/v1/translate", json={**body, "glossary": {"dog": "Köter"}})
        assert "Köter" in inline_wins.json()["translations"][0]["text"]
        libre = await client.post(
            "/translate", json={"q": "the dog runs", "source": "en", "target": "de", "glossary": gid}
        )
        assert libre.json()["translatedText"] == used["text"]

        wrong_way = await client.post("/v1/translate", json={**body, "source": "de", "target": "en"})
        assert_error_shape(wrong_way, 422, "glossary_direction")
        csv_made = await client.post(
            "/v1/glossaries",
            json={"name": "b", "source": "en", "target": "de", "entries": '"a, b",c', "entries_format": "csv"},
        )
        assert csv_made.status_code == 201
        third = await client.post(
            "/v1/glossaries", json={"name": "c", "source": "en", "target": "de", "entries": {"x": "y"}}
        )
        assert_error_shape(third, 413, "too_many_glossaries")
        bad_bodies: list[tuple[dict[str, Any], int, str]] = [
            ({"entries": {}}, 422, "invalid_glossary"),
            ({"entries": "a\tb\tc"}, 422, "invalid_glossary"),
            ({"source": "xx", "entries": {"a": "b"}}, 400, "unknown_direction"),
        ]
        for bad, status, code in bad_bodies:
            refused = await client.post("/v1/glossaries", json={"name": "n", "source": "en", "target": "de", **bad})
            assert_error_shape(refused, status, code)

        assert (await client.delete(f"/v1/glossaries/{gid}")).status_code == 204
        assert_error_shape(await client.get(f"/v1/glossaries/{gid}"), 404, "glossary_not_found")
        assert_error_shape(await client.delete(f"/v1/glossaries/{gid}"), 404, "glossary_not_found")
        assert_error_shape(await client.post("/v1/translate", json=body), 404, "glossary_not_found")
        gone = await client.post("/translate", json={"q": "the dog", "source": "en", "target": "de", "glossary": gid})
        assert gone.status_code == 404


@pytest.mark.asyncio
async def test_a_glossary_belongs_to_its_key(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir, api_keys="key-a,key-b")) as (_, client):
        a, b = {"X-API-Key": "key-a"}, {"Authorization": "Bearer key-b"}
        made = await client.post(
            "/v1/glossaries", headers=a, json={"name": "A", "source": "en", "target": "de", "entries": {"dog": "Hund"}}
        )
        gid = made.json()["glossary_id"]
        assert (await client.get("/v1/glossaries", headers=b)).json()["glossaries"] == []
        assert_error_shape(await client.get(f"/v1/glossaries/{gid}", headers=b), 404, "glossary_not_found")
        assert_error_shape(await client.delete(f"/v1/glossaries/{gid}", headers=b), 404, "glossary_not_found")
        body = {"text": "the dog runs", "source": "en", "target": "de", "glossary_id": gid}
        assert_error_shape(await client.post("/v1/translate", headers=b, json=body), 404, "glossary_not_found")
        libre = {"q": "the dog", "source": "en", "target": "de", "glossary": gid}
        assert (await client.post("/translate", json={**libre, "api_key": "key-b"})).status_code == 404
        assert (await client.post("/translate", json={**libre, "api_key": "key-a"})).status_code == 200
        assert (await client.post("/v1/translate", headers=a, json=body)).status_code == 200
        assert_error_shape(await client.get("/v1/glossaries"), 401, "unauthorized")


@pytest.mark.asyncio
async def test_two_replicas_share_glossaries_through_redis(model_dir: Path, redis_url: str) -> None:
    prefix = f"nmt-glossary-{os.getpid()}-{unique_tag(4)}:"
    settings = settings_for(model_dir, redis_url=redis_url, cache_key_prefix=prefix)
    try:
        async with running_app(settings) as (_, one), running_app(settings) as (_, other):
            made = await one.post(
                "/v1/glossaries", json={"name": "s", "source": "en", "target": "de", "entries": {"dog": "Hund"}}
            )
            gid = made.json()["glossary_id"]
            assert [g["glossary_id"] for g in (await other.get("/v1/glossaries")).json()["glossaries"]] == [gid]
            body = {"text": "the dog runs", "source": "en", "target": "de", "glossary_id": gid}
            used = (await other.post("/v1/translate", json=body)).json()["translations"][0]
            assert "Hund" in used["text"]
            assert (await other.delete(f"/v1/glossaries/{gid}")).status_code == 204
            assert_error_shape(await one.post("/v1/translate", json=body), 404, "glossary_not_found")
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
