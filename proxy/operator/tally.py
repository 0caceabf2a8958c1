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

# Adds ARGV[3..] (field, amount pairs) to the minute's hash KEYS[1] and the hour's KEYS[2]
# (one hash slot: the `{tally}` tag), each then kept ARGV[1] and ARGV[2] seconds.
ADD = """
for i = 3, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('EXPIRE', KEYS[2], ARGV[2])
"""

_SECRET = re.compile(r"(?i)\b(api_?key|apikey|key|token|password|secret)=[^&\s\"']+")
_PHONE = re.compile(r"\+?\d{9,}")  # a national number or longer: shown masked, as phones are


def scrub(message: str, secrets: Iterable[str] = ()) -> str:
    """An upstream error as the page may show it: query-string secrets and the configured
    keys starred, any run of 9 or more digits masked as a phone is (an order id with it),
    clipped."""
    cleaned = _SECRET.sub(lambda m: f"{m.group(1)}=***", message)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "***")
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

    def orphan_refunded(self, provider: str) -> None:
        """An upstream order nobody recorded, given back by the reconciler."""
        self.add(["all|refunded", f"provider:{provider}|refunded"])

    def polled(self, provider: str) -> None:
        self.add(["all|polls", f"provider:{provider}|polls"])

    def upstream(
        self, provider: str, endpoint: str, outcome: str, seconds: float | None, error: str = ""
    ) -> None:
        """One upstream call: `seconds` None when it was not sent (a rest, the budget);
        `outcome` "ok", a refusal's value or the failure's class name."""
        if seconds is None:
            return
        scope = f"provider:{provider}"
        self.add([f"{scope}|calls", f"{scope}|lat:{bucket(LATENCY_MS, seconds * 1000)}"])
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.flush()

    async def flush(self) -> bool:
        """Add the pending counts to Redis; kept for the next flush when Redis fails."""
        pending, self.pending = self.pending, {}
        errors, self.errors = self.errors, {}
        if not pending and not errors:
            return True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for minute, counts in pending.items():
                    flat: list[str | int] = []
                    for field, amount in counts.items():
                        flat += (field, amount)
                    hour = minute * MINUTE // HOUR
                    keys = [self.keys.tally_minute(minute), self.keys.tally_hour(hour)]
                    pipe.eval(ADD, 2, *keys, MINUTE_TTL, HOUR_TTL, *flat)
                if errors:
                    last = self.keys.tally_errors()
                    pipe.hset(last, mapping={f: json.dumps([at, message])
                                             for f, (at, message) in errors.items()})  # fmt: skip
                    pipe.expire(last, HOUR_TTL)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._keep(pending, errors)
            if (count := self._failures.due()) is not None:
                log.warning("tally_flush_failed", error=str(exc), failures=count)
            return False
        return True

    def _keep(
        self, pending: dict[int, dict[str, int]], errors: dict[str, tuple[float, str]]
    ) -> None:
        """Counts not written go back into the next flush (those the day's charts show)."""
        oldest = int(self.clock() // MINUTE) - KEPT_UNWRITTEN // MINUTE
        for minute, counts in pending.items():
            if minute <= oldest:
                continue
            into = self.pending.setdefault(minute, {})
            for field, amount in counts.items():
                into[field] = into.get(field, 0) + amount
        for field, seen in errors.items():
            self.errors.setdefault(field, seen)


def _activation_scopes(act: Activation) -> tuple[str, ...]:
    return ("all", f"provider:{act.provider}", f"service:{act.service}",
            f"country:{act.country}", f"tenant:{act.tenant}")  # fmt: skip


def _snake(name: str) -> str:
    """`ProviderTimeout` -> `provider_timeout`; a refusal's value as it is."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
