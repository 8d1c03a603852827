"""GNMT decoder, one step at a time: the bottom layer's output queries attention,
the context feeds every upper layer and comes back as input on the next step."""

from __future__ import annotations

import torch
from torch import nn

from model.attention import build_attention
from model.config import ModelConfig


class GNMTDecoder(nn.Module):
    def __init__(self, embedding: nn.Embedding, vocab_size: int, config: ModelConfig):
        super().__init__()
        hidden = config.hidden_dim
        self.embedding = embedding
        self.layers = config.decoder_layers
        self.residual_from = config.residual_from
        self.feed_dim = config.embed_dim if config.tie_embeddings else hidden
        self.cells = nn.ModuleList(
            [nn.LSTMCell(config.embed_dim + self.feed_dim, hidden)]
            + [nn.LSTMCell(hidden + hidden, hidden) for _ in range(config.decoder_layers - 1)]
        )
        self.attention = build_attention(config.attention, hidden, hidden, config.attention_dim)
        self.combine = nn.Linear(hidden + hidden, self.feed_dim)
        self.output = nn.Linear(self.feed_dim, vocab_size)
        if config.tie_embeddings:
            self.output.weight = embedding.weight
        self.bridge = nn.Linear(hidden, hidden * config.decoder_layers)
        self.dropout = nn.Dropout(config.dropout)

    def initial_state(
        self, memory: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """h from the masked mean of the memory; c and the input feed start at zero."""
        weights = mask.to(memory.dtype).unsqueeze(-1)
        # A product, not a sum over positions: a reduction's order (and so its last bits) depends on the padded
        # width, i.e. on the batch mates; the product accumulates in position order, padding adding exact zeros.
        summed = torch.bmm(weights.transpose(1, 2), memory).squeeze(1)
        mean = summed / weights.sum(1).clamp(min=1.0)
        batch = memory.size(0)
        h = torch.tanh(self.bridge(mean)).view(batch, self.layers, -1)
        c = torch.zeros_like(h)
        feed = memory.new_zeros(batch, self.feed_dim)
        return h, c, feed

    def step(
        self,
        prev_tokens: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        feed: torch.Tensor,
        memory: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step; returns (new feed [B, F], h [B, L, H], c [B, L, H], attention [B, S]).

        The vocabulary projection is left to `project`, so training can apply
        it to all steps at once.
        """
        x = self.dropout(self.embedding(prev_tokens))
        h_bottom, c_bottom = self.cells[0](torch.cat([x, feed], dim=-1), (h[:, 0], c[:, 0]))
        context, attention = self.attention(h_bottom, keys, memory, mask)
        new_h, new_c = [h_bottom], [c_bottom]
        out = h_bottom
        for index in range(1, self.layers):
            layer_input = torch.cat([self.dropout(out), context], dim=-1)
            h_layer, c_layer = self.cells[index](layer_input, (h[:, index], c[:, index]))
            new_h.append(h_layer)
            new_c.append(c_layer)
            out = h_layer + out if index + 1 >= self.residual_from else h_layer
        new_feed = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))
        return new_feed, torch.stack(new_h, dim=1), torch.stack(new_c, dim=1), attention

    def project(self, feed: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(feed))
