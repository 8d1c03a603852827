"""Next-token selection for every sentence of one beam size at once, in array operations.

A `SentenceSet` holds the sentences of one beam size (1 = greedy) as columns of arrays; one call to
`advance` consumes their rows of a decoder step. Python touches a sentence only when it finishes, to
read its hypotheses back from the step history. The rules are the per-sentence search's, unchanged:
GNMT length and coverage penalties, the top 2k candidates, EOS candidates finishing while fewer than
k have, the beam ending when k have finished or at its length limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nmt_core.backend import StepOutput
from nmt_core.history import StepHistory
from nmt_core.search import NEG_INF, Hypothesis, SearchOptions, coverage_penalty, length_penalty


@dataclass(frozen=True)
class Sentence:
    """What the decoder needs to know about one sentence; `tag` is the caller's handle for it."""

    source_ids: list[int]
    options: SearchOptions
    max_length: int  # the options' length rule, tightened by the request's cap
    tag: Any


def fresh_marker(index: np.ndarray) -> np.ndarray:
    """Parents of rows admitted since the last step are written -(1 + index into the fresh rows)."""
    return -1 - index


class SentenceSet:
    """Per-sentence columns shared by greedy and beam sets."""

    def __init__(self, beam: int, eos: int, vocab_size: int):
        self.beam = beam
        self.eos = eos
        self.width = min(vocab_size, 1 if beam == 1 else 2 * beam)  # top-k columns this set reads
        self.tags: list[Any] = []
        self.slot = np.zeros(0, np.int64)
        self.source_length = np.zeros(0, np.int64)
        self.max_length = np.zeros(0, np.int64)
        self.steps = np.zeros(0, np.int64)
        self.admitted_at = np.zeros(0, np.int64)  # history step of the sentence's first decoder step
        self.alpha = np.zeros(0, np.float64)
        self.beta = np.zeros(0, np.float64)
        self.next_tokens = np.zeros((0, beam), np.int64)
        self.next_parents = np.zeros((0, beam), np.int64)  # this set's rows' parents for the next step
        self.log_prob = np.zeros((0, beam), np.float64)
        self.retired_slots = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.tags)

    @property
    def rows(self) -> int:
        return len(self.tags) * self.beam

    def token_cost(self) -> int:
        return int(self.source_length.sum()) * self.beam

    def add(self, sentences: list[Sentence], slots: np.ndarray, fresh_index: np.ndarray, step: int, bos: int) -> None:
        n = len(sentences)
        self.tags += [s.tag for s in sentences]
        self.slot = np.concatenate([self.slot, slots])
        self.source_length = np.concatenate([self.source_length, [len(s.source_ids) for s in sentences]])
        self.max_length = np.concatenate([self.max_length, [s.max_length for s in sentences]])
        self.steps = np.concatenate([self.steps, np.zeros(n, np.int64)])
        self.admitted_at = np.concatenate([self.admitted_at, np.full(n, step, np.int64)])
        self.alpha = np.concatenate([self.alpha, [s.options.length_penalty for s in sentences]])
        self.beta = np.concatenate([self.beta, [s.options.coverage_penalty for s in sentences]])
        self.next_tokens = np.concatenate([self.next_tokens, np.full((n, self.beam), bos, np.int64)])
        # every beam of a new sentence starts from its one fresh row
        parents = np.repeat(fresh_marker(fresh_index)[:, None], self.beam, axis=1)
        self.next_parents = np.concatenate([self.next_parents, parents])
        self.log_prob = np.concatenate([self.log_prob, np.zeros((n, self.beam))])
        self._added(n)

    def _added(self, n: int) -> None:
        """Extra per-sentence columns of a subclass."""

    def keep(self, mask: np.ndarray) -> None:
        """Drop the sentences where `mask` is False; their slots are left in `retired_slots`."""
        self.retired_slots = self.slot[~mask]
        self.tags = [tag for tag, kept in zip(self.tags, mask) if kept]
        for name in self._columns():
            setattr(self, name, getattr(self, name)[mask])

    def _columns(self) -> tuple[str, ...]:
        return (
            "slot",
            "source_length",
            "max_length",
            "steps",
            "admitted_at",
            "alpha",
            "beta",
            "next_tokens",
            "next_parents",
            "log_prob",
        )

    def advance(self, output: StepOutput, offset: int, step: int, history: StepHistory) -> list[tuple[Any, Hypothesis]]:
        raise NotImplementedError


class GreedySet(SentenceSet):
    def __init__(self, eos: int, vocab_size: int):
        super().__init__(1, eos, vocab_size)

    def advance(self, output: StepOutput, offset: int, step: int, history: StepHistory) -> list[tuple[Any, Hypothesis]]:
        n = len(self)
        rows = np.arange(offset, offset + n)
        tokens = output.topk_ids[offset : offset + n, 0]
        self.log_prob[:, 0] += output.topk_log_probs[offset : offset + n, 0]
        self.steps += 1
        ended = tokens == self.eos
        done = ended | (self.steps >= self.max_length)
        finished: list[tuple[Any, Hypothesis]] = []
        for i in np.flatnonzero(done):
            path, attention = history.path(step, int(rows[i]), int(self.source_length[i]))
            if not ended[i]:
                path.append(int(tokens[i]))
            log_prob = float(self.log_prob[i, 0])
            finished.append((self.tags[i], Hypothesis(path, log_prob, log_prob, attention)))
        self.next_tokens = tokens[:, None].astype(np.int64)
        self.next_parents = rows[:, None]
        if finished:
            self.keep(~done)
        return finished


class BeamSet(SentenceSet):
    def __init__(self, beam: int, eos: int, vocab_size: int):
        super().__init__(beam, eos, vocab_size)
        self.coverage = np.zeros((0, beam, 0))  # attention summed along each live beam (coverage penalty)
        self.finished_count = np.zeros(0, np.int64)
        # the first `finished_count` columns: hypotheses that ended with EOS, in the order they did
        self.finished_score = np.zeros((0, beam))
        self.finished_log_prob = np.zeros((0, beam))
        self.finished_step = np.zeros((0, beam), np.int64)
        self.finished_row = np.zeros((0, beam), np.int64)

    def _added(self, n: int) -> None:
        k = self.beam
        width = int(self.source_length.max())
        self.coverage = np.concatenate([_pad_last(self.coverage, width), np.zeros((n, k, width))])
        self.finished_count = np.concatenate([self.finished_count, np.zeros(n, np.int64)])
        self.finished_score = np.concatenate([self.finished_score, np.zeros((n, k))])
        self.finished_log_prob = np.concatenate([self.finished_log_prob, np.zeros((n, k))])
        self.finished_step = np.concatenate([self.finished_step, np.zeros((n, k), np.int64)])
        self.finished_row = np.concatenate([self.finished_row, np.zeros((n, k), np.int64)])

    def _columns(self) -> tuple[str, ...]:
        return (
            *super()._columns(),
            "coverage",
            "finished_count",
            "finished_score",
            "finished_log_prob",
            "finished_step",
            "finished_row",
        )

    def advance(self, output: StepOutput, offset: int, step: int, history: StepHistory) -> list[tuple[Any, Hypothesis]]:
        n, k, width = len(self), self.beam, self.width
        everyone = np.arange(n)
        block = slice(offset, offset + n * k)
        log_probs = output.topk_log_probs[block, :width].reshape(n, k, width).astype(np.float64)
        ids = output.topk_ids[block, :width].reshape(n, k, width)
        base = self.log_prob.copy()
        base[self.steps == 0, 1:] = NEG_INF  # all beams start identical: expand only the first
        cumulative = base[:, :, None] + log_probs
        length = self.steps + 1
        tracks_coverage = bool(np.any(self.beta != 0.0))
        if tracks_coverage:
            source_width = self.coverage.shape[2]
            attention = output.attention[block, :source_width].reshape(n, k, -1)
            coverage = self.coverage + _pad_last(attention, source_width)
            real = np.arange(source_width)[None, None, :] < self.source_length[:, None, None]
            penalty = coverage_penalty(coverage, self.beta[:, None], real)
        else:
            coverage, penalty = self.coverage, np.zeros((n, k))
        ranking = cumulative / np.asarray(length_penalty(length, self.alpha))[:, None, None] + penalty[:, :, None]
        # The best 2k of each sentence's k * width candidates, best first; ties keep (beam, rank) order,
        # which for equal scores is the lower token id first, as the per-sentence search had it.
        flat_ranking = ranking.reshape(n, k * width)
        order = np.argsort(-flat_ranking, axis=1, kind="stable")[:, : 2 * k]
        c_ranking = np.take_along_axis(flat_ranking, order, axis=1)
        c_log_prob = np.take_along_axis(cumulative.reshape(n, k * width), order, axis=1)
        c_token = np.take_along_axis(ids.reshape(n, k * width), order, axis=1)
        c_beam = order // width
        valid = c_log_prob > NEG_INF / 2
        is_eos = c_token == self.eos
        live = valid & ~is_eos
        chosen = live & (np.cumsum(live, axis=1) <= k)
        ending = valid & is_eos
        ending_rank = np.cumsum(ending, axis=1)
        finishing = ending & (ending_rank <= (k - self.finished_count)[:, None])

        sentence, candidate = np.nonzero(finishing)
        position = self.finished_count[sentence] + ending_rank[sentence, candidate] - 1
        self.finished_score[sentence, position] = c_ranking[sentence, candidate]
        self.finished_log_prob[sentence, position] = c_log_prob[sentence, candidate]
        self.finished_step[sentence, position] = step
        self.finished_row[sentence, position] = offset + sentence * k + c_beam[sentence, candidate]
        self.finished_count += finishing.sum(axis=1)

        picked = np.argsort(~chosen, axis=1, kind="stable")[:, :k]  # the chosen first, in rank order
        has = np.take_along_axis(chosen, picked, axis=1)
        live_count = has.sum(axis=1)
        new_beam = np.take_along_axis(c_beam, picked, axis=1)
        new_token = np.take_along_axis(c_token, picked, axis=1)
        new_log_prob = np.take_along_axis(c_log_prob, picked, axis=1)
        # fewer than k live candidates (tiny vocabularies only): pad with dead copies of the first
        new_beam = np.where(has, new_beam, new_beam[:, :1])
        new_token = np.where(has, new_token, new_token[:, :1])
        new_log_prob = np.where(has, new_log_prob, NEG_INF)
        if tracks_coverage:
            coverage = coverage[everyone[:, None], new_beam]

        self.steps += 1
        done = (self.finished_count >= k) | (self.steps >= self.max_length) | (live_count == 0)
        parent_rows = offset + everyone[:, None] * k + new_beam
        finished = [
            (
                self.tags[i],
                self._hypothesis(int(i), step, history, parent_rows, new_token, new_log_prob, live_count, coverage),
            )
            for i in np.flatnonzero(done)
        ]
        self.log_prob = new_log_prob
        self.next_tokens = new_token
        self.next_parents = parent_rows
        self.coverage = coverage
        if finished:
            self.keep(~done)
        return finished

    def _hypothesis(
        self,
        i: int,
        step: int,
        history: StepHistory,
        parent_rows: np.ndarray,
        tokens: np.ndarray,
        log_probs: np.ndarray,
        live_count: np.ndarray,
        coverage: np.ndarray,
    ) -> Hypothesis:
        source_length = int(self.source_length[i])
        count = int(self.finished_count[i])
        candidates: list[tuple[float, float, int, int, int | None]]  # score, log p, step, row, last token
        if count == 0:  # out of length with nothing finished: the live beams end here, unterminated
            length = int(self.steps[i])
            candidates = []
            for beam in range(int(live_count[i])):
                log_prob = float(log_probs[i, beam])
                penalty = coverage_penalty(coverage[i, beam, :source_length], float(self.beta[i]))
                score = float(log_prob / length_penalty(length, float(self.alpha[i])) + penalty)
                candidates.append((score, log_prob, step, int(parent_rows[i, beam]), int(tokens[i, beam])))
        else:
            candidates = [
                (
                    float(self.finished_score[i, j]),
                    float(self.finished_log_prob[i, j]),
                    int(self.finished_step[i, j]),
                    int(self.finished_row[i, j]),
                    None,
                )
                for j in range(count)
            ]
        ranked = sorted(candidates, key=lambda c: c[0], reverse=True)  # stable: earlier finishers first on ties
        if not ranked:
            return Hypothesis([], NEG_INF, NEG_INF, np.zeros((0, source_length), np.float32))
        score, log_prob, at_step, row, last = ranked[0]
        path, attention = history.path(at_step, row, source_length)
        if last is not None:
            path.append(last)
        runners_up = []
        for _, _, other_step, other_row, other_last in ranked[1:]:
            other = history.tokens_of(other_step, other_row)
            runners_up.append(other if other_last is None else [*other, other_last])
        return Hypothesis(path, log_prob, score, attention, runners_up)


def _pad_last(array: np.ndarray, width: int) -> np.ndarray:
    """Zero-pad (or cut) the last axis to `width`."""
    extra = width - array.shape[-1]
    if extra == 0:
        return array
    if extra < 0:
        return array[..., :width]
    return np.concatenate([array, np.zeros((*array.shape[:-1], extra), array.dtype)], axis=-1)
