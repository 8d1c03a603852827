"""The shared SentencePiece model: trained on the training split only, or adopted from an earlier stage."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import sentencepiece as spm

from model.config import VocabConfig
from nmt_core.bundle import DEFAULT_SPECIAL_IDS, SENTENCEPIECE_FILE, language_tag
from nmt_core.vocabulary import Vocabulary


def train_sentencepiece(
    sentences: Sequence[str], languages: Sequence[str], config: VocabConfig, model_path: Path, seed: int = 1
) -> Path:
    """One joint model for all languages; language tags are user-defined pieces so they never split."""
    model_path.parent.mkdir(parents=True, exist_ok=True)
    sample = list(sentences)
    if len(sample) > config.input_sentence_size:
        sample = random.Random(seed).sample(sample, config.input_sentence_size)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(s.replace("\n", " ") for s in sample) + "\n")
        corpus = handle.name
    ids = DEFAULT_SPECIAL_IDS
    try:
        spm.SentencePieceTrainer.train(
            input=corpus,
            model_prefix=str(model_path.with_suffix("")),
            vocab_size=config.size,
            model_type=config.model_type,
            character_coverage=config.character_coverage,
            pad_id=ids.pad,
            unk_id=ids.unk,
            bos_id=ids.bos,
            eos_id=ids.eos,
            user_defined_symbols=[language_tag(lang) for lang in sorted(languages)],
            hard_vocab_limit=False,
            num_threads=2,
            minloglevel=2,
        )
    finally:
        Path(corpus).unlink(missing_ok=True)
    return model_path.with_suffix(".model")


def adopt_sentencepiece(source: Path, languages: Sequence[str], model_path: Path) -> None:
    """Copy a given SentencePiece model (a file, or a bundle or run folder) into the run, refusing one
    that cannot tag a training language, or one that differs from the run's own on a resume."""
    model_file = source / SENTENCEPIECE_FILE if source.is_dir() else source
    if not model_file.is_file():
        raise FileNotFoundError(f"vocab.model: no SentencePiece model at {source}")
    vocab, missing = Vocabulary(model_file), []
    for lang in languages:
        try:
            vocab.tag_id(lang)
        except KeyError:
            missing.append(lang)
    if missing:
        raise ValueError(f"vocab.model {model_file} has no language tag for {', '.join(missing)}")
    if model_path.exists():
        if model_path.read_bytes() != model_file.read_bytes():
            raise ValueError(f"{model_path} is not vocab.model {model_file}: the run was started with another")
        return
    model_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_file, model_path)
