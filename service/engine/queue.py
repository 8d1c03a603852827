"""Work items and the bounded, thread-safe waiting room in front of the decoder batches.

The asyncio side puts items in; the scheduler thread takes them out. Items are kept per model
(rows of different bundles never share a batch) and in arrival order, so admission can serve
the longest-waiting first. Its bound is what turns overload into a fast 503 instead of a
growing latency.
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
from service.metrics import QUEUE_DEPTH

_request_ids = itertools.count(1)


def next_request_id() -> int:
    return next(_request_ids)


@dataclass(frozen=True)
class Budget:
    """What the scheduler decided a batch may still take: rows and source tokens beyond those in use,
    optionally at most `max_requests` requests or only the request `request_id`."""

    max_rows: int
    max_tokens: int
    used_rows: int = 0
    used_tokens: int = 0
    max_requests: int | None = None
    request_id: int | None = None


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
    """Per-model FIFO deques under one lock, bounded by the number of waiting sentences."""

    def __init__(self, max_items: int):
        self.max_items = max_items
        self._lock = threading.Condition()
        self._waiting: dict[str, deque[WorkItem]] = {}
        self._count = 0
        self._closed = False

    def __len__(self) -> int:
        return self._count

    def put(self, items: list[WorkItem]) -> None:
        """Enqueue a request's sentences atomically, or refuse them all (503) when full or closed.

        A request bigger than the whole queue is still accepted into an empty queue, so that a
        small MAX_QUEUE cannot make large requests impossible.
        """
        with self._lock:
            if self._closed:
                raise ShuttingDown("the server is shutting down")
            if self._count and self._count + len(items) > self.max_items:
                raise Overloaded(f"queue full ({self._count} sentences waiting)")
            for item in items:
                self._waiting.setdefault(item.model.model_id, deque()).append(item)
            self._count += len(items)
            QUEUE_DEPTH.set(self._count)
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def wait(self, timeout: float | None) -> None:
        """Block the scheduler thread until something arrives (or `timeout` passes)."""
        with self._lock:
            if not self._count and not self._closed:
                self._lock.wait(timeout)

    def wait_for_more(self, timeout: float) -> None:
        """Block up to `timeout` for any new arrival (static batching's collection window)."""
        with self._lock:
            if not self._closed:
                self._lock.wait(timeout)

    def models_waiting(self) -> list[str]:
        with self._lock:
            return [key for key, items in self._waiting.items() if items]

    def peek_oldest(self, model_id: str) -> WorkItem | None:
        with self._lock:
            items = self._waiting.get(model_id)
            return items[0] if items else None

    def waiting_count(self, model_id: str) -> int:
        with self._lock:
            return len(self._waiting.get(model_id, ()))

    def request_count(self, model_id: str) -> int:
        with self._lock:
            return len({item.request_id for item in self._waiting.get(model_id, ())})

    def take_batch(self, model_id: str, budget: Budget) -> list[WorkItem]:
        """Hand out the longest-waiting items that fit `budget`, in arrival order (strict FIFO: the first that
        does not fit ends the batch). An empty running batch always gets at least one item."""
        taken: list[WorkItem] = []
        rows, tokens, requests = budget.used_rows, budget.used_tokens, set[int]()
        with self._lock:
            items = self._waiting.get(model_id)
            while items:
                item = items[0]
                if budget.request_id is not None and item.request_id != budget.request_id:
                    break
                new_request = item.request_id not in requests
                if budget.max_requests is not None and new_request and len(requests) >= budget.max_requests:
                    break
                fits = rows + item.rows <= budget.max_rows and tokens + item.tokens <= budget.max_tokens
                if not fits and rows:
                    break
                taken.append(items.popleft())
                rows, tokens = rows + item.rows, tokens + item.tokens
                requests.add(item.request_id)
            self._count -= len(taken)
            QUEUE_DEPTH.set(self._count)
        return taken

    def drop(self, predicate: Callable[[WorkItem], bool]) -> list[WorkItem]:
        """Remove (and return) waiting items matching `predicate`: expired or abandoned ones."""
        dropped: list[WorkItem] = []
        with self._lock:
            for key, items in self._waiting.items():
                keep: deque[WorkItem] = deque()
                for item in items:
                    (dropped if predicate(item) else keep).append(item)
                self._waiting[key] = keep
            self._count -= len(dropped)
            QUEUE_DEPTH.set(self._count)
        return dropped
