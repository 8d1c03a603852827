"""One text never fails its neighbours: a 40-text request with one poisoned text answers the other 39.

Poisons of two kinds: texts a client can really send that cannot be translated (a character HTML cannot hold,
a lone surrogate, a document beyond the limits), through a real server; and a fault of ours, injected into
sentence splitting and into piece encoding in process, standing for the next bug nobody has found yet.
The texts that crashed sentence splitting before (". a", ".. a", '. a"? ?') translate like any other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import service.engine.translator
from nmt_core.vocabulary import Vocabulary
from tests.service_support import (
    ServiceProcess,
    assert_error_shape,
    make_model_dir,
    running_app,
    service_process,
    settings_for,
    unique_tag,
)

BATCH = 40
SPLITTER_CRASHES = [". a", ".. a", '. a"? ?', " . the dog", "... and the cat.", "… the man. The dog."]


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("item-errors")
    model_dir = make_model_dir(tiny_bundle, workdir)
    with service_process(model_dir, workdir / "server.log", MAX_HTML_ELEMENTS="60") as running:
        yield running


def texts_of_a_page(tag: str) -> list[str]:
    words = ["the dog runs", "a man sits on the car", "the cat", "the woman eats", "a child plays"]
    return [f"{words[i % len(words)]} {tag} {i}." for i in range(BATCH)]


def post_raw(server: ServiceProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    """JSON as a browser's JSON.stringify writes it: a lone surrogate travels as the escape \\ud800."""
    return httpx.post(
        f"{server.base}{path}",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        timeout=120,
    )


def alone(server: ServiceProcess, texts: list[str], text_format: str = "text") -> list[str]:
    body = {"text": texts, "source": "en", "target": "de", "format": text_format}
    response = post_raw(server, "/v1/translate", body)
    assert response.status_code == 200, response.text
    return [t["text"] for t in response.json()["translations"]]


@pytest.mark.parametrize(
    ("text_format", "poison", "code", "status"),
    [
        ("text", "the dog \ud800 runs", "invalid_text", 422),
        ("html", "<p>the dog \x01 runs</p>", "invalid_text", 422),
        ("html", "<div>" + "<p>the dog</p>" * 70 + "</div>", "html_too_complex", 413),
    ],
    ids=["lone-surrogate", "control-character-in-html", "html-beyond-the-limits"],
)
def test_one_poisoned_text_leaves_the_other_39_translated(
    server: ServiceProcess, text_format: str, poison: str, code: str, status: int
) -> None:
    texts = texts_of_a_page(unique_tag(3))
    if text_format == "html":
        texts = [f"<p>{t} <b>now</b></p>" for t in texts]
    poisoned = 17
    sent = [*texts[:poisoned], poison, *texts[poisoned + 1 :]]
    body = {"text": sent, "source": "en", "target": "de", "format": text_format}

    response = post_raw(server, "/v1/translate", body)
    assert response.status_code == 200, response.text
    answers = response.json()["translations"]
    assert len(answers) == BATCH
    failed = answers[poisoned]
    # given back as it came (a lone surrogate as U+FFFD: UTF-8 cannot carry it)
    assert failed["text"] == poison.replace("\ud800", "\ufffd")
    assert failed["error"]["code"] == code and failed["error"]["status"] == status
    assert failed["error"]["message"].startswith(f"text[{poisoned}]: ")
    neighbours = [a for i, a in enumerate(answers) if i != poisoned]
    assert all("error" not in a for a in neighbours)
    # the 39 are the translations they get without the poisoned text beside them
    expected = alone(server, [t for i, t in enumerate(sent) if i != poisoned], text_format)
    assert [a["text"] for a in neighbours] == expected
    assert all(a["text"] != t for a, t in zip(neighbours, [t for i, t in enumerate(sent) if i != poisoned]))

    # the same poison sent as the request's only text is the request's error
    single = post_raw(server, "/v1/translate", {**body, "text": poison})
    assert_error_shape(single, status, code)

    # LibreTranslate's face: translatedText for all 40, the failed one as sent, and `errors` beside it
    libre = post_raw(server, "/translate", {"q": sent, "source": "en", "target": "de", "format": text_format})
    assert libre.status_code == 200, libre.text
    answer = libre.json()
    assert answer["translatedText"][poisoned] == failed["text"]
    assert [t for i, t in enumerate(answer["translatedText"]) if i != poisoned] == expected
    errors = answer["errors"]
    assert len(errors) == BATCH and [i for i, e in enumerate(errors) if e] == [poisoned]
    assert errors[poisoned]["code"] == code and errors[poisoned]["error"].startswith("Invalid request: text[17]: ")
    assert (
        post_raw(server, "/translate", {"q": poison, "source": "en", "target": "de", "format": text_format})
        .json()["error"]
        .startswith("Invalid request: ")
    )


def test_texts_that_crashed_sentence_splitting_translate(server: ServiceProcess) -> None:
    for text_format in ("text", "html"):
        texts = texts_of_a_page(unique_tag(3))[: BATCH - len(SPLITTER_CRASHES)] + SPLITTER_CRASHES
        body = {"text": texts, "source": "en", "target": "de", "format": text_format}
        response = post_raw(server, "/v1/translate", body)
        assert response.status_code == 200, response.text
        assert all("error" not in t for t in response.json()["translations"])
        libre = {"q": texts, "source": "en", "target": "de", "format": text_format}
        assert post_raw(server, "/translate", libre).status_code == 200


# --- a fault of ours, injected ---------------------------------------------------------------------------

POISON_MARK = "poisoned"


@pytest.fixture
def model_dir(tiny_bundle: Path, tmp_path: Path) -> Path:
    return make_model_dir(tiny_bundle, tmp_path)


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["splitting", "encoding"])
async def test_a_fault_in_one_text_fails_that_text_alone(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    def fault(text: str) -> None:
        if POISON_MARK in text:
            raise IndexError("list index out of range")  # what the splitter raised on ". a"

    real_split, real_source = service.engine.translator.split_sentences, Vocabulary.source

    def split_sentences(text: str, *args: Any) -> Any:
        fault(text)
        return real_split(text, *args)

    def source(self: Vocabulary, text: str, *args: Any) -> Any:
        fault(text)
        return real_source(self, text, *args)

    if where == "splitting":
        monkeypatch.setattr(service.engine.translator, "split_sentences", split_sentences)
    else:
        monkeypatch.setattr(Vocabulary, "source", source)

    tag = unique_tag(3)
    texts = texts_of_a_page(tag)
    texts[5] = f"the dog {POISON_MARK} runs. The cat sits."
    texts[30] = f"<b>the man</b> {POISON_MARK}"
    async with running_app(settings_for(model_dir)) as (_, client):
        with caplog.at_level(logging.ERROR, logger="service.engine.translator"):
            response = await client.post("/v1/translate", json={"text": texts, "source": "en", "target": "de"})
        assert response.status_code == 200, response.text
        answers = response.json()["translations"]
        for index in (5, 30):
            assert answers[index]["text"] == texts[index]
            assert answers[index]["error"]["code"] == "text_failed" and answers[index]["error"]["status"] == 500
        assert sum("error" in a for a in answers) == 2
        assert "IndexError" in caplog.text  # the fault is logged with its traceback, for us to fix

        clean = [t for i, t in enumerate(texts) if i not in (5, 30)]
        expected = (await client.post("/v1/translate", json={"text": clean, "source": "en", "target": "de"})).json()
        assert [a["text"] for i, a in enumerate(answers) if i not in (5, 30)] == [
            t["text"] for t in expected["translations"]
        ]

        # in an HTML document, the run that fails stays as it was and the rest of the document is translated
        page = f"<h1>the dog runs {tag}</h1><p>the man {POISON_MARK} <b>sits</b></p><p>a cat {tag}</p>"
        body = {"text": [page, "<p>the car</p>"], "source": "en", "target": "de", "format": "html"}
        html = await client.post("/v1/translate", json=body)
        assert html.status_code == 200, html.text
        doc, other = html.json()["translations"]
        assert f"<p>the man {POISON_MARK} <b>sits</b></p>" in doc["text"]
        assert f"the dog runs {tag}" not in doc["text"] and f"a cat {tag}" not in doc["text"]
        assert doc["error"]["code"] == "text_failed" and doc["error"]["message"].startswith("text[0]: ")
        assert "error" not in other
