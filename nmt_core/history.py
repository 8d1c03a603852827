"""Back-pointers: what each decoder step was fed and what it attended to, for every row at once.

Hypotheses are never copied while they grow. A step records its input tokens, each row's parent row in
the step before (-1 for a row admitted at this step, whose token is BOS) and the attention it produced;
a finished hypothesis is read back by walking the parents. Steps older than the oldest sentence still
decoding are forgotten.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Step:
    tokens: np.ndarray  # [R] tokens fed in
    parents: np.ndarray  # [R] row in the previous step, -1 for a fresh row
    attention: np.ndarray  # [R, S]


class StepHistory:
    def __init__(self) -> None:
        self._steps: deque[_Step] = deque()
        self._first = 0  # step number of _steps[0]

    @property
    def next_step(self) -> int:
        return self._first + len(self._steps)

    def record(self, tokens: np.ndarray, parents: np.ndarray, attention: np.ndarray) -> int:
        """Store one step; returns its number."""
        self._steps.append(_Step(tokens, parents, attention))
        return self.next_step - 1

    def path(self, step: int, row: int, source_length: int) -> tuple[list[int], np.ndarray]:
        """Tokens generated on the way to `row` of `step` (BOS excluded) and the attention of every step on
        the way, this one included: one attention row more than tokens."""
        walk = self._walk(step, row)
        tokens = [token for _, _, token in walk if token is not None]
        attention = np.stack([record.attention[at, :source_length] for record, at, _ in walk])
        return tokens, attention

    def tokens_of(self, step: int, row: int) -> list[int]:
        """`path` without the attention: for runner-up hypotheses."""
        return [token for _, _, token in self._walk(step, row) if token is not None]

    def _walk(self, step: int, row: int) -> list[tuple[_Step, int, int | None]]:
        """(step record, row in it, the token that row was fed or None for BOS), oldest first."""
        walk: list[tuple[_Step, int, int | None]] = []
        index = step - self._first
        while True:
            record = self._steps[index]
            parent = int(record.parents[row])
            walk.append((record, row, None if parent < 0 else int(record.tokens[row])))
            if parent < 0:
                break
            row, index = parent, index - 1
        walk.reverse()
        return walk

    def forget_before(self, step: int) -> None:
        while self._steps and self._first < step:
            self._steps.popleft()
            self._first += 1

    def clear(self) -> None:
        self._first = self.next_step
        self._steps.clear()
