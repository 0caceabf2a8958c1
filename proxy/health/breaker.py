"""Provider health shared by every replica: circuit breakers, cooldowns, a request budget.

States live in Redis, so all replicas agree on which upstream is resting:

    closed --(breaker_threshold consecutive failures of one endpoint)--> open
    open --(breaker_cooldown)--> half-open
    half-open: one probe purchase (SET NX); success -> closed, failure -> open again

A provider also rests ("open" with a reason) after a slow-down answer (SMSPVA 502 "limit
exceeded", Retry-After) and, until its balance is seen again, after "no money". A provider,
service and country that keep answering "no numbers" rest for `no_numbers_cooldown`.

Rests hold back purchases (`Call.PURCHASE`): a provider that failed, has no money or was told to
slow down still polls, refunds and lists the numbers it sold, or their codes and refunds are lost
for as long as it rests. A rate-limited rest also holds back the routine calls (polls, catalogs,
rental reads) until it is over, since the upstream asked for fewer requests; what returns money
or recovers a purchase (cancel, block, rent_end, order listings) and the balance are never held
back. The per-account budget applies to every call.

A success never ends a rest early: polls keep succeeding during a rest, and runs of failures are
counted per endpoint, so a working poll says nothing of the purchase endpoint that may have
opened the breaker. Once the rest is over, any success closes it (as the probe would), except a
"no money" rest, which only a positive balance or a sale ends. A failure during a rest neither
renews nor replaces it; "slow down" and "no money", the upstream's own words, always do.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import Pipeline

from proxy.config import ProviderSettings, RoutingSettings
from proxy.providers.base import ProviderResting
from proxy.store.activations import mapped
from proxy.store.keys import Keys

log = structlog.get_logger("health")

RATE_LIMITED_REST = 10.0  # seconds, when the upstream says slow down without Retry-After
FAILURES = "failures:"  # hash field prefix: one run of consecutive failures per endpoint

# Admission's reads and its budget count in one command (every key carries the provider's hash
# tag): the breaker's open_until and reason, whether the pair cools down (KEYS[3], purchases
# only), and this second's request count. The count is taken whatever the answer, as one call's
# would be.
ADMIT = """
local state = redis.call('HMGET', KEYS[1], 'open_until', 'reason')
local cooling = 0
if KEYS[3] then cooling = redis.call('EXISTS', KEYS[3]) end
local used = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 2)
return {state[1] or '', state[2] or '', cooling, used}
"""

# A success: ends the endpoint's run of failures, notes the latency, and closes a rest that is
# over; a "no money" one only when the success is a sale (ARGV[6] = '1'). One command, atomic.
SUCCEEDED = """
redis.call('HSET', KEYS[1], ARGV[1], 0, 'last_latency_ms', ARGV[2], 'last_ok', ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'reason', 'open_until')
local reason, until_ = state[1], tonumber(state[2] or '0') or 0
local closes = reason and reason ~= '' and (reason ~= 'no_balance' or ARGV[6] == '1')
if closes and tonumber(ARGV[4]) >= until_ then
    redis.call('HSET', KEYS[1], 'open_until', '0', 'reason', '')
    for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
        if string.sub(field, 1, #ARGV[5]) == ARGV[5] then redis.call('HDEL', KEYS[1], field) end
    end
    return 1
end
return 0
"""


class Staged(Protocol):
    """Commands that ride ahead of admission's own in its round trip (a purchase intent)."""

    def stage(self, pipe: Pipeline) -> int:
        """Queue the commands; how many were queued."""
        ...

    def took(self, results: list[Any]) -> None:
        """Their replies, in order (may raise: admission then fails with that error)."""
        ...


class Call(enum.StrEnum):
    """How the provider's rests treat an upstream call (guard.py sorts each endpoint)."""

    PURCHASE = "purchase"  # held back by every rest; takes the half-open probe after one
    ROUTINE = "routine"  # held back only while a rate-limited rest lasts
    ALWAYS = "always"  # never held back by a rest: returns money, recovers a purchase, balance


class Admission(enum.StrEnum):
    """Whether an upstream call may be sent now."""

    GO = "go"
    PROBE = "probe"  # the one purchase let through a half-open breaker
    RESTING = "resting"
    PAIR_RESTING = "pair_resting"  # this service and country kept having no numbers here
    OVER_BUDGET = "over_budget"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Admission's answer; `reason` (a ProviderResting reason) says why a call is not sent."""

    admission: Admission
    reason: str = ""

    @property
    def sent(self) -> bool:
        return self.admission in (Admission.GO, Admission.PROBE)


GO = Verdict(Admission.GO)


@dataclass(frozen=True, slots=True)
class HealthView:
    """One provider's health as /health/upstreams and `smsproxy providers` show it."""

    provider: str
    state: str
    failures: int
    open_until: float
    reason: str
    last_latency_ms: float | None
    last_balance: str | None
    last_error: str | None
    balance_at: float | None = None  # when last_balance was seen


class Health:
    """Breakers, cooldowns and the per-account request budget, all in Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        providers: dict[str, ProviderSettings],
        routing: RoutingSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.providers = providers
        self.routing = routing
        self.clock = clock

    @mapped
    async def admit(
        self,
        provider: str,
        *,
        call: Call = Call.PURCHASE,
        pair: tuple[str, str] | None = None,
        before: Staged | None = None,
    ) -> Verdict:
        """One round trip for the common case: does a rest hold this `call` back (for a
        purchase, also its service+country `pair`, in the provider's codes), and one request
        from its budget. `before` (a purchase intent) is written first in the same round trip."""
        limit = max(1, int(self.providers[provider].rate_limit))
        now = self.clock()
        keys = [self.keys.health(provider), self.keys.rate_window(provider, int(now))]
        if pair is not None:
            keys.append(self.keys.pair_cooldown(provider, *pair))
        if before is None:
            reply = await self.redis.eval(ADMIT, len(keys), *keys)
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                staged = before.stage(pipe)
                pipe.eval(ADMIT, len(keys), *keys)
                replies = await pipe.execute()
            before.took(replies[:staged])
            reply = replies[staged]
        until_, reason, cooling, used = reply
        until = float(until_ or 0)
        reason = reason or ProviderResting.FAILURES  # a rest written without a reason
        if cooling:
            return Verdict(Admission.PAIR_RESTING, ProviderResting.PAIR_NO_NUMBERS)
        probe = False
        if until and call is Call.PURCHASE:
            if now < until or not await self._take_probe(provider):
                return Verdict(Admission.RESTING, reason)
            probe = True
        elif call is Call.ROUTINE and reason == ProviderResting.RATE_LIMITED and now < until:
            return Verdict(Admission.RESTING, reason)
        if int(used) > limit and not await self.acquire(provider):
            if probe:  # not sent: the probe stays for the next purchase
                await self.redis.delete(self.keys.health_probe(provider))
            return Verdict(Admission.OVER_BUDGET, ProviderResting.OVER_BUDGET)
        return Verdict(Admission.PROBE) if probe else GO

    @mapped
    async def _take_probe(self, provider: str) -> bool:
        """The rest is over: one purchase at a time may try the upstream."""
        rest = self.providers[provider].breaker_cooldown
        probe = await self.redis.set(
            self.keys.health_probe(provider), "1", nx=True, px=int(rest * 1000)
        )
        return bool(probe)

    @mapped
    async def succeeded(
        self, provider: str, latency: float, endpoint: str = "any", *, sale: bool = False
    ) -> None:
        """A success ends that endpoint's run of failures (polls that work do not hide a
        purchase endpoint that keeps failing)."""
        # A success after the rest is over ends it; one during the rest does not (a poll, or a
        # call in flight when it began). A "no money" rest is ended by a `sale` (a number or a
        # rental sold proves money), not by a poll or a refusal.
        now = self.clock()
        await self.redis.eval(
            SUCCEEDED, 1, self.keys.health(provider), f"{FAILURES}{endpoint}",
            f"{latency * 1000:.1f}", f"{now:.0f}", repr(now), FAILURES, "1" if sale else "0",
        )  # fmt: skip

    @mapped
    async def failed(
        self, provider: str, error: str, latency: float, endpoint: str = "any"
    ) -> None:
        key = self.keys.health(provider)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"{FAILURES}{endpoint}", 1)
            pipe.hset(
                key, mapping={"last_error": error[:200], "last_latency_ms": f"{latency * 1000:.1f}"}
            )
            pipe.hget(key, "open_until")
            failures, _, until = await pipe.execute()
        settings = self.providers[provider]
        # During a rest, failures (of calls it lets through) neither renew nor replace it: it
        # ends on time, and a "no money" rest keeps its reason.
        resting = self.clock() < float(until or 0)
        if int(failures) >= settings.breaker_threshold and not resting:
            await self.rest(provider, settings.breaker_cooldown, ProviderResting.FAILURES)

    @mapped
    async def rest(self, provider: str, seconds: float, reason: str) -> None:
        """Open the breaker for `seconds` (failures, slow-down, no money)."""
        until = self.clock() + seconds
        mapping: dict[Any, Any] = {"open_until": f"{until:.3f}", "reason": reason}
        await self.redis.hset(self.keys.health(provider), mapping=mapping)
        await self.redis.delete(self.keys.health_probe(provider))
        log.warning("provider_resting", provider=provider, seconds=seconds, reason=reason)

    @mapped
    async def _close(self, provider: str) -> None:
        key = self.keys.health(provider)
        fields = cast("list[str]", await self.redis.hkeys(key))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"open_until": "0", "reason": ""})
            runs = [f for f in fields if f.startswith(FAILURES)]
            if runs:
                pipe.hdel(key, *runs)
            await pipe.execute()

    @mapped
    async def balance_seen(self, provider: str, balance: str, positive: bool) -> None:
        """A balance answer: remembered, and money ends a "no money" rest."""
        key = self.keys.health(provider)
        await self.redis.hset(key, mapping={"last_balance": balance, "balance_at": self.clock()})
        reason = await self.redis.hget(key, "reason")
        if positive and reason == ProviderResting.NO_BALANCE:
            await self._close(provider)

    async def slow_down(self, provider: str, retry_after: float | None) -> None:
        await self.rest(provider, retry_after or RATE_LIMITED_REST, ProviderResting.RATE_LIMITED)

    async def no_money(self, provider: str) -> None:
        await self.rest(provider, self.routing.no_balance_cooldown, ProviderResting.NO_BALANCE)

    @mapped
    async def no_numbers(self, provider: str, service: str, country: str) -> None:
        """Count a "no numbers"; at the threshold the pair rests."""
        cooldown = int(self.routing.no_numbers_cooldown)
        misses_key = self.keys.pair_misses(provider, service, country)
        async with self.redis.pipeline(transaction=False) as pipe:
            # SET NX EX then INCR: a window that starts at the first miss (works on Redis 6).
            pipe.set(misses_key, 0, ex=cooldown, nx=True)
            pipe.incr(misses_key)
            _, misses = await pipe.execute()
        if int(misses) >= self.routing.no_numbers_threshold:
            await self.redis.set(
                self.keys.pair_cooldown(provider, service, country), "1", ex=cooldown
            )
            await self.redis.delete(misses_key)
            log.info("pair_resting", provider=provider, service=service, country=country)

    @mapped
    async def acquire(self, provider: str, max_wait: float = 0.5) -> bool:
        """Take one request from the account's per-second budget, waiting briefly for the next
        second rather than bursting; False when over budget (the caller fails over)."""
        limit = max(1, int(self.providers[provider].rate_limit))
        deadline = time.monotonic() + max_wait
        while True:
            now = self.clock()
            second = int(now)
            key = self.keys.rate_window(provider, second)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2)
                used, _ = await pipe.execute()
            if int(used) <= limit:
                return True
            wait = second + 1 - now
            if time.monotonic() + wait > deadline:
                return False
            await asyncio.sleep(wait)

    @mapped
    async def view(self, provider: str) -> HealthView:
        raw = cast("dict[str, str]", await self.redis.hgetall(self.keys.health(provider)))
        until = float(raw.get("open_until", 0) or 0)
        now = self.clock()
        state = "closed" if not until else ("open" if now < until else "half_open")
        latency = raw.get("last_latency_ms")
        return HealthView(
            provider=provider,
            state=state,
            failures=max(
                (int(v or 0) for f, v in raw.items() if f.startswith(FAILURES)), default=0
            ),
            open_until=until,
            reason=raw.get("reason", ""),
            last_latency_ms=float(latency) if latency else None,
            last_balance=raw.get("last_balance"),
            balance_at=float(raw["balance_at"]) if raw.get("balance_at") else None,
            last_error=raw.get("last_error"),
        )
