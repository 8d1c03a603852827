"""Training writes its log, curves and checkpoints, and resumes where it stopped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from model.checkpoint import load_checkpoint
from model.train import mixed_precision, train
from tests.fixtures import tiny_config


def test_resume_continues_from_the_saved_step(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, steps=12)
    config.train.epochs = 1
    train(config)
    run = Path(config.output_dir)
    first = load_checkpoint(run / "last.pt")
    assert first.progress["step"] == 12 and first.optimizer_state is not None
    config.train.max_steps = 20
    train(config, resume=run / "last.pt")
    second = load_checkpoint(run / "last.pt")
    assert second.progress["step"] == 20
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [12, 20]
    assert {"valid_loss", "valid_bleu", "train_loss", "lr"} <= set(records[0])
    assert (run / "curves.png").stat().st_size > 1000
    assert (run / "best.pt").exists()


def test_mixed_precision_autocasts_only_where_asked() -> None:
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with mixed_precision("bf16", torch.device("cpu")):
        assert layer(x).dtype == torch.bfloat16
    with mixed_precision("auto", torch.device("cpu")):
        assert layer(x).dtype == torch.float32


def test_bf16_training_on_cpu_keeps_fp32_weights(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, steps=12)
    config.train.epochs = 1
    config.train.precision = "bf16"
    train(config)
    run = Path(config.output_dir)
    state = load_checkpoint(run / "last.pt").model_state
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float32}
    record = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(record["train_loss"]) and math.isfinite(record["valid_loss"])
