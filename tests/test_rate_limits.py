"""Rate limits per API key and per client address (service/edge/ratelimit.py): the GCRA in-process on a fake clock,
the same GCRA as a Lua script in the real Redis, the 429 answers of both APIs, the trusted-proxy rule, and two
real replicas sharing one budget through Redis."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from starlette.requests import Request

from service.edge.http_errors import http_status
from service.edge.ratelimit import PRUNE_AT, Budget, ClientAddress, LocalLimiter, RateLimiter, RedisLimiter, Refusal
from service.errors import RateLimited
from tests.service_support import (
    ServiceProcess,
    assert_error_shape,
    free_port,
    make_model_dir,
    metric_value,
    running_app,
    settings_for,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
EN_DE = {"source": "en", "target": "de"}


class Clock:
    """A clock the test moves by hand, so refills need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def requests_budget(per_minute: int, identity: str = "1.2.3.4", scope: str = "client") -> Budget:
    return Budget(scope, "requests", identity, per_minute, 1)


def chars_budget(per_minute: int, cost: int, identity: str = "1.2.3.4") -> Budget:
    return Budget("client", "chars", identity, per_minute, cost)


def fake_request(peer: str, headers: dict[str, str] | None = None) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "client": (peer, 40000)})


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- the in-process GCRA ----------------------------------------------------------------------------------


def test_a_full_minute_may_be_spent_at_once_then_retry_after_is_the_exact_wait() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock)
    budget = [requests_budget(5)]  # one request every 12 s, a burst of 5
    assert all(limiter.charge(budget) is None for _ in range(5))
    refusal = limiter.charge(budget)
    assert refusal is not None and refusal.wait_s == pytest.approx(12.0)
    assert refusal.error().retry_after_s == 12
    clock.now += 11.9
    almost = limiter.charge(budget)
    assert almost is not None and almost.error().retry_after_s == 1, "never 0, rounded up"
    clock.now += 0.1
    assert limiter.charge(budget) is None
    assert limiter.charge(budget) is not None


def test_the_budget_refills_continuously() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock)
    budget = [requests_budget(5)]
    for _ in range(5):
        limiter.charge(budget)
    clock.now += 30  # 2.5 requests' worth
    assert limiter.charge(budget) is None
    assert limiter.charge(budget) is None
    refusal = limiter.charge(budget)
    assert refusal is not None and refusal.wait_s == pytest.approx(6.0)
    clock.now += 120  # refilled to a full burst, never beyond
    assert sum(limiter.charge(budget) is None for _ in range(7)) == 5


def test_a_request_charges_all_its_budgets_or_none() -> None:
    limiter = LocalLimiter(Clock())
    requests = requests_budget(2)
    assert limiter.charge([requests, chars_budget(100, 60)]) is None
    refusal = limiter.charge([requests, chars_budget(100, 60)])
    assert refusal is not None and refusal.budget.limit == "chars"
    assert refusal.wait_s == pytest.approx(12.0)  # 20 characters over, at 0.6 s each
    # The refused request took nothing from the requests budget: a second request of 2/min still fits.
    assert limiter.charge([requests, chars_budget(100, 10)]) is None


def test_the_refusal_names_the_budget_with_the_longest_wait() -> None:
    limiter = LocalLimiter(Clock())
    client, key = requests_budget(60), requests_budget(2, "digest", scope="key")
    assert limiter.charge([client, key]) is None
    assert limiter.charge([client, key]) is None
    refusal = limiter.charge([client, key])
    assert refusal is not None and refusal.budget is key and refusal.wait_s == pytest.approx(30.0)
    error = refusal.error()
    assert isinstance(error, RateLimited) and http_status(error) == 429 and error.code == "rate_limited"
    assert "2 requests per minute for this API key" in error.message


def test_a_request_larger_than_the_budget_passes_only_on_a_full_budget() -> None:
    """Otherwise it could never pass and its Retry-After would be a lie."""
    clock = Clock()
    limiter = LocalLimiter(clock)
    assert limiter.charge([chars_budget(100, 500)]) is None
    refusal = limiter.charge([chars_budget(100, 500)])
    assert refusal is not None and refusal.wait_s == pytest.approx(60.0)
    clock.now += 60
    assert limiter.charge([chars_budget(100, 500)]) is None


def test_refilled_budgets_are_forgotten() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock)
    for i in range(PRUNE_AT - 1):
        limiter.charge([requests_budget(10, f"10.0.{i // 256}.{i % 256}")])
    assert len(limiter) == PRUNE_AT - 1
    clock.now += 6  # every one of them has refilled (one request at 10/min takes 6 s)
    limiter.charge([requests_budget(10, "192.0.2.1")])
    assert len(limiter) == 1


def test_retry_after_is_a_whole_number_of_seconds_and_at_least_one() -> None:
    assert Refusal(requests_budget(1), 0.001).error().retry_after_s == 1
    assert Refusal(requests_budget(1), 7.2).error().retry_after_s == 8


# --- the client address -----------------------------------------------------------------------------------


def test_the_forwarded_header_is_ignored_unless_a_proxy_is_trusted() -> None:
    spoofed = {"X-Forwarded-For": "6.6.6.6"}
    assert ClientAddress("", "")(fake_request("198.51.100.7", spoofed)) == "198.51.100.7"
    assert ClientAddress("X-Forwarded-For", "")(fake_request("198.51.100.7", spoofed)) == "198.51.100.7"
    behind = ClientAddress("X-Forwarded-For", "10.0.0.0/8")
    assert behind(fake_request("198.51.100.7", spoofed)) == "198.51.100.7", "the peer is no trusted proxy"


def test_behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() -> None:
    behind = ClientAddress("X-Forwarded-For", "10.0.0.0/8, 192.168.1.1")
    # The client claimed 6.6.6.6; the ingress (10.0.0.5) appended the address it saw, 203.0.113.7.
    chain = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 192.168.1.1"}
    assert behind(fake_request("10.0.0.5", chain)) == "203.0.113.7"
    assert behind(fake_request("10.0.0.5", {"X-Forwarded-For": "garbage, 10.1.1.1"})) == "10.1.1.1"
    assert behind(fake_request("10.0.0.5")) == "10.0.0.5", "no header: the proxy itself"
    real_ip = ClientAddress("X-Real-IP", "10.0.0.0/8")
    assert real_ip(fake_request("10.0.0.5", {"X-Real-IP": "203.0.113.9"})) == "203.0.113.9"


def test_ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    plain = ClientAddress("", "")
    assert (
        plain(fake_request("2001:db8:1:2:aaaa::1"))
        == plain(fake_request("2001:db8:1:2:bbbb::2"))
        == ("2001:db8:1:2::/64")
    )
    assert plain(fake_request("::ffff:192.0.2.1")) == "192.0.2.1"


def test_a_malformed_trusted_proxy_fails_start_up() -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        ClientAddress("X-Forwarded-For", "10.0.0.0/33")


# --- the Lua script in the real Redis ---------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of our own in the shared Redis; its keys are deleted afterwards (never a flush)."""
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"nmt-ratelimit-test-{os.getpid()}-{os.urandom(4).hex()}:"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest_asyncio.fixture
async def redis_clients() -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    """Two connections, as two replicas hold."""
    clients = (aioredis.Redis.from_url(REDIS_URL), aioredis.Redis.from_url(REDIS_URL))
    yield clients
    for client in clients:
        await client.aclose()


@pytest.mark.asyncio
async def test_the_lua_limiter_shares_one_budget_between_connections_and_its_keys_expire(
    redis_prefix: str, redis_clients: tuple[aioredis.Redis, aioredis.Redis]
) -> None:
    a, b = (RedisLimiter(client, redis_prefix, 0.25) for client in redis_clients)
    budget = [requests_budget(5)]
    assert [await limiter.charge(budget) for limiter in (a, a, a, b, b)] == [None] * 5
    refusal = await b.charge(budget)
    assert refusal is not None and refusal.budget == budget[0]
    assert 11.5 < refusal.wait_s <= 12.0 and refusal.error().retry_after_s == 12
    assert await a.charge(budget) is not None
    key = f"{redis_prefix}client:requests:1.2.3.4"
    assert 0 < redis.Redis.from_url(REDIS_URL).pttl(key) <= 60_000, "a budget's key expires once it has refilled"


@pytest.mark.asyncio
async def test_the_lua_limiter_charges_all_budgets_or_none(
    redis_prefix: str, redis_clients: tuple[aioredis.Redis, aioredis.Redis]
) -> None:
    limiter = RedisLimiter(redis_clients[0], redis_prefix, 0.25)
    requests = requests_budget(2)
    assert await limiter.charge([requests, chars_budget(100, 60)]) is None
    refusal = await limiter.charge([requests, chars_budget(100, 60)])
    assert refusal is not None and refusal.budget.limit == "chars" and 11.5 < refusal.wait_s <= 12.0
    assert await limiter.charge([requests, chars_budget(100, 10)]) is None
    assert await limiter.charge([requests, chars_budget(100, 10)]) is not None  # now 2 requests were charged


@pytest.mark.asyncio
async def test_an_unknown_script_is_sent_with_eval(
    redis_prefix: str, redis_clients: tuple[aioredis.Redis, aioredis.Redis]
) -> None:
    """What a restarted Redis (or SCRIPT FLUSH) looks like to EVALSHA: NOSCRIPT, then EVAL."""
    limiter = RedisLimiter(redis_clients[0], redis_prefix, 0.25)
    limiter.sha = "0" * 40
    assert await limiter.charge([requests_budget(1)]) is None
    assert await limiter.charge([requests_budget(1)]) is not None


@pytest.mark.asyncio
async def test_without_redis_the_limits_hold_per_process_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RateLimiter(settings_for(tmp_path, redis_url=dead, rate_limit_client_requests_per_minute=2))
    assert limiter.redis is not None
    before = sample("nmt_rate_limit_fallbacks_total")
    with caplog.at_level(logging.WARNING, logger="service.edge.ratelimit"):
        await limiter.check(fake_request("192.0.2.1"), [], 10)
        await limiter.check(fake_request("192.0.2.1"), [], 10)
        with pytest.raises(RateLimited):
            await limiter.check(fake_request("192.0.2.1"), [], 10)
    await limiter.close()
    assert sample("nmt_rate_limit_fallbacks_total") - before == 3
    assert sum("redis unavailable" in r.getMessage() for r in caplog.records) == 1, "once per outage"


def test_limits_are_off_by_default(tmp_path: Path) -> None:
    assert not RateLimiter(settings_for(tmp_path)).enabled
    assert not RateLimiter(settings_for(tmp_path, rate_limit_key_requests_per_minute=5)).enabled, "no API_KEYS"


# --- the HTTP answers -------------------------------------------------------------------------------------


@pytest.fixture
def model_dir(tiny_bundle: Path, tmp_path: Path) -> Path:
    return make_model_dir(tiny_bundle, tmp_path)


def retry_after(response: httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert value >= 1
    return value


def assert_libre_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert set(response.json()) == {"error"} and response.json()["error"].startswith("Slowdown: rate limit")
    assert 1 <= retry_after(response) <= 30


@pytest.mark.asyncio
async def test_a_spent_client_budget_is_429_with_retry_after_on_both_apis(model_dir: Path) -> None:
    settings = settings_for(model_dir, rate_limit_client_requests_per_minute=2)
    async with running_app(settings) as (_, client):
        before = sample("nmt_rate_limited_total", scope="client", limit="requests")
        assert (await client.post("/v1/translate", json={"text": "the dog runs", **EN_DE})).status_code == 200
        assert (await client.post("/translate", json={"q": "the dog runs", **EN_DE})).status_code == 200
        refused = await client.post("/v1/translate", json={"text": "the dog runs", **EN_DE})
        error = assert_error_shape(refused, 429, "rate_limited")
        assert "2 requests per minute for this client address" in error["message"]
        assert 1 <= retry_after(refused) <= 30
        assert_libre_429(await client.post("/translate", json={"q": "the dog runs", **EN_DE}))
        assert_libre_429(await client.post("/detect", data={"q": "the dog runs"}))
        # Invalid requests are refused for what they are, before they are charged.
        assert_error_shape(await client.post("/v1/translate", json={"text": "", **EN_DE}), 422)
        assert sample("nmt_rate_limited_total", scope="client", limit="requests") - before == 3


@pytest.mark.asyncio
async def test_characters_and_api_keys_have_budgets_of_their_own(model_dir: Path) -> None:
    settings = settings_for(
        model_dir, api_keys="k1,k2", rate_limit_key_requests_per_minute=2, rate_limit_client_chars_per_minute=40
    )
    async with running_app(settings) as (_, client):
        # One key, whichever way it is sent, is one budget: X-API-Key, then LibreTranslate's api_key.
        assert (await client.post("/v1/translate", json={"text": "a", **EN_DE}, headers={"X-API-Key": "k1"})).is_success
        assert (await client.post("/translate", json={"q": "a", "api_key": "k1", **EN_DE})).is_success
        bearer = {"Authorization": "Bearer k1"}
        refused = await client.post("/v1/translate", json={"text": "a", **EN_DE}, headers=bearer)
        assert "for this API key" in assert_error_shape(refused, 429, "rate_limited")["message"]
        assert retry_after(refused) <= 30
        assert_error_shape(
            await client.post("/v1/translate", json={"text": "a", **EN_DE}, headers={"X-API-Key": "x"}), 403
        )
        # k2 has its own budget, and the client's characters budget (40/min) is shared by both keys.
        k2 = {"X-API-Key": "k2"}
        assert (await client.post("/v1/translate", json={"text": "the dog runs " * 2, **EN_DE}, headers=k2)).is_success
        too_long = await client.post("/v1/translate", json={"text": "the cat sits on the car", **EN_DE}, headers=k2)
        assert "40 characters per minute" in assert_error_shape(too_long, 429, "rate_limited")["message"]
        assert 1 <= retry_after(too_long) <= 60


@pytest.mark.asyncio
async def test_a_forwarded_for_header_counts_only_from_a_trusted_proxy(model_dir: Path) -> None:
    def from_(address: str) -> dict[str, Any]:
        return {"json": {"text": "the dog runs", **EN_DE}, "headers": {"X-Forwarded-For": address}}

    # The in-process client connects from 127.0.0.1.
    async with running_app(settings_for(model_dir, rate_limit_client_requests_per_minute=1)) as (_, client):
        assert (await client.post("/v1/translate", **from_("203.0.113.1"))).status_code == 200
        assert_error_shape(await client.post("/v1/translate", **from_("203.0.113.2")), 429, "rate_limited")
    behind_proxy = settings_for(
        model_dir,
        rate_limit_client_requests_per_minute=1,
        trusted_proxy_header="X-Forwarded-For",
        trusted_proxies="127.0.0.1/32",
    )
    async with running_app(behind_proxy) as (_, client):
        assert (await client.post("/v1/translate", **from_("203.0.113.1"))).status_code == 200
        assert (await client.post("/v1/translate", **from_("203.0.113.2"))).status_code == 200
        assert_error_shape(await client.post("/v1/translate", **from_("6.6.6.6, 203.0.113.1")), 429, "rate_limited")


# --- two replicas, one budget -----------------------------------------------------------------------------


def test_two_replicas_share_one_budget_through_redis(tiny_bundle: Path, tmp_path: Path, redis_prefix: str) -> None:
    model_dir = make_model_dir(tiny_bundle, tmp_path)
    shared = {"REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": redis_prefix, "RATE_LIMIT_CLIENT_REQUESTS_PER_MINUTE": "5"}
    a = ServiceProcess(model_dir, tmp_path / "replica-a.log", **shared)
    b = ServiceProcess(model_dir, tmp_path / "replica-b.log", **shared)
    with ExitStack() as stack:
        for replica in (a, b):
            stack.callback(replica.close)
            replica.start()
        a.wait_ready()
        b.wait_ready()
        body = {"text": "the dog runs", **EN_DE}
        statuses = [httpx.post(f"{r.base}/v1/translate", json=body, timeout=30).status_code for r in (a, a, a, b, b)]
        assert statuses == [200] * 5
        refused = httpx.post(f"{b.base}/v1/translate", json=body, timeout=30)
        assert_error_shape(refused, 429, "rate_limited")
        assert 1 <= retry_after(refused) <= 12
        assert_libre_429(httpx.post(f"{a.base}/translate", json={"q": "the dog runs", **EN_DE}, timeout=30))
        for replica, refusals in ((a, 1), (b, 1)):
            metrics = httpx.get(f"{replica.base}/metrics").text
            assert metric_value(metrics, 'nmt_rate_limited_total{limit="requests",scope="client"}') == refusals
            assert metric_value(metrics, "nmt_rate_limit_fallbacks_total") == 0, "Redis decided every request"
        assert list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}ratelimit:*"))
