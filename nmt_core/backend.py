"""What the batched decoder needs from a network: encode sources, run one step of the format-2 graph.

Two backends implement it: ONNX Runtime (`nmt_core.onnx_backend`, the service and the benchmarks) and
PyTorch eager (`model.seq2seq.TorchBackend`, the reference for export parity and training validation).
The recurrent state a step returns is opaque to the decoder: a backend may keep it on a device.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """Encoder outputs for a group of sentences, on the host: one row per sentence."""

    memory: np.ndarray  # [N, S, memory_dim]
    keys: np.ndarray  # [N, S, attention_dim]
    src_mask: np.ndarray  # [N, S] bool, True on real tokens
    h: np.ndarray  # [N, layers, hidden]
    c: np.ndarray  # [N, layers, hidden]
    feed: np.ndarray  # [N, feed_dim]

    def initial_rows(self, sentence_rows: np.ndarray) -> Encoded:
        """The recurrent state repeated for each sentence's rows (a beam of k starts as k copies)."""
        return Encoded(
            self.memory, self.keys, self.src_mask, *(a.take(sentence_rows, axis=0) for a in (self.h, self.c, self.feed))
        )


_VERSIONS = itertools.count(1)


def next_version() -> int:
    """Source-memory versions are unique in the process: a backend serving several decoders caches by them."""
    return next(_VERSIONS)


@dataclass(frozen=True)
class SourceMemory:
    """Encoder outputs of every sentence in the batch, one slot per sentence.

    `version` changes whenever the arrays do (admission, compaction), so that a backend can keep a
    device copy and upload it only then.
    """

    memory: np.ndarray  # [slots, S, memory_dim]
    keys: np.ndarray
    src_mask: np.ndarray
    version: int


@dataclass(frozen=True)
class StepInputs:
    prev_tokens: np.ndarray  # [R] int64
    parents: np.ndarray  # [R] int64: rows of the previous step's output, then of `fresh`
    row_sentence: np.ndarray  # [R] int64: slot of each row in `sources`
    k: int  # top-k width
    fresh: Encoded | None  # initial state of rows admitted since the previous step
    sources: SourceMemory


@dataclass(frozen=True)
class StepOutput:
    topk_log_probs: np.ndarray  # [R, k] float32, best first
    topk_ids: np.ndarray  # [R, k] int64
    attention: np.ndarray  # [R, S] float32


class Backend(Protocol):
    vocab_size: int

    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> Encoded: ...

    def step(self, state: Any, inputs: StepInputs) -> tuple[Any, StepOutput]:
        """Run one decoder step. `state` is what the previous step returned (None for an empty batch)."""
        ...
