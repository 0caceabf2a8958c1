"""Activation records, their indexes and purchase intents in Redis.

Every operation touches keys of one hash slot at a time, or uses non-transactional pipelines
across slots in an order that is safe to interrupt: a purchase intent is written before the
upstream call and removed only after the activation record exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import Pipeline
from redis.exceptions import LockError, RedisError

from proxy.lifecycle import Activation, Message, State
from proxy.store.cache import RecordCache
from proxy.store.connect import RedisLink
from proxy.store.keys import Keys

if TYPE_CHECKING:
    from proxy.operator.tally import Tally

log = structlog.get_logger("store")

P = ParamSpec("P")
T = TypeVar("T")

HOUR = 3600.0
HISTORY_SLACK = 86400.0  # getHistory entries outlive the retention by a day (orders last minutes)
HISTORY_CHUNK = 200  # records loaded per round trip while a getHistory page fills
HISTORY_HOURS_PER_READ = 168  # hour keys per MGET: a week, five reads for a month's history


class StoreError(Exception):
    """Redis failed or is unreachable; the request answers ERROR_SQL and changes nothing."""


class Unconfirmed(StoreError):
    """A money write reached the primary but not the replicas it waited for: a failover now
    could lose it, so it is not relied on (the purchase is not sent, or the number given back).
    """


def mapped(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Map redis-py errors to StoreError at the store boundary."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    return wrapper


def encode(act: Activation) -> dict[str, str]:
    """The record as flat hash fields (short names keep it well under 1 KB)."""
    return {
        "tenant": act.tenant,
        "provider": act.provider,
        "order": act.order_id,
        "phone": act.phone,
        "service": act.service,
        "country": str(act.country),
        "operator": act.operator or "",
        "cost": "" if act.cost is None else str(act.cost),
        "currency": act.currency,
        "created": repr(act.created),
        "expires": repr(act.expires),
        "updated": repr(act.updated),
        "state": act.state.value,
        "ready": "1" if act.ready else "0",
        "msgs": json.dumps([[m.code, m.text, m.at] for m in act.messages], ensure_ascii=False),
        "retry": act.retry_code or "",
        # Added for issue 12 (a retry's SMS is new by position): "" keeps an older record's
        # unknown `listed` unknown when it is saved again.
        "listed": "" if act.listed is None else str(act.listed),
        "retries": str(act.retries),
    }


def decode(activation_id: int, fields: dict[str, str]) -> Activation:
    return Activation(
        id=activation_id,
        tenant=fields["tenant"],
        provider=fields["provider"],
        order_id=fields["order"],
        phone=fields["phone"],
        service=fields["service"],
        country=int(fields["country"]),
        operator=fields.get("operator") or None,
        cost=Decimal(fields["cost"]) if fields.get("cost") else None,
        currency=fields["currency"],
        created=float(fields["created"]),
        expires=float(fields["expires"]),
        updated=float(fields.get("updated", "0")),
        state=State(fields["state"]),
        ready=fields.get("ready") == "1",
        messages=tuple(
            Message(code=c, text=t, at=float(a)) for c, t, a in json.loads(fields["msgs"])
        ),
        retry_code=fields.get("retry") or None,
        # Records written before these fields existed lack them: `listed` unknown (None, read
        # by the lifecycle as the codes accepted), no retry counted.
        listed=int(fields["listed"]) if fields.get("listed") else None,
        retries=int(fields.get("retries") or 0),
    )


# Ids never repeat, even after a failover promoted a replica whose counter is behind (its
# last increments were never replicated): the counter never stands below the Redis server's
# clock, in units of ID_UNIT seconds since ID_EPOCH. An id lost that way was issued before the
# failover, when the clock (and so the floor) was lower; the promotion itself takes seconds.
# The counter runs ahead of the clock only while more than 1/ID_UNIT ids a second are issued,
# and the writes that carry ids wait for a replica's confirmation where one exists
# (RedisLink.confirm). 10 ms units keep ids at ten digits, as SMS-Activate's own (seeds/004
# shows 635468024; 2026-12 gives about 2.9e9) for decades.
ID_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
ID_UNIT = 0.01
NEXT_ID_LUA = f"""
local now = redis.call('TIME')
local floor = (tonumber(now[1]) - {ID_EPOCH}) * {round(1 / ID_UNIT)}
    + math.floor(tonumber(now[2]) / {round(ID_UNIT * 1_000_000)})
local id = redis.call('INCR', KEYS[1])
if id < floor then
    redis.call('SET', KEYS[1], floor)
    id = floor
end
"""

NEXT_ID = NEXT_ID_LUA + "return id\n"

# The next id, the intent hash (key prefix + id, same slot) and its index entry, atomically.
BEGIN_PURCHASE = (
    NEXT_ID_LUA
    + """
local key = KEYS[2] .. id
redis.call('HSET', key, unpack(ARGV, 3))
redis.call('EXPIRE', key, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], id)
return id
"""
)

# Remove an intent hash and its index entry (same slot), atomically.
DROP_INTENT = """
redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[1])
"""

# A new activation in its tenant's indexes (one slot): active now, and in the hour's history.
INDEX_FOR_TENANT = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('APPEND', KEYS[2], ARGV[2] .. ',')
return redis.call('EXPIRE', KEYS[2], ARGV[3])
"""

# Count an event in a provider's hourly stats; with KEYS[2], also map its upstream order id to
# our activation id (both in the provider's slot; the mapping first, as it matters more).
PROVIDER_EVENT = """
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5]) end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
return redis.call('EXPIRE', KEYS[1], ARGV[3])
"""

# Take the lease when nobody holds it, extend it when this replica does (atomically).
TAKE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
if holder == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def confirmed(link: RedisLink | None, needed: int, reply: Any, what: str) -> None:
    """Raise Unconfirmed when WAIT answered fewer replicas than it waited for."""
    if needed and int(reply) < needed:
        if link is not None:
            link.forget_replicas()
        raise Unconfirmed(f"{what} confirmed by {int(reply)} of {needed} replicas")


def _fields(mapping: dict[str, str]) -> dict[Any, Any]:
    """redis-py's hset wants a Mapping invariant in its key type; ours are plain str."""
    return cast("dict[Any, Any]", mapping)


# A getNumberV2 orderId reserved for a purchase in flight: well past any purchase's deadline.
PENDING_ORDER_TTL = 600


class PurchaseIntent:
    """A purchase intent that rides in another round trip: `Health.admit` queues it ahead of
    its own commands, so it is written before the upstream request is sent, at no extra cost.
    """

    def __init__(self, command: list[Any], link: RedisLink | None, key: str) -> None:
        self._command = command
        self._link = link
        self._key = key
        self._id: int | None = None
        self._needed = 0

    def stage(self, pipe: Pipeline) -> int:
        pipe.eval(BEGIN_PURCHASE, *self._command)
        self._needed = self._link.confirm(pipe, self._key) if self._link is not None else 0
        return 2 if self._needed else 1

    def took(self, results: list[Any]) -> None:
        """The script's id, then WAIT's count; Unconfirmed when fewer replicas confirmed than
        waited for (the intent is written, `written` is true: drop it, send nothing)."""
        self._id = int(results[0])
        if self._needed:
            confirmed(self._link, self._needed, results[1], "purchase intent")

    @property
    def written(self) -> bool:
        return self._id is not None

    @property
    def activation_id(self) -> int:
        """The id the intent was written under; LookupError before it was written."""
        if self._id is None:
            raise LookupError("purchase intent not written yet")
        return self._id


class ActivationStore:
    """The one place that knows how activations live in Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        retention: float,
        cache: RecordCache | None = None,
        link: RedisLink | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.retention = retention
        self.cache = cache
        self.link = link  # where money writes are confirmed (None: never waited for)
        self.tally: Tally | None = None  # the operator page's counts (set by the app)
        self._background: set[asyncio.Task[None]] = set()

    def later(self, work: Awaitable[None]) -> None:
        """Run bookkeeping that the answer need not wait for; failures are logged."""
        task = asyncio.create_task(self._logged(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for the bookkeeping still running (at shutdown, before Redis is closed)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @staticmethod
    async def _logged(work: Awaitable[None]) -> None:
        try:
            await work
        except StoreError as exc:
            log.warning("store_background_failed", error=str(exc))

    def _ttl(self, act: Activation) -> int:
        return max(60, int(act.expires - time.time() + self.retention))

    @mapped
    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    def confirm(self, pipe: Pipeline, key: str) -> int:
        """Stage the confirmation of the writes staged in `pipe` (RedisLink.confirm)."""
        return self.link.confirm(pipe, key) if self.link is not None else 0

    @mapped
    async def next_id(self) -> int:
        """A new id (a rental's), confirmed like an intent: it must not repeat after a
        failover."""
        key = self.keys.id_counter()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.eval(NEXT_ID, 1, key)
            needed = self.confirm(pipe, key)
            replies = await pipe.execute()
        confirmed(self.link, needed, replies[-1], "id counter")
        return int(replies[0])

    @mapped
    async def begin_purchase(self, fields: dict[str, str]) -> int:
        """A new activation id and its purchase intent, in one round trip (crash safety: the
        intent exists before the upstream is asked)."""
        intent = self.intent_for(fields)
        async with self.redis.pipeline(transaction=False) as pipe:
            staged = intent.stage(pipe)
            replies = await pipe.execute()
        intent.took(replies[:staged])
        return intent.activation_id

    def intent_for(self, fields: dict[str, str]) -> PurchaseIntent:
        """The same intent, to be written in the round trip of the upstream's admission."""
        return PurchaseIntent(self._begin_args(fields), self.link, self.keys.intents())

    def _begin_args(self, fields: dict[str, str]) -> list[Any]:
        """BEGIN_PURCHASE's key count, keys and arguments."""
        now = time.time()
        args = [str(int(self.retention)), repr(now), "started", repr(now)]
        for name, value in fields.items():
            args += [name, value]
        keys = [self.keys.id_counter(), self.keys.intent(0)[:-1], self.keys.intents()]
        return [3, *keys, *args]

    @mapped
    async def write_intent(self, activation_id: int, fields: dict[str, str]) -> None:
        """Record that a purchase is about to be sent upstream (crash safety)."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.intents(), {str(activation_id): now})  # listed first: found
            pipe.hset(
                self.keys.intent(activation_id), mapping=_fields({**fields, "started": repr(now)})
            )
            pipe.expire(self.keys.intent(activation_id), int(self.retention))
            needed = self.confirm(pipe, self.keys.intents())
            replies = await pipe.execute()
        confirmed(self.link, needed, replies[-1], "purchase intent")

    @mapped
    async def update_intent(self, activation_id: int, fields: dict[str, str]) -> None:
        await self.redis.hset(self.keys.intent(activation_id), mapping=_fields(fields))

    @mapped
    async def drop_intent(self, activation_id: int) -> None:
        """Both keys in one script: one command instead of MULTI, DEL, ZREM, EXEC."""
        keys = (self.keys.intent(activation_id), self.keys.intents())
        await self.redis.eval(DROP_INTENT, 2, *keys, str(activation_id))

    @mapped
    async def stale_intents(self, started_before: float, limit: int = 100) -> list[int]:
        """Purchases started before then and never recorded: crashed or unanswered."""
        found = await self.redis.zrangebyscore(
            self.keys.intents(), "-inf", started_before, 0, limit
        )
        return [int(m) for m in cast("list[str]", found)]

    @mapped
    async def intents_since(self, started_after: float, limit: int = 1000) -> list[int]:
        """Purchases under way: intents written after then."""
        found = await self.redis.zrangebyscore(
            self.keys.intents(), f"({started_after!r}", "+inf", 0, limit
        )
        return [int(m) for m in cast("list[str]", found)]

    @mapped
    async def intent(self, activation_id: int) -> dict[str, str]:
        return cast("dict[str, str]", await self.redis.hgetall(self.keys.intent(activation_id)))

    @mapped
    async def intents(self, ids: list[int]) -> list[dict[str, str]]:
        """Several intents in one round trip (empty for one that is gone)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for activation_id in ids:
                pipe.hgetall(self.keys.intent(activation_id))
            return cast("list[dict[str, str]]", await pipe.execute())

    @mapped
    async def record_purchase(self, act: Activation, first_poll: float = 0.0) -> None:
        """Write a bought number: record, then indexes, then drop the intent. The poller's
        first look comes `first_poll` seconds after the purchase (an SMS takes that long)."""
        ttl = self._ttl(act)
        generation = self.cache.generation(act.id) if self.cache is not None else 0
        # Six commands (twelve before), each slot's index writes in one script: redis-py spends
        # more per command than Redis does, and the client waits for all of them.
        history = self.keys.tenant_history(act.tenant, int(act.created // HOUR))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.activation(act.id), mapping=_fields(encode(act)))
            pipe.expire(self.keys.activation(act.id), ttl)
            pipe.eval(INDEX_FOR_TENANT, 2, self.keys.tenant_active(act.tenant), history,
                      act.created, act.id, int(self.retention + HISTORY_SLACK))  # fmt: skip
            pipe.zadd(self.keys.active_all(), {str(act.id): act.created + first_poll})
            pipe.hincrby(self.keys.service_stats(act.service), f"{act.country}:issued", 1)
            self._provider_event(
                pipe, act, "issued", (self.keys.upstream_order(act.provider, act.order_id), ttl)
            )
            needed = self.confirm(pipe, self.keys.activation(act.id))
            replies = await pipe.execute()
        try:
            confirmed(self.link, needed, replies[-1], "activation record")
        except Unconfirmed:
            # Not relied on: the caller gives the number back, and the record must not live
            # on where the write did land (nor be polled): best effort, the intent stays.
            with contextlib.suppress(RedisError, OSError):
                await self._unrecord(act)
            raise
        if self.tally is not None:
            self.tally.bought(act)
        if self.cache is not None:
            # The first getStatus and the poller's first visit read memory, not Redis (kept
            # only if no write of this id was announced meanwhile, as for any read).
            self.cache.put(act, generation)
        # The record exists: dropping the intent need not delay the client's answer.
        self.later(self.drop_intent(act.id))

    async def _unrecord(self, act: Activation) -> None:
        """Take back a record whose write was not confirmed (its number is being given back)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.keys.activation(act.id))
            pipe.zrem(self.keys.tenant_active(act.tenant), str(act.id))
            pipe.zrem(self.keys.active_all(), str(act.id))
            pipe.delete(self.keys.upstream_order(act.provider, act.order_id))
            await pipe.execute()

    @mapped
    async def history(
        self,
        tenant: str,
        start: float | None,
        end: float | None,
        offset: int,
        limit: int,
        now: float,
    ) -> list[Activation]:
        """One page of the tenant's activations created within [start, end], newest first.

        The hour keys in the window are read newest first, a week of them per MGET (they
        share the tenant's hash slot), and their records loaded until the page is full. A
        record already gone with its retention is skipped, so offsets count only activations
        that still exist.
        """
        low = max(start if start is not None else 0.0, now - self.retention - HISTORY_SLACK)
        high = min(end if end is not None else now, now)
        hours = list(range(int(high // HOUR), int(low // HOUR) - 1, -1)) if low <= high else []
        page: list[Activation] = []
        skip = offset
        async for ids in self._history_ids(tenant, hours):
            for act in await self.load_many(ids):
                if act is None or act.tenant != tenant or not low <= act.created <= high:
                    continue
                if skip:
                    skip -= 1
                    continue
                page.append(act)
                if len(page) == limit:
                    return page
        return page

    async def _history_ids(self, tenant: str, hours: list[int]) -> AsyncIterator[list[int]]:
        """The ids indexed under `hours` (newest hour first), newest first, in chunks."""
        for week in range(0, len(hours), HISTORY_HOURS_PER_READ):
            span = hours[week : week + HISTORY_HOURS_PER_READ]
            keys = [self.keys.tenant_history(tenant, hour) for hour in span]
            buckets = cast("list[str | None]", await self.redis.mget(keys))
            ids = [int(i) for bucket in buckets if bucket
                   for i in reversed(bucket.rstrip(",").split(","))]  # fmt: skip
            for first in range(0, len(ids), HISTORY_CHUNK):
                yield ids[first : first + HISTORY_CHUNK]

    @mapped
    async def count_code(self, act: Activation) -> None:
        """A first code came: the success rates (per service, and per provider) count it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.keys.service_stats(act.service), f"{act.country}:coded", 1)
            self._provider_event(pipe, act, "coded")
            await pipe.execute()
        if self.tally is not None:
            self.tally.coded(act, time.time())

    @mapped
    async def count_cancel(self, act: Activation, why: str = "client") -> None:
        """A number given back (`why`: "client" for a cancel): the account's cancel rate
        counts it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self._provider_event(pipe, act, "cancelled")
            await pipe.execute()
        if self.tally is not None:
            self.tally.refunded(act, why)

    def _provider_event(
        self, pipe: Any, act: Activation, kind: str, upstream: tuple[str, int] | None = None
    ) -> None:
        """Count `kind` in the provider's hour; `upstream` (key, ttl) also maps its order id."""
        key = self.keys.provider_stats(act.provider, int(time.time() // 3600))
        fields = (f"{act.service}:{act.country}:{kind}", f"all:{kind}", 8 * 86400)
        if upstream is None:
            pipe.eval(PROVIDER_EVENT, 1, key, *fields)
        else:
            mapping_key, ttl = upstream
            pipe.eval(PROVIDER_EVENT, 2, key, mapping_key, *fields, act.id, ttl)

    @mapped
    async def provider_counts(self, providers: list[str], field: str, hours: int) -> dict[str, int]:
        """Sum of one counter over the last `hours` hourly buckets, per provider (a sliding
        window: `<service>:<country>:issued|coded|cancelled` or `all:...`)."""
        now = int(time.time() // 3600)
        async with self.redis.pipeline(transaction=False) as pipe:
            for provider in providers:
                for hour in range(now - hours + 1, now + 1):
                    pipe.hget(self.keys.provider_stats(provider, hour), field)
            values = await pipe.execute()
        totals = {}
        for i, provider in enumerate(providers):
            chunk = values[i * hours : (i + 1) * hours]
            totals[provider] = sum(int(v) for v in chunk if v)
        return totals

    @mapped
    async def service_stats(self, service: str) -> dict[int, tuple[int, int]]:
        """Numbers issued and first codes received, per country, for one service."""
        raw = cast("dict[str, str]", await self.redis.hgetall(self.keys.service_stats(service)))
        stats: dict[int, list[int]] = {}
        for field, value in raw.items():
            country, kind = field.split(":")
            stats.setdefault(int(country), [0, 0])[kind == "coded"] = int(value)
        return {country: (issued, coded) for country, (issued, coded) in stats.items()}

    @mapped
    async def load(self, activation_id: int, *, fresh: bool = False) -> Activation | None:
        """The record: from this process's cache when it holds a live copy, else Redis.

        `fresh` reads Redis whatever the cache holds: for read-modify-write under the lock,
        where another replica's write may not have reached us as an invalidation yet.
        """
        cache, generation = (None if fresh else self.cache), 0
        if cache is not None:
            hit = cache.get(activation_id)
            if hit is not None:
                return hit
            generation = cache.generation(activation_id)
        key = self.keys.activation(activation_id)
        fields = cast("dict[str, str]", await self.redis.hgetall(key))
        if not fields:
            return None
        act = decode(activation_id, fields)
        if cache is not None:
            cache.put(act, generation)
        return act

    @mapped
    async def load_many(self, ids: list[int]) -> list[Activation | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for activation_id in ids:
                pipe.hgetall(self.keys.activation(activation_id))
            rows: list[dict[str, str]] = await pipe.execute()
        return [decode(i, row) if row else None for i, row in zip(ids, rows, strict=True)]

    @mapped
    async def save(self, act: Activation) -> None:
        """Store a changed activation; a finished or cancelled one leaves the active index."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.activation(act.id), mapping=_fields(encode(act)))
            pipe.expire(self.keys.activation(act.id), self._ttl(act))
            if not act.state.active:
                pipe.zrem(self.keys.tenant_active(act.tenant), str(act.id))
                pipe.zrem(self.keys.active_all(), str(act.id))
            clustered = self.link is not None and self.link.cluster is not None
            if not clustered:  # redis-py's cluster pipeline refuses PUBLISH: sent after it
                pipe.publish(self.keys.changes(), str(act.id))
            await pipe.execute()
        if clustered:
            await self.redis.publish(self.keys.changes(), str(act.id))
        if self.cache is not None:
            self.cache.drop(act.id)  # our own copy at once; other replicas on the message

    @mapped
    async def active_count(self) -> int:
        return int(await self.redis.zcard(self.keys.active_all()))

    @mapped
    async def newest_active(self, tenants: list[str], most: int) -> list[int]:
        """The ids of the `most` newest activations in the tenants' active indexes (scored by
        creation), newest first: what the operator's page lists."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.zrevrange(self.keys.tenant_active(tenant), 0, most - 1, withscores=True)
            replies = cast("list[list[tuple[str, float]]]", await pipe.execute())
        found = sorted((pair for reply in replies for pair in reply), key=lambda p: -p[1])
        return [int(member) for member, _ in found[:most]]

    @mapped
    async def tenant_active_count(self, tenant: str) -> int:
        return int(await self.redis.zcard(self.keys.tenant_active(tenant)))

    @mapped
    async def lease(self, holder: str, ttl: float) -> bool:
        """Hold the poller lease: take it when free, renew it when ours (one command: the
        poller asks twenty times a second)."""
        key, ms = self.keys.poller_lease(), int(ttl * 1000)
        return bool(await self.redis.eval(TAKE_OR_RENEW, 1, key, holder, str(ms)))

    @mapped
    async def active_ids(self, tenant: str) -> list[int]:
        members = cast("list[str]", await self.redis.zrange(self.keys.tenant_active(tenant), 0, -1))
        return [int(m) for m in members]

    @mapped
    async def forget_active(self, tenant: str, ids: list[int]) -> None:
        if ids:
            await self.redis.zrem(self.keys.tenant_active(tenant), *map(str, ids))

    @mapped
    async def by_upstream(self, provider: str, order_id: str) -> int | None:
        value = await self.redis.get(self.keys.upstream_order(provider, order_id))
        return int(value) if value else None

    @mapped
    async def claim_upstream(self, provider: str, order_id: str, activation_id: int) -> bool:
        """Bind an upstream order to an activation unless another already holds it."""
        key = self.keys.upstream_order(provider, order_id)
        return bool(await self.redis.set(key, activation_id, nx=True, ex=int(self.retention)))

    @mapped
    async def claim_poll(self, activation_id: int, interval: float) -> bool:
        """True for exactly one caller per interval, across every replica."""
        claimed = await self.redis.set(
            self.keys.poll_claim(activation_id), "1", nx=True, px=max(1, int(interval * 1000))
        )
        return bool(claimed)

    @mapped
    async def reserve_order(self, tenant: str, order_id: str) -> str | None:
        """Reserve a getNumberV2 orderId; returns what it already holds when taken. A pending
        reservation lapses after PENDING_ORDER_TTL unless the purchase binds or holds it, so an
        orderId whose release a Redis failure prevented is not burned for the retention."""
        key = self.keys.tenant_order(tenant, order_id)
        if await self.redis.set(key, "pending", nx=True, ex=PENDING_ORDER_TTL):
            return None
        existing = cast("str | None", await self.redis.get(key))
        return existing or "pending"

    @mapped
    async def bind_order(self, tenant: str, order_id: str, activation_id: int) -> None:
        key = self.keys.tenant_order(tenant, order_id)
        await self.redis.set(key, str(activation_id), ex=int(self.retention))

    @mapped
    async def hold_order(self, tenant: str, order_id: str) -> None:
        """Keep a pending orderId for the retention: its purchase may have been charged."""
        await self.redis.expire(self.keys.tenant_order(tenant, order_id), int(self.retention))

    @mapped
    async def release_order(self, tenant: str, order_id: str) -> None:
        await self.redis.delete(self.keys.tenant_order(tenant, order_id))

    @asynccontextmanager
    async def locked(self, activation_id: int, hold: float = 30.0) -> AsyncIterator[None]:
        """Serialise read-modify-write of one activation across replicas."""
        lock = self.redis.lock(
            self.keys.activation_lock(activation_id), timeout=hold, blocking_timeout=hold
        )
        try:
            acquired = await lock.acquire()
        except (RedisError, OSError) as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc
        if not acquired:
            raise StoreError(f"activation {activation_id} stayed locked for {hold}s")
        try:
            yield
        finally:
            # expired meanwhile: the TTL already freed it
            with contextlib.suppress(LockError, RedisError, OSError):
                await lock.release()
