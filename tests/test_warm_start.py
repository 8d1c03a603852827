"""Warm starts: a bundle's graphs give back the weights they were exported from, under any vocabulary."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import load_checkpoint
from model.config import VocabConfig
from model.export import export_bundle
from model.seq2seq import Translator
from model.train import train
from model.vocabulary import train_sentencepiece
from model.warm_start import WORD_BOUNDARY, bundle_state, warm_start
from nmt_core.bundle import SENTENCEPIECE_FILE
from nmt_core.vocabulary import Vocabulary
from tests.fixtures import tiny_config, write_toy_corpus


def _assert_same_weights(model: torch.nn.Module, reference: dict[str, torch.Tensor], atol: float, skip=()) -> None:
    for name, tensor in model.state_dict().items():
        if name in skip:
            continue
        assert torch.allclose(tensor, reference[name].float(), atol=atol), name


def test_the_graphs_give_back_every_trained_weight(tiny_run: Path, tiny_bundle: Path) -> None:
    trained = load_checkpoint(tiny_run)
    model = Translator(trained.model_state["embedding.weight"].shape[0], trained.config.model)
    report = warm_start(model, tiny_bundle, Vocabulary(tiny_bundle / SENTENCEPIECE_FILE))
    assert report.composed_rows == 0
    _assert_same_weights(model, trained.model_state, atol=1e-6)


def test_fp16_stored_graphs_give_back_the_weights_rounded(tiny_run: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "half"
    export_bundle(tiny_run, bundle, weights="fp16")
    trained = load_checkpoint(tiny_run)
    state = bundle_state(bundle)
    for name in ("decoder.cells.1.weight_ih", "encoder.upper.1.weight_hh_l0", "decoder.attention.key_proj.weight"):
        expected = trained.model_state[name].half().float().numpy()
        assert np.allclose(state[name], expected, atol=1e-6), name


def test_a_new_vocabulary_keeps_shared_rows_and_composes_new_pieces(
    tiny_run: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    trained = load_checkpoint(tiny_run)
    old = Vocabulary(tiny_bundle / SENTENCEPIECE_FILE)
    paths = write_toy_corpus(tmp_path / "data", 400, seed=7)
    lines = [line.split() for p in paths.values() for line in Path(p).read_text().splitlines()]
    sentences = [" ".join(a + b for a, b in zip(words[::2], words[1::2])) for words in lines]  # new whole words
    new_path = train_sentencepiece(sentences, ["de", "en"], VocabConfig(size=160), tmp_path / "new.model", seed=3)
    new = Vocabulary(new_path)
    model = Translator(len(new), trained.config.model)
    report = warm_start(model, tiny_bundle, new)
    assert report.copied_rows + report.composed_rows == len(new)
    assert 0 < report.composed_rows < len(new)
    vocab_names = (
        "embedding.weight",
        "encoder.embedding.weight",
        "decoder.embedding.weight",
        "decoder.output.weight",
        "decoder.output.bias",
    )
    _assert_same_weights(model, trained.model_state, atol=1e-6, skip=vocab_names)
    old_rows = trained.model_state["embedding.weight"]
    rows = model.embedding.weight.detach()
    composed = 0
    for new_id in range(len(new)):
        piece = new.id_to_piece(new_id)
        old_id = old.processor.piece_to_id(piece)
        if old_id != old.processor.unk_id():
            assert torch.allclose(rows[new_id], old_rows[old_id], atol=1e-6), piece
        elif piece.startswith(WORD_BOUNDARY) and len(piece) > 2:
            parts = old.processor.encode(piece[1:])
            assert torch.allclose(rows[new_id], old_rows[parts].mean(0), atol=1e-6), piece
            composed += 1
    assert composed > 0
    assert model.decoder.output.weight is model.embedding.weight  # still tied


def test_dims_that_differ_from_the_bundle_are_refused(tiny_run: Path, tiny_bundle: Path) -> None:
    trained = load_checkpoint(tiny_run)
    config = replace(trained.config.model, hidden_dim=trained.config.model.hidden_dim * 2)
    vocab = Vocabulary(tiny_bundle / SENTENCEPIECE_FILE)
    with pytest.raises(ValueError, match="dims"):
        warm_start(Translator(len(vocab), config), tiny_bundle, vocab)


def test_weights_in_the_wrong_place_are_caught(
    tiny_run: Path, tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model.warm_start as module

    trained = load_checkpoint(tiny_run)
    vocab = Vocabulary(tiny_bundle / SENTENCEPIECE_FILE)
    monkeypatch.setattr(module, "ONNX_TO_TORCH_GATES", [0, 1, 2, 3])  # forget the gate reorder
    with pytest.raises(ValueError, match="do not reproduce"):
        warm_start(Translator(len(vocab), trained.config.model), tiny_bundle, vocab)


def test_training_starts_from_init_from(tiny_run: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    config = tiny_config(tmp_path, steps=2)
    config.train.init_from = str(tiny_bundle)
    config.train.lr = 0.0  # the weights stay where the warm start put them
    best = load_checkpoint(train(config))
    trained = load_checkpoint(tiny_run)
    for name in ("encoder.forward_rnn.weight_ih_l0", "decoder.cells.2.weight_hh", "decoder.attention.v"):
        assert torch.allclose(best.model_state[name], trained.model_state[name], atol=1e-6), name
