"""A sentence with no letters (a dash, a price, a time, a year, an emoji, a bullet) comes back exactly as it was
sent, without running the model (issue 19: the shipped model turned "—" into "Sch" and "€ 4,99" into "$")."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nmt_core.bundle import SENTENCEPIECE_FILE
from nmt_core.search import Hypothesis
from nmt_core.vocabulary import Vocabulary
from service.engine.translator import _to_result
from tests.service_support import make_model_dir, running_app, settings_for, unique_tag

pytestmark = pytest.mark.asyncio

NO_LETTERS = ["—", "© 2024", "12:30", "€ 4,99", "😀 👍🏽", "1.", "•", "+49 (0)30 1234-567", "3.5% → 4%", "#1 !!!"]


@pytest.fixture
def model_dir(tiny_bundle: Path, tmp_path: Path) -> Path:
    return make_model_dir(tiny_bundle, tmp_path)


async def test_segments_without_letters_are_kept_and_never_decoded(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir)) as (app, client):
        translator = app.state.runtime.translator
        body = {"text": NO_LETTERS, "source": "en", "target": "de"}
        response = await client.post("/v1/translate", json=body)
        assert response.status_code == 200, response.text
        assert [t["text"] for t in response.json()["translations"]] == NO_LETTERS
        assert translator.decoded_sentences == 0

        # inside a text with words: the sentence with letters is translated, the one without is kept
        words = f"the dog runs {unique_tag(3)}."
        mixed = await client.post("/v1/translate", json={**body, "text": [f"{words} 12:30"]})
        text = mixed.json()["translations"][0]["text"]
        assert text.endswith(" 12:30") and not text.startswith("the dog runs")
        assert translator.decoded_sentences == 1

        html = await client.post(
            "/v1/translate", json={**body, "text": "<p><b>12:30</b> — 14:00 €</p>", "format": "html"}
        )
        assert html.json()["translations"][0]["text"] == "<p><b>12:30</b> — 14:00 €</p>"

        libre = await client.post("/translate", json={"q": NO_LETTERS, "source": "en", "target": "de"})
        assert libre.json()["translatedText"] == NO_LETTERS
        assert translator.decoded_sentences == 1


async def test_a_sentence_the_model_writes_nothing_for_is_kept_as_sent(tiny_bundle: Path) -> None:
    """An empty decode (a weak model on an unfamiliar title) must not blank a page's text: the sentence stays."""
    vocab = Vocabulary(tiny_bundle / SENTENCEPIECE_FILE)
    sentence = "Debian 参考手册"
    ids = vocab.source(sentence, "de")
    empty = Hypothesis(tokens=[], log_prob=0.0, score=0.0, attention=np.zeros((1, len(ids))))
    model = SimpleNamespace(vocab=vocab)
    assert _to_result(model, ids, sentence, empty, 0).text == sentence  # type: ignore[arg-type]
    word = vocab.pieces("dog")
    some = Hypothesis(tokens=word, log_prob=0.0, score=0.0, attention=np.zeros((len(word) + 1, len(ids))))
    assert _to_result(model, ids, sentence, some, 0).text == "dog"  # type: ignore[arg-type]
