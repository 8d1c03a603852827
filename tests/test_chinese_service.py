"""Chinese through a real server (issue 25), on a tiny en<->zh bundle served beside the tiny en<->de one: routing,
detection, sentence splitting, spacing toward English, HTML placement without spaces, and the language lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deep_translator import LibreTranslator
from libretranslatepy import LibreTranslateAPI

from tests.fixtures import toy_chinese
from tests.service_support import ServiceProcess, make_model_dir, metric_value, service_process

SENTENCES = [
    "the dog runs.",
    "a cat sits on the car.",
    "the child plays with the ball.",
    "a man sits near the tree.",
    "the woman runs in the street.",
    "a big dog plays.",
    "the small cat sits in the house.",
    "a red car.",
    "the green tree.",
    "a blue ball.",
]


@pytest.fixture(scope="module")
def server(
    tiny_bundle: Path, tiny_zh_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("chinese")
    make_model_dir(tiny_bundle, root)
    with service_process(make_model_dir(tiny_zh_bundle, root), root / "server.log") as service:
        yield service


def sentences_decoded(base: str, direction: str) -> float:
    return metric_value(httpx.get(f"{base}/metrics").text, f'nmt_segments_total{{direction="{direction}"}}')


def test_both_bundles_are_served_and_listed(server: ServiceProcess) -> None:
    languages = httpx.get(f"{server.base}/languages").json()
    targets = {entry["code"]: entry["targets"] for entry in languages}
    assert targets["zh"] == ["en"] and "zh" in targets["en"] and "de" in targets["en"]
    de = httpx.post(f"{server.base}/v1/translate", json={"text": "the dog runs", "source": "en", "target": "de"})
    assert de.status_code == 200 and de.json()["model"]["id"] == "tiny"


def test_a_ten_sentence_chinese_paragraph_is_ten_units_and_english_comes_back_spaced(server: ServiceProcess) -> None:
    paragraph = "".join(toy_chinese(s) for s in SENTENCES)
    assert " " not in paragraph
    before = sentences_decoded(server.base, "zh-en")
    answer = httpx.post(
        f"{server.base}/v1/translate", json={"text": paragraph, "source": "zh-CN", "target": "en"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"]["id"] == "tiny-zh"
    assert sentences_decoded(server.base, "zh-en") - before == 10
    text = answer.json()["translations"][0]["text"]
    assert not any("\u4e00" <= c <= "\u9fff" for c in text.replace("。", ""))  # English, not copied Chinese
    assert text.count(" ") >= len(SENTENCES) - 1  # the ten sentences are joined with spaces


def test_english_into_chinese_joins_without_spaces(server: ServiceProcess) -> None:
    answer = httpx.post(
        f"{server.base}/v1/translate",
        json={"text": " ".join(SENTENCES[:4]), "source": "en", "target": "zh-Hans"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    text = answer.json()["translations"][0]["text"]
    assert text and " " not in text


def test_auto_detects_chinese_even_in_two_characters(server: ServiceProcess) -> None:
    answer = httpx.post(f"{server.base}/v1/translate", json={"text": "狗跑", "source": "auto", "target": "en"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["detected_language"] == "zh"


def test_markup_is_placed_in_chinese_without_spaces(server: ServiceProcess) -> None:
    """The tiny model's words are not good enough to say which character is bold; the placement's structure is."""
    body = {"text": "<p>the <b>dog</b> runs on the street</p>", "source": "en", "target": "zh", "format": "html"}
    answer = httpx.post(f"{server.base}/v1/translate", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    html = answer.json()["translations"][0]["text"]
    assert html.startswith("<p>") and html.endswith("</p>")
    bold = html.split("<b>", 1)[1].split("</b>", 1)[0]
    assert bold and "<" not in bold
    assert " " not in html.removeprefix("<p>").removesuffix("</p>").replace("<b>", "").replace("</b>", "")


def test_text_already_in_the_target_language_comes_back_as_sent(server: ServiceProcess) -> None:
    """A page translator sends whatever a page holds: German found on a page translated into German is no error."""
    texts = ["Der Hund läuft heute sehr schnell nach Hause.", "Die Katze schläft auf dem Sofa."]
    body = {"text": texts, "source": "auto", "target": "de"}
    plain = httpx.post(f"{server.base}/v1/translate", json=body, timeout=30)
    assert plain.status_code == 200, plain.text
    assert [t["text"] for t in plain.json()["translations"]] == texts
    assert plain.json()["detected_language"] == "de"
    with httpx.stream("POST", f"{server.base}/v1/translate", json={**body, "stream": True}, timeout=30) as response:
        lines = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    assert lines[-2] == "event: done" and '"detected_language":"de"' in lines[-1]
    assert sum(line.startswith("data:") for line in lines) == len(texts) + 1
    explicit = httpx.post(f"{server.base}/v1/translate", json={**body, "source": "de"}, timeout=30)
    assert explicit.status_code == 400  # asked for de->de outright: still an unknown direction


def test_glossaries_and_protected_spans_work_both_ways(server: ServiceProcess) -> None:
    """A glossary's Chinese term is found inside a sentence without spaces, its Chinese target is written in; a
    URL and a number glued to Chinese characters come back whole."""
    into_chinese = httpx.post(
        f"{server.base}/v1/translate",
        json={"text": "the dog runs.", "source": "en", "target": "zh", "glossary": {"dog": "犬"}},
        timeout=30,
    ).json()["translations"][0]
    assert "犬" in into_chinese["text"] and into_chinese["applied_terms"] == [{"source": "dog", "target": "犬"}]

    sentence = toy_chinese("the dog runs.")  # 这狗跑。
    from_chinese = httpx.post(
        f"{server.base}/v1/translate",
        json={"text": sentence, "source": "zh", "target": "en", "glossary": {"狗": "hound"}},
        timeout=30,
    ).json()["translations"][0]
    assert "hound" in from_chinese["text"] and from_chinese["applied_terms"] == [{"source": "狗", "target": "hound"}]

    glued = "访问https://example.com/zh" + toy_chinese("the dog runs") + "3" + toy_chinese("a cat.")
    answer = httpx.post(
        f"{server.base}/v1/translate", json={"text": glued, "source": "zh", "target": "en"}, timeout=30
    ).json()["translations"][0]["text"]
    assert "https://example.com/zh" in answer and "3" in answer


def test_libretranslate_clients_translate_chinese(server: ServiceProcess) -> None:
    """LibreTranslate's own client libraries, with zh, answer what the native API answers."""
    english = SENTENCES[:3]
    chinese = [toy_chinese(s) for s in english]

    def native(texts: list[str], source: str, target: str) -> list[str]:
        body = {"text": texts, "source": source, "target": target}
        answer = httpx.post(f"{server.base}/v1/translate", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        return [t["text"] for t in answer.json()["translations"]]

    client = LibreTranslateAPI(server.base)
    assert [client.translate(text, "en", "zh") for text in english] == native(english, "en", "zh")
    assert [client.translate(text, "zh", "en") for text in chinese] == native(chinese, "zh", "en")
    assert client.detect(chinese[1])[0]["language"] == "zh"
    languages = {entry["code"]: entry for entry in client.languages()}
    assert languages["zh"]["name"] == "Chinese" and languages["zh"]["targets"] == ["en"]

    # deep-translator insists on a key; a service without API_KEYS takes any
    translator = LibreTranslator(source="zh", target="en", custom_url=f"{server.base}/", api_key="any")
    assert translator.translate_batch(chinese) == native(chinese, "zh", "en")


def test_libretranslate_answers_text_detected_in_the_target_language_as_sent(server: ServiceProcess) -> None:
    """A Chinese page's English code comments, sent with source auto into English, are no error."""
    texts = ["Install the package with apt and run the command as root.", "Read the manual page first."]
    answer = httpx.post(f"{server.base}/translate", json={"q": texts, "source": "auto", "target": "en"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["translatedText"] == texts
    assert answer.json()["detectedLanguage"][0]["language"] == "en"
    explicit = httpx.post(f"{server.base}/translate", json={"q": texts, "source": "en", "target": "en"}, timeout=30)
    assert explicit.status_code == 400
