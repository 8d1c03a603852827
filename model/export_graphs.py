"""The two exported graphs as modules with flat tensor signatures (names from nmt_core.bundle)."""

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

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Inputs in the order of nmt_core.bundle.DECODER_INPUTS, which also names them in the graph."""
        return self.model.step_log_probs(*inputs)
