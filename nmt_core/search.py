"""Search settings, GNMT scoring and the hypothesis a decoded sentence ends as.

The search itself is `nmt_core.decoder.BatchedDecoder`, written once for every caller: the service's
scheduler, offline translation, evaluation and training's validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEG_INF = -1e9
COVERAGE_FLOOR = 1e-10


@dataclass(frozen=True)
class SearchOptions:
    beam_size: int = 1
    length_penalty: float = 0.6
    coverage_penalty: float = 0.0
    max_length_ratio: float = 2.0
    max_length_offset: int = 10

    def max_length(self, source_length: int) -> int:
        return max(1, int(self.max_length_ratio * source_length + self.max_length_offset))


def length_penalty(length: int | np.ndarray, alpha: float | np.ndarray) -> float | np.ndarray:
    """GNMT's lp(Y) = ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def coverage_penalty(attention_sum: np.ndarray, beta: float | np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """GNMT's cp = beta * sum_i log(min(sum_j p_ij, 1)) over real source positions (last axis; `mask` marks
    them when the arrays are padded)."""
    if np.all(np.asarray(beta) == 0.0):
        return np.zeros(attention_sum.shape[:-1], dtype=np.float64)
    logs = np.log(np.clip(attention_sum, COVERAGE_FLOOR, 1.0))
    if mask is not None:
        logs = np.where(mask, logs, 0.0)
    return np.asarray(beta) * logs.sum(axis=-1)


def gnmt_score(log_prob: float, length: int, attention_sum: np.ndarray, alpha: float, beta: float) -> float:
    """s(Y, X) = log P(Y|X) / lp(Y) + cp(X; Y)."""
    return float(log_prob / length_penalty(length, alpha) + coverage_penalty(attention_sum, beta))


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, without BOS and without the final EOS
    log_prob: float
    score: float
    attention: np.ndarray  # [len(tokens) (+1 for EOS), source_length]
    # The beam's other finished hypotheses, best first (token ids): n-best alternatives for free.
    runners_up: list[list[int]] = field(default_factory=list)


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    ids = np.full((len(sequences), int(lengths.max())), pad_id, dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return ids, lengths
