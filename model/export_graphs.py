"""The two exported graphs as modules with flat tensor signatures (names from service.bundle)."""

from __future__ import annotations

import torch
from torch import nn

from model.seq2seq import Translator


class EncoderGraph(nn.Module):
    def __init__(self, model: Translator):
        super().__init__()
        self.model = model

    def forward(self, src_ids: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.encode(src_ids, src_lengths)


class DecoderStepGraph(nn.Module):
    def __init__(self, model: Translator):
        super().__init__()
        self.model = model

    def forward(
        self,
        prev_tokens: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        feed: torch.Tensor,
        memory: torch.Tensor,
        keys: torch.Tensor,
        src_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        return self.model.step_log_probs(prev_tokens, h, c, feed, memory, keys, src_mask)
