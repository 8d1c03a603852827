"""Typed experiment configuration, read from YAML.

One YAML file reproduces one model: data, vocabulary, network and training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

import yaml


@dataclass
class CorpusSpec:
    """One parallel corpus: two line-aligned files, or a TSV with `columns` naming its languages."""

    kind: Literal["pair", "tsv"] = "pair"
    paths: dict[str, str] = field(default_factory=dict)  # pair: lang -> file; tsv: {"tsv": file}
    columns: list[str] = field(default_factory=list)  # tsv column order, e.g. [en, fr]
    directions: list[str] = field(default_factory=list)  # e.g. ["en-de", "de-en"]; empty = all
    max_pairs: int | None = None
    domain: str = ""  # label for per-domain validation and reports ("captions", "news", ...)
    weight: float = 1.0  # upsampling: each cleaned pair is seen this many times per epoch (fractions sampled)
    # Held out of training, grouped by the English sentence so no translation of it leaks into training:
    valid_sentences: int = 0  # English sentences per direction for validation (model selection)
    test_sentences: int = 0  # English sentences per direction for the model card (never tuned on)
    # English sources of at most this many words also train in Title Case ("Delete Row", "Cell 1"), target
    # unchanged: UI labels are written so, and a model that saw them only in sentence case copies them (as
    # Marian's --english-title-case-every teaches). 0: off.
    title_case_max_words: int = 0


@dataclass
class DataConfig:
    train: list[CorpusSpec] = field(default_factory=list)
    valid: list[CorpusSpec] = field(default_factory=list)
    max_tokens_per_sentence: int = 80  # SentencePiece pieces; longer pairs are dropped
    max_length_ratio: float = 3.0
    valid_max_pairs: int | None = 500  # per domain and direction, for per-epoch BLEU
    # Drop a training pair when lingua gives either side's claimed language less than this confidence
    # (misaligned or wrong-language pairs); 0 turns the filter off.
    langid_min_confidence: float = 0.0


@dataclass
class VocabConfig:
    size: int = 8000
    model_type: Literal["unigram", "bpe"] = "unigram"
    character_coverage: float = 1.0
    input_sentence_size: int = 400_000
    # An existing SentencePiece model (a file, or a bundle folder holding one) used as it is instead of
    # training one, so that a second stage keeps its first stage's vocabulary and every embedding row.
    # It must have every training language's tag; size and model_type are then the model's own.
    model: str | None = None


@dataclass
class ModelConfig:
    embed_dim: int = 256
    hidden_dim: int = 256
    encoder_layers: int = 2
    decoder_layers: int = 2
    residual_from: int = 3  # 1-based layer index where residual connections start (GNMT: 3)
    attention: Literal["bahdanau", "luong"] = "bahdanau"
    attention_dim: int = 256
    dropout: float = 0.2
    tie_embeddings: bool = True


@dataclass
class TrainConfig:
    seed: int = 1
    max_tokens: int = 4000  # target tokens per batch
    epochs: int = 20
    max_steps: int | None = None
    max_minutes: float | None = None
    lr: float = 1e-3
    warmup_steps: int = 500
    # inverse_sqrt: warm-up then 1/sqrt(step), halved on a validation plateau (open-ended runs).
    # cosine: warm-up then a cosine to zero at the end of the budget, which is `epochs` (or
    # `max_steps`) or `max_minutes`, whichever comes first; a fixed budget ends annealed.
    schedule: Literal["inverse_sqrt", "cosine"] = "inverse_sqrt"
    lr_decay: float = 0.5  # multiply the LR on a validation plateau (inverse_sqrt only)
    patience: int = 3  # epochs without BLEU gain before stopping
    clip_norm: float = 1.0
    label_smoothing: float = 0.1
    valid_beam_size: int = 1
    threads: int | None = None
    # auto: bf16 autocast on CUDA, fp32 on CPU. bf16 on a CPU with AVX512-BF16/AMX is ~1.4x faster.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # A bundle folder whose weights start training (model/warm_start.py); the model's dims must match
    # the bundle's, the vocabulary may differ. Ignored on --resume.
    init_from: str | None = None


@dataclass
class ExperimentConfig:
    name: str = "model"
    version: str = "0.1.0"
    output_dir: str = "runs/model"
    data: DataConfig = field(default_factory=DataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: Any, data: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls(), name) if name in known else None
        if is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _build(type(default), value)
        elif name in ("train", "valid") and cls is DataConfig:
            kwargs[name] = [_build(CorpusSpec, item) for item in value]
        else:
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    config: ExperimentConfig = _build(ExperimentConfig, data)
    return config


def load_config(path: str | Path) -> ExperimentConfig:
    return config_from_dict(yaml.safe_load(Path(path).read_text()) or {})
