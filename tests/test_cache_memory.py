"""The in-process caches hold what they say they hold (security issue 9, "honest memory").

tracemalloc counts the bytes the interpreter really allocated; the translation cache's memory
tier must agree with it, and the segmentation memos must stay a few MB whatever the input.
"""

from __future__ import annotations

import asyncio
import gc
import random
import tracemalloc
from collections.abc import Iterator

import pytest

from service.engine.cache import MemoryTier, TranslationCache, cache_key
from service.engine.results import SentenceResult
from service.text import segmentation
from service.text.segmentation import _MEMO_MAX_CHARS, _normalize, _split_sentences, normalize, split_sentences

_VOCABULARY = (
    "ein Mann in einem blauen Hemd steht auf der Leiter und putzt die Fenster eines hohen Gebäudes "
    "zwei Hunde spielen im Schnee während Kinder über die Straße laufen Café Straßenmusiker Grüße "
    "a woman with a red umbrella walks past the market stall selling fresh fruit and vegetables"
)
_WORDS = _VOCABULARY.split()
_MARGIN = 0.30


def _result(rng: random.Random, index: int) -> SentenceResult:
    """A sentence result shaped like the decoder's: SentencePiece pieces, an alignment, sometimes runners-up.

    Every string is built afresh, as decoding builds it, so no object is shared between entries.
    """
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 30))] + [str(index)]

    def pieces(ws: list[str]) -> list[str]:
        out: list[str] = []
        for word in ws:
            cut = rng.randint(1, len(word))
            out += ["▁" + word[:cut]] + ([word[cut:]] if cut < len(word) else [])
        return out

    source = pieces(words)
    target = pieces([w[::-1] for w in words])
    alternatives = [" ".join(rng.sample(words, len(words))) for _ in range(rng.choice((0, 0, 0, 2, 4)))]
    return SentenceResult(
        " ".join(words).capitalize() + ".",
        source,
        target,
        [rng.randrange(-1, len(source)) for _ in target],
        alternatives,
    )


def _keys(prefix: str, count: int) -> Iterator[str]:
    for index in range(count):
        yield cache_key(prefix, "model", "1.0.0", "en", "de", {"beam_size": 6}, f"sentence {index}")


def test_memory_tier_round_trips_and_returns_fresh_objects() -> None:
    rng = random.Random(1)
    tier = MemoryTier(1 << 20)
    key = next(_keys("nmt:", 1))
    result = _result(rng, 0)
    result = SentenceResult(result.text + " 𝐀 ü", result.source_pieces, result.target_pieces, result.alignment, ["x"])
    tier.put(key, result)
    first, second = tier.get(key), tier.get(key)
    assert first == result and second == result
    assert first is not second and first.source_pieces is not second.source_pieces  # nobody can alter the entry
    assert tier.get("nmt:missing") is None


def test_memory_tier_accounting_and_lru_order() -> None:
    rng = random.Random(2)
    results = [_result(rng, i) for i in range(50)]
    keys = list(_keys("nmt:", 50))
    tier = MemoryTier(10_000)
    for key, result in zip(keys, results, strict=True):
        tier.put(key, result)
        tier.put(key, result)  # replacing an entry charges it once
        assert tier.size_bytes <= tier.max_bytes
    held = [k for k in keys if tier.get(k) is not None]
    assert 3 <= len(held) < 50 and held == keys[-len(held) :]  # the newest survive
    tier.get(held[0])  # touched: now the most recent
    tier.put(keys[0], results[0])
    assert tier.get(held[0]) is not None and tier.get(held[1]) is None
    assert tier.size_bytes == sum(tier.cost(k, v) for k, v in tier._items.items())
    tier.clear()
    assert len(tier) == 0 and tier.size_bytes == 0


def test_disabled_and_too_small_tiers_hold_nothing() -> None:
    result = _result(random.Random(3), 0)
    key = next(_keys("nmt:", 1))
    for max_bytes in (0, 200):
        tier = MemoryTier(max_bytes)
        tier.put(key, result)
        assert len(tier) == 0 and tier.size_bytes == 0 and tier.get(key) is None


def test_memory_tier_charge_matches_traced_memory() -> None:
    """Filled past its bound with realistic entries, the tier's charge is within 30% of the bytes
    tracemalloc sees it allocate, and what it holds never exceeds its bound by more than that."""
    max_bytes = 3 << 20
    rng = random.Random(4)
    cache = TranslationCache(max_bytes)
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        keys = _keys("nmt-test-memory:", 12_000)
        samples: list[tuple[int, int]] = []
        for batch_start in range(0, 12_000, 400):
            batch = {next(keys): _result(rng, batch_start + i) for i in range(400)}
            asyncio.run(cache.put_many(batch))
            del batch
            gc.collect()
            samples.append((tracemalloc.get_traced_memory()[0] - baseline, cache.memory.size_bytes))
    finally:
        tracemalloc.stop()
    assert len(cache.memory) > 1000
    for traced, charged in samples:
        assert abs(traced - charged) <= _MARGIN * charged, (traced, charged)
        assert traced <= max_bytes * (1 + _MARGIN), (traced, max_bytes)
    traced, charged = samples[-1]
    assert charged > 0.9 * max_bytes  # full: the comparison above covers a full tier under churn


def _adversarial_texts(count: int) -> list[str]:
    """Distinct texts of exactly `_MEMO_MAX_CHARS` characters split into as many small pieces as the
    splitter allows: the shapes that made the memos hold the most per entry."""
    bodies = ("𝐀𝐁. 1", "ab\n", "Ü! 9", "x.  Y ")
    texts = []
    for index in range(count):
        head = f"{index:06d}. "
        body = bodies[index % len(bodies)]
        texts.append((head + body * _MEMO_MAX_CHARS)[:_MEMO_MAX_CHARS])
    return texts


def test_segmentation_memos_stay_small_on_adversarial_input() -> None:
    segmentation._SPLIT_MEMO.clear()
    segmentation._NORMALIZE_MEMO.clear()
    texts = _adversarial_texts(2000)
    budget = segmentation._SPLIT_MEMO.max_bytes + segmentation._NORMALIZE_MEMO.max_bytes
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        peak_growth = 0
        for index, text in enumerate(texts):
            split = split_sentences(text)
            normalize(text)
            for sentence in split.sentences[:20]:
                normalize(sentence)
            del split
            if index % 100 == 99:
                peak_growth = max(peak_growth, tracemalloc.get_traced_memory()[0] - baseline)
    finally:
        tracemalloc.stop()
    assert segmentation._SPLIT_MEMO.size_bytes <= segmentation._SPLIT_MEMO.max_bytes
    assert segmentation._NORMALIZE_MEMO.size_bytes <= segmentation._NORMALIZE_MEMO.max_bytes
    assert len(segmentation._SPLIT_MEMO) > 50  # still memoising, only fewer of these
    assert peak_growth <= min(budget, 8 << 20), peak_growth  # the charge is an upper bound


@pytest.mark.parametrize("max_chars", [400, 12])
def test_memoised_segmentation_gives_the_same_results(max_chars: int) -> None:
    texts = [
        *_adversarial_texts(40),
        "Mr. Smith went to Washington. He arrived at 5 p.m. on Monday!",
        "  leading space. Then a sentence.\n\nNew paragraph?  Yes…   「引用」。次の文！",
        "",
        "   ",
        "\n\n",
        "No boundary at all",
        "x" * (_MEMO_MAX_CHARS + 1),
        "Ends with spaces.   ",
        "Z.B. das hier. Und das, usw. Ende.",
    ]
    for _ in range(2):  # a miss, then a hit
        for text in texts:
            assert split_sentences(text, max_chars) == _split_sentences(text, max_chars)
            assert normalize(text) == _normalize(text)
