"""The exact dynamic programme behind tag projection: the best monotone state sequence over target pieces.

States are gap0, kid0, gap1, kid1, ..., gap_k for the k children (with text) of one tag. A piece scores 1 in
kid r's state if labelled r, and 1 in a gap if labelled -1 (parent text or unaligned); entering a kid's state
earns `bonus`. Kids whose state is skipped stay empty.

The table is pieces x states, so a paragraph with a thousand inline tags makes a table of millions of cells.
Three implementations of the one recurrence give identical sequences, ties included: plain Python for the
small tables real sentences make, and two numpy versions for large ones, vectorised over pieces when there
are fewer states than pieces and over states otherwise. The work stays pieces x states (MAX_INLINE_TAGS
bounds the states), but at C speed, and the back-pointers of the large version are kept as bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

PYTHON_CELLS = 4096
"""Tables up to this many cells run in plain Python: below it numpy's per-call overhead dominates."""
STATE_MAJOR_CELLS = 4_000_000
"""The state-major numpy version keeps an int32 and a bool per cell; above this it is the bit-packed one."""

IntArray = npt.NDArray[np.int64]


def assign(labels: Sequence[int] | IntArray, k: int, bonus: float) -> list[int]:
    """State per piece (see the module docstring); the same answer whichever implementation runs."""
    n, states = len(labels), 2 * k + 1
    if n * states <= PYTHON_CELLS:
        return assign_python(list(labels), k, bonus)
    if states <= n and n * states <= STATE_MAJOR_CELLS:
        return assign_state_major(np.asarray(labels, dtype=np.int64), k, bonus).tolist()
    return assign_piece_major(np.asarray(labels, dtype=np.int64), k, bonus).tolist()


def assign_python(labels: list[int], k: int, bonus: float) -> list[int]:
    """The reference: one pass over pieces, every state at each piece, ties kept in place (stay) or lowest."""
    n, states = len(labels), 2 * k + 1
    if n == 0:
        return []

    def gain(j: int, s: int) -> float:
        return 1.0 if labels[j] == ((s - 1) // 2 if s % 2 else -1) else 0.0

    def enter(s: int) -> float:
        return bonus if s % 2 else 0.0

    score = [gain(0, s) + enter(s) for s in range(states)]
    back = [[-1] * states for _ in range(n)]
    for j in range(1, n):
        current = [0.0] * states
        best_before, best_state = float("-inf"), -1
        for s in range(states):
            stay, entered = score[s], best_before + enter(s)
            if stay >= entered:
                current[s], back[j][s] = stay + gain(j, s), s
            else:
                current[s], back[j][s] = entered + gain(j, s), best_state
            if score[s] > best_before:
                best_before, best_state = score[s], s
        score = current
    s = max(range(states), key=lambda i: (score[i], -i))
    path = [0] * n
    for j in range(n - 1, -1, -1):
        path[j] = s
        s = back[j][s]
    return path


def _gains(labels: IntArray, s: int) -> npt.NDArray[np.float64]:
    wanted = (s - 1) // 2 if s % 2 else -1
    return (labels == wanted).astype(np.float64)


def assign_state_major(labels: IntArray, k: int, bonus: float) -> IntArray:
    """One state at a time, all pieces at once.

    For a fixed state s the recurrence V_j = max(V_{j-1}, E_{j-1}) + g_j (E: the best lower state at the
    previous piece, plus the bonus) is a running maximum once the cumulative gain is subtracted.
    """
    n, states = len(labels), 2 * k + 1
    best = np.full(n, -np.inf)  # best value over the states below s, per piece
    best_state = np.full(n, -1, dtype=np.int64)  # lowest state holding it
    entered = np.zeros((states, n), dtype=bool)  # piece j entered state s (from best_state[j - 1])
    came_from = np.empty((states, n), dtype=np.int32)
    last = np.empty(states)
    for s in range(states):
        enter = bonus if s % 2 else 0.0
        cumulative = np.cumsum(_gains(labels, s))
        offer = best + enter - cumulative  # entering s at piece j + 1, net of the gain so far
        running = np.empty(n)
        running[0] = enter
        running[1:] = offer[:-1]
        np.maximum.accumulate(running, out=running)
        entered[s, 1:] = running[:-1] < offer[:-1]
        came_from[s] = best_state
        value = running + cumulative
        last[s] = value[-1]
        record = value > best
        best_state = np.where(record, s, best_state)
        best = np.maximum(best, value)
    path = np.empty(n, dtype=np.int64)
    s, j = int(np.argmax(last)), n - 1
    while j >= 0:
        entries = np.flatnonzero(entered[s, 1 : j + 1])
        start = int(entries[-1]) + 1 if entries.size else 0
        path[start : j + 1] = s
        if start == 0:
            break
        s, j = int(came_from[s, start - 1]), start - 1
    return path


def assign_piece_major(labels: IntArray, k: int, bonus: float) -> IntArray:
    """One piece at a time, all states at once (the reference's loop, vectorised), back-pointers as bits:
    whether piece j entered state s, and which states were strict records (a new best) at piece j."""
    n, states = len(labels), 2 * k + 1
    enter = np.zeros(states)
    enter[1::2] = bonus
    width = (states + 7) // 8
    entered = np.zeros((n, width), dtype=np.uint8)
    records = np.zeros((n, width), dtype=np.uint8)
    score = enter.copy()
    _add_gain(score, int(labels[0]))
    best_before = np.empty(states)
    best_before[0] = -np.inf
    for j in range(1, n):
        prefix = np.maximum.accumulate(score)
        best_before[1:] = prefix[:-1]
        offer = best_before + enter
        records[j - 1] = np.packbits(score > best_before)
        entered[j] = np.packbits(score < offer)
        np.maximum(score, offer, out=score)
        _add_gain(score, int(labels[j]))
    path = np.empty(n, dtype=np.int64)
    s, j = int(np.argmax(score)), n - 1
    while j >= 0:
        column = (entered[1 : j + 1, s >> 3] >> (7 - (s & 7))) & 1
        entries = np.flatnonzero(column)
        start = int(entries[-1]) + 1 if entries.size else 0
        path[start : j + 1] = s
        if start == 0:
            break
        lower = np.flatnonzero(np.unpackbits(records[start - 1], count=states)[:s])
        s, j = int(lower[-1]), start - 1
    return path


def _add_gain(score: npt.NDArray[np.float64], label: int) -> None:
    if label < 0:
        score[0::2] += 1.0
    else:
        score[2 * label + 1] += 1.0
