"""The translator: shared embedding, GNMT encoder and decoder, plus the PyTorch stepper."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from model.config import ModelConfig
from model.decoders import GNMTDecoder
from model.encoders import GNMTEncoder
from nmt_core.bundle import DEFAULT_SPECIAL_IDS
from nmt_core.search import DecoderState

EncoderOutputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class Translator(nn.Module):
    def __init__(self, vocab_size: int, config: ModelConfig):
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        # One joint SentencePiece vocabulary, so source and target share the embedding.
        self.embedding = nn.Embedding(vocab_size, config.embed_dim, padding_idx=DEFAULT_SPECIAL_IDS.pad)
        nn.init.normal_(self.embedding.weight, std=config.embed_dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[DEFAULT_SPECIAL_IDS.pad].zero_()
        self.encoder = GNMTEncoder(self.embedding, config)
        self.decoder = GNMTDecoder(self.embedding, vocab_size, config)

    def encode(self, src_ids: torch.Tensor, src_lengths: torch.Tensor) -> EncoderOutputs:
        """memory, keys, mask, h0, c0, feed0 — the encoder graph's outputs."""
        memory, mask = self.encoder(src_ids, src_lengths)
        keys = self.decoder.attention.precompute_keys(memory)
        h, c, feed = self.decoder.initial_state(memory, mask)
        return memory, keys, mask, h, c, feed

    def forward(self, src_ids: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, T, V]."""
        memory, keys, mask, h, c, feed = self.encode(src_ids, src_lengths)
        feeds = []
        for t in range(tgt_in.size(1)):
            feed, h, c, _ = self.decoder.step(tgt_in[:, t], h, c, feed, memory, keys, mask)
            feeds.append(feed)
        return self.decoder.project(torch.stack(feeds, dim=1))

    def step_log_probs(
        self,
        prev_tokens: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        feed: torch.Tensor,
        memory: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoder-step graph: log_probs, h, c, feed, attention."""
        feed, h, c, attention = self.decoder.step(prev_tokens, h, c, feed, memory, keys, mask)
        log_probs = torch.log_softmax(self.decoder.project(feed).float(), dim=-1)
        return log_probs, h, c, feed, attention


class TorchStepper:
    """Drives the shared NumPy search with the PyTorch model (the reference backend)."""

    def __init__(self, model: Translator, device: torch.device | str = "cpu"):
        self.model = model.eval()
        self.device = torch.device(device)

    def _t(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    @torch.inference_mode()
    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> DecoderState:
        outputs = self.model.encode(self._t(src_ids), self._t(src_lengths))
        memory, keys, mask, h, c, feed = (
            t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy() for t in outputs
        )
        return DecoderState(h, c, feed, memory, keys, mask)

    @torch.inference_mode()
    def step(self, prev_tokens: np.ndarray, state: DecoderState) -> tuple[np.ndarray, DecoderState, np.ndarray]:
        log_probs, h, c, feed, attention = self.model.step_log_probs(
            self._t(prev_tokens),
            self._t(state.h),
            self._t(state.c),
            self._t(state.feed),
            self._t(state.memory),
            self._t(state.keys),
            self._t(state.src_mask),
        )
        return (
            log_probs.cpu().numpy(),
            state.with_recurrent(h.cpu().numpy(), c.cpu().numpy(), feed.cpu().numpy()),
            attention.cpu().numpy(),
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
