"""Offline decoding: admit everything, step until empty. Evaluation, export checks, benchmarks and the CLI.

It is the scheduler's decoder without the queue: sentences are admitted shortest first as rows free up,
so a sentence's output is the one the service gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nmt_core.backend import Backend
from nmt_core.bundle import DEFAULT_SPECIAL_IDS, SpecialIds
from nmt_core.decoder import BatchedDecoder
from nmt_core.search import Hypothesis, SearchOptions
from nmt_core.selection import Sentence
from nmt_core.vocabulary import DEFAULT_MAX_SOURCE_PIECES, Vocabulary

DEFAULT_MAX_SENTENCES = 64  # in flight at once; a beam of k is k rows each
_REFILL_RATIO = 0.25  # admit again once this share of the sentence budget is free (amortises encoding)


def decode_batch(
    backend: Backend,
    sources: Sequence[list[int]],
    options: SearchOptions,
    specials: SpecialIds = DEFAULT_SPECIAL_IDS,
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    on_done: Callable[[int], None] | None = None,
    length_cap: int | None = None,
) -> list[Hypothesis]:
    """Hypotheses for framed source ids, in input order."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list[Hypothesis | None] = [None] * len(sources)
    decoder = BatchedDecoder(backend, specials)
    position = 0
    while position < len(order) or decoder.sentences:
        room = max_sentences - decoder.sentences
        if position < len(order) and (decoder.sentences == 0 or room >= _REFILL_RATIO * max_sentences):
            chunk = order[position : position + room]
            position += len(chunk)
            decoder.admit([_sentence(sources[i], options, length_cap, i) for i in chunk])
        report = decoder.step()
        for index, hypothesis in report.finished:
            results[index] = hypothesis
        if on_done is not None and report.finished:
            on_done(len(report.finished))
    return [r for r in results if r is not None]


def _sentence(source: list[int], options: SearchOptions, length_cap: int | None, tag: int) -> Sentence:
    limit = options.max_length(len(source))
    return Sentence(source, options, limit if length_cap is None else min(limit, length_cap), tag)


def translate_offline(
    backend: Backend,
    vocab: Vocabulary,
    texts: Sequence[str],
    target_lang: str,
    options: SearchOptions,
    batch_size: int = DEFAULT_MAX_SENTENCES,
    max_source_pieces: int = DEFAULT_MAX_SOURCE_PIECES,
    on_batch: Callable[[int], None] | None = None,
) -> list[Hypothesis]:
    """Hypotheses in input order; `batch_size` sentences are decoded at once."""
    sources = [vocab.source(text, target_lang, max_source_pieces) for text in texts]
    return decode_batch(backend, sources, options, vocab.specials, batch_size, on_batch)


def detokenize(vocab: Vocabulary, hypotheses: Sequence[Hypothesis]) -> list[str]:
    return [vocab.decode(h.tokens) for h in hypotheses]
