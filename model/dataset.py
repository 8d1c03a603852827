"""From a config's corpora to framed id sequences: read, clean, learn the vocabulary, encode."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from model.batching import Example
from model.config import CorpusSpec, ExperimentConfig
from model.corpus import Pair, clean_pairs, pairs_of
from model.vocabulary import train_sentencepiece
from service.bundle import SENTENCEPIECE_FILE
from service.vocabulary import Vocabulary

DEFAULT_DATA_DIR = "../shared/data"


def resolve_path(path: str) -> str:
    """Config paths may use ${DATA_DIR}; it defaults to the shared corpora beside the checkout."""
    os.environ.setdefault("DATA_DIR", DEFAULT_DATA_DIR)
    return os.path.expandvars(path)


def _resolved(spec: CorpusSpec) -> CorpusSpec:
    return CorpusSpec(
        spec.kind, {k: resolve_path(v) for k, v in spec.paths.items()}, spec.columns, spec.directions, spec.max_pairs
    )


def read_corpora(specs: list[CorpusSpec]) -> list[Pair]:
    return [pair for spec in specs for pair in pairs_of(_resolved(spec))]


@dataclass
class PreparedData:
    vocab: Vocabulary
    train: list[Example]
    valid: dict[str, list[Pair]]  # direction -> raw pairs, for loss and BLEU
    valid_examples: list[Example]
    directions: list[str]
    languages: list[str]


def encode_pairs(pairs: list[Pair], vocab: Vocabulary) -> list[Example]:
    sources = vocab.encode_pieces_batch(p.source for p in pairs)
    targets = vocab.encode_pieces_batch(p.target for p in pairs)
    return [
        Example(vocab.frame_source(src, vocab.tag_id(pair.target_lang)), vocab.frame_target(tgt))
        for pair, src, tgt in zip(pairs, sources, targets)
    ]


def prepare_data(config: ExperimentConfig, run_dir: Path) -> PreparedData:
    raw_train = read_corpora(config.data.train)
    languages = sorted({p.source_lang for p in raw_train} | {p.target_lang for p in raw_train})
    spm_path = run_dir / SENTENCEPIECE_FILE
    if not spm_path.exists():
        sentences = sorted({s for p in raw_train for s in (p.source, p.target) if s})
        train_sentencepiece(sentences, languages, config.vocab, spm_path, seed=config.train.seed)
    vocab = Vocabulary(spm_path)
    train_pairs = clean_pairs(
        raw_train,
        lambda text: len(vocab.pieces(text)),
        config.data.max_tokens_per_sentence,
        config.data.max_length_ratio,
    )
    valid: dict[str, list[Pair]] = defaultdict(list)
    for pair in read_corpora(config.data.valid):
        bucket = valid[pair.direction]
        if (
            pair.source
            and pair.target
            and (config.data.valid_max_pairs is None or len(bucket) < config.data.valid_max_pairs)
        ):
            bucket.append(pair)
    directions = sorted({p.direction for p in train_pairs})
    valid_pairs = [p for pairs in valid.values() for p in pairs]
    return PreparedData(
        vocab, encode_pairs(train_pairs, vocab), dict(valid), encode_pairs(valid_pairs, vocab), directions, languages
    )
