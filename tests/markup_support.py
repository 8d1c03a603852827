"""Aligned translations from the tiny bundle, shaped like the service's SegmentResult, for markup tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nmt_core.bundle import load_bundle
from nmt_core.offline import translate_offline
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import DEFAULT_MAX_SOURCE_PIECES, Vocabulary
from tests.fixtures import toy_translation


@dataclass
class Aligned:
    text: str
    source_pieces: list[str]
    target_pieces: list[str]
    alignment: list[int]


def word_pieces(text: str) -> list[str]:
    return ["▁" + word for word in text.split()]


def reversing(segment: str) -> Aligned:
    """A 'translation' that reorders every word, the hardest case for carrying tags across."""
    source = word_pieces(segment)
    target = [f"▁{piece[1:].upper()}" for piece in reversed(source)]
    return Aligned(" ".join(p[1:] for p in target), source, target, list(reversed(range(len(source)))))


@dataclass
class TinyTranslator:
    """Async `translate(segments)` backed by the real tiny model; remembers every call."""

    bundle_dir: Path
    target: str = "de"
    calls: list[tuple[list[str], list[Aligned]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        bundle = load_bundle(self.bundle_dir)
        self.backend = OnnxBackend(bundle.encoder_path, bundle.decoder_step_path, device="cpu")
        self.vocab = Vocabulary(bundle.sentencepiece_path)

    async def __call__(self, segments: list[str]) -> list[Aligned]:
        hypotheses = translate_offline(self.backend, self.vocab, segments, self.target, SearchOptions(beam_size=1))
        results = []
        for segment, hyp in zip(segments, hypotheses, strict=True):
            # without the language tag and EOS
            source_ids = self.vocab.source(segment, self.target, DEFAULT_MAX_SOURCE_PIECES)[1:-1]
            columns = hyp.attention[: len(hyp.tokens), 1 : 1 + len(source_ids)]  # column 0 is the tag
            alignment = [int(row.argmax()) for row in columns] if source_ids else [0] * len(hyp.tokens)
            results.append(
                Aligned(
                    self.vocab.decode(hyp.tokens),
                    [self.vocab.id_to_piece(i) for i in source_ids],
                    [self.vocab.id_to_piece(t) for t in hyp.tokens],
                    alignment,
                )
            )
        self.calls.append((list(segments), results))
        return results


@dataclass
class ToyTranslator:
    """Deterministic stand-in for a model that reorders: the toy 'German' of tests/fixtures.py, words reversed.

    Source pieces come from the bundle's real SentencePiece model; each target word aligns to its source
    word's first piece. It exercises tag projection with non-trivial reordering that the tiny model lacks.
    """

    bundle_dir: Path
    calls: list[tuple[list[str], list[Aligned]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.vocab = Vocabulary(load_bundle(self.bundle_dir).sentencepiece_path)

    def translate_one(self, segment: str) -> Aligned:
        pieces = [self.vocab.id_to_piece(i) for i in self.vocab.pieces(segment)]
        word_starts = [i for i, p in enumerate(pieces) if p.startswith("▁")] or [0]
        words = segment.split()
        order = list(reversed(range(len(words))))
        target = [toy_translation(words[k]) for k in order]
        alignment = [word_starts[min(k, len(word_starts) - 1)] for k in order]
        return Aligned(" ".join(target), pieces, ["▁" + w for w in target], alignment)

    async def __call__(self, segments: list[str]) -> list[Aligned]:
        results = [self.translate_one(s) for s in segments]
        self.calls.append((list(segments), results))
        return results
