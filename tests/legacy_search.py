"""The search as it was before the batched decoder (bundle format 1), kept as the parity reference:
per-sentence groups in Python over the legacy decoder-step graph. The parity tests and bench/parity.py
compare the batched decoder against it; nothing else uses it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from nmt_core.bundle import DEFAULT_SPECIAL_IDS, SpecialIds

NEG_INF = -1e9
COVERAGE_FLOOR = 1e-10


@dataclass
class DecoderState:
    """Batch-first decoder state; rows can be taken, reordered and concatenated freely."""

    h: np.ndarray  # [B, layers, hidden]
    c: np.ndarray  # [B, layers, hidden]
    feed: np.ndarray  # [B, feed_dim]
    memory: np.ndarray  # [B, S, memory_dim]
    keys: np.ndarray  # [B, S, attention_dim]
    src_mask: np.ndarray  # [B, S] bool, True on real tokens

    @property
    def rows(self) -> int:
        return int(self.h.shape[0])

    def take(self, index: np.ndarray) -> DecoderState:
        return DecoderState(*(a.take(index, axis=0) for a in self._arrays()))

    def with_recurrent(self, h: np.ndarray, c: np.ndarray, feed: np.ndarray) -> DecoderState:
        return DecoderState(h, c, feed, self.memory, self.keys, self.src_mask)

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.h, self.c, self.feed, self.memory, self.keys, self.src_mask)

    @staticmethod
    def concat(states: list[DecoderState]) -> DecoderState:
        """Stack rows of states whose source lengths differ by padding the shorter ones."""
        if len(states) == 1:
            return states[0]
        width = max(s.memory.shape[1] for s in states)
        padded = [s.pad_source(width) for s in states]
        return DecoderState(*(np.concatenate(parts, axis=0) for parts in zip(*(s._arrays() for s in padded))))

    def pad_source(self, width: int) -> DecoderState:
        extra = width - self.memory.shape[1]
        if extra <= 0:
            return self

        def pad(a: np.ndarray) -> np.ndarray:
            widths = [(0, 0)] * a.ndim
            widths[1] = (0, extra)
            return np.pad(a, widths)

        return DecoderState(self.h, self.c, self.feed, pad(self.memory), pad(self.keys), pad(self.src_mask))

    def trim_source(self) -> DecoderState:
        """Drop source columns that no remaining row needs (after long rows retire)."""
        width = int(self.src_mask.sum(axis=1).max()) if self.rows else 0
        if width >= self.memory.shape[1]:
            return self
        return DecoderState(
            self.h, self.c, self.feed, self.memory[:, :width], self.keys[:, :width], self.src_mask[:, :width]
        )


class Stepper(Protocol):
    """A backend: ONNX Runtime sessions or the PyTorch model."""

    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> DecoderState: ...

    def step(self, prev_tokens: np.ndarray, state: DecoderState) -> tuple[np.ndarray, DecoderState, np.ndarray]:
        """Returns (log_probs [B, V], new state, attention [B, S])."""
        ...


@dataclass(frozen=True)
class SearchOptions:
    beam_size: int = 1
    length_penalty: float = 0.6
    coverage_penalty: float = 0.0
    max_length_ratio: float = 2.0
    max_length_offset: int = 10

    def max_length(self, source_length: int) -> int:
        return max(1, int(self.max_length_ratio * source_length + self.max_length_offset))


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's lp(Y) = ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def coverage_penalty(attention_sum: np.ndarray, beta: float) -> np.ndarray:
    """GNMT's cp = beta * sum_i log(min(sum_j p_ij, 1)) over real source positions (last axis)."""
    if beta == 0.0:
        return np.zeros(attention_sum.shape[:-1], dtype=np.float64)
    return beta * np.log(np.clip(attention_sum, COVERAGE_FLOOR, 1.0)).sum(axis=-1)


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


class SearchGroup(Protocol):
    rows: int
    done: bool

    def advance(self, log_probs: np.ndarray, attention: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Consume this group's rows of one decoder step; return (next tokens, parent row per row)."""
        ...

    def best(self) -> Hypothesis: ...


class GreedyGroup:
    rows = 1

    def __init__(self, source_length: int, max_length: int, specials: SpecialIds = DEFAULT_SPECIAL_IDS):
        self.source_length = source_length
        self.max_length = max_length
        self.eos = specials.eos
        self.tokens: list[int] = []
        self.log_prob = 0.0
        self.attention: list[np.ndarray] = []
        self.done = False
        self._ended_with_eos = False

    def advance(self, log_probs: np.ndarray, attention: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        token = int(log_probs[0].argmax())
        self.log_prob += float(log_probs[0, token])
        self.attention.append(attention[0, : self.source_length])
        if token == self.eos:
            self._ended_with_eos = True
            self.done = True
        else:
            self.tokens.append(token)
            self.done = len(self.tokens) >= self.max_length
        return np.array([token], dtype=np.int64), _ZERO_PARENT

    def best(self) -> Hypothesis:
        steps = len(self.attention)
        attention = np.stack(self.attention) if steps else np.zeros((0, self.source_length), np.float32)
        return Hypothesis(self.tokens, self.log_prob, self.log_prob, attention)


_ZERO_PARENT = np.zeros(1, dtype=np.int64)


@dataclass
class _Beam:
    tokens: list[int] = field(default_factory=list)
    log_prob: float = 0.0
    attention: list[np.ndarray] = field(default_factory=list)
    attention_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))


class BeamGroup:
    """One sentence's beam; finished hypotheses are ranked by the GNMT score."""

    def __init__(
        self,
        source_length: int,
        options: SearchOptions,
        specials: SpecialIds = DEFAULT_SPECIAL_IDS,
        max_length: int | None = None,
    ):
        self.rows = options.beam_size
        self.source_length = source_length
        self.max_length = options.max_length(source_length) if max_length is None else max_length
        self.alpha = options.length_penalty
        self.beta = options.coverage_penalty
        self.eos = specials.eos
        zero = np.zeros(source_length, dtype=np.float64)
        self.live = [_Beam(attention_sum=zero) for _ in range(self.rows)]
        self.finished: list[Hypothesis] = []
        self.step_index = 0
        self.done = False

    def advance(self, log_probs: np.ndarray, attention: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.rows
        attention = attention[:, : self.source_length]
        log_probs = log_probs.astype(np.float64)
        length = self.step_index + 1
        base = np.array([b.log_prob for b in self.live])
        if self.step_index == 0:
            base[1:] = NEG_INF  # all rows start identical: expand only the first
        cumulative = base[:, None] + log_probs  # [k, V]
        coverage_sums = np.stack([b.attention_sum for b in self.live]) + attention
        ranking = cumulative / length_penalty(length, self.alpha) + coverage_penalty(coverage_sums, self.beta)[:, None]
        flat = ranking.ravel()
        top = np.argpartition(-flat, 2 * k)[: 2 * k] if flat.size > 2 * k else np.arange(flat.size)
        top = top[np.argsort(-flat[top], kind="stable")]
        vocab = log_probs.shape[1]
        new_live: list[_Beam] = []
        tokens_out: list[int] = []
        parents_out: list[int] = []
        for index in top:
            parent, token = divmod(int(index), vocab)
            if cumulative[parent, token] <= NEG_INF / 2:
                continue
            source = self.live[parent]
            attn_rows = [*source.attention, attention[parent]]
            if token == self.eos:
                if len(self.finished) < k:
                    self.finished.append(
                        Hypothesis(
                            list(source.tokens),
                            float(cumulative[parent, token]),
                            float(flat[index]),
                            np.stack(attn_rows),
                        )
                    )
                continue
            if len(new_live) < k:
                new_live.append(
                    _Beam([*source.tokens, token], float(cumulative[parent, token]), attn_rows, coverage_sums[parent])
                )
                tokens_out.append(token)
                parents_out.append(parent)
            if len(new_live) == k and len(self.finished) >= k:
                break
        while new_live and len(new_live) < k:  # tiny vocabularies only: pad with dead copies
            new_live.append(_Beam(list(new_live[0].tokens), NEG_INF, new_live[0].attention, new_live[0].attention_sum))
            tokens_out.append(tokens_out[0])
            parents_out.append(parents_out[0])
        self.step_index += 1
        self.live = new_live
        if len(self.finished) >= k or self.step_index >= self.max_length or not new_live:
            self._finish_live()
        return np.array(tokens_out or [self.eos] * k, dtype=np.int64), np.array(parents_out or [0] * k, np.int64)

    def _finish_live(self) -> None:
        if not self.finished:
            # Ran out of length: the live hypotheses end here, unterminated.
            for beam in self.live:
                self.finished.append(
                    Hypothesis(
                        beam.tokens,
                        beam.log_prob,
                        gnmt_score(beam.log_prob, len(beam.tokens), beam.attention_sum, self.alpha, self.beta),
                        np.stack(beam.attention),
                    )
                )
        self.done = True

    def best(self) -> Hypothesis:
        ranked = sorted(self.finished, key=lambda h: h.score, reverse=True)
        return replace(ranked[0], runners_up=[h.tokens for h in ranked[1:]])


def make_group(
    source_length: int,
    options: SearchOptions,
    specials: SpecialIds = DEFAULT_SPECIAL_IDS,
    length_cap: int | None = None,
) -> SearchGroup:
    """Greedy or beam by the options; `length_cap` (a request's max_length) tightens the model's length rule."""
    limit = options.max_length(source_length)
    if length_cap is not None:
        limit = min(limit, length_cap)
    if options.beam_size <= 1:
        return GreedyGroup(source_length, limit, specials)
    return BeamGroup(source_length, options, specials, limit)


GroupFactory = Callable[[int, SearchOptions, SpecialIds], SearchGroup]


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    ids = np.full((len(sequences), int(lengths.max())), pad_id, dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return ids, lengths


def decode_batch(
    stepper: Stepper,
    sources: list[list[int]],
    options: SearchOptions,
    specials: SpecialIds = DEFAULT_SPECIAL_IDS,
    group_factory: GroupFactory = make_group,
) -> list[Hypothesis]:
    """Decode a fixed batch to completion; finished sentences leave the decoder batch at once."""
    src_ids, src_lengths = pad_batch(sources, specials.pad)
    state = stepper.encode(src_ids, src_lengths)
    groups = [group_factory(len(src), options, specials) for src in sources]
    rows_per_group = [g.rows for g in groups]
    state = state.take(np.repeat(np.arange(len(sources)), rows_per_group))
    prev = np.full(state.rows, specials.bos, dtype=np.int64)
    active = list(range(len(groups)))
    while active:
        log_probs, state, attention = stepper.step(prev, state)
        next_tokens: list[np.ndarray] = []
        gather: list[np.ndarray] = []
        still_active: list[int] = []
        offset = 0
        for g in active:
            group = groups[g]
            rows = slice(offset, offset + group.rows)
            tokens, parents = group.advance(log_probs[rows], attention[rows])
            if not group.done:
                next_tokens.append(tokens)
                gather.append(parents + offset)
                still_active.append(g)
            offset += group.rows
        active = still_active
        if active:
            state = state.take(np.concatenate(gather)).trim_source()
            prev = np.concatenate(next_tokens)
    return [g.best() for g in groups]


class LegacyOnnxStepper:
    """A format-1 decoder step in ONNX Runtime: full log-probs out, one row per hypothesis in."""

    def __init__(self, encoder_path: str, decoder_path: str):
        import onnxruntime as ort

        from nmt_core.onnx_backend import session_options

        self.encoder = ort.InferenceSession(encoder_path, session_options(1), providers=["CPUExecutionProvider"])
        self.decoder = ort.InferenceSession(decoder_path, session_options(1), providers=["CPUExecutionProvider"])

    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> DecoderState:
        memory, keys, mask, h, c, feed = self.encoder.run(None, {"src_ids": src_ids, "src_lengths": src_lengths})
        return DecoderState(h, c, feed, memory, keys, mask)

    def step(self, prev_tokens: np.ndarray, state: DecoderState) -> tuple[np.ndarray, DecoderState, np.ndarray]:
        names = ("prev_tokens", "h", "c", "feed", "memory", "keys", "src_mask")
        arrays = (prev_tokens, state.h, state.c, state.feed, state.memory, state.keys, state.src_mask)
        log_probs, h, c, feed, attention = self.decoder.run(None, dict(zip(names, arrays)))
        return log_probs, state.with_recurrent(h, c, feed), attention
