"""Protected spans (issue 19, first part): URLs, e-mail addresses, @handles, #hashtags, emoji, inline code and
i18n placeholders come back byte for byte, wherever the translation puts them; `protect: false` turns it off.

The model path runs on the tiny model through a real app; the span finder and the round trip through the
markup are checked on every syntax, on adversarial input for linear cost, and as a property (any text, any
reordering translation: every span comes back, as many times as it was sent).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given

from service.text.icu import NUMBER_SIGN, joined, split_message
from service.text.markup.translate import finish, prepare
from service.text.protection import Span, as_markup, find_spans, from_markup, protectable
from tests.markup_support import reversing
from tests.service_support import make_model_dir, metric_value, running_app, settings_for, unique_tag
from tests.text_strategies import property_settings, texts

SYNTAXES = {
    "url": [
        "https://www.example.com/path?q=1&x=2",
        "http://example.org",
        "www.example.net/a_b",
        "ftp://files.example.com/x",
    ],
    "email": ["info@example.org", "first.last+tag@mail.example.co.uk"],
    "handle": ["@acme", "@user_42"],
    "hashtag": ["#NMT", "#Übersetzung"],
    "emoji": ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇩🇪", "❤️"],
    "code": ["`make test`", "`x = {a: 1}`"],
    "placeholder": [
        "{name}",
        "{0}",
        "{}",
        "%s",
        "%d",
        "%1$s",
        "%.2f",
        "%@",
        "%(name)s",
        "%(count)d",
        "%{user}",
        "${VAR}",
        "{{ button_label }}",
        "{{x}}",
        "{% if user %}",
    ],
    "path": ["/etc/hosts", "~/.config/app.yaml", "./run.sh", "C:\\Users\\me\\file.txt"],
    "version": ["3.1.0", "v2.4", "1.2.3-beta"],
    "number": ["3.5%", "€1,234.56", "4,99 €", "$5", "1.000.000", "17:00", "2024", "100%"],
}


@pytest.mark.parametrize(("kind", "span"), [(k, s) for k, spans in SYNTAXES.items() for s in spans])
def test_every_syntax_is_found_whole(kind: str, span: str) -> None:
    text = f"Look at {span} now, please."
    found = find_spans(text)
    assert [(s.kind, text[s.start : s.end]) for s in found] == [(kind, span)]


@pytest.mark.parametrize(
    "text",
    [
        "C# and F# code",
        "a@b",
        "It costs eight Euros per `Maß,' he says, and `more relaxed.'",  # TeX-style quotes in news text
        "and/or 60 km/h",
        "COVID and G7 and mp3 and 3D",
    ],
)
def test_ordinary_text_has_nothing_protected(text: str) -> None:
    assert [s for s in find_spans(text) if s.kind != "number"] == []
    assert all(s.target == text[s.start : s.end] for s in find_spans(text))


def test_numbers_are_kept_by_replacement_the_model_sees_them() -> None:
    text = "The price rose 3.5% to €1,234.56 at 17:00 on the 11th, in the '90s."
    spans = find_spans(text)
    assert [text[s.start : s.end] for s in spans] == ["3.5%", "€1,234.56", "17:00", "11", "'90"]
    assert all(s.kind == "number" and s.target == text[s.start : s.end] for s in spans)
    markup = as_markup(text, spans)
    assert "3.5%" in markup  # inside its element: the model translates it with the sentence


def test_a_number_cut_by_the_translation_comes_back_whole() -> None:
    text = "since 1945 and 18 or 10"
    spans = find_spans(text)
    # the words the number became were cut mid-number, and two numbers came out side by side
    translated = (
        'seit 19<span data-protected="0">45</span> und <span data-protected="1">18</span>'
        '<span data-protected="2">10</span>'
    )
    assert from_markup(translated, text, spans) == "seit 1945 und 18 10"


def test_a_url_leaves_the_sentence_punctuation_outside() -> None:
    text = "See https://example.com/a). Or (www.example.org)."
    assert [text[s.start : s.end] for s in find_spans(text)] == ["https://example.com/a", "www.example.org"]


def test_finding_spans_is_linear() -> None:
    for unit in ("{" * 3 + "a", "%(" * 4, "@" * 5, "`" * 7, "http://" + "a" * 50, "{{" + "x" * 300, "#" * 9 + "a"):
        text = (unit * (200_000 // len(unit)))[:200_000]
        start = time.process_time()
        spans = find_spans(text)
        assert time.process_time() - start < 2.0
        assert as_markup(text, spans)  # writing the fragment is linear too


@property_settings
@given(texts())
def test_every_span_comes_back_whatever_the_translation(text: str) -> None:
    if not protectable(text) or not (spans := find_spans(text)):
        return
    markup = as_markup(text, spans)
    assert from_markup(markup, text, spans) == text  # the round trip alone is exact
    prepared = prepare(markup)
    out = finish(prepared, [reversing(s) for s in prepared.segments]) if prepared.output is None else prepared.output
    back = from_markup(out, text, spans)
    for span, count in Counter(text[s.start : s.end] for s in spans).items():
        assert back.count(span) >= count, (text, back)


@pytest.fixture
def model_dir(tiny_bundle: Path, tmp_path: Path) -> Path:
    return make_model_dir(tiny_bundle, tmp_path)


@pytest.mark.asyncio
async def test_spans_come_back_byte_for_byte_through_the_service(model_dir: Path) -> None:
    tag = unique_tag()
    sent = [
        f"the dog {tag} runs to https://example.com/a?b=1 and {{name}} sits.",
        f"the man {tag} sends 😀 to info@example.org with %(count)d cats and ${{HOME}}.",
        f"a cat {tag} sees @acme and #NMT in `make test`.",
        f"the woman {tag} runs.",  # nothing to protect: the plain path
    ]
    async with running_app(settings_for(model_dir)) as (_, client):
        before = metric_value((await client.get("/metrics")).text, 'nmt_protected_spans_total{kind="url"}')
        body = {"text": sent, "source": "en", "target": "de"}
        answers = [t["text"] for t in (await client.post("/v1/translate", json=body)).json()["translations"]]
        for text, answer in zip(sent, answers, strict=True):
            for span in find_spans(text):
                assert text[span.start : span.end] in answer, (text, answer)
        after = metric_value((await client.get("/metrics")).text, 'nmt_protected_spans_total{kind="url"}')
        assert after == before + 1

        # protect: false sends the texts to the model as they are
        unprotected = await client.post("/v1/translate", json={**body, "protect": False})
        plain = [t["text"] for t in unprotected.json()["translations"]]
        assert plain[3] == answers[3]
        assert any(p != a for p, a in zip(plain[:3], answers[:3], strict=True))

        libre = await client.post("/translate", json={"q": sent, "source": "en", "target": "de"})
        assert libre.json()["translatedText"] == answers
        off = await client.post("/translate", json={"q": sent, "source": "en", "target": "de", "protect": "false"})
        assert off.json()["translatedText"] == plain
        bad = await client.post("/translate", json={"q": sent, "source": "en", "target": "de", "protect": "maybe"})
        assert bad.status_code == 400


def test_do_not_translate_terms_are_whole_words_longest_first() -> None:
    text = "Acme Cloud beats AcmeCorp; see https://x.org/Acme and acme."
    spans = find_spans(text, ("Acme", "Acme Cloud"))
    assert [(s.kind, text[s.start : s.end]) for s in spans] == [
        ("literal", "Acme Cloud"),
        ("url", "https://x.org/Acme"),  # a term inside a URL stays part of the URL
    ]
    assert find_spans("a+b and c.d", ("a+b", "c.d")) == [Span("literal", 0, 3), Span("literal", 8, 11)]  # literal


def test_many_terms_stay_linear() -> None:
    terms = tuple(f"term{i}" for i in range(200))
    text = "term " * 40_000
    start = time.process_time()
    assert find_spans(text, terms) == []
    assert time.process_time() - start < 3.0


@pytest.mark.asyncio
async def test_do_not_translate_through_the_service(model_dir: Path) -> None:
    tag = unique_tag()
    sent = [f"the dog {tag} runs to the car", f"a man {tag} sees the dog"]
    body = {"text": sent, "source": "en", "target": "de", "do_not_translate": ["dog", "car"]}
    async with running_app(settings_for(model_dir, max_do_not_translate_terms=3, max_term_chars=10)) as (_, client):
        for protect in (True, False):
            answers = (await client.post("/v1/translate", json={**body, "protect": protect})).json()["translations"]
            assert [a["text"].count("dog") for a in answers] == [1, 1]
            assert answers[0]["text"].count("car") == 1
        libre = await client.post(
            "/translate", json={"q": sent, "source": "en", "target": "de", "do_not_translate": ["dog"]}
        )
        assert all("dog" in t for t in libre.json()["translatedText"])
        for terms, status, code in [
            (["dog", "dog"], 422, "duplicate_term"),
            ([""], 422, "invalid_term"),
            ([3], 422, "invalid_term"),
            (["a", "b", "c", "d"], 413, "too_many_terms"),
            (["x" * 11], 413, "term_too_long"),
        ]:
            refused = await client.post("/v1/translate", json={**body, "do_not_translate": terms})
            assert refused.status_code == status and refused.json()["error"]["code"] == code, refused.text


def test_icu_plurals_keep_keywords_and_translate_branches() -> None:
    text = "You have {count, plural, =0 {no messages} one {# message} other {# messages from {name}}}."
    parts = split_message(text)
    assert parts is not None
    assert [p.text for p in parts if not p.translate] == ["{count, plural, =0 {", "} one {", "} other {", "}}"]
    assert [p.text for p in parts if p.translate] == [
        "You have ",
        "no messages",
        f"{NUMBER_SIGN} message",
        f"{NUMBER_SIGN} messages from {{name}}",
        ".",
    ]
    assert joined(parts, [p.text.upper() for p in parts if p.translate]) == (
        "YOU HAVE {count, plural, =0 {NO MESSAGES} one {# MESSAGE} other {# MESSAGES FROM {NAME}}}."
    )
    select = split_message("{gender, select, female {She} other {They}} left")
    assert select is not None and [p.text for p in select if p.translate] == ["She", "They", " left"]


@pytest.mark.parametrize(
    "text", ["Hello {name}", "{a, plural, one {x}", "x {a, plural, one {x}}}", "{a, plural, }", "{a, plural, one x}"]
)
def test_what_is_not_a_whole_icu_message_is_ordinary_text(text: str) -> None:
    assert split_message(text) is None


def test_icu_parsing_is_linear_and_bounded() -> None:
    deep = "{a, plural, one {" * 20 + "x" + "}}" * 20
    assert split_message(deep) is None  # nesting beyond the bound: ordinary text
    wide = "{n, plural, " + " ".join(f"k{i} {{# item {{name}}}}" for i in range(20_000)) + "}"
    start = time.process_time()
    parts = split_message(wide)
    assert parts is not None and len(parts) == 2 * 20_000 + 1
    assert time.process_time() - start < 3.0


@pytest.mark.asyncio
async def test_icu_messages_through_the_service(model_dir: Path) -> None:
    text = "{count, plural, one {# dog runs to {place}} other {# dogs run to {place}}} and the man sees"
    async with running_app(settings_for(model_dir)) as (_, client):
        body = {"text": text, "source": "en", "target": "de"}
        answer = (await client.post("/v1/translate", json=body)).json()["translations"][0]["text"]
        parts = split_message(answer)
        assert parts is not None, answer
        kept = [p.text for p in parts if not p.translate]
        assert kept == ["{count, plural, one {", "} other {", "}}"], answer
        assert answer.count("#") == 2 and answer.count("{place}") == 2
        off = (await client.post("/v1/translate", json={**body, "protect": False})).json()["translations"][0]
        assert off["text"] != answer


@pytest.mark.asyncio
async def test_kbd_samp_var_and_code_are_kept_in_html(model_dir: Path) -> None:
    kept = ["<kbd>Ctrl + C</kbd>", "<var>the dog</var>", "<samp>the man runs</samp>", "<code>the cat</code>"]
    page = f"<p>the dog runs to {kept[0]} and {kept[1]} sees {kept[2]} with {kept[3]}.</p>"
    async with running_app(settings_for(model_dir)) as (_, client):
        body = {"text": page, "source": "en", "target": "de", "format": "html"}
        answer = (await client.post("/v1/translate", json=body)).json()["translations"][0]["text"]
        for element in kept:
            assert element in answer, answer
        assert "the dog runs to" not in answer  # the rest was translated


def test_a_number_in_the_target_locale_is_welcome_a_changed_one_is_not() -> None:
    text = "It rose 3.5% to €1,234.56 and 1,234 people."
    spans = find_spans(text)
    localized = (
        'Er stieg <span data-protected="0">3,5 %</span> auf <span data-protected="1">1.234,56 €</span> und'
        ' <span data-protected="2">12.34</span> Menschen.'
    )
    # the same digits, grouped the same, the same symbols: the model's writing stays; 12.34 is not 1,234
    assert from_markup(localized, text, spans) == "Er stieg 3,5 % auf 1.234,56 € und 1,234 Menschen."


@pytest.mark.asyncio
async def test_spans_in_html_text_runs_are_kept(model_dir: Path) -> None:
    kept = ["https://example.com/a?b=1", "info@example.org", "{name}", "%(count)d", "😀", "Acme"]
    page = (
        f"<p>the dog runs to <b>{kept[0]} and</b> the man sees {kept[1]}</p>"
        f"<ul><li>a cat {kept[2]} sits with {kept[3]} cats {kept[4]}</li><li>the woman likes Acme</li></ul>"
    )
    async with running_app(settings_for(model_dir)) as (_, client):
        body = {"text": page, "source": "en", "target": "de", "format": "html", "do_not_translate": ["Acme"]}
        answer = (await client.post("/v1/translate", json=body)).json()["translations"][0]["text"]
        for span in kept:
            assert span in answer, (span, answer)
        assert "data-nmt-kept" not in answer and 'translate="no"' not in answer  # the wrappers are gone
        assert answer.count("<b>") == 1 and answer.count("<li>") == 2
        off = (await client.post("/v1/translate", json={**body, "protect": False})).json()["translations"][0]
        assert "Acme" in off["text"] and off["text"] != answer
