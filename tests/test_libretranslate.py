"""The LibreTranslate-compatible API on a real `python -m service`, driven by the real PyPI clients
(libretranslatepy, deep-translator) and by raw requests in every body form real clients use.

Expected translations are never written down: every answer is compared with what the native
`/v1/translate` returns for the same text on the same server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deep_translator import LibreTranslator
from deep_translator.exceptions import AuthorizationException
from libretranslatepy import LibreTranslateAPI

from tests.service_support import (
    ServiceProcess,
    assert_error_shape,
    make_model_dir,
    running_app,
    service_process,
    settings_for,
)

KEY = "test-key-1"
KEY_HEADER = {"X-API-Key": KEY}  # the native /v1/translate takes the same keys as a header
MAX_SEGMENTS = 16
SENTENCES = ["the dog runs", "a small cat sits on the red car", "the child plays with a blue ball"]
GERMAN = "Der kleine Hund läuft heute über die Straße, und das Kind spielt mit dem Ball."


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("libre")
    with service_process(
        make_model_dir(tiny_bundle, workdir),
        workdir / "server.log",
        API_KEYS=f"{KEY}, other-key",
        CORS_ORIGINS="*",
        MAX_SEGMENTS=str(MAX_SEGMENTS),
    ) as running:
        yield running


def v1(
    server: ServiceProcess, texts: list[str], source: str = "en", target: str = "de", fmt: str = "text"
) -> list[str]:
    body = {"text": texts, "source": source, "target": target, "format": fmt}
    response = httpx.post(f"{server.base}/v1/translate", json=body, headers=KEY_HEADER, timeout=60)
    assert response.status_code == 200, response.text
    return [t["text"] for t in response.json()["translations"]]


def post(server: ServiceProcess, path: str = "/translate", **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.base}{path}", timeout=60, **kwargs)


def assert_libre_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    return str(body["error"])


# --- the real clients -----------------------------------------------------------------------------------


def test_libretranslatepy_client(server: ServiceProcess) -> None:
    client = LibreTranslateAPI(server.base, api_key=KEY)
    expected = v1(server, SENTENCES)
    assert [client.translate(text, "en", "de") for text in SENTENCES] == expected
    assert client.translate(GERMAN, "de", "en") == v1(server, [GERMAN], "de", "en")[0]

    languages = {language["code"]: language for language in client.languages()}
    assert languages["en"]["name"] == "English" and "de" in languages["en"]["targets"]
    assert languages["de"]["name"] == "German" and "en" in languages["de"]["targets"]

    detections = client.detect(GERMAN)
    assert detections[0]["language"] == "de"
    assert all(0 <= d["confidence"] <= 100 for d in detections)
    assert client.detect("the man sits in the house near the green tree")[0]["language"] == "en"


def test_deep_translator_client(server: ServiceProcess) -> None:
    translator = LibreTranslator(source="en", target="de", custom_url=f"{server.base}/", api_key=KEY)
    expected = v1(server, SENTENCES)
    assert translator.translate(SENTENCES[1]) == expected[1]
    assert translator.translate_batch(SENTENCES) == expected

    with pytest.raises(AuthorizationException):  # 403, as LibreTranslate answers a wrong key
        LibreTranslator(source="en", target="de", custom_url=f"{server.base}/", api_key="wrong").translate("a dog")


# --- the three ways parameters arrive -------------------------------------------------------------------


def test_json_form_multipart_and_query_string_agree(server: ServiceProcess) -> None:
    expected = v1(server, SENTENCES)
    fields = {"q": SENTENCES[0], "source": "en", "target": "de", "api_key": KEY}

    as_json = post(server, json={**fields, "q": SENTENCES})
    assert as_json.status_code == 200, as_json.text
    assert as_json.json() == {"translatedText": expected}  # no detectedLanguage: the source was given

    for response in (
        post(server, json=fields),
        post(server, data=fields),
        post(server, params=fields),
        post(server, files={name: (None, value) for name, value in fields.items()}),
    ):
        assert response.status_code == 200, response.text
        assert response.json() == {"translatedText": expected[0]}

    repeated = post(server, data={**fields, "q": SENTENCES})  # q=..&q=..: a list, as in a form with many fields
    assert repeated.json() == {"translatedText": expected}


def test_auto_detection_picks_the_direction(server: ServiceProcess) -> None:
    english = post(server, json={"q": SENTENCES, "source": "auto", "target": "de", "api_key": KEY}).json()
    assert english["translatedText"] == v1(server, SENTENCES)
    assert len(english["detectedLanguage"]) == len(SENTENCES)
    for detected in english["detectedLanguage"]:
        assert detected["language"] == "en" and 0 < detected["confidence"] <= 100

    german = post(server, data={"q": GERMAN, "source": "auto", "target": "en", "api_key": KEY}).json()
    assert german["translatedText"] == v1(server, [GERMAN], "de", "en")[0]
    assert german["detectedLanguage"]["language"] == "de"


def native_alternatives(server: ServiceProcess, texts: list[str], count: int) -> list[list[str]]:
    body = {"text": texts, "source": "en", "target": "de", "options": {"alternatives": count}}
    response = httpx.post(f"{server.base}/v1/translate", json=body, headers=KEY_HEADER, timeout=60)
    assert response.status_code == 200, response.text
    return [t["alternatives"] for t in response.json()["translations"]]


def test_alternatives_come_from_the_beam(server: ServiceProcess) -> None:
    single = post(
        server, json={"q": SENTENCES[0], "source": "en", "target": "de", "alternatives": 3, "api_key": KEY}
    ).json()
    assert single["translatedText"] == v1(server, SENTENCES[:1])[0]
    assert single["alternatives"] and single["alternatives"] == native_alternatives(server, SENTENCES[:1], 3)[0]
    assert single["translatedText"] not in single["alternatives"]
    batch = post(server, data={"q": SENTENCES, "source": "en", "target": "de", "alternatives": "2", "api_key": KEY})
    assert batch.json()["alternatives"] == native_alternatives(server, SENTENCES, 2)
    # more than the model's beam holds is not an error here, as in LibreTranslate: as many as it has, and
    # the beam is not widened for them (the tiny model's beam is 4), so the best translation stays the same
    many = post(server, json={"q": SENTENCES[0], "source": "en", "target": "de", "alternatives": 50, "api_key": KEY})
    assert many.status_code == 200 and 0 < len(many.json()["alternatives"]) <= 3
    assert many.json()["translatedText"] == single["translatedText"]
    page = post(
        server,
        json={
            "q": ["<p>a dog</p>"],
            "source": "en",
            "target": "de",
            "format": "html",
            "alternatives": 2,
            "api_key": KEY,
        },
    )
    assert page.json()["alternatives"] == [[]]


def test_html_format(server: ServiceProcess) -> None:
    page = '<p title="a big tree">the <b>small <i>red</i> dog</b> runs <a href="/x">near the house</a></p>'
    response = post(server, json={"q": [page], "source": "en", "target": "de", "format": "html", "api_key": KEY})
    assert response.status_code == 200, response.text
    translated = response.json()["translatedText"][0]
    assert translated == v1(server, [page], fmt="html")[0]
    assert translated != page
    for tag in ("<p title=", "<b>", "<i>", "</i>", "</b>", '<a href="/x">', "</a>", "</p>"):
        assert tag in translated, translated


def test_second_translation_of_a_page_comes_from_the_cache(server: ServiceProcess) -> None:
    page = (
        "<html><head><title>the woman sits near the car</title></head><body>"
        "<h1>a <em>green</em> ball</h1><ul><li>the man plays in the street</li><li>a cat runs</li></ul>"
        '<p>the <a href="#">big tree</a> sits near the house. <img alt="a red car" src="x.png"></p>'
        "</body></html>"
    )

    def translate() -> dict[str, Any]:
        response = httpx.post(
            f"{server.base}/v1/translate",
            json={"text": page, "source": "en", "target": "de", "format": "html"},
            headers=KEY_HEADER,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["translations"][0])

    first, second = translate(), translate()
    assert first["segments"] >= 5 and first["cached_segments"] < first["segments"] and not first["cached"]
    assert second["text"] == first["text"]
    assert second["segments"] == first["segments"]
    assert second["cached_segments"] / second["segments"] >= 0.9
    assert second["cached"] is (second["cached_segments"] == second["segments"])


def test_languages_detect_and_frontend_settings(server: ServiceProcess) -> None:
    languages = httpx.get(f"{server.base}/languages").json()
    directions = {(d["source"], d["target"]) for d in httpx.get(f"{server.base}/v1/languages").json()["directions"]}
    assert {(lang["code"], target) for lang in languages for target in lang["targets"]} == directions

    detected = post(server, "/detect", json={"q": GERMAN, "api_key": KEY}).json()
    assert [d["language"] for d in detected] == ["de", "en"]
    assert detected[0]["confidence"] > detected[1]["confidence"]

    settings = httpx.get(f"{server.base}/frontend/settings").json()
    assert settings["keyRequired"] is True and settings["apiKeys"] is True
    assert settings["charLimit"] == 10_000 and settings["suggestions"] is False
    assert settings["filesTranslation"] is True and ".docx" in settings["supportedFilesFormat"]
    assert settings["language"]["source"] == {"code": "auto", "name": "Auto Detect"}
    assert settings["language"]["target"]["code"] in {t for lang in languages for t in lang["targets"]}


# --- errors: LibreTranslate's shape on these routes, the native shape on /v1 ------------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"source": "en", "target": "de"}, 400, "missing q"),
        ({"q": "a dog", "target": "de"}, 400, "missing source"),
        ({"q": "a dog", "source": "en"}, 400, "missing target"),
        ({"q": "a dog", "source": "en", "target": "zz"}, 400, "zz is not supported"),
        ({"q": "a dog", "source": "xx", "target": "de"}, 400, "xx is not supported"),
        ({"q": "a dog", "source": "en", "target": "en"}, 400, "not available as a target language"),
        ({"q": "a dog", "source": "en", "target": "de", "format": "xml"}, 400, "xml format is not supported"),
        ({"q": "a dog", "source": "en", "target": "de", "alternatives": "many"}, 400, "alternatives"),
        ({"q": ["a dog"] * (MAX_SEGMENTS + 1), "source": "en", "target": "de"}, 400, "exceeds text limit"),
        ({"q": "a dog " * 2000, "source": "en", "target": "de"}, 400, "exceeds text limit"),
        ({"q": [1, 2], "source": "en", "target": "de"}, 400, "list of strings"),
    ],
)
def test_translate_errors(server: ServiceProcess, body: dict[str, Any], status: int, needle: str) -> None:
    message = assert_libre_error(post(server, json={**body, "api_key": KEY}), status)
    assert needle in message


def test_key_and_body_errors(server: ServiceProcess) -> None:
    fields = {"q": "a dog", "source": "en", "target": "de"}
    assert "API key" in assert_libre_error(post(server, json=fields), 400)
    assert assert_libre_error(post(server, data={**fields, "api_key": "nope"}), 403) == "Invalid API key"
    assert assert_libre_error(post(server, "/detect", params={"q": "a dog", "api_key": "nope"}), 403)
    assert "missing q" in assert_libre_error(post(server, "/detect", data={"api_key": KEY}), 400)
    assert (
        assert_libre_error(post(server, content=b"{not json", headers={"Content-Type": "application/json"}), 400)
        == "Invalid JSON format"
    )
    assert assert_libre_error(post(server, json=["a", "list"]), 400) == "Invalid JSON format"
    # the native routes keep their own error shape
    assert_error_shape(
        httpx.post(
            f"{server.base}/v1/translate",
            json={"text": "a dog", "source": "en", "target": "zz"},
            headers=KEY_HEADER,
        ),
        400,
        "unknown_direction",
    )
    assert_error_shape(
        httpx.post(
            f"{server.base}/v1/translate",
            json={"text": "a dog", "source": "en", "target": "de", "format": "xml"},
            headers=KEY_HEADER,
        ),
        422,
    )


def test_native_api_takes_the_same_keys_as_a_header(server: ServiceProcess) -> None:
    url, body = f"{server.base}/v1/translate", {"text": SENTENCES[0], "source": "en", "target": "de"}
    missing = httpx.post(url, json=body)
    assert_error_shape(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    # checked before the body is read, so a caller without a key costs no parsing and learns nothing
    assert_error_shape(httpx.post(url, json={"text": ""}), 401, "unauthorized")
    assert_error_shape(httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}), 401)
    # either header may hold the key: a stale X-API-Key next to a valid bearer token is accepted
    stale = httpx.post(url, json=body, headers={"X-API-Key": "old", "Authorization": f"Bearer {KEY}"})
    assert stale.status_code == 200, stale.text
    assert_error_shape(httpx.post(url, json=body, headers={"X-API-Key": "nope"}), 403, "forbidden")
    assert_error_shape(httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}), 403, "forbidden")
    by_header = httpx.post(url, json=body, headers=KEY_HEADER)
    by_bearer = httpx.post(url, json=body, headers={"Authorization": "Bearer other-key"})
    assert by_header.status_code == by_bearer.status_code == 200, (by_header.text, by_bearer.text)
    assert by_header.json()["translations"] == by_bearer.json()["translations"]
    # discovery and operations stay open, as LibreTranslate's /languages does
    for path in ("/v1/languages", "/languages", "/healthz", "/readyz"):
        assert httpx.get(f"{server.base}{path}").status_code == 200, path
    schema = httpx.get(f"{server.base}/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} == {"apiKey", "http"}
    assert schema["paths"]["/v1/translate"]["post"]["security"] == [{name: []} for name in schemes]


@pytest.mark.asyncio
async def test_full_queue_is_429_slowdown(tiny_bundle: Path, tmp_path: Path) -> None:
    """A static batch window holds the first request's sentences in the queue; the next one finds it full."""
    settings = settings_for(
        make_model_dir(tiny_bundle, tmp_path),
        batching_mode="static",
        static_max_batch=100,
        static_max_wait_ms=1500,
        max_queue=3,
    )
    async with running_app(settings) as (app, client):
        first = asyncio.create_task(client.post("/translate", json={"q": SENTENCES, "source": "en", "target": "de"}))
        for _ in range(200):
            if len(app.state.runtime.queue) >= len(SENTENCES):
                break
            await asyncio.sleep(0.01)
        second = await client.post(
            "/translate", json={"q": ["a woman sits", "the tree"], "source": "en", "target": "de"}
        )
        assert "Slowdown" in assert_libre_error(second, 429)
        assert second.headers.get("retry-after")
        assert (await first).status_code == 200


# --- CORS and the browser files ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/translate", "/detect", "/languages", "/v1/translate"])
def test_cors_preflight(server: ServiceProcess, path: str) -> None:
    response = httpx.options(
        f"{server.base}{path}",
        headers={
            "Origin": "http://elsewhere.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key, authorization",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] in ("*", "http://elsewhere.example")
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-api-key", "authorization"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


def test_static_files(server: ServiceProcess) -> None:
    root = Path(__file__).resolve().parent.parent
    index = httpx.get(f"{server.base}/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert index.text == (root / "service/static/index.html").read_text()
    core = httpx.get(f"{server.base}/static/translate-core.js")
    assert core.status_code == 200 and "javascript" in core.headers["content-type"]
    assert core.content == (root / "extension/translate-core.js").read_bytes()
    for name in ("app.js", "style.css", "translate-page.js"):
        response = httpx.get(f"{server.base}/static/{name}")
        assert response.status_code == 200 and response.content == (root / "service/static" / name).read_bytes()
    assert httpx.get(f"{server.base}/static/nothing-here.js").status_code == 404
