"""GNMT encoder: a bidirectional bottom layer, then unidirectional layers with residuals.

No packed sequences: the backward direction runs on each sentence reversed
within its own length, so padding never reaches a real position and the graph
exports with plain tensor ops.
"""

from __future__ import annotations

import torch
from torch import nn

from model.config import ModelConfig


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse x [B, S, D] along S per row up to its length; padded positions stay in place."""
    positions = torch.arange(x.size(1), device=x.device).unsqueeze(0)
    reversed_positions = lengths.unsqueeze(1) - 1 - positions
    index = torch.where(reversed_positions >= 0, reversed_positions, positions)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    return torch.arange(width, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def zero_state(rnn: nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit initial states sized from the input, so exported graphs keep a dynamic batch."""
    zeros = x.new_zeros(1, x.size(0), rnn.hidden_size)
    return zeros, zeros


class GNMTEncoder(nn.Module):
    def __init__(self, embedding: nn.Embedding, config: ModelConfig):
        super().__init__()
        if config.hidden_dim % 2:
            raise ValueError("hidden_dim must be even: the bidirectional layer splits it in two")
        self.embedding = embedding
        self.residual_from = config.residual_from
        half = config.hidden_dim // 2
        self.forward_rnn = nn.LSTM(config.embed_dim, half, batch_first=True)
        self.backward_rnn = nn.LSTM(config.embed_dim, half, batch_first=True)
        self.upper: list[nn.LSTM] = nn.ModuleList(  # type: ignore[assignment]
            nn.LSTM(config.hidden_dim, config.hidden_dim, batch_first=True) for _ in range(config.encoder_layers - 1)
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, src_ids: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns memory [B, S, H] (zero on padding) and the mask [B, S]."""
        mask = length_mask(src_lengths, src_ids.size(1))
        x = self.dropout(self.embedding(src_ids))
        forward_out, _ = self.forward_rnn(x, zero_state(self.forward_rnn, x))
        backward_out, _ = self.backward_rnn(reverse_within_length(x, src_lengths), zero_state(self.backward_rnn, x))
        out = torch.cat([forward_out, reverse_within_length(backward_out, src_lengths)], dim=-1)
        for index, rnn in enumerate(self.upper, start=2):
            layer_out, _ = rnn(self.dropout(out), zero_state(rnn, out))
            out = layer_out + out if index >= self.residual_from else layer_out
        return out * mask.unsqueeze(-1).to(out.dtype), mask
