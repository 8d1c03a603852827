"""Translate a list of texts in length-sorted batches: evaluation, benchmarks and the CLI use it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nmt_core.search import Hypothesis, SearchOptions, Stepper, decode_batch
from nmt_core.vocabulary import DEFAULT_MAX_SOURCE_PIECES, Vocabulary


def translate_offline(
    stepper: Stepper,
    vocab: Vocabulary,
    texts: Sequence[str],
    target_lang: str,
    options: SearchOptions,
    batch_size: int = 64,
    max_source_pieces: int = DEFAULT_MAX_SOURCE_PIECES,
    on_batch: Callable[[int], None] | None = None,
) -> list[Hypothesis]:
    """Hypotheses in input order; batches hold sentences of similar length to waste little padding."""
    sources = [vocab.source(text, target_lang, max_source_pieces) for text in texts]
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list[Hypothesis | None] = [None] * len(sources)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for index, hypothesis in zip(
            chunk, decode_batch(stepper, [sources[i] for i in chunk], options, vocab.specials)
        ):
            results[index] = hypothesis
        if on_batch is not None:
            on_batch(len(chunk))
    return [r for r in results if r is not None]


def detokenize(vocab: Vocabulary, hypotheses: Sequence[Hypothesis]) -> list[str]:
    return [vocab.decode(h.tokens) for h in hypotheses]
