"""Token-budget batches bucketed by length, reproducible from a seed."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from nmt_core.bundle import DEFAULT_SPECIAL_IDS


@dataclass(frozen=True)
class Example:
    source: list[int]  # framed: [<2tgt>] + pieces + [EOS]
    target: list[int]  # framed: pieces + [EOS]


@dataclass
class Batch:
    src_ids: torch.Tensor  # [B, S]
    src_lengths: torch.Tensor  # [B]
    tgt_in: torch.Tensor  # [B, T] BOS + target
    tgt_out: torch.Tensor  # [B, T] target + EOS
    indices: list[int]

    @property
    def target_tokens(self) -> int:
        return int((self.tgt_out != DEFAULT_SPECIAL_IDS.pad).sum())


def make_batches(examples: Sequence[Example], max_tokens: int, seed: int | None, epoch: int = 0) -> list[list[int]]:
    """Group indices of similar length so that padded size (rows x longest) stays within max_tokens.

    Sorting by (target, source) length within shuffled chunks keeps padding low
    while still varying batches between epochs; seed=None gives a fixed order.
    """
    order = list(range(len(examples)))
    rng = random.Random(None if seed is None else seed * 100_003 + epoch)
    if seed is not None:
        rng.shuffle(order)
    chunk = 100 * max(1, max_tokens // 16)
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: (len(examples[i].target), len(examples[i].source)))
        current: list[int] = []
        longest = 0
        for index in part:
            size = max(len(examples[index].target) + 1, len(examples[index].source))
            if current and max(longest, size) * (len(current) + 1) > max_tokens:
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, size)
        if current:
            batches.append(current)
    if seed is not None:
        rng.shuffle(batches)
    return batches


def collate(
    examples: Sequence[Example],
    indices: list[int],
    pad_id: int = DEFAULT_SPECIAL_IDS.pad,
    bos_id: int = DEFAULT_SPECIAL_IDS.bos,
) -> Batch:
    chosen = [examples[i] for i in indices]
    src_len = max(len(e.source) for e in chosen)
    tgt_len = max(len(e.target) for e in chosen)
    src = torch.full((len(chosen), src_len), pad_id, dtype=torch.long)
    tgt_in = torch.full((len(chosen), tgt_len), pad_id, dtype=torch.long)
    tgt_out = torch.full((len(chosen), tgt_len), pad_id, dtype=torch.long)
    for row, example in enumerate(chosen):
        src[row, : len(example.source)] = torch.tensor(example.source)
        target = torch.tensor(example.target)
        tgt_out[row, : len(target)] = target
        tgt_in[row, 0] = bos_id
        tgt_in[row, 1 : len(target)] = target[:-1]
    lengths = torch.tensor([len(e.source) for e in chosen], dtype=torch.long)
    return Batch(src, lengths, tgt_in, tgt_out, list(indices))


def iterate_batches(examples: Sequence[Example], max_tokens: int, seed: int | None, epoch: int = 0) -> Iterator[Batch]:
    for indices in make_batches(examples, max_tokens, seed, epoch):
        yield collate(examples, indices)
