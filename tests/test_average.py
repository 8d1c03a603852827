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


def test_weights_interpolate_between_members(tiny_run: Path, tmp_path: Path) -> None:
    first = load_checkpoint(tiny_run)
    shifted = {name: t + 1.0 if t.is_floating_point() else t for name, t in first.model_state.items()}
    save_checkpoint(replace(first, model_state=shifted), tmp_path / "b.pt")
    averaged = average_checkpoints([tiny_run, tmp_path / "b.pt"], weights=[3.0, 1.0])
    for name, tensor in first.model_state.items():
        assert torch.allclose(averaged.model_state[name], tensor + 0.25, atol=1e-6), name
    assert averaged.metrics["weights"] == [0.75, 0.25]
    with pytest.raises(ValueError, match="one non-negative weight per member"):
        average_checkpoints([tiny_run, tmp_path / "b.pt"], weights=[1.0])


def test_a_bundle_joins_a_checkpoint_of_its_vocabulary(tiny_run: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    first = load_checkpoint(tiny_run)
    shifted = {name: t + 1.0 if t.is_floating_point() else t for name, t in first.model_state.items()}
    save_checkpoint(replace(first, model_state=shifted), tmp_path / "b.pt")
    # the bundle holds the tiny run's weights: all weight on it gives them back, half gives the midpoint
    average_main([str(tiny_bundle), str(tmp_path / "b.pt"), "--weights", "1,0", "--out", str(tmp_path / "mix.pt")])
    alone = load_checkpoint(tmp_path / "mix.pt")
    half = average_checkpoints([tiny_bundle, tmp_path / "b.pt"], weights=[1.0, 1.0])
    for name, tensor in first.model_state.items():
        assert torch.allclose(alone.model_state[name], tensor, atol=1e-3, rtol=1e-3), name
        assert torch.allclose(half.model_state[name], tensor + 0.5, atol=1e-3, rtol=1e-3), name
    assert alone.metrics["averaged_steps"] == [None, first.progress["step"]]
    with pytest.raises(ValueError, match="at least one checkpoint"):
        average_checkpoints([tiny_bundle])
    other = tmp_path / "other-bundle"
    other.mkdir()
    for member in tiny_bundle.iterdir():
        (other / member.name).write_bytes(member.read_bytes())
    spm = other / "sentencepiece.model"
    spm.write_bytes(spm.read_bytes().replace(b"\xe2\x96\x81", b"\xe2\x96\x82", 1))  # one piece renamed
    with pytest.raises(ValueError, match="does not share"):
        average_checkpoints([other, tmp_path / "b.pt"])
