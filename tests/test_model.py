"""Network properties that the rest of the system relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import load_checkpoint
from model.config import ModelConfig
from model.seq2seq import TorchBackend, Translator
from nmt_core.bundle import DEFAULT_SPECIAL_IDS
from nmt_core.offline import decode_batch
from nmt_core.search import SearchOptions, coverage_penalty, gnmt_score, length_penalty


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_padding_does_not_leak(attention: str) -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        embed_dim=24,
        hidden_dim=32,
        encoder_layers=4,
        decoder_layers=3,
        residual_from=3,
        attention=attention,  # type: ignore[arg-type]
        attention_dim=16,
        dropout=0.0,
    )
    model = Translator(60, config).eval()
    lengths = [9, 4, 1, 6]
    batch = torch.full((4, 9), DEFAULT_SPECIAL_IDS.pad)
    for row, n in enumerate(lengths):
        batch[row, :n] = torch.randint(4, 60, (n,))
    with torch.no_grad():
        padded = model.encode(batch, torch.tensor(lengths))
        prev = torch.full((4,), DEFAULT_SPECIAL_IDS.bos)
        padded_step = model.step_log_probs(prev, padded[3], padded[4], padded[5], padded[0], padded[1], padded[2])
        for row, n in enumerate(lengths):
            alone = model.encode(batch[row : row + 1, :n], torch.tensor([n]))
            memory, keys, _, h, c, feed = alone
            assert torch.allclose(padded[0][row, :n], memory[0], atol=1e-5)  # both LSTM directions
            assert torch.allclose(padded[1][row, :n], keys[0], atol=1e-5)
            assert torch.allclose(padded[3][row], h[0], atol=1e-5)
            step = model.step_log_probs(prev[:1], h, c, feed, memory, keys, alone[2])
            assert torch.allclose(padded_step[0][row], step[0][0], atol=1e-5)
            assert torch.allclose(padded_step[4][row, :n], step[4][0], atol=1e-5)
            assert float(padded_step[4][row, n:].abs().sum()) < 1e-6  # no attention on padding


def _tiny_backend(tiny_run: Path) -> TorchBackend:
    return TorchBackend(load_checkpoint(tiny_run).build_model())


def _sources(tiny_run: Path) -> list[list[int]]:
    from nmt_core.vocabulary import Vocabulary

    checkpoint = load_checkpoint(tiny_run)
    path = checkpoint.write_sentencepiece(tiny_run.parent / "check.model")
    vocab = Vocabulary(path)
    texts = ["the dog runs", "a small red car near the house", "cat", "the man plays with a ball in the street"]
    return [vocab.source(t, "de") for t in texts]


def _force(backend: TorchBackend, source: list[int], tokens: list[int]) -> tuple[float, np.ndarray]:
    """log P(tokens + EOS | source) and the summed attention, by teacher forcing the same model."""
    model = backend.model
    with torch.inference_mode():
        memory, keys, mask, h, c, feed = model.encode(torch.tensor([source]), torch.tensor([len(source)]))
        prev, total, attention_sum = DEFAULT_SPECIAL_IDS.bos, 0.0, np.zeros(len(source))
        for token in [*tokens, DEFAULT_SPECIAL_IDS.eos]:
            log_probs, h, c, feed, attention = model.step_log_probs(
                torch.tensor([prev]), h, c, feed, memory, keys, mask
            )
            total += float(log_probs[0, token])
            attention_sum += attention[0].numpy()
            prev = token
    return total, attention_sum


@pytest.mark.parametrize("alpha,beta", [(0.6, 0.0), (1.0, 0.2), (0.0, 0.0)])
def test_beam_scores_follow_the_gnmt_formula(tiny_run: Path, alpha: float, beta: float) -> None:
    backend, sources = _tiny_backend(tiny_run), _sources(tiny_run)
    options = SearchOptions(beam_size=4, length_penalty=alpha, coverage_penalty=beta, max_length_offset=30)
    for source, hyp in zip(sources, decode_batch(backend, sources, options)):
        log_prob, attention_sum = _force(backend, source, hyp.tokens)
        assert hyp.log_prob == pytest.approx(log_prob, abs=1e-4)
        length = len(hyp.tokens) + 1  # EOS counts as an output token
        expected = log_prob / (((5 + length) / 6) ** alpha) + beta * np.log(np.minimum(attention_sum, 1.0)).sum()
        assert hyp.score == pytest.approx(expected, abs=1e-4)


def test_penalty_helpers() -> None:
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    assert coverage_penalty(np.array([0.5, 2.0, 1.0]), 0.3) == pytest.approx(0.3 * np.log(0.5))
    assert gnmt_score(-2.0, 7, np.ones(3), 1.0, 0.5) == pytest.approx(-1.0)


def test_beam_search_is_no_worse_than_greedy_under_its_own_score(tiny_run: Path) -> None:
    backend, sources = _tiny_backend(tiny_run), _sources(tiny_run)
    options = SearchOptions(beam_size=5, length_penalty=0.6, max_length_offset=30)
    for source, greedy, beam in zip(
        sources,
        decode_batch(backend, sources, SearchOptions(max_length_offset=30)),
        decode_batch(backend, sources, options),
    ):
        log_prob, attention_sum = _force(backend, source, greedy.tokens)
        greedy_score = gnmt_score(log_prob, len(greedy.tokens) + 1, attention_sum, 0.6, 0.0)
        assert beam.score >= greedy_score - 1e-6


def test_runners_up_are_the_beams_other_hypotheses_ranked_by_score(tiny_run: Path) -> None:
    backend, sources = _tiny_backend(tiny_run), _sources(tiny_run)
    alpha = 0.6
    options = SearchOptions(beam_size=4, length_penalty=alpha, max_length_offset=30)

    def score(source: list[int], tokens: list[int]) -> float:
        log_prob, attention_sum = _force(backend, source, tokens)
        return gnmt_score(log_prob, len(tokens) + 1, attention_sum, alpha, 0.0)

    hypotheses = decode_batch(backend, sources, options)
    assert any(hyp.runners_up for hyp in hypotheses)
    for source, hyp in zip(sources, hypotheses):
        assert len(hyp.runners_up) <= options.beam_size - 1 and hyp.tokens not in hyp.runners_up
        scores = [score(source, tokens) for tokens in hyp.runners_up]
        assert scores == sorted(scores, reverse=True)
        assert all(s <= hyp.score + 1e-4 for s in scores)
