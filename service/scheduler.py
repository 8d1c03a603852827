"""One thread owns the ONNX sessions and runs iteration-level ("continuous") batching.

Every loop iteration, per model: (a) admit waiting sentences into the running batch, encoding
the newly admitted ones together in one encoder call; (b) run ONE decoder step for all active
rows; (c) retire finished rows at once and answer their futures. Rows of different bundles never
share a decoder batch: each model has its own running batch and they take turns.

Two other policies exist for comparison (bench/load.py): `none` decodes one request at a time and
`static` collects up to N requests or T ms and decodes that batch to completion. The search
groups are the same in every mode, so greedy output does not depend on the mode or the batch.
ONNX Runtime releases the GIL while it runs, so the event loop stays responsive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from nmt_core.search import DecoderState, SearchGroup, make_group, pad_batch
from service.errors import DeadlineExceeded, EngineFailure, ShuttingDown
from service.metrics import BATCH_ROWS, DECODER_STEP_SECONDS, ENCODER_SECONDS, QUEUE_WAIT
from service.queue import WorkItem, WorkQueue

log = logging.getLogger(__name__)

Mode = Literal["continuous", "static", "none"]
_IDLE_POLL_S = 0.1  # how often an idle scheduler re-checks deadlines and its stop flag
_EXPIRY_SCAN_S = 0.02


@dataclass(eq=False)
class _Active:
    item: WorkItem
    group: SearchGroup


@dataclass
class RunningBatch:
    """The decoder rows of one model that are mid-decode, with their state and last tokens."""

    entries: list[_Active] = field(default_factory=list)
    steps_since_admission: int = 0
    state: DecoderState | None = None
    prev: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def rows(self) -> int:
        return sum(e.group.rows for e in self.entries)

    @property
    def tokens(self) -> int:
        return sum(e.item.tokens for e in self.entries)

    def clear(self) -> list[_Active]:
        entries, self.entries, self.state = self.entries, [], None
        self.prev = np.zeros(0, dtype=np.int64)
        return entries


class Scheduler:
    def __init__(
        self,
        queue: WorkQueue,
        mode: Mode = "continuous",
        max_rows: int = 64,
        max_tokens: int = 8192,
        static_max_batch: int = 16,
        static_max_wait_s: float = 0.01,
        admit_waiting_ratio: float = 0.25,
        admit_max_steps: int = 8,
    ):
        self.queue = queue
        self.mode = mode
        self.max_rows = max_rows
        self.max_tokens = max_tokens
        self.static_max_batch = static_max_batch
        self.static_max_wait_s = static_max_wait_s
        self.admit_waiting_ratio = admit_waiting_ratio
        self.admit_max_steps = admit_max_steps
        self.batches: dict[str, RunningBatch] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_expiry_scan = 0.0
        self.steps = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nmt-scheduler", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def active_rows(self) -> int:
        return sum(b.rows for b in list(self.batches.values()))

    def idle(self) -> bool:
        return len(self.queue) == 0 and self.active_rows() == 0

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; whatever is still waiting or running is failed, never left hanging."""
        self._stop.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("scheduler thread did not stop within %.1fs; leaving its batches alone", timeout)
                return
        for item in self.queue.drop(lambda _: True):
            item.fail(ShuttingDown("the server stopped before this sentence was translated"))
        for batch in list(self.batches.values()):
            for entry in batch.clear():
                entry.item.fail(ShuttingDown("the server stopped mid-translation"))

    # -- the loop ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._expire_waiting()
            worked = False
            wait: float | None = _IDLE_POLL_S
            for model_id in self._models_in_turn():
                batch = self.batches.setdefault(model_id, RunningBatch())
                try:
                    did, pending = self._tick(model_id, batch)
                except Exception as exc:  # an ORT failure must not kill the loop or strand requests
                    log.exception("decoder failure on %s", model_id)
                    for entry in batch.clear():
                        entry.item.fail(EngineFailure(f"decoding failed: {type(exc).__name__}"))
                    did, pending = True, None
                worked |= did
                if pending is not None:
                    wait = min(wait or pending, pending)
            if not worked:
                if wait is not None and len(self.queue):
                    self.queue.wait_for_more(wait)
                else:
                    self.queue.wait(wait)

    def _models_in_turn(self) -> list[str]:
        """Models with running rows or waiting sentences; the one with the oldest waiting sentence first."""
        ids = {key for key, batch in self.batches.items() if batch.entries} | set(self.queue.models_waiting())

        def age(model_id: str) -> float:
            head = self.queue.peek_oldest(model_id)
            return head.enqueued_at if head is not None else float("inf")

        return sorted(ids, key=age)

    def _expire_waiting(self) -> None:
        now = time.monotonic()
        if now - self._last_expiry_scan < _EXPIRY_SCAN_S:
            return
        self._last_expiry_scan = now
        for item in self.queue.drop(lambda i: i.abandoned or i.expired(now)):
            item.fail(DeadlineExceeded("the request deadline passed while it was queued"))

    def _tick(self, model_id: str, batch: RunningBatch) -> tuple[bool, float | None]:
        """One scheduling iteration for one model: admit, step once, retire. Returns (did work, wait hint)."""
        admitted, pending = self._admit(model_id, batch)
        if admitted:
            self._encode_into(batch, admitted)
        self._drop_dead_rows(batch)
        if not batch.entries:
            return bool(admitted), pending
        self._step(batch)
        return True, pending

    # -- (a) admission -----------------------------------------------------------------------------------------

    def _admit(self, model_id: str, batch: RunningBatch) -> tuple[list[WorkItem], float | None]:
        if self.mode == "continuous":
            if batch.entries and not self._admission_due(model_id, batch):
                return [], None
            batch.steps_since_admission = 0
            return self._take_within_budget(model_id, batch, lambda _item: True), None
        if self.active_rows():  # none/static: a batch runs to completion before the next is formed
            return [], None
        head = self.queue.peek_oldest(model_id)
        if head is None:
            return [], None
        if self.mode == "none":
            return self._take_within_budget(model_id, batch, lambda item: item.request_id == head.request_id), None
        waited = time.monotonic() - head.enqueued_at
        if self.queue.request_count(model_id) < self.static_max_batch and waited < self.static_max_wait_s:
            return [], self.static_max_wait_s - waited
        requests: set[int] = set()

        def within_n_requests(item: WorkItem) -> bool:
            if item.request_id not in requests and len(requests) >= self.static_max_batch:
                return False
            requests.add(item.request_id)
            return True

        return self._take_within_budget(model_id, batch, within_n_requests), None

    def _admission_due(self, model_id: str, batch: RunningBatch) -> bool:
        """Join a running batch in groups, not one sentence per step (as TGI's router does).

        Every admission costs an encoder call and a copy of the batch state; admitting each
        arrival at the next step made encoding a third of the scheduler's time under load.
        New sentences join once enough are waiting relative to the running ones, once they
        would fill the free rows, or after `admit_max_steps` steps at the latest.
        """
        waiting = self.queue.waiting_count(model_id)
        if not waiting or batch.rows >= self.max_rows:
            return False
        return (
            waiting >= max(1.0, self.admit_waiting_ratio * len(batch.entries))
            or waiting >= self.max_rows - batch.rows
            or batch.steps_since_admission >= self.admit_max_steps
        )

    def _take_within_budget(
        self, model_id: str, batch: RunningBatch, policy: Callable[[WorkItem], bool]
    ) -> list[WorkItem]:
        """Longest-waiting first, while the row and token budgets allow (an empty batch takes at least one)."""
        rows, tokens = batch.rows, batch.tokens

        def accept(item: WorkItem) -> bool:
            nonlocal rows, tokens
            fits = (rows + item.rows <= self.max_rows and tokens + item.tokens <= self.max_tokens) or rows == 0
            if not fits or not policy(item):
                return False
            rows += item.rows
            tokens += item.tokens
            return True

        admitted = self.queue.take(model_id, accept)
        now = time.monotonic()
        for item in admitted:
            QUEUE_WAIT.observe(now - item.enqueued_at)
        return [item for item in admitted if not self._retire_if_dead(item, now)]

    def _retire_if_dead(self, item: WorkItem, now: float) -> bool:
        if item.abandoned:
            return True
        if item.expired(now):
            item.fail(DeadlineExceeded("the request deadline passed while it was queued"))
            return True
        return False

    def _encode_into(self, batch: RunningBatch, items: list[WorkItem]) -> None:
        """Encode all newly admitted sentences in one call and append their rows to the running batch."""
        model = items[0].model
        specials = model.vocab.specials
        try:
            src_ids, src_lengths = pad_batch([item.source_ids for item in items], specials.pad)
            start = time.perf_counter()
            state = model.stepper.encode(src_ids, src_lengths)
            ENCODER_SECONDS.observe(time.perf_counter() - start)
            entries = [
                _Active(item, make_group(len(item.source_ids), item.options, specials, item.max_length))
                for item in items
            ]
            rows = np.repeat(np.arange(len(items)), [e.group.rows for e in entries])
            new_state = state.take(rows)
            joined = new_state if batch.state is None else DecoderState.concat([batch.state, new_state])
        except Exception as exc:
            # These items already left the queue: answer them here, or they would wait for their deadline.
            log.exception("encoder failure")
            for item in items:
                item.fail(EngineFailure(f"encoding failed: {type(exc).__name__}"))
            return
        batch.state = joined
        batch.prev = np.concatenate([batch.prev, np.full(len(rows), specials.bos, dtype=np.int64)])
        batch.entries.extend(entries)

    # -- (b) one decoder step and (c) retirement ---------------------------------------------------------------

    def _drop_dead_rows(self, batch: RunningBatch) -> None:
        now = time.monotonic()
        if not any(e.item.abandoned or e.item.expired(now) for e in batch.entries):
            return
        keep_rows: list[np.ndarray] = []
        kept: list[_Active] = []
        offset = 0
        for entry in batch.entries:
            if entry.item.abandoned:
                pass
            elif entry.item.expired(now):
                entry.item.fail(DeadlineExceeded("the request deadline passed during decoding"))
            else:
                kept.append(entry)
                keep_rows.append(np.arange(offset, offset + entry.group.rows))
            offset += entry.group.rows
        if not kept:
            batch.clear()
            return
        index = np.concatenate(keep_rows)
        assert batch.state is not None
        batch.state = batch.state.take(index).trim_source()
        batch.prev = batch.prev[index]
        batch.entries = kept

    def _step(self, batch: RunningBatch) -> None:
        assert batch.state is not None
        model = batch.entries[0].item.model
        BATCH_ROWS.observe(batch.state.rows)
        batch.steps_since_admission += 1
        start = time.perf_counter()
        log_probs, state, attention = model.stepper.step(batch.prev, batch.state)
        DECODER_STEP_SECONDS.observe(time.perf_counter() - start)
        self.steps += 1
        next_tokens: list[np.ndarray] = []
        gather: list[np.ndarray] = []
        alive: list[_Active] = []
        finished: list[_Active] = []
        offset = 0
        for entry in batch.entries:
            rows = slice(offset, offset + entry.group.rows)
            tokens, parents = entry.group.advance(log_probs[rows], attention[rows])
            if entry.group.done:
                finished.append(entry)
            else:
                alive.append(entry)
                next_tokens.append(tokens)
                gather.append(parents + offset)
            offset += entry.group.rows
        if alive:
            batch.state = state.take(np.concatenate(gather)).trim_source()
            batch.prev = np.concatenate(next_tokens)
            batch.entries = alive
        else:
            batch.clear()
        for entry in finished:
            entry.item.resolve(entry.group.best())
