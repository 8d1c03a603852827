"""One thread owns the ONNX sessions and runs iteration-level ("continuous") batching.

Every loop iteration, per model: (a) decide what the running batch may still take and let the queue
hand it out; the decoder encodes the newcomers in length-sorted groups; (b) run ONE decoder step for
all rows (`nmt_core.decoder.BatchedDecoder`); (c) answer the sentences that finished. Interactive sentences
are admitted first, and as soon as rows are free; bulk sentences hold at most BULK_ROW_SHARE of the rows beside
interactive work (BULK_ALONE_ROW_SHARE alone), so a long job never makes a short request wait for rows or slow
steps. A sentence whose every listener left (a client gone) leaves
the queue or the running batch at the next step. Rows of different
bundles never share a decoder batch: each model has its own decoder and they take turns.

Two other policies exist for comparison (bench/load.py): `none` decodes one request at a time and
`static` collects up to N requests or T ms and decodes that batch to completion. The decoder is the
same in every mode, so a sentence's output does not depend on the mode or the batch.
ONNX Runtime releases the GIL while it runs, so the event loop stays responsive.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal

from nmt_core.decoder import BatchedDecoder
from nmt_core.selection import Sentence
from service.engine.queue import Budget, WorkItem, WorkQueue
from service.errors import DeadlineExceeded, EngineFailure, ShuttingDown
from service.metrics import (
    ADMITTED_PER_STEP,
    BATCH_ROWS,
    BATCH_ROWS_BY_PRIORITY,
    CANCELLED_SENTENCES,
    DECODE_EFFICIENCY,
    DECODER_STEP_SECONDS,
    ENCODER_SECONDS,
    QUEUE_WAIT,
    RETIRED_PER_STEP,
    SCHEDULER_BUSY_SECONDS,
    SCHEDULER_ONNX_SECONDS,
)
from service.validation import PRIORITIES, Priority

log = logging.getLogger(__name__)

Mode = Literal["continuous", "static", "none"]
_IDLE_POLL_S = 0.1  # how often an idle scheduler re-checks deadlines and its stop flag
_EXPIRY_SCAN_S = 0.02
_EFFICIENCY_WINDOW_S = 1.0  # decode efficiency is reported over windows of about this much busy time


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
        bulk_row_share: float = 0.03125,
        bulk_alone_row_share: float = 0.125,
    ):
        self.queue = queue
        self.mode = mode
        self.max_rows = max_rows
        self.max_tokens = max_tokens
        self.static_max_batch = static_max_batch
        self.static_max_wait_s = static_max_wait_s
        self.admit_waiting_ratio = admit_waiting_ratio
        self.admit_max_steps = admit_max_steps
        self.bulk_row_share = bulk_row_share
        self.bulk_alone_row_share = bulk_alone_row_share
        self._rows: dict[str, dict[Priority, int]] = {}  # running rows per model and priority
        self._sentences: dict[str, dict[Priority, int]] = {}  # running sentences per model and priority
        self.decoders: dict[str, BatchedDecoder] = {}
        self._steps_since_admission: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_expiry_scan = 0.0
        self._last_running_scan: dict[str, float] = {}
        self.steps = 0
        self.busy_seconds = 0.0  # scheduler thread time spent working (not waiting)
        self.onnx_seconds = 0.0  # of which inside ONNX Runtime (encoder and decoder calls)
        self._window = (0.0, 0.0)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nmt-scheduler", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def active_rows(self) -> int:
        return sum(d.rows for d in list(self.decoders.values()))

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
        for decoder in list(self.decoders.values()):
            for item in decoder.clear():
                item.fail(ShuttingDown("the server stopped mid-translation"))
        self._rows.clear()
        self._sentences.clear()

    # -- the loop ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            withdraw = self.queue.take_abandoned()
            self._expire_waiting(withdraw)
            worked = False
            wait: float | None = _IDLE_POLL_S
            for model_id in self._models_in_turn():
                try:
                    did, pending = self._tick(model_id, withdraw)
                except Exception as exc:  # an ORT failure must not kill the loop or strand requests
                    log.exception("decoder failure on %s", model_id)
                    failed = self.decoders.get(model_id)
                    for item in failed.clear() if failed is not None else []:
                        item.fail(EngineFailure(f"decoding failed: {type(exc).__name__}"))
                    self._rows.pop(model_id, None)
                    self._sentences.pop(model_id, None)
                    did, pending = True, None
                worked |= did
                if pending is not None:
                    wait = min(wait or pending, pending)
            if worked:
                self._account(time.perf_counter() - started)
            elif wait is not None and len(self.queue):
                self.queue.wait_for_more(wait)
            else:
                self.queue.wait(wait)

    def _account(self, busy: float) -> None:
        self.busy_seconds += busy
        SCHEDULER_BUSY_SECONDS.inc(busy)
        window_busy, window_onnx = self._window
        if self.busy_seconds - window_busy >= _EFFICIENCY_WINDOW_S:
            DECODE_EFFICIENCY.set((self.onnx_seconds - window_onnx) / (self.busy_seconds - window_busy))
            self._window = (self.busy_seconds, self.onnx_seconds)

    def _onnx(self, seconds: float) -> None:
        self.onnx_seconds += seconds
        SCHEDULER_ONNX_SECONDS.inc(seconds)

    def _models_in_turn(self) -> list[str]:
        """Models with running rows or waiting sentences; the one with the oldest waiting sentence first."""
        ids = {key for key, decoder in self.decoders.items() if decoder.sentences} | set(self.queue.models_waiting())

        def age(model_id: str) -> float:
            head = self.queue.peek_oldest(model_id)
            return head.enqueued_at if head is not None else float("inf")

        return sorted(ids, key=age)

    def _expire_waiting(self, withdraw: bool = False) -> None:
        now = time.monotonic()
        if not withdraw and now - self._last_expiry_scan < _EXPIRY_SCAN_S:
            return
        self._last_expiry_scan = now
        for item in self.queue.drop(lambda i: i.abandoned or i.expired(now)):
            if item.abandoned:
                CANCELLED_SENTENCES.labels(item.priority).inc()
            else:
                item.fail(DeadlineExceeded("the request deadline passed while it was queued"))

    def _tick(self, model_id: str, withdraw: bool = False) -> tuple[bool, float | None]:
        """One scheduling iteration for one model: admit, step once, retire. Returns (did work, wait hint)."""
        decoder = self.decoders.get(model_id)
        admitted, pending = self._admit(model_id, decoder)
        if admitted:
            decoder = self._admit_into(model_id, admitted)
        if decoder is None:
            return False, pending
        self._drop_dead(model_id, decoder, withdraw)
        if not decoder.sentences:
            return bool(admitted), pending
        self._step(model_id, decoder)
        ADMITTED_PER_STEP.observe(len(admitted))
        return True, pending

    # -- (a) admission: the scheduler decides the budget, the queue hands out the batch -------------------------

    def _admit(self, model_id: str, decoder: BatchedDecoder | None) -> tuple[list[WorkItem], float | None]:
        rows, tokens = (decoder.rows, decoder.tokens) if decoder is not None else (0, 0)
        running = self._running(model_id)
        bulk_running = running["bulk"]
        beside_people = running["interactive"] or self.queue.waiting_count(model_id, "interactive")
        share = self.bulk_row_share if beside_people else self.bulk_alone_row_share
        bulk_rows = max(0, int(share * self.max_rows) - bulk_running)
        budget = Budget(self.max_rows, self.max_tokens, rows, tokens, bulk_rows=bulk_rows, bulk_idle=not bulk_running)
        if self.mode == "continuous":
            if rows and not self._admission_due(model_id, rows, decoder.sentences if decoder else 0):
                return [], None
            self._steps_since_admission[model_id] = 0
            return self._take(model_id, budget), None
        if self.active_rows():  # none/static: a batch runs to completion before the next is formed
            return [], None
        head = self.queue.peek_oldest(model_id)
        if head is None:
            return [], None
        if self.mode == "none":
            return self._take(model_id, Budget(self.max_rows, self.max_tokens, request_id=head.request_id)), None
        waited = time.monotonic() - head.enqueued_at
        if self.queue.request_count(model_id) < self.static_max_batch and waited < self.static_max_wait_s:
            return [], self.static_max_wait_s - waited
        return self._take(model_id, Budget(self.max_rows, self.max_tokens, max_requests=self.static_max_batch)), None

    def _admission_due(self, model_id: str, rows: int, sentences: int) -> bool:
        """Join a running batch in groups, not one sentence per step (as TGI's router does).

        Every admission costs an encoder call and a rewrite of the sentence slots; admitting each
        arrival at the next step made encoding a third of the scheduler's time under load.
        New sentences join once enough are waiting relative to the running ones, once they
        would fill the free rows, or after `admit_max_steps` steps at the latest. Interactive sentences are
        grouped against the interactive sentences running only: behind a batch of bulk work, a person's
        sentence joins at the next step, as it would on an idle server.
        """
        waiting = self.queue.waiting_count(model_id)
        if not waiting or rows >= self.max_rows:
            return False
        interactive = self.queue.waiting_count(model_id, "interactive")
        if interactive and interactive >= self.admit_waiting_ratio * self._running_sentences(model_id)["interactive"]:
            return True
        return (
            waiting >= max(1.0, self.admit_waiting_ratio * sentences)
            or waiting >= self.max_rows - rows
            or self._steps_since_admission.get(model_id, 0) >= self.admit_max_steps
        )

    def _take(self, model_id: str, budget: Budget) -> list[WorkItem]:
        admitted = self.queue.take_batch(model_id, budget)
        now = time.monotonic()
        for item in admitted:
            QUEUE_WAIT.labels(item.priority).observe(now - item.enqueued_at)
        return [item for item in admitted if not self._retire_if_dead(item, now)]

    def _running(self, model_id: str) -> dict[Priority, int]:
        running = self._rows.get(model_id)
        if running is None:
            running = self._rows[model_id] = dict.fromkeys(PRIORITIES, 0)
        return running

    def _running_sentences(self, model_id: str) -> dict[Priority, int]:
        running = self._sentences.get(model_id)
        if running is None:
            running = self._sentences[model_id] = dict.fromkeys(PRIORITIES, 0)
        return running

    def _count_rows(self, model_id: str, items: list[WorkItem], sign: int) -> None:
        """Running rows and sentences per priority, as items join (+1) or leave (-1) the batch."""
        rows, sentences = self._running(model_id), self._running_sentences(model_id)
        for item in items:
            rows[item.priority] += sign * item.rows
            sentences[item.priority] += sign

    def _retire_if_dead(self, item: WorkItem, now: float) -> bool:
        if item.abandoned:
            CANCELLED_SENTENCES.labels(item.priority).inc()
            return True
        if item.expired(now):
            item.fail(DeadlineExceeded("the request deadline passed while it was queued"))
            return True
        return False

    def _admit_into(self, model_id: str, items: list[WorkItem]) -> BatchedDecoder | None:
        """Encode the newly admitted sentences (length-sorted groups) into the model's running batch."""
        model = items[0].model
        decoder = self.decoders.get(model_id)
        if decoder is None:
            decoder = self.decoders[model_id] = BatchedDecoder(model.backend, model.vocab.specials)
        sentences = [
            Sentence(
                item.source_ids,
                item.options,
                min(item.options.max_length(len(item.source_ids)), item.max_length),
                item,
            )
            for item in items
        ]
        self._count_rows(model_id, items, +1)
        try:
            seconds = decoder.admit(sentences)
        except Exception as exc:
            # These items already left the queue: answer them here, or they would wait for their deadline.
            log.exception("encoder failure")
            for item in items:
                item.fail(EngineFailure(f"encoding failed: {type(exc).__name__}"))
            decoder.drop(lambda tag: tag in items)
            self._count_rows(model_id, items, -1)
            return decoder
        ENCODER_SECONDS.observe(seconds)
        self._onnx(seconds)
        return decoder

    # -- (b) one decoder step and (c) retirement ---------------------------------------------------------------

    def _drop_dead(self, model_id: str, decoder: BatchedDecoder, withdraw: bool = False) -> None:
        """Drop abandoned and expired sentences; scanned every _EXPIRY_SCAN_S (or at once when something was
        abandoned), not every step, so that a step touches no sentence in Python unless it finishes."""
        now = time.monotonic()
        if not withdraw and now - self._last_running_scan.get(model_id, 0.0) < _EXPIRY_SCAN_S:
            return
        self._last_running_scan[model_id] = now

        def dead(item: WorkItem) -> bool:
            return item.abandoned or item.expired(now)

        dropped = decoder.drop(dead)
        self._count_rows(model_id, dropped, -1)
        for item in dropped:
            if item.abandoned:
                CANCELLED_SENTENCES.labels(item.priority).inc()
            else:
                item.fail(DeadlineExceeded("the request deadline passed during decoding"))

    def _step(self, model_id: str, decoder: BatchedDecoder) -> None:
        self._steps_since_admission[model_id] = self._steps_since_admission.get(model_id, 0) + 1
        report = decoder.step()
        BATCH_ROWS.observe(report.rows)
        for priority, rows in self._running(model_id).items():
            BATCH_ROWS_BY_PRIORITY.labels(priority).observe(rows)
        DECODER_STEP_SECONDS.observe(report.backend_seconds)
        self._onnx(report.backend_seconds)
        RETIRED_PER_STEP.observe(len(report.finished))
        self.steps += 1
        self._count_rows(model_id, [item for item, _ in report.finished], -1)
        for item, hypothesis in report.finished:
            item.resolve(hypothesis)
