"""The HTTP API in process (lifespan on): translation, error shapes, cache tiers, limits, overload, deadlines."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
import redis

from nmt_core.bundle import MANIFEST_FILE
from nmt_core.offline import decode_batch
from nmt_core.search import SearchOptions
from service.engine.results import SegmentResult
from service.validation import TranslationOptions
from tests.service_support import (
    assert_error_shape,
    make_model_dir,
    metric_value,
    running_app,
    settings_for,
    unique_tag,
)

pytestmark = pytest.mark.asyncio

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def model_dir(tiny_bundle: Path, tmp_path: Path) -> Path:
    return make_model_dir(tiny_bundle, tmp_path)


def translate_body(text: str | list[str], **options: int) -> dict[str, object]:
    return {"text": text, "source": "en", "target": "de", "options": options}


def unique(text: str) -> str:
    """A sentence no other test (or earlier run) has cached."""
    return f"{text} {unique_tag(3)}"


async def test_translate_and_languages(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir)) as (app, client):
        ready = await client.get("/readyz")
        served = {"id": "tiny", "version": "0.0.1", "provider": "CPUExecutionProvider", "precision": "fp32"}
        assert ready.status_code == 200 and ready.json() == {"status": "ready", "models": [served]}
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        languages = (await client.get("/v1/languages")).json()["directions"]
        assert {(d["source"], d["target"]) for d in languages} == {("en", "de"), ("de", "en")}
        assert all(d["model"] == served for d in languages)  # where and how this replica runs it
        text = [unique("the dog runs. The cat sits"), unique("a big tree")]
        response = await client.post("/v1/translate", json=translate_body(text, beam_size=1))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == {"id": "tiny", "version": "0.0.1"}
        assert [t["cached"] for t in body["translations"]] == [False, False]
        model = app.state.runtime.engine.models[0]
        sentences = ["the dog runs.", text[0].split(". ")[1], text[1]]
        hyps = decode_batch(model.backend, [model.vocab.source(s, "de") for s in sentences], SearchOptions())
        expected = [model.vocab.decode(h.tokens) for h in hyps]
        assert body["translations"][0]["text"] == f"{expected[0]} {expected[1]}"
        assert body["translations"][1]["text"] == expected[2]
        assert (await client.get("/docs")).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert "security" not in schema["paths"]["/v1/translate"]["post"]  # no API_KEYS: nothing to send


async def test_beam_search_through_the_api_equals_decode_batch(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir)) as (app, client):
        text = unique("a small red car near the house")
        body = (await client.post("/v1/translate", json=translate_body(text, beam_size=3))).json()
        model = app.state.runtime.engine.models[0]
        defaults = model.default_options("en-de")
        hyp = decode_batch(
            model.backend,
            [model.vocab.source(text, "de")],
            SearchOptions(
                beam_size=3, length_penalty=defaults.length_penalty, coverage_penalty=defaults.coverage_penalty
            ),
        )[0]
        assert body["translations"][0]["text"] == model.vocab.decode(hyp.tokens)


async def test_a_directions_own_decoding_defaults_serve_it_and_only_it(tiny_bundle: Path, tmp_path: Path) -> None:
    """A manifest's decoding_by_direction reaches requests of that direction, not the other one."""
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "models" / tiny_bundle.name))
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    short = {**manifest["decoding"], "beam_size": 1, "max_length_ratio": 0.0, "max_length_offset": 2}
    manifest["decoding_by_direction"] = {"en-de": short}
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))
    text = unique("the small dog runs on the red car near the house with a ball")
    async with running_app(settings_for(bundle.parent)) as (app, client):
        model = app.state.runtime.engine.models[0]
        lengths = {}
        for source, target in (("en", "de"), ("de", "en")):
            body = {"text": text, "source": source, "target": target}
            served = (await client.post("/v1/translate", json=body)).json()["translations"][0]["text"]
            options = model.default_options(f"{source}-{target}")
            hyp = decode_batch(model.backend, [model.vocab.source(text, target)], options)[0]
            assert served == model.vocab.decode(hyp.tokens)
            lengths[target] = len(hyp.tokens)
    assert lengths["de"] <= 2  # capped at two tokens by its own defaults
    assert lengths["en"] > 2  # the bundle-wide defaults: a whole translation


async def test_alternatives_are_the_beams_runners_up_and_are_cached(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir)) as (app, client):
        text = unique("a small red car near the house")
        model = app.state.runtime.engine.models[0]
        defaults = model.default_options("en-de")
        assert defaults.beam_size == 4  # the tiny bundle's default beam, used below by requests without one
        search = SearchOptions(
            beam_size=4, length_penalty=defaults.length_penalty, coverage_penalty=defaults.coverage_penalty
        )

        def best_and_runners_up(sentence: str) -> tuple[str, list[str]]:
            hyp = decode_batch(model.backend, [model.vocab.source(sentence, "de")], search)[0]
            best = model.vocab.decode(hyp.tokens)
            return best, list(
                dict.fromkeys(t for t in map(model.vocab.decode, hyp.runners_up) if t.strip() and t != best)
            )

        best, runners_up = best_and_runners_up(text)
        assert len(runners_up) >= 2, "the beam should hold other texts"

        async def ask(**options: int) -> dict[str, object]:
            response = await client.post("/v1/translate", json=translate_body(text, **options))
            assert response.status_code == 200, response.text
            return dict(response.json()["translations"][0])

        # without alternatives none are sent; a plain entry in the cache does not answer a request for them
        assert await ask() == {"text": best, "cached": False}
        assert await ask(alternatives=2) == {"text": best, "cached": False, "alternatives": runners_up[:2]}
        # one entry holds all the beam's runner-ups and answers any count; the best translation never changes
        assert await ask(alternatives=2) == {"text": best, "cached": True, "alternatives": runners_up[:2]}
        assert await ask(beam_size=4, alternatives=3) == {"text": best, "cached": True, "alternatives": runners_up[:3]}
        refused = await client.post("/v1/translate", json=translate_body(text, alternatives=4))
        assert "model's default" in assert_error_shape(refused, 422, "beam_size_too_small")["message"]

        # a text of two sentences: its alternative joins each sentence's first runner-up
        first_sentence = unique("the dog runs") + "."
        _, first_runners_up = best_and_runners_up(first_sentence)
        joined = translate_body(f"{first_sentence} {text}", beam_size=4, alternatives=1)
        answer = (await client.post("/v1/translate", json=joined)).json()["translations"][0]
        assert answer["alternatives"] == [f"{first_runners_up[0]} {runners_up[0]}"]


async def test_translate_segments_carries_pieces_and_alignment(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir)) as (app, _):
        translator = app.state.runtime.translator
        segments = [unique("the dog runs. The man sits on the car"), "   ", unique("cat")]
        results = await translator.translate_segments("en", "de", segments, TranslationOptions(beam_size=1))
        assert len(results) == 3 and all(isinstance(r, SegmentResult) for r in results)
        vocab = app.state.runtime.engine.models[0].vocab
        first = results[0]
        pieces = [vocab.id_to_piece(i) for s in ("the dog runs.", segments[0].split(". ")[1]) for i in vocab.pieces(s)]
        assert first.source_pieces == pieces
        assert len(first.alignment) == len(first.target_pieces)
        assert all(0 <= i < len(first.source_pieces) for i in first.alignment)
        assert results[1] == SegmentResult("   ", True, [], [], [])
        again = await translator.translate_segments("en", "de", segments, TranslationOptions(beam_size=1))
        assert [r.cached for r in again] == [True, True, True]
        assert [(r.text, r.source_pieces, r.target_pieces, r.alignment) for r in again] == [
            (r.text, r.source_pieces, r.target_pieces, r.alignment) for r in results
        ]


async def test_error_cases_have_one_shape(model_dir: Path) -> None:
    settings = settings_for(model_dir, max_segments=3, max_text_chars=50, max_beam_size=4, max_output_length=20)
    async with running_app(settings) as (_, client):
        post = client.post
        assert_error_shape(
            await post("/v1/translate", json={**translate_body("x"), "target": "fr"}), 400, "unknown_direction"
        )
        assert_error_shape(await post("/v1/translate", json=translate_body("")), 422, "empty_text")
        assert_error_shape(await post("/v1/translate", json=translate_body("  \n ")), 422, "empty_text")
        assert_error_shape(await post("/v1/translate", json=translate_body([])), 422, "empty_text")
        assert_error_shape(await post("/v1/translate", json=translate_body(["a"] * 4)), 413, "too_many_segments")
        assert_error_shape(await post("/v1/translate", json=translate_body("a" * 51)), 413, "text_too_long")
        assert_error_shape(
            await post("/v1/translate", json=translate_body("a", beam_size=5)), 422, "beam_size_too_large"
        )
        assert_error_shape(await post("/v1/translate", json=translate_body("a", beam_size=0)), 422, "invalid_request")
        assert_error_shape(
            await post("/v1/translate", json=translate_body("a", max_length=21)), 422, "max_length_too_large"
        )
        assert_error_shape(
            await post("/v1/translate", json={**translate_body("a"), "format": "markdown"}), 422, "invalid_request"
        )
        assert_error_shape(await post("/v1/translate", json={"text": "a"}), 422, "invalid_request")
        assert_error_shape(await post("/v1/translate", json={**translate_body("a"), "extra": 1}), 422)
        assert_error_shape(await post("/v1/translate", json=translate_body([1, 2])), 422)  # type: ignore[list-item]
        assert_error_shape(
            await post("/v1/translate", content=b"{not json", headers={"content-type": "application/json"}), 422
        )
        assert_error_shape(
            await post("/v1/translate", content=b"\xff\xfe", headers={"content-type": "text/plain"}), 422
        )
        lone_surrogate = b'{"text": "a \\ud800 b", "source": "en", "target": "de"}'
        assert_error_shape(
            await post("/v1/translate", content=lone_surrogate, headers={"content-type": "application/json"}),
            422,
            "invalid_text",
        )
        for options, code in [
            ({"alternatives": 4}, "too_many_alternatives"),  # max_beam_size 4 keeps at most 3 runners-up
            ({"alternatives": 2, "beam_size": 2}, "beam_size_too_small"),
            ({"alternatives": -1}, "invalid_request"),
        ]:
            assert_error_shape(await post("/v1/translate", json=translate_body("a", **options)), 422, code)
        html = {**translate_body("<p>a</p>", alternatives=1), "format": "html"}
        assert_error_shape(await post("/v1/translate", json=html), 422, "alternatives_unsupported")
        assert_error_shape(await client.get("/v1/translate"), 405, "method_not_allowed")
        assert_error_shape(await client.get("/no/such/route"), 404, "not_found")


async def test_metrics_use_the_documented_names(model_dir: Path) -> None:
    async with running_app(settings_for(model_dir)) as (_, client):
        await client.post("/v1/translate", json=translate_body(unique("the red ball")))
        await client.post("/v1/translate", json=translate_body("x") | {"target": "xx"})
        text = (await client.get("/metrics")).text
    documented = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
    for name in [
        "nmt_requests_total",
        "nmt_request_duration_seconds_bucket",
        "nmt_segments_total",
        "nmt_tokens_total",
        "nmt_cache_hits_total",
        "nmt_cache_misses_total",
        "nmt_redis_errors_total",
        "nmt_queue_depth",
        "nmt_queue_wait_seconds_bucket",
        "nmt_batch_rows_bucket",
        "nmt_encoder_seconds_bucket",
        "nmt_decoder_step_seconds_bucket",
        "nmt_model_info",
    ]:
        assert f"\n{name}" in text, name
        assert name.removesuffix("_bucket") in documented.read_text(), name
    assert 'nmt_requests_total{route="/v1/translate",status="400"}' in text
    assert 'nmt_tokens_total{direction="en-de",kind="source"}' in text
    info = 'nmt_model_info{model_id="tiny",model_version="0.0.1",precision="fp32",provider="CPUExecutionProvider"}'
    assert f"{info} 1.0" in text


async def test_memory_then_redis_tier_and_single_flight(model_dir: Path) -> None:
    settings = settings_for(model_dir, redis_url=REDIS_URL)
    text = unique("the woman plays with the child")
    try:
        async with running_app(settings) as (app, client):
            translator = app.state.runtime.translator
            responses = await asyncio.gather(
                *(client.post("/v1/translate", json=translate_body(text)) for _ in range(5))
            )
            assert all(r.status_code == 200 for r in responses)
            assert len({r.json()["translations"][0]["text"] for r in responses}) == 1
            assert translator.decoded_sentences == 1  # identical sentences in flight are decoded once
            hit = (await client.post("/v1/translate", json=translate_body(text))).json()
            assert hit["translations"][0]["cached"] is True
            app.state.runtime.cache.memory.clear()
            before = metric_value((await client.get("/metrics")).text, 'nmt_cache_hits_total{tier="redis"}')
            from_redis = (await client.post("/v1/translate", json=translate_body(text))).json()
            assert from_redis == hit
            assert metric_value((await client.get("/metrics")).text, 'nmt_cache_hits_total{tier="redis"}') == before + 1
            assert translator.decoded_sentences == 1
        async with running_app(settings) as (app, client):  # a second instance shares the Redis tier
            body = (await client.post("/v1/translate", json=translate_body(text))).json()
            assert body == hit
            assert app.state.runtime.translator.decoded_sentences == 0
            # alternatives survive the trip through Redis too
            asked = translate_body(text, beam_size=4, alternatives=2)
            decoded = (await client.post("/v1/translate", json=asked)).json()["translations"][0]
            app.state.runtime.cache.memory.clear()
            stored = (await client.post("/v1/translate", json=asked)).json()["translations"][0]
            assert decoded["alternatives"] and stored == {**decoded, "cached": True}
    finally:
        client_ = redis.Redis.from_url(REDIS_URL)
        keys = list(client_.scan_iter(f"{settings.cache_key_prefix}*"))
        assert keys, "the translation should have been written to Redis"
        client_.delete(*keys)


async def test_overload_answers_503_with_retry_after(model_dir: Path) -> None:
    # A long static collection window keeps requests queued, so a queue of 2 fills deterministically.
    settings = settings_for(
        model_dir, max_queue=2, batching_mode="static", static_max_batch=100, static_max_wait_ms=1500
    )
    async with running_app(settings) as (_, client):
        responses = await asyncio.gather(
            *(client.post("/v1/translate", json=translate_body(unique("the dog"))) for _ in range(6))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 503, 503, 503, 503]
    for response in responses:
        if response.status_code == 503:
            assert_error_shape(response, 503, "overloaded")
            assert int(response.headers["retry-after"]) >= 1


async def test_deadline_answers_504(model_dir: Path) -> None:
    settings = settings_for(
        model_dir, request_timeout_s=0.05, batching_mode="static", static_max_batch=100, static_max_wait_ms=1000
    )
    async with running_app(settings) as (app, client):
        response = await client.post("/v1/translate", json=translate_body(unique("a child plays")))
        assert_error_shape(response, 504, "deadline_exceeded")
        await asyncio.sleep(0.2)
        assert app.state.runtime.scheduler.idle()  # the expired sentence left the queue
        again = await client.post("/v1/translate", json=translate_body(unique("a child plays")))
        assert again.status_code == 504  # the service keeps answering


async def test_a_cancelled_request_leaves_the_scheduler(model_dir: Path) -> None:
    # A one-second static window keeps the sentence queued; cancelling the caller must withdraw it
    # (well before the window ends), not leave it to be decoded for nobody.
    settings = settings_for(
        model_dir, request_timeout_s=30, batching_mode="static", static_max_batch=100, static_max_wait_ms=1000
    )
    async with running_app(settings) as (app, _):
        runtime = app.state.runtime
        task = asyncio.create_task(runtime.translator.translate_segments("en", "de", [unique("the big house")]))
        await asyncio.sleep(0.05)
        assert not runtime.scheduler.idle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)
        assert runtime.scheduler.idle()
        assert runtime.scheduler.steps == 0  # nothing was decoded for the cancelled caller


async def test_a_follower_survives_its_leader_being_cancelled(model_dir: Path) -> None:
    settings = settings_for(
        model_dir, request_timeout_s=30, batching_mode="static", static_max_batch=100, static_max_wait_ms=300
    )
    text = unique("the small dog sits near the tree")
    async with running_app(settings) as (app, _):
        translator = app.state.runtime.translator
        leader = asyncio.create_task(translator.translate_segments("en", "de", [text]))
        await asyncio.sleep(0.05)
        follower = asyncio.create_task(translator.translate_segments("en", "de", [text]))
        await asyncio.sleep(0.05)
        assert translator.decoded_sentences == 0 and len(translator._inflight) == 1  # shared, not yet decoded
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        (result,) = await follower
        reference = (await translator.translate_segments("en", "de", [text]))[0]
        assert result.text == reference.text and reference.cached
