"""Rate limits: requests and characters per minute, per API key and per client address (docs/security.md).

Each budget is a GCRA ("generic cell rate algorithm", a token bucket written as one timestamp): it holds
the budget's theoretical arrival time (TAT); a charge of `cost` moves it `cost × 60 s / limit` ahead and is
refused when that would put it more than a minute past now. So a full minute's budget may be spent in a
burst, it refills continuously, the wait until a refused request would pass is exact (Retry-After), and the
state is one number per budget. With REDIS_URL set the budgets live in Redis and one Lua script checks and
charges every budget of a request atomically, on Redis' clock, so every replica sees one budget. Without
Redis, or while Redis fails, each process enforces the same limits on its own (counted and logged).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from fastapi import Request
from redis.exceptions import NoScriptError

from service.edge.auth import key_matches
from service.errors import RateLimited
from service.metrics import RATE_LIMIT_FALLBACKS, RATE_LIMITED
from service.redis_client import fail_fast_redis
from service.settings import Settings

log = logging.getLogger(__name__)

PERIOD_S = 60.0
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 30.0
PRUNE_AT = 4096  # local budgets kept before the first sweep of spent ones

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# KEYS: one per budget. ARGV[1]: period in ms, then per budget its limit and its cost.
# Returns {0, 0} when every budget was charged, else {index of the budget that waits longest, wait in ms}
# and charges nothing. A key holds its TAT in ms and expires when the TAT passes (an absent key = full budget).
LUA_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local period = tonumber(ARGV[1])
local tats = {}
local worst, worst_wait = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local cost = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tats[i] = tat + cost * period / limit
  local wait = tats[i] - period - now
  if wait > worst_wait then worst, worst_wait = i, wait end
end
if worst > 0 then return {worst, math.ceil(worst_wait)} end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now))
end
return {0, 0}
"""
LUA_SHA = hashlib.sha1(LUA_GCRA.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget a request is charged against: `per_minute` units of `limit` for `identity` in `scope`."""

    scope: str  # "key" | "client"
    limit: str  # "requests" | "chars"
    identity: str
    per_minute: int
    cost: int

    @property
    def name(self) -> str:
        return f"{self.scope}:{self.limit}:{self.identity}"

    @property
    def charge(self) -> int:
        """A request larger than the whole budget may still pass once the budget is full (it then empties
        it): otherwise it could never pass, and its Retry-After would be a lie."""
        return min(self.cost, self.per_minute)


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: Budget
    wait_s: float

    def error(self) -> RateLimited:
        b = self.budget
        unit = "requests" if b.limit == "requests" else "characters"
        who = "this API key" if b.scope == "key" else "this client address"
        retry = max(1, math.ceil(self.wait_s))
        return RateLimited(
            f"rate limit of {b.per_minute} {unit} per minute for {who} exceeded; retry in {retry} s",
            retry_after_s=retry,
        )


class LocalLimiter:
    """GCRA over an in-process dict, for one process (called on the event loop only, so never concurrently)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._tats: dict[str, float] = {}
        self._prune_at = PRUNE_AT

    def __len__(self) -> int:
        return len(self._tats)

    def charge(self, budgets: Sequence[Budget]) -> Refusal | None:
        """Charge every budget, or none of them and say which one refused for the longest wait."""
        now = self.clock()
        tats = []
        refusal: Refusal | None = None
        for budget in budgets:
            tat = max(self._tats.get(budget.name, now), now) + budget.charge * PERIOD_S / budget.per_minute
            wait = tat - PERIOD_S - now
            if wait > 0 and (refusal is None or wait > refusal.wait_s):
                refusal = Refusal(budget, wait)
            tats.append(tat)
        if refusal is not None:
            return refusal
        for budget, tat in zip(budgets, tats, strict=True):
            self._tats[budget.name] = tat
        if len(self._tats) >= self._prune_at:
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        """Forget budgets that have fully refilled (equal to absent); amortised O(1) per charge."""
        self._tats = {name: tat for name, tat in self._tats.items() if tat > now}
        self._prune_at = max(PRUNE_AT, 2 * len(self._tats))


class RedisLimiter:
    """The same GCRA in Redis, all budgets of a request in one atomic script call. Raises on any failure."""

    def __init__(self, client: aioredis.Redis, prefix: str, timeout_s: float):
        self.client = client
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.sha = LUA_SHA

    async def charge(self, budgets: Sequence[Budget]) -> Refusal | None:
        keys = [self.prefix + budget.name for budget in budgets]
        args: list[Any] = [int(PERIOD_S * 1000)]
        for budget in budgets:
            args += [budget.per_minute, budget.charge]
        try:
            reply = await asyncio.wait_for(self.client.evalsha(self.sha, len(keys), *keys, *args), self.timeout_s * 2)
        except NoScriptError:  # a restarted or flushed Redis: EVAL sends the script and caches it again
            reply = await asyncio.wait_for(self.client.eval(LUA_GCRA, len(keys), *keys, *args), self.timeout_s * 2)
        index, wait_ms = int(reply[0]), int(reply[1])
        return Refusal(budgets[index - 1], wait_ms / 1000) if index else None


class ClientAddress:
    """The address a request is limited by: the socket peer, or, when the peer is one of TRUSTED_PROXIES, the
    nearest address in TRUSTED_PROXY_HEADER that is not a trusted proxy (walking from the right, the entries
    those proxies appended; anything further left is the client's own claim). IPv6 clients count per /64,
    since one host commonly holds a whole /64."""

    def __init__(self, header: str, proxies: str):
        self.header = header.strip().lower()
        self.proxies: list[IPNetwork] = []
        for entry in (p.strip() for p in proxies.split(",")):
            if entry:
                try:
                    self.proxies.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network") from None
        if bool(self.header) != bool(self.proxies):
            log.warning("TRUSTED_PROXY_HEADER and TRUSTED_PROXIES work together; with one unset, the peer is used")
        if not (self.header and self.proxies):
            self.header, self.proxies = "", []

    def trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.proxies)

    def __call__(self, request: Request) -> str:
        host = request.client.host if request.client else ""
        peer = _address(host)
        if peer is None:
            return host or "unknown"
        client = peer
        if self.header and self.trusted(peer):
            hops = [hop for value in request.headers.getlist(self.header) for hop in value.split(",")]
            for hop in reversed(hops):
                address = _address(hop.strip())
                if address is None:
                    break  # not an address a proxy would write: stop at the last proxy that wrote one
                client = address
                if not self.trusted(address):
                    break
        if isinstance(client, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((client, 64), strict=False))
        return str(client)


def _scope_budgets(scope: str, limits: tuple[int, int], identity: str, chars: int) -> list[Budget]:
    """The requests and characters budgets of one scope that are on (limit > 0) and charged (cost > 0)."""
    requests, characters = limits
    charges = [("requests", requests, 1), ("chars", characters, chars)]
    return [Budget(scope, limit, identity, n, cost) for limit, n, cost in charges if n > 0 and cost > 0]


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class RateLimiter:
    """What the routes call, after the key check and text validation, before any translation work."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        s = settings
        self.client_limits = (s.rate_limit_client_requests_per_minute, s.rate_limit_client_chars_per_minute)
        self.key_limits = (s.rate_limit_key_requests_per_minute, s.rate_limit_key_chars_per_minute)
        self.api_keys = s.api_key_list
        self.enabled = any(self.client_limits) or (bool(self.api_keys) and any(self.key_limits))
        self.client_address = ClientAddress(s.trusted_proxy_header, s.trusted_proxies)
        self.local = LocalLimiter(clock)
        self.redis: RedisLimiter | None = None
        if self.enabled and s.redis_url:
            client = fail_fast_redis(s.redis_url, s.redis_timeout_s)
            self.redis = RedisLimiter(client, s.cache_key_prefix + "ratelimit:", s.redis_timeout_s)
        self._down_until = 0.0
        self._backoff = _BACKOFF_START_S

    def budgets(self, client: str, key: str | None, chars: int) -> list[Budget]:
        """The budgets a request is charged against; a key counts only once it is one of API_KEYS (an
        unchecked key is any string the client likes), and is stored as a digest, never as itself."""
        budgets = _scope_budgets("client", self.client_limits, client, chars)
        if key is not None:
            budgets += _scope_budgets("key", self.key_limits, hashlib.sha256(key.encode()).hexdigest()[:32], chars)
        return budgets

    async def check(self, request: Request, keys: Sequence[str], chars: int) -> None:
        """Charge the request's budgets (all or none) or raise RateLimited. `keys`: the keys the request sent."""
        key = next((k for k in keys if k and key_matches(k, self.api_keys)), None) if self.api_keys else None
        budgets = self.budgets(self.client_address(request), key, chars)
        if not budgets:
            return
        refusal = await self.charge(budgets)
        if refusal is not None:
            RATE_LIMITED.labels(refusal.budget.scope, refusal.budget.limit).inc()
            raise refusal.error()

    async def charge(self, budgets: Sequence[Budget]) -> Refusal | None:
        """Redis when configured and reachable; otherwise, or when it fails now, this process' own budgets."""
        if self.redis is not None:
            if time.monotonic() >= self._down_until:
                try:
                    refusal = await self.redis.charge(budgets)
                except Exception as exc:  # timeout, connection, script or memory error: fall back, never 500
                    self._failed(exc)
                else:
                    self._succeeded()
                    return refusal
            RATE_LIMIT_FALLBACKS.inc()
        return self.local.charge(budgets)

    def _failed(self, exc: BaseException) -> None:
        if time.monotonic() < self._down_until:
            return  # another request of the same outage already backed off
        self._down_until = time.monotonic() + self._backoff
        log.warning(
            "rate limiter: redis unavailable (%s: %s); enforcing per-process limits for %.1fs",
            type(exc).__name__,
            exc,
            self._backoff,
        )
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    def _succeeded(self) -> None:
        if self._backoff != _BACKOFF_START_S:
            log.info("rate limiter: redis reachable again; limits are shared across replicas")
        self._backoff = _BACKOFF_START_S

    async def close(self) -> None:
        if self.redis is not None:
            try:
                await self.redis.client.aclose()
            except Exception:  # closing a broken connection may fail; nothing left to do
                log.debug("rate limiter: closing redis failed", exc_info=True)
