"""Training writes its log, curves and checkpoints, and resumes where it stopped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint
from model.train import bf16_runs_on, budget_spent, cosine_factor, mixed_precision, train
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
    if bf16_runs_on("cpu"):
        with mixed_precision("bf16", torch.device("cpu")):
            assert layer(x).dtype == torch.bfloat16
    else:  # a CPU without bf16 instructions: fp32, said out loud
        with pytest.warns(UserWarning, match="training in fp32"), mixed_precision("bf16", torch.device("cpu")):
            assert layer(x).dtype == torch.float32
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


def test_cosine_schedule_warms_up_then_anneals_to_zero() -> None:
    warm = [cosine_factor(step, 100, 0.0) for step in (1, 50, 99)]
    assert warm == sorted(warm) and warm[-1] < 1.0
    after = [cosine_factor(500, 100, spent) for spent in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)]
    assert after == sorted(after, reverse=True)
    assert after[0] == 1.0 and math.isclose(after[2], 0.5) and after[4] == 0.0 and after[5] == 0.0


def test_budget_is_whichever_of_steps_and_minutes_runs_out_first() -> None:
    assert budget_spent(50, 100, elapsed_minutes=10, max_minutes=100) == 0.5
    assert budget_spent(50, 100, elapsed_minutes=80, max_minutes=100) == 0.8
    assert budget_spent(50, 100, elapsed_minutes=80, max_minutes=None) == 0.5


def test_cosine_run_ends_annealed_and_keeps_its_rate_through_plateaus(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, steps=12)
    config.train.epochs, config.train.warmup_steps = 1, 4
    config.train.schedule = "cosine"
    train(config)
    run = Path(config.output_dir)
    record = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 12 and record["lr"] == 0.0
    assert load_checkpoint(run / "last.pt").progress["lr_scale"] == 1.0
