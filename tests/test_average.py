"""Checkpoint averaging: the mean of each weight, for checkpoints of one run only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model.average import average_checkpoints
from model.average import main as average_main
from model.checkpoint import load_checkpoint, save_checkpoint


def test_the_average_is_the_mean_of_each_weight(tiny_run: Path, tmp_path: Path) -> None:
    first = load_checkpoint(tiny_run)
    shifted = {name: t + 1.0 if t.is_floating_point() else t for name, t in first.model_state.items()}
    save_checkpoint(replace(first, model_state=shifted, progress={**first.progress, "step": 999}), tmp_path / "b.pt")
    average_main([str(tiny_run), str(tmp_path / "b.pt"), "--out", str(tmp_path / "avg.pt")])
    averaged = load_checkpoint(tmp_path / "avg.pt")
    for name, tensor in first.model_state.items():
        assert torch.allclose(averaged.model_state[name], tensor + 0.5, atol=1e-6), name
    assert averaged.optimizer_state is None
    assert averaged.metrics["averaged_steps"] == [first.progress["step"], 999]
    model = averaged.build_model()  # loads, and the embedding stays tied to the output projection
    assert model.decoder.output.weight is model.embedding.weight


def test_checkpoints_of_another_run_are_refused(tiny_run: Path, tmp_path: Path) -> None:
    first = load_checkpoint(tiny_run)
    save_checkpoint(replace(first, sentencepiece=b"other"), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not share"):
        average_checkpoints([tiny_run, tmp_path / "other.pt"])
