"""The one batched decoder: the scheduler's running batch and offline decoding are both this.

Sentences are admitted at any step (their encoder outputs written once into a slot each), every step
runs the decoder over all rows at once, and finished sentences leave with their hypotheses. Between
steps nothing is copied per row: beam reordering, admission and retirement are the `parents` index
the graph gathers by; a newcomer's encoder outputs are written once into a free slot, and the slot
arrays are rebuilt only to grow or to narrow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmt_core.backend import Backend, Encoded, SourceMemory, StepInputs, next_version
from nmt_core.bundle import DEFAULT_SPECIAL_IDS, SpecialIds
from nmt_core.history import StepHistory
from nmt_core.search import Hypothesis, pad_batch
from nmt_core.selection import BeamSet, GreedySet, Sentence, SentenceSet

ENCODE_GROUP_TOKENS = 4096  # padded source tokens per encoder call at admission
_MIN_SLOTS = 16
_MIN_WIDTH = 32  # source positions below which the slot arrays are never narrowed
WIDTH_QUANTUM = 8
"""The slot arrays' width (source positions) is always a multiple of this. Attention sums over the width, and
ONNX Runtime's float products add a run of padding zeros in an order that depends on the width modulo the
kernel's block (a sentence's context then changed in its last bits with the longest source of its batch
mates); whole blocks of zeros add nothing, so a row's result no longer depends on the width."""


@dataclass
class StepReport:
    """What one `step` did, for the scheduler's metrics."""

    rows: int
    finished: list[tuple[Any, Hypothesis]]
    backend_seconds: float


class _Slots:
    """Encoder outputs, one slot per sentence, in arrays with spare room.

    Admission writes the new sentences into free slots, so it costs what the newcomers weigh, not the
    batch. The arrays are rebuilt (live slots compacted, slots renumbered) only to grow, or to narrow
    once the longest sources have left, since attention runs over the full width.
    """

    def __init__(self) -> None:
        self.sources: SourceMemory | None = None
        self.live = np.zeros(0, bool)
        self.lengths = np.zeros(0, np.int64)

    @property
    def width(self) -> int:
        return 0 if self.sources is None else int(self.sources.memory.shape[1])

    def append(self, encoded: list[tuple[Encoded, np.ndarray]]) -> tuple[np.ndarray | None, np.ndarray]:
        """Write new sentences' outputs; returns (the renumbering of old slots if they moved, the new slots)."""
        count = sum(len(lengths) for _, lengths in encoded)
        width = max(int(lengths.max()) for _, lengths in encoded)
        remap = None
        free = np.flatnonzero(~self.live)
        if self.sources is None or width > self.width or len(free) < count:
            live = int(self.live.sum())
            depths = (encoded[0][0].memory.shape[2], encoded[0][0].keys.shape[2])
            remap = self._rebuild(max(_MIN_SLOTS, 2 * (live + count)), max(width, self._live_width()), depths)
            free = np.flatnonzero(~self.live)
        assert self.sources is not None
        slots = free[:count]
        memory, keys, mask = self.sources.memory, self.sources.keys, self.sources.src_mask
        memory[slots] = 0.0  # padding must be finite: attention multiplies it by zero
        keys[slots] = 0.0
        mask[slots] = False
        start = 0
        for group, lengths in encoded:
            rows = slots[start : start + len(lengths)]
            group_width = group.memory.shape[1]
            memory[rows, :group_width] = group.memory
            keys[rows, :group_width] = group.keys
            mask[rows, :group_width] = group.src_mask
            self.lengths[rows] = lengths
            start += len(lengths)
        self.live[slots] = True
        self.sources = SourceMemory(memory, keys, mask, next_version())
        return remap, slots

    def release(self, slots: np.ndarray) -> np.ndarray | None:
        """Free slots; returns the renumbering when the arrays were narrowed because the longest left."""
        self.live[slots] = False
        live_width = self._live_width()
        if self.sources is not None and self.live.any() and self.width > _MIN_WIDTH and live_width < self.width // 2:
            depths = (self.sources.memory.shape[2], self.sources.keys.shape[2])
            return self._rebuild(len(self.live), live_width, depths)
        return None

    def _live_width(self) -> int:
        return int(self.lengths[self.live].max()) if self.live.any() else 1

    def _rebuild(self, capacity: int, width: int, depths: tuple[int, int]) -> np.ndarray:
        width = -(-width // WIDTH_QUANTUM) * WIDTH_QUANTUM
        live = np.flatnonzero(self.live)
        remap = np.full(len(self.live), -1, np.int64)
        remap[live] = np.arange(len(live))
        memory = np.zeros((capacity, width, depths[0]), np.float32)
        keys = np.zeros((capacity, width, depths[1]), np.float32)
        mask = np.zeros((capacity, width), bool)
        lengths = np.zeros(capacity, np.int64)
        if self.sources is not None and len(live):
            kept = min(width, self.width)
            memory[: len(live), :kept] = self.sources.memory[live, :kept]
            keys[: len(live), :kept] = self.sources.keys[live, :kept]
            mask[: len(live), :kept] = self.sources.src_mask[live, :kept]
            lengths[: len(live)] = self.lengths[live]
        self.live = np.zeros(capacity, bool)
        self.live[: len(live)] = True
        self.lengths = lengths
        self.sources = SourceMemory(memory, keys, mask, next_version())
        return remap


class BatchedDecoder:
    def __init__(self, backend: Backend, specials: SpecialIds = DEFAULT_SPECIAL_IDS):
        self.backend = backend
        self.vocab_size = backend.vocab_size
        self.specials = specials
        self.sets: dict[int, SentenceSet] = {}
        self.history = StepHistory()
        self._slots = _Slots()
        self._state: Any = None
        self._rows_last = 0  # rows of the last step's output: what `parents` index first
        self._fresh: list[Encoded] = []
        self._fresh_rows = 0

    # -- the batch ---------------------------------------------------------------------------------------------

    @property
    def sentences(self) -> int:
        return sum(len(s) for s in self.sets.values())

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.sets.values())

    @property
    def tokens(self) -> int:
        """Source tokens over all rows: what attention costs per step."""
        return sum(s.token_cost() for s in self.sets.values())

    def tags(self) -> list[Any]:
        return [tag for s in self._ordered_sets() for tag in s.tags]

    def _ordered_sets(self) -> list[SentenceSet]:
        return [self.sets[beam] for beam in sorted(self.sets) if len(self.sets[beam])]

    # -- admission ---------------------------------------------------------------------------------------------

    def admit(self, sentences: list[Sentence]) -> float:
        """Encode new sentences in length-sorted groups and add them to the batch; returns encoder seconds."""
        if not sentences:
            return 0.0
        ordered = sorted(sentences, key=lambda s: len(s.source_ids))
        groups: list[list[Sentence]] = [[]]
        for sentence in ordered:
            longest = len(sentence.source_ids)  # ascending, so the newest member is the longest
            if groups[-1] and longest * (len(groups[-1]) + 1) > ENCODE_GROUP_TOKENS:
                groups.append([])
            groups[-1].append(sentence)
        seconds = 0.0
        encoded: list[tuple[Encoded, np.ndarray]] = []
        for group in groups:
            src_ids, src_lengths = pad_batch([s.source_ids for s in group], self.specials.pad)
            start = time.perf_counter()
            encoded.append((self.backend.encode(src_ids, src_lengths), src_lengths))
            seconds += time.perf_counter() - start
        remap, new_slots = self._slots.append(encoded)
        if remap is not None:
            self._renumber(remap)
        fresh_index = self._fresh_rows + np.arange(len(ordered))
        self._fresh += [e for e, _ in encoded]
        self._fresh_rows += len(ordered)
        by_beam: dict[int, list[int]] = {}
        for index, sentence in enumerate(ordered):
            by_beam.setdefault(max(1, sentence.options.beam_size), []).append(index)
        for beam, indices in by_beam.items():
            target = self.sets.get(beam)
            if target is None:
                target = self.sets[beam] = self._new_set(beam)
            chosen = np.array(indices)
            target.add(
                [ordered[i] for i in indices],
                new_slots[chosen],
                fresh_index[chosen],
                self.history.next_step,
                self.specials.bos,
            )
        return seconds

    def _new_set(self, beam: int) -> SentenceSet:
        if beam == 1:
            return GreedySet(self.specials.eos, self.vocab_size)
        return BeamSet(beam, self.specials.eos, self.vocab_size)

    # -- one step ----------------------------------------------------------------------------------------------

    def step(self) -> StepReport:
        sets = self._ordered_sets()
        if not sets:
            return StepReport(0, [], 0.0)
        previous = self._rows_last
        tokens = np.concatenate([s.next_tokens.ravel() for s in sets])
        parents = np.concatenate([s.next_parents.ravel() for s in sets])
        fresh_rows = parents < 0
        graph_parents = np.where(fresh_rows, previous + (-1 - parents), parents)
        row_sentence = np.concatenate([np.repeat(s.slot, s.beam) for s in sets])
        assert self._slots.sources is not None
        inputs = StepInputs(
            prev_tokens=tokens,
            parents=graph_parents,
            row_sentence=row_sentence,
            k=max(s.width for s in sets),
            fresh=_concat_fresh(self._fresh),
            sources=self._slots.sources,
        )
        start = time.perf_counter()
        self._state, output = self.backend.step(self._state, inputs)
        seconds = time.perf_counter() - start
        step = self.history.record(tokens, np.where(fresh_rows, -1, parents), output.attention)
        self._rows_last = len(tokens)
        self._fresh, self._fresh_rows = [], 0
        finished: list[tuple[Any, Hypothesis]] = []
        offset = 0
        for sentence_set in sets:
            rows = sentence_set.rows
            done = sentence_set.advance(output, offset, step, self.history)
            if done:
                self._release(sentence_set.retired_slots)
            finished += done
            offset += rows
        self._after_step()
        return StepReport(len(tokens), finished, seconds)

    # -- retirement --------------------------------------------------------------------------------------------

    def drop(self, predicate: Callable[[Any], bool]) -> list[Any]:
        """Remove the sentences whose tag matches (abandoned, expired); their rows vanish from the next step."""
        dropped: list[Any] = []
        for sentence_set in self.sets.values():
            mask = np.array([not predicate(tag) for tag in sentence_set.tags], bool)
            if len(mask) and not mask.all():
                dropped += [tag for tag, kept in zip(sentence_set.tags, mask) if not kept]
                self._release(sentence_set.slot[~mask])
                sentence_set.keep(mask)
        self._after_step()
        return dropped

    def clear(self) -> list[Any]:
        """Forget every sentence (a failed step); returns their tags."""
        tags = self.tags()
        self.sets.clear()
        self._after_step()
        return tags

    def _release(self, slots: np.ndarray) -> None:
        if len(slots) and (remap := self._slots.release(slots)) is not None:
            self._renumber(remap)

    def _renumber(self, remap: np.ndarray) -> None:
        for sentence_set in self.sets.values():
            sentence_set.slot = remap[sentence_set.slot]

    def _after_step(self) -> None:
        live = [s for s in self.sets.values() if len(s)]
        if not live:
            self.sets.clear()
            self._state, self._rows_last = None, 0
            self._fresh, self._fresh_rows = [], 0
            self._slots = _Slots()
            self.history.clear()
            return
        self.history.forget_before(min(int(s.admitted_at.min()) for s in live))


def _concat_fresh(fresh: list[Encoded]) -> Encoded | None:
    if not fresh:
        return None
    if len(fresh) == 1:
        return fresh[0]
    h, c, feed = (np.concatenate([getattr(e, name) for e in fresh]) for name in ("h", "c", "feed"))
    first = fresh[0]
    return Encoded(first.memory, first.keys, first.src_mask, h, c, feed)
