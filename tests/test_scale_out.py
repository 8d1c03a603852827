"""Two real replicas behind one Redis (issue 6, "Deployment"): the cache is shared across replicas, and
stopping one replica with SIGTERM under load costs no request once a load balancer retries refusals.

The load balancer is modelled on the client side (`Balancer`): round-robin over the replicas, and a
request that a replica refuses without doing it (503 `shutting_down`, or no connection at all) is
sent once to the other replica. That is the retry policy a real balancer applies to a draining pod.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tests.service_support import ServiceProcess, assert_error_shape, make_model_dir, metric_value, unique_tag

CLIENT_TASKS = 6
REDIS_HITS = 'nmt_cache_hits_total{tier="redis"}'
MEMORY_HITS = 'nmt_cache_hits_total{tier="memory"}'
MEMORY_MISSES = 'nmt_cache_misses_total{tier="memory"}'
DECODED_TARGET_TOKENS = 'nmt_tokens_total{direction="en-de",kind="target"}'


def unique_sentence(tag: str) -> str:
    """One sentence (no full stop, so it is never split) that no replica and no earlier run has cached."""
    return f"the small dog runs {tag} {unique_tag(4)}"


def body(text: str) -> dict[str, object]:
    return {"text": text, "source": "en", "target": "de"}


@pytest.fixture(scope="module")
def cache_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of our own in the shared Redis; its keys are deleted afterwards (never a flush)."""
    client = redis.Redis.from_url(redis_url)
    prefix = f"nmt-scale-{os.getpid()}-{unique_tag(4)}:"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def redis_keys(url: str, prefix: str) -> int:
    return sum(1 for _ in redis.Redis.from_url(url).scan_iter(f"{prefix}*"))


@pytest.fixture
def replicas(
    tiny_bundle: Path, tmp_path: Path, redis_url: str, cache_prefix: str
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Replicas A and B: the same bundle, one Redis, one key prefix; both load their models concurrently.

    A collects requests for a wide static-batching window, so requests stay in flight at A long enough
    to SIGTERM it while it holds several; B batches continuously.
    """
    model_dir = make_model_dir(tiny_bundle, tmp_path)
    shared = {"REDIS_URL": redis_url, "CACHE_KEY_PREFIX": cache_prefix, "DRAIN_TIMEOUT_S": "20"}
    a = ServiceProcess(
        model_dir,
        tmp_path / "replica-a.log",
        **shared,
        BATCHING_MODE="static",
        STATIC_MAX_BATCH="1000",
        STATIC_MAX_WAIT_MS="600",
    )
    b = ServiceProcess(model_dir, tmp_path / "replica-b.log", **shared)
    with ExitStack() as stack:
        for replica in (a, b):
            stack.callback(replica.close)
            replica.start()
        a.wait_ready()
        b.wait_ready()
        yield a, b


def test_a_sentence_translated_on_one_replica_is_a_redis_hit_on_the_other(
    replicas: tuple[ServiceProcess, ServiceProcess], redis_url: str, cache_prefix: str
) -> None:
    a, b = replicas
    text = unique_sentence("shared")
    keys_before = redis_keys(redis_url, cache_prefix)
    from_a = httpx.post(f"{a.base}/v1/translate", json=body(text), timeout=30)
    assert from_a.status_code == 200, from_a.text
    assert from_a.json()["translations"][0]["cached"] is False
    assert redis_keys(redis_url, cache_prefix) == keys_before + 1, "A writes the sentence to the shared Redis"

    # B is a separate process that has never been sent this sentence: its memory tier cannot hold it.
    metrics_before = httpx.get(f"{b.base}/metrics").text
    from_b = httpx.post(f"{b.base}/v1/translate", json=body(text), timeout=30)
    metrics_after = httpx.get(f"{b.base}/metrics").text
    assert from_b.status_code == 200, from_b.text
    assert from_b.json()["translations"] == [{**from_a.json()["translations"][0], "cached": True}]
    for series, increase in [(REDIS_HITS, 1), (MEMORY_MISSES, 1), (MEMORY_HITS, 0), (DECODED_TARGET_TOKENS, 0)]:
        assert metric_value(metrics_after, series) - metric_value(metrics_before, series) == increase, series

    # Now B's memory tier holds it too (filled from Redis): the next hit never reaches Redis.
    again = httpx.post(f"{b.base}/v1/translate", json=body(text), timeout=30)
    assert again.json()["translations"][0]["cached"] is True
    metrics_last = httpx.get(f"{b.base}/metrics").text
    assert metric_value(metrics_last, MEMORY_HITS) == metric_value(metrics_after, MEMORY_HITS) + 1
    assert metric_value(metrics_last, REDIS_HITS) == metric_value(metrics_after, REDIS_HITS)


@dataclass(eq=False)
class Attempt:
    """One HTTP attempt of a logical request at one replica."""

    replica: str
    sent_after_sigterm: bool
    response: httpx.Response | None = None
    transport_error: str | None = None

    @property
    def refused(self) -> bool:
        """The replica did not do the work and said so (or could not be reached): safe to retry elsewhere."""
        if self.transport_error is not None:
            return True
        assert self.response is not None
        return self.response.status_code == 503 and self.response.json()["error"]["code"] == "shutting_down"


@dataclass(eq=False)
class LogicalRequest:
    text: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]


class Balancer:
    """Round-robin over A and B with one retry on the other replica for a refused attempt.

    `hold_a()` briefly routes new requests to B only: the test uses it to know exactly which requests
    are in flight at A when SIGTERM arrives. `sigterm_sent` is set just before the signal goes out.
    """

    def __init__(self, clients: dict[str, httpx.AsyncClient]):
        self.clients = clients
        self._turn = itertools.cycle(["A", "B"])
        self.a_open = True
        self.sigterm_sent = False
        self.outstanding_at_a: set[Attempt] = set()
        self.requests: list[LogicalRequest] = []

    async def send(self, text: str, first: str | None = None) -> LogicalRequest:
        request = LogicalRequest(text)
        self.requests.append(request)
        replica = first or next(self._turn)
        if replica == "A" and not self.a_open:
            replica = "B"
        attempt = await self._attempt(replica, text)
        request.attempts.append(attempt)
        if attempt.refused:
            request.attempts.append(await self._attempt("B" if replica == "A" else "A", text))
        return request

    async def _attempt(self, replica: str, text: str) -> Attempt:
        attempt = Attempt(replica, sent_after_sigterm=self.sigterm_sent)
        if replica == "A":
            self.outstanding_at_a.add(attempt)
        try:
            attempt.response = await self.clients[replica].post("/v1/translate", json=body(text))
        except httpx.TransportError as error:
            attempt.transport_error = f"{type(error).__name__}: {error}"
        finally:
            self.outstanding_at_a.discard(attempt)
        return attempt

    async def hold_a_until_it_has_admitted_everything_outstanding(self) -> set[Attempt]:
        """Stop sending to A, then wait until every request still outstanding at A sits in A's queue.

        A's queue holds only sentences of requests it has admitted, one per request here, and nothing
        new reaches A meanwhile, so `queue depth == outstanding` (outstanding counted before the depth
        is read) proves that each of them was admitted. Returns them, with A still held.
        """
        for _ in range(50):
            self.a_open = False
            for _ in range(300):
                outstanding = set(self.outstanding_at_a)
                if not outstanding:
                    break  # A finished everything; let load reach it again and retry
                metrics = await self.clients["A"].get("/metrics")
                if metric_value(metrics.text, "nmt_queue_depth") == len(outstanding):
                    return outstanding
                await asyncio.sleep(0.01)
            self.a_open = True
            await asyncio.sleep(0.1)
        pytest.fail("never caught replica A holding admitted requests")


async def still_ready(base: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as fresh:
        try:
            return (await fresh.get(f"{base}/readyz")).status_code == 200
        except httpx.TransportError:
            return False  # already drained and gone


def test_sigterm_under_load_loses_no_request(replicas: tuple[ServiceProcess, ServiceProcess]) -> None:
    a, b = replicas

    async def scenario() -> tuple[Balancer, set[Attempt], LogicalRequest, LogicalRequest, int]:
        async with (
            httpx.AsyncClient(base_url=a.base, timeout=30) as to_a,
            httpx.AsyncClient(base_url=b.base, timeout=30) as to_b,
        ):
            balancer = Balancer({"A": to_a, "B": to_b})
            stop = asyncio.Event()

            async def client(task: int) -> None:
                for i in itertools.count():
                    if stop.is_set():
                        return
                    await balancer.send(unique_sentence(f"{task} {i}"))

            tasks = [asyncio.create_task(client(task)) for task in range(CLIENT_TASKS)]
            await asyncio.sleep(1.5)  # load on both replicas
            in_flight = await balancer.hold_a_until_it_has_admitted_everything_outstanding()
            balancer.sigterm_sent = True
            a.popen.send_signal(signal.SIGTERM)
            balancer.a_open = True  # the balancer has not noticed: new requests keep reaching A
            while await still_ready(a.base):  # wait until A has taken the signal in
                await asyncio.sleep(0.01)
            during_drain = await balancer.send(unique_sentence("during drain"), first="A")
            exit_code = await asyncio.to_thread(a.popen.wait, 30)
            after_exit = await balancer.send(unique_sentence("after exit"), first="A")
            await asyncio.sleep(0.3)  # a little more load with A gone
            stop.set()
            await asyncio.gather(*tasks)
            return balancer, in_flight, during_drain, after_exit, exit_code

    balancer, in_flight, during_drain, after_exit, exit_code = asyncio.run(scenario())
    assert exit_code == 0, "A drained and exited cleanly"
    attempts = [attempt for request in balancer.requests for attempt in request.attempts]
    outcomes = collections.Counter(
        (
            t.replica,
            "after" if t.sent_after_sigterm else "before",
            t.transport_error.split(":")[0] if t.transport_error else t.response.status_code if t.response else None,
        )
        for t in attempts
    )
    print(f"{len(balancer.requests)} requests, {len(in_flight)} in flight at SIGTERM; attempts: {dict(outcomes)}")

    # Every logical request ends in a translation, whichever replica produced it.
    for request in balancer.requests:
        response = request.final.response
        assert response is not None and response.status_code == 200, (request.text, request.attempts)
        assert len(response.json()["translations"]) == 1

    # B never refused or failed anything.
    at_b = [attempt for attempt in attempts if attempt.replica == "B"]
    assert all(t.response is not None and t.response.status_code == 200 for t in at_b), at_b

    # Everything sent to A before SIGTERM was answered by A itself; that includes the requests A had
    # admitted and was still holding when the signal arrived (none of them needed the retry).
    before = [attempt for attempt in attempts if attempt.replica == "A" and not attempt.sent_after_sigterm]
    assert in_flight and in_flight <= set(before)
    assert all(t.response is not None and t.response.status_code == 200 for t in before), before
    assert all(len(request.attempts) == 1 for request in balancer.requests if request.attempts[0] in in_flight)

    # After SIGTERM A either still answered (the signal not yet handled), refused with a proper 503
    # shutting_down + Retry-After, or was gone; each refusal was retried on B.
    for attempt in (t for t in attempts if t.replica == "A" and t.sent_after_sigterm):
        if attempt.response is not None and attempt.response.status_code != 200:
            assert_error_shape(attempt.response, 503, "shutting_down")
            assert attempt.response.headers.get("retry-after")
    for request in (during_drain, after_exit):
        assert [t.replica for t in request.attempts] == ["A", "B"], request.attempts
        assert request.attempts[0].refused
    assert after_exit.attempts[0].transport_error is not None, "A no longer accepts connections"
    served = {
        replica: sum(
            1 for t in attempts if t.replica == replica and t.response is not None and t.response.status_code == 200
        )
        for replica in ("A", "B")
    }
    assert served["A"] > len(in_flight) and served["B"] > 0, served  # both replicas carried load
