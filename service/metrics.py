"""Prometheus metrics; the names are a contract with the Grafana dashboard (docs/metrics.md).

They live in the process-wide default registry, created once at import, so that several app
instances in one process (tests) share them instead of failing on duplicate registration.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
COUNT_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64, 128)

REQUESTS = Counter("nmt_requests", "HTTP requests by route template and status code", ["route", "status"])
REQUEST_DURATION = Histogram("nmt_request_duration_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS)
SEGMENTS = Counter("nmt_segments", "Sentences translated (after splitting), cached or not", ["direction"])
TOKENS = Counter("nmt_tokens", "SentencePiece tokens decoded, by kind=source|target", ["direction", "kind"])
CACHE_HITS = Counter("nmt_cache_hits", "Cache hits by tier=memory|redis", ["tier"])
CACHE_MISSES = Counter("nmt_cache_misses", "Cache misses by tier=memory|redis", ["tier"])
REDIS_ERRORS = Counter("nmt_redis_errors", "Redis operations that failed or timed out (cache bypassed)")
RATE_LIMITED = Counter(
    "nmt_rate_limited", "Requests refused with 429 by the budget that refused them", ["scope", "limit"]
)
RATE_LIMIT_FALLBACKS = Counter(
    "nmt_rate_limit_fallbacks", "Rate-limit decisions made in-process because Redis failed or is backed off"
)
EDGE_REFUSALS = Counter(
    "nmt_edge_refusals",
    "Requests refused by the HTTP protocol layer before the app: reason=connection_cap|invalid_http",
    ["reason"],
)
QUEUE_DEPTH = Gauge("nmt_queue_depth", "Sentences waiting for admission into a decoder batch")
QUEUE_DEPTH_BY_PRIORITY = Gauge(
    "nmt_queue_depth_by_priority", "Sentences waiting for admission, by priority=interactive|bulk", ["priority"]
)
QUEUE_WAIT = Histogram(
    "nmt_queue_wait_seconds", "Time a sentence waited before admission", ["priority"], buckets=LATENCY_BUCKETS
)
CANCELLED_SENTENCES = Counter(
    "nmt_cancelled_sentences",
    "Sentences withdrawn from the queue or the running batch because every request waiting for them left",
    ["priority"],
)
BATCH_ROWS_BY_PRIORITY = Histogram(
    "nmt_batch_rows_by_priority", "Decoder rows per decoder step, by priority", ["priority"], buckets=ROW_BUCKETS
)
BATCH_ROWS = Histogram("nmt_batch_rows", "Decoder rows per decoder step", buckets=ROW_BUCKETS)
ENCODER_SECONDS = Histogram("nmt_encoder_seconds", "Encoder call duration", buckets=STEP_BUCKETS)
DECODER_STEP_SECONDS = Histogram("nmt_decoder_step_seconds", "Decoder step duration", buckets=STEP_BUCKETS)
ADMITTED_PER_STEP = Histogram(
    "nmt_admitted_sentences_per_step",
    "Sentences admitted into the running batch per decoder step",
    buckets=COUNT_BUCKETS,
)
RETIRED_PER_STEP = Histogram(
    "nmt_retired_sentences_per_step", "Sentences that finished per decoder step", buckets=COUNT_BUCKETS
)
SCHEDULER_BUSY_SECONDS = Counter("nmt_scheduler_busy_seconds", "Scheduler thread time spent working, not waiting")
SCHEDULER_ONNX_SECONDS = Counter(
    "nmt_scheduler_onnx_seconds", "Of the scheduler's busy time, the part inside ONNX Runtime (encoder and decoder)"
)
DECODE_EFFICIENCY = Gauge(
    "nmt_decode_efficiency",
    "Share of the scheduler's busy time spent inside ONNX Runtime, over the last second of work",
)
MODEL_INFO = Gauge(
    "nmt_model_info", "Loaded model bundles (value 1)", ["model_id", "model_version", "provider", "precision"]
)

LOOP_LAG_INTERVAL_S = 0.025
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
EVENT_LOOP_LAG = Histogram(
    "nmt_event_loop_lag_seconds",
    "How late the event loop woke a task sleeping 25 ms at a time: how long other work held the loop",
    buckets=LOOP_LAG_BUCKETS,
)


class LoopLagMonitor:
    """Feeds EVENT_LOOP_LAG: anything that holds the event loop (CPU work on it, a blocking call) delays
    every request in the process, and shows up here as lateness of a task that only sleeps."""

    def __init__(self, interval_s: float = LOOP_LAG_INTERVAL_S):
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="event-loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval_s)
            EVENT_LOOP_LAG.observe(max(0.0, loop.time() - start - self.interval_s))


PROTECTED_SPANS = Counter(
    "nmt_protected_spans_total", "Spans kept byte for byte in plain texts (service/text/protection.py)", ["kind"]
)
GLOSSARY_TERMS_APPLIED = Counter(
    "nmt_glossary_terms_applied",
    "Glossary terms found in plain texts and given their target term (docs/terminology.md)",
)
DOCUMENT_JOBS = Counter(
    "nmt_document_jobs", "Document jobs by status=queued|done|error (queued: submitted)", ["status"]
)
DOCUMENT_QUEUE_DEPTH = Gauge("nmt_document_queue_depth", "Document jobs submitted and not finished (all replicas)")
DOCUMENT_SEGMENTS = Counter(
    "nmt_document_segments", "Paragraphs, cells and cues of documents translated (rate(): segments per second)"
)
