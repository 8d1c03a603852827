"""Work items and the bounded, thread-safe waiting room in front of the decoder batches.

The asyncio side puts items in; the scheduler thread takes them out. Items are kept per model
(rows of different bundles never share a batch), per priority and in arrival order, so admission
serves interactive work first and the longest-waiting first within a priority. Its bound is what
turns overload into a fast 503 instead of a growing latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from nmt_core.search import Hypothesis, SearchOptions
from service.engine.backends import LoadedModel
from service.errors import Overloaded, ShuttingDown
from service.metrics import QUEUE_DEPTH, QUEUE_DEPTH_BY_PRIORITY
from service.validation import PRIORITIES, Priority

_request_ids = itertools.count(1)
INTERACTIVE_RESERVE = 0.25  # the share of MAX_QUEUE that bulk work may not fill


def next_request_id() -> int:
    return next(_request_ids)


@dataclass(frozen=True)
class Budget:
    """What the scheduler decided a batch may still take: rows and source tokens beyond those in use,
    at most `bulk_rows` more rows of bulk work, optionally at most `max_requests` requests or only the request
    `request_id`."""

    max_rows: int
    max_tokens: int
    used_rows: int = 0
    used_tokens: int = 0
    max_requests: int | None = None
    request_id: int | None = None
    bulk_rows: int | None = None  # None: no bound of its own
    bulk_idle: bool = True  # no bulk rows run: one bulk sentence may start whatever `bulk_rows` says


@dataclass(eq=False)
class WorkItem:
    """One sentence to decode, answered through an asyncio future owned by `loop`."""

    model: LoadedModel
    source_ids: list[int]
    options: SearchOptions
    max_length: int
    request_id: int
    deadline: float  # time.monotonic()
    future: asyncio.Future[Hypothesis]
    loop: asyncio.AbstractEventLoop
    priority: Priority = "interactive"
    enqueued_at: float = field(default_factory=time.monotonic)
    abandoned: bool = False  # set from the event loop when nobody waits for the answer any more

    @property
    def rows(self) -> int:
        return max(1, self.options.beam_size)

    @property
    def tokens(self) -> int:
        """What a row costs in the batch budget: its source length, once per beam row."""
        return self.rows * len(self.source_ids)

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def resolve(self, hypothesis: Hypothesis) -> None:
        self._call(lambda: self.future.set_result(hypothesis))

    def fail(self, error: BaseException) -> None:
        self._call(lambda: self.future.set_exception(error))

    def _call(self, action: Callable[[], None]) -> None:
        def run() -> None:
            if not self.future.done():
                action()

        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening any more
            self.loop.call_soon_threadsafe(run)


class WorkQueue:
    """Per-model, per-priority FIFO deques under one lock, bounded by the number of waiting sentences."""

    def __init__(self, max_items: int):
        self.max_items = max_items
        self._lock = threading.Condition()
        self._waiting: dict[str, dict[Priority, deque[WorkItem]]] = {}
        self._count = 0
        self._by_priority = dict.fromkeys(PRIORITIES, 0)
        self._closed = False
        self._abandoned = False

    def __len__(self) -> int:
        return self._count

    def put(self, items: list[WorkItem]) -> None:
        """Enqueue a request's sentences atomically, or refuse them all (503) when full or closed.

        A request bigger than the whole queue is still accepted into an empty queue, so that a
        small MAX_QUEUE cannot make large requests impossible. Bulk work may fill only
        1 - INTERACTIVE_RESERVE of the queue: the rest is kept for interactive requests.
        """
        with self._lock:
            if self._closed:
                raise ShuttingDown("the server is shutting down")
            bulk = all(item.priority == "bulk" for item in items)
            room = self.max_items * (1 - INTERACTIVE_RESERVE) if bulk else self.max_items
            if self._count and self._count + len(items) > room:
                raise Overloaded(f"queue full ({self._count} sentences waiting)")
            for item in items:
                self._lanes(item.model.model_id)[item.priority].append(item)
                self._by_priority[item.priority] += 1
            self._count += len(items)
            self._report()
            self._lock.notify_all()

    def _lanes(self, model_id: str) -> dict[Priority, deque[WorkItem]]:
        lanes = self._waiting.get(model_id)
        if lanes is None:
            lanes = self._waiting[model_id] = {priority: deque() for priority in PRIORITIES}
        return lanes

    def _report(self) -> None:
        QUEUE_DEPTH.set(self._count)
        for priority, count in self._by_priority.items():
            QUEUE_DEPTH_BY_PRIORITY.labels(priority).set(count)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def promote(self, item: WorkItem) -> None:
        """A waiting bulk sentence that interactive work now waits for moves to the interactive lane (one already
        admitted keeps running where it is)."""
        with self._lock:
            lanes = self._waiting.get(item.model.model_id)
            if lanes is None or item.priority != "bulk" or item not in lanes["bulk"]:
                return
            lanes["bulk"].remove(item)
            item.priority = "interactive"
            lanes["interactive"].append(item)
            self._by_priority["bulk"] -= 1
            self._by_priority["interactive"] += 1
            self._report()
            self._lock.notify_all()

    def note_abandoned(self) -> None:
        """A waiting or running sentence lost its last listener: the scheduler withdraws it at its next step,
        instead of at its next periodic scan."""
        with self._lock:
            self._abandoned = True
            self._lock.notify_all()

    def take_abandoned(self) -> bool:
        """Whether something was abandoned since the last call."""
        with self._lock:
            abandoned, self._abandoned = self._abandoned, False
            return abandoned

    def wait(self, timeout: float | None) -> None:
        """Block the scheduler thread until something arrives (or `timeout` passes)."""
        with self._lock:
            if not self._count and not self._closed and not self._abandoned:
                self._lock.wait(timeout)

    def wait_for_more(self, timeout: float) -> None:
        """Block up to `timeout` for any new arrival (static batching's collection window)."""
        with self._lock:
            if not self._closed and not self._abandoned:
                self._lock.wait(timeout)

    def models_waiting(self) -> list[str]:
        with self._lock:
            return [key for key, lanes in self._waiting.items() if any(lanes.values())]

    def peek_oldest(self, model_id: str) -> WorkItem | None:
        """The model's longest-waiting sentence, whatever its priority."""
        with self._lock:
            heads = [lane[0] for lane in self._waiting.get(model_id, {}).values() if lane]
            return min(heads, key=lambda item: item.enqueued_at) if heads else None

    def waiting_count(self, model_id: str, priority: Priority | None = None) -> int:
        with self._lock:
            lanes = self._waiting.get(model_id, {})
            return sum(len(lane) for p, lane in lanes.items() if priority is None or p == priority)

    def request_count(self, model_id: str) -> int:
        with self._lock:
            lanes = self._waiting.get(model_id, {})
            return len({item.request_id for lane in lanes.values() for item in lane})

    def take_batch(self, model_id: str, budget: Budget) -> list[WorkItem]:
        """Hand out the longest-waiting items that fit `budget`, interactive ones first, in arrival order within a
        priority (strict FIFO: the first that does not fit ends that priority's turn); bulk items only within
        `budget.bulk_rows`. An empty running batch always gets at least one item."""
        taken: list[WorkItem] = []
        rows, tokens, requests = budget.used_rows, budget.used_tokens, set[int]()
        with self._lock:
            lanes = self._waiting.get(model_id, {})
            for priority in PRIORITIES:
                items = lanes.get(priority)
                if priority == "bulk" and lanes.get("interactive"):
                    break  # interactive work still waits for room: bulk does not take it first
                lane_rows = 0
                while items:
                    item = items[0]
                    if budget.request_id is not None and item.request_id != budget.request_id:
                        break
                    new_request = item.request_id not in requests
                    if budget.max_requests is not None and new_request and len(requests) >= budget.max_requests:
                        break
                    if priority == "bulk" and budget.bulk_rows is not None:
                        first_bulk = budget.bulk_idle and not lane_rows
                        if lane_rows + item.rows > budget.bulk_rows and not first_bulk:
                            break
                    fits = rows + item.rows <= budget.max_rows and tokens + item.tokens <= budget.max_tokens
                    if not fits and rows:
                        break
                    taken.append(items.popleft())
                    lane_rows += item.rows
                    self._by_priority[priority] -= 1
                    rows, tokens = rows + item.rows, tokens + item.tokens
                    requests.add(item.request_id)
            self._count -= len(taken)
            self._report()
        return taken

    def drop(self, predicate: Callable[[WorkItem], bool]) -> list[WorkItem]:
        """Remove (and return) waiting items matching `predicate`: expired or abandoned ones."""
        dropped: list[WorkItem] = []
        with self._lock:
            for lanes in self._waiting.values():
                for priority, items in lanes.items():
                    keep: deque[WorkItem] = deque()
                    for item in items:
                        (dropped if predicate(item) else keep).append(item)
                    lanes[priority] = keep
                    self._by_priority[priority] -= len(items) - len(keep)
            self._count -= len(dropped)
            self._report()
        return dropped
