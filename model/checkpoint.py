"""Self-contained checkpoints: weights, config and the SentencePiece model in one file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model.config import ExperimentConfig, config_from_dict
from model.seq2seq import Translator


@dataclass
class Checkpoint:
    config: ExperimentConfig
    model_state: dict[str, Any]
    sentencepiece: bytes
    directions: list[str]
    languages: list[str]
    progress: dict[str, Any] = field(default_factory=dict)  # epoch, step, best_bleu, ...
    optimizer_state: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def build_model(self) -> Translator:
        vocab_size = self.model_state["embedding.weight"].shape[0]
        model = Translator(vocab_size, self.config.model)
        model.load_state_dict(self.model_state)
        return model.eval()

    def write_sentencepiece(self, path: Path) -> Path:
        path.write_bytes(self.sentencepiece)
        return path


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "config": checkpoint.config.to_dict(),
            "model_state": checkpoint.model_state,
            "sentencepiece": checkpoint.sentencepiece,
            "directions": checkpoint.directions,
            "languages": checkpoint.languages,
            "progress": checkpoint.progress,
            "optimizer_state": checkpoint.optimizer_state,
            "metrics": checkpoint.metrics,
        },
        tmp,
    )
    tmp.replace(path)  # never leave a half-written checkpoint behind


def load_checkpoint(path: str | Path) -> Checkpoint:
    data = torch.load(path, map_location="cpu", weights_only=False)
    return Checkpoint(
        config=config_from_dict(data["config"]),
        model_state=data["model_state"],
        sentencepiece=data["sentencepiece"],
        directions=data["directions"],
        languages=data["languages"],
        progress=data.get("progress", {}),
        optimizer_state=data.get("optimizer_state"),
        metrics=data.get("metrics", {}),
    )
