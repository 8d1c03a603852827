"""The translator: shared embedding, GNMT encoder and decoder, plus its PyTorch decoding backend."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from model.config import ModelConfig
from model.decoders import GNMTDecoder
from model.encoders import GNMTEncoder
from nmt_core.backend import Encoded, StepInputs, StepOutput
from nmt_core.bundle import DEFAULT_SPECIAL_IDS

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


class TorchBackend:
    """The batched decoder's backend in PyTorch eager: the reference that ONNX exports are checked against,
    and what training's validation decodes with. Same step semantics as the format-2 graph."""

    def __init__(self, model: Translator, device: torch.device | str = "cpu"):
        self.model = model.eval()
        self.device = torch.device(device)
        self.vocab_size = model.vocab_size

    def _t(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    @staticmethod
    def _host(tensor: torch.Tensor) -> np.ndarray:
        return (tensor.float() if tensor.is_floating_point() else tensor).cpu().numpy()

    @torch.inference_mode()
    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> Encoded:
        memory, keys, mask, h, c, feed = (
            self._host(t) for t in self.model.encode(self._t(src_ids), self._t(src_lengths))
        )
        return Encoded(memory, keys, mask, h, c, feed)

    @torch.inference_mode()
    def step(
        self, state: tuple[torch.Tensor, ...] | None, inputs: StepInputs
    ) -> tuple[tuple[torch.Tensor, ...], StepOutput]:
        fresh = inputs.fresh
        parts = []
        for index, name in enumerate(("h", "c", "feed")):
            pieces = [] if state is None else [state[index]]
            if fresh is not None:
                pieces.append(self._t(getattr(fresh, name)))
            parts.append(torch.cat(pieces).index_select(0, self._t(inputs.parents)))
        rows = self._t(inputs.row_sentence)
        sources = inputs.sources
        memory, keys, mask = (
            self._t(a).index_select(0, rows) for a in (sources.memory, sources.keys, sources.src_mask)
        )
        h, c, feed = parts
        log_probs, h, c, feed, attention = self.model.step_log_probs(
            self._t(inputs.prev_tokens), h, c, feed, memory, keys, mask
        )
        values, ids = log_probs.topk(inputs.k, dim=-1)
        return (h, c, feed), StepOutput(self._host(values), self._host(ids), self._host(attention))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
