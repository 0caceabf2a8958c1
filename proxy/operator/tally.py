"""What the operator's page counts, in Redis time buckets every replica adds to and reads.

Each process counts events where it already counts them for /metrics (a sale recorded, a first
code, a number given back, an upstream call or poll) in a dict in memory: a few dict updates
per event, no Redis command on the request's path. Every `flush_seconds` it adds them to two
Redis hashes in one script call: the minute's (kept 62 minutes: the last hour's charts) and
the hour's (kept 26 hours: the last day's). So the figures lag by at most one flush, and a
process that dies loses at most its last `flush_seconds` of counts; one that cannot reach
Redis keeps its counts (those of the last day) and adds them once it can.

A field is `<scope>|<name>`. Scopes: `all`, `provider:<name>`, `service:<code>`,
`country:<id>`, `tenant:<name>`, `pair:<service>:<country>` (what sells, for the stock
table). Names: bought, coded, cancelled, refunded, polls, calls, errors, spend and refund
(tenant money in ten-thousandths of the tenant's currency: integers, so sums are exact),
`code:<i>` and `lat:<i>` (histogram buckets: time from purchase to code, upstream latency).
Upstream errors count as `error|<provider>|<endpoint>|<kind>`, their last message kept
beside the buckets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable
from decimal import Decimal

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from proxy.backoff import Throttle
from proxy.lifecycle import Activation
from proxy.operator.schema import mask_phone
from proxy.store.keys import Keys

log = structlog.get_logger("tally")

MINUTE, HOUR = 60, 3600
MINUTE_TTL = 62 * MINUTE  # the hour's charts read 60 minutes back (a flush may come late)
HOUR_TTL = 26 * HOUR  # the day's charts read 24 hours back
KEPT_UNWRITTEN = 24 * HOUR  # counts a process holds while Redis is away
MONEY_UNITS = 10_000  # money counted in ten-thousandths: exact integer sums
MESSAGE_CHARS = 300

# Upper bounds of the histogram buckets (the last bucket holds everything above).
# Upstream latency in milliseconds: the SMS providers answer in tens to thousands of ms.
LATENCY_MS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500,
              2000, 3000, 5000, 10000, 20000, 30000)  # fmt: skip
# Time from purchase to first code in seconds: SMS come in seconds to tens of minutes.
CODE_SECONDS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900,
                1200)  # fmt: skip

# Refusals an operator must act on (a key, money, a rate limit, a request the upstream could
# not read); "no numbers", "order expired" and the like are the business as usual.
ERROR_REFUSALS = frozenset({"bad_key", "no_balance", "rate_limited", "bad_request"})

# One flush, all or nothing, and at most once: KEYS[1] holds the last flush this process
# applied (ARGV[1] its sequence number: a flush sent again, by redis-py's retry or after a
# lost reply, is skipped); then per minute the minute's hash and the hour's (KEYS[2k],
# KEYS[2k+1]), and in ARGV from ARGV[5] on: how many fields both take, their field/amount
# pairs, how many the hour alone takes, their pairs. Every key carries the `{tally}` tag (one
# hash slot); each hash is then kept ARGV[2] or ARGV[3] seconds, the sequence ARGV[4].
ADD = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
local a = 5
for k = 2, #KEYS, 2 do
    for target = 1, 2 do
        local n = tonumber(ARGV[a])
        a = a + 1
        for i = 1, n do
            if target == 1 then redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1]) end
            redis.call('HINCRBY', KEYS[k + 1], ARGV[a], ARGV[a + 1])
            a = a + 2
        end
    end
    redis.call('EXPIRE', KEYS[k], ARGV[2])
    redis.call('EXPIRE', KEYS[k + 1], ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
return 1
"""
HOUR_ONLY = "pair:"  # what sells most over the day: the hour's buckets alone need it

_SECRET = re.compile(r"(?i)\b(api_?key|apikey|key|token|password|secret)=[^&\s\"']+")
_PHONE = re.compile(r"\+?\d{7,}")  # a national number or longer: shown masked, as phones are


def scrub(message: str, secrets: Iterable[str] = ()) -> str:
    """An upstream error as the page may show it: query-string secrets and the configured
    keys starred (their start too, where a message was cut inside one), any run of 7 or more
    digits masked as a phone is (an order id with it), clipped."""
    cleaned = _SECRET.sub(lambda m: f"{m.group(1)}=***", message)
    for secret in secrets:
        if not secret:
            continue
        cleaned = cleaned.replace(secret, "***")
        for cut in range(len(secret) - 1, 3, -1):
            if cleaned.endswith(secret[:cut]):
                cleaned = cleaned[:-cut] + "***"
                break
    cleaned = _PHONE.sub(lambda m: mask_phone(m.group(0)), cleaned)
    return cleaned[:MESSAGE_CHARS]


def bucket(bounds: tuple[int, ...], value: float) -> int:
    """The index of the histogram bucket `value` falls in (len(bounds): above the last)."""
    return bisect_left(bounds, value)


def money_units(amount: Decimal | None) -> int:
    return int((amount or Decimal(0)) * MONEY_UNITS)


class Tally:
    """This process's counts since its last flush, by minute; `start()` flushes them into
    Redis every `every` seconds until `stop()` (which flushes once more)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        every: float = 2.0,
        secrets: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.every = every
        self.secrets = tuple(s for s in secrets if s)
        self.clock = clock
        self.pending: dict[int, dict[str, int]] = {}  # minute -> field -> amount
        self.errors: dict[str, tuple[float, str]] = {}  # error field -> (when, message)
        self.process = uuid.uuid4().hex  # whose flushes the sequence numbers count
        self.sequence = 0
        self.unsent: Batch | None = None  # a flush sent, not known to have landed
        self._task: asyncio.Task[None] | None = None
        self._failures = Throttle(30.0)

    def add(self, fields: Iterable[str], amount: int = 1) -> None:
        minute = int(self.clock() // MINUTE)
        counts = self.pending.get(minute)
        if counts is None:
            counts = self.pending[minute] = {}
        for field in fields:
            counts[field] = counts.get(field, 0) + amount

    # The events, named as the paths that count them.

    def bought(self, act: Activation) -> None:
        scopes = _activation_scopes(act)
        self.add([f"{s}|bought" for s in scopes])
        self.add([f"pair:{act.service}:{act.country}|bought"])
        if act.cost:
            self.add([f"tenant:{act.tenant}|spend"], money_units(act.cost))

    def coded(self, act: Activation, now: float) -> None:
        scopes = _activation_scopes(act)
        index = bucket(CODE_SECONDS, max(0.0, now - act.created))
        self.add([f"{s}|coded" for s in scopes])
        self.add([f"{s}|code:{index}" for s in scopes if not s.startswith("tenant:")])

    def refunded(self, act: Activation, why: str) -> None:
        """A number given back upstream; `why` "client" is a client's cancel."""
        scopes = _activation_scopes(act)
        self.add([f"{s}|refunded" for s in scopes])
        if why == "client":
            self.add([f"{s}|cancelled" for s in scopes])
        if act.cost:
            self.add([f"tenant:{act.tenant}|refund"], money_units(act.cost))

    def rented(self, tenant: str, provider: str) -> None:
        """A rental recorded (its price is not kept on the record, so no money here)."""
        self.add(["all|rented", f"provider:{provider}|rented", f"tenant:{tenant}|rented"])

    def orphan_refunded(self, provider: str) -> None:
        """An upstream order nobody recorded, given back by the reconciler."""
        self.add(["all|refunded", f"provider:{provider}|refunded"])

    def upstream(
        self, provider: str, endpoint: str, outcome: str, seconds: float | None, error: str = ""
    ) -> None:
        """One upstream call: `seconds` None when it was not sent (a rest, the budget);
        `outcome` "ok", a refusal's value or the failure's class name."""
        if seconds is None:
            return
        scope = f"provider:{provider}"
        self.add([f"{scope}|calls", f"{scope}|lat:{bucket(LATENCY_MS, seconds * 1000)}"])
        if endpoint == "poll":  # an activation's status asked upstream (not a rental's)
            self.add(["all|polls", f"{scope}|polls"])
        if outcome == "ok" or (outcome.islower() and outcome not in ERROR_REFUSALS):
            return
        kind = _snake(outcome)
        field = f"error|{provider}|{endpoint}|{kind}"
        self.add([f"{scope}|errors", field])
        self.errors[field] = (self.clock(), scrub(error or kind, self.secrets))

    # Flushing.

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tally-flush")

    async def stop(self) -> None:
        """Stop flushing, then flush what is left (a flush cut short is sent again)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.flush()
            except Exception:  # never the end of flushing: the counts would pile up
                log.exception("tally_flush_error")

    async def flush(self) -> bool:
        """Add the counts to Redis: first a flush that did not go through (sent again as it
        was, under its number, so that it counts once whether or not it had landed), then
        what came since. False, and everything kept, when Redis fails."""
        oldest = int(self.clock() // MINUTE) - KEPT_UNWRITTEN // MINUTE
        for minute in [m for m in self.pending if m <= oldest]:
            del self.pending[minute]
        for _ in range(2):
            if self.unsent is None:
                if not self.pending and not self.errors:
                    return True
                self.sequence += 1
                self.unsent = Batch(self.sequence, self.pending, self.errors)
                self.pending, self.errors = {}, {}
            batch = self.unsent
            batch.forget_before(oldest)
            try:
                await self._send(batch)
            except (RedisError, OSError) as exc:
                if (count := self._failures.due()) is not None:
                    log.warning("tally_flush_failed", error=str(exc), failures=count)
                return False
            self.unsent = None
        return True

    async def _send(self, batch: Batch) -> None:
        keys: list[str] = [self.keys.tally_sequence(self.process)]
        args: list[str | int] = [batch.sequence, MINUTE_TTL, HOUR_TTL, HOUR_TTL]
        for minute, counts in batch.counts.items():
            keys += [self.keys.tally_minute(minute), self.keys.tally_hour(minute // 60)]
            both = [(f, n) for f, n in counts.items() if not f.startswith(HOUR_ONLY)]
            hour = [(f, n) for f, n in counts.items() if f.startswith(HOUR_ONLY)]
            for pairs in (both, hour):
                args.append(len(pairs))
                for field, amount in pairs:
                    args += (field, amount)
        async with self.redis.pipeline(transaction=False) as pipe:
            if batch.counts:
                pipe.eval(ADD, len(keys), *keys, *args)
            if batch.errors:
                last = self.keys.tally_errors()
                pipe.hset(last, mapping={f: json.dumps([at, message])
                                         for f, (at, message) in batch.errors.items()})  # fmt: skip
                pipe.expire(last, HOUR_TTL)
            await pipe.execute()


class Batch:
    """One flush's counts under its sequence number, kept as they are until they land."""

    def __init__(
        self, sequence: int, counts: dict[int, dict[str, int]], errors: dict[str, tuple[float, str]]
    ) -> None:
        self.sequence = sequence
        self.counts = counts
        self.errors = errors

    def forget_before(self, oldest: int) -> None:
        """Minutes older than the day's charts are given up (Redis was away for a day)."""
        for minute in [m for m in self.counts if m <= oldest]:
            del self.counts[minute]


def _activation_scopes(act: Activation) -> tuple[str, ...]:
    return ("all", f"provider:{act.provider}", f"service:{act.service}",
            f"country:{act.country}", f"tenant:{act.tenant}")  # fmt: skip


def _snake(name: str) -> str:
    """`ProviderTimeout` -> `provider_timeout`; a refusal's value as it is."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
