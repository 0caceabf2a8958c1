"""Rentals in Redis: one hash per rental, a per-tenant index, kept until `until` + retention."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import Pipeline

from proxy.rent.model import Rent, RentSms, RentStatus
from proxy.store.activations import ActivationStore, Unconfirmed, confirmed, mapped
from proxy.store.connect import RedisLink
from proxy.store.keys import Keys

if TYPE_CHECKING:
    from proxy.operator.tally import Tally

log = structlog.get_logger("rent")

INTENT = "sending"  # a rental asked upstream, its outcome not yet recorded
UNKNOWN = "unknown"  # asked upstream, no usable answer: kept for the reconciler
RETENTION_OF_INTENTS = 7 * 86400.0  # an unsettled intent is kept this long past its start
FIELDS = (
    "tenant", "provider", "order_id", "service", "upstream_service", "upstream_country",
    "country", "phone", "created", "until", "status", "messages",
)  # fmt: skip


def encode(rent: Rent) -> dict[str, str]:
    messages = [[m.sender, m.text, m.date] for m in rent.messages]
    return {
        "tenant": rent.tenant,
        "provider": rent.provider,
        "order_id": rent.order_id,
        "service": rent.service,
        "upstream_service": rent.upstream_service,
        "upstream_country": rent.upstream_country,
        "country": str(rent.country),
        "phone": rent.phone,
        "created": repr(rent.created),
        "until": repr(rent.until),
        "status": rent.status.value,
        "messages": json.dumps(messages),
        "url": rent.url,
    }


def decode(rent_id: int, fields: dict[str, str]) -> Rent | None:
    """The rental, or None for an intent (a purchase never recorded) or a foreign record."""
    if fields.get("status") not in tuple(RentStatus) or any(f not in fields for f in FIELDS):
        return None
    return Rent(
        id=rent_id,
        tenant=fields["tenant"],
        provider=fields["provider"],
        order_id=fields["order_id"],
        service=fields["service"],
        upstream_service=fields["upstream_service"],
        upstream_country=fields["upstream_country"],
        country=int(fields["country"]),
        phone=fields["phone"],
        created=float(fields["created"]),
        until=float(fields["until"]),
        status=RentStatus(fields["status"]),
        messages=tuple(
            RentSms(str(s), str(t), float(d)) for s, t, d in json.loads(fields["messages"])
        ),
        url=fields.get("url", ""),
    )


class RentStore:
    """The one place that knows how rentals live in Redis; ids come from the activation counter,
    so a rental id never names an activation too."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, retention: float, link: RedisLink | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.retention = retention
        self.link = link
        self.tally: Tally | None = None  # the operator page's counts

    @classmethod
    def beside(cls, activations: ActivationStore) -> RentStore:
        """A rental store on the activation store's Redis, prefix, retention and tally."""
        store = cls(activations.redis, activations.keys, activations.retention, activations.link)
        store.tally = activations.tally
        return store

    def _confirm(self, pipe: Pipeline, key: str) -> int:
        return self.link.confirm(pipe, key) if self.link is not None else 0

    def _ttl(self, until: float) -> int:
        return max(60, int(until - time.time() + self.retention))

    @mapped
    async def begin(self, rent_id: int, fields: dict[str, str]) -> None:
        """Record what is about to be asked upstream, before asking (crash safety): the id
        joins the intents index first, so no crash leaves an intent that nothing lists."""
        now = time.time()
        await self.redis.zadd(self.keys.rent_intents(), {str(rent_id): now})
        key = self.keys.rent(rent_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=_mapping({**fields, "status": INTENT, "started": repr(now)}))
            pipe.expire(key, self._ttl(now + RETENTION_OF_INTENTS))
            needed = self._confirm(pipe, key)
            replies = await pipe.execute()
        confirmed(self.link, needed, replies[-1], "rental intent")

    @mapped
    async def give_up(self, rent_id: int, *, unknown: str | None = None) -> None:
        """Forget an intent the upstream refused; keep one whose outcome is unknown (the
        reconciler settles it)."""
        if unknown is None:
            await self.drop_intent(rent_id)
        else:
            await self.redis.hset(
                self.keys.rent(rent_id), mapping=_mapping({"status": UNKNOWN, "error": unknown})
            )

    @mapped
    async def drop_intent(self, rent_id: int) -> None:
        await self.redis.delete(self.keys.rent(rent_id))
        await self.redis.zrem(self.keys.rent_intents(), str(rent_id))

    @mapped
    async def forget_intent(self, rent_id: int) -> None:
        """Unlist an intent whose record became a rental (or expired)."""
        await self.redis.zrem(self.keys.rent_intents(), str(rent_id))

    @mapped
    async def stale_intents(self, before: float) -> list[int]:
        found = await self.redis.zrangebyscore(self.keys.rent_intents(), "-inf", before)
        return [int(i) for i in cast("list[str]", found)]

    @mapped
    async def intent(self, rent_id: int) -> dict[str, str]:
        """What an unrecorded rental asked for (empty once recorded or gone)."""
        fields = cast("dict[str, str]", await self.redis.hgetall(self.keys.rent(rent_id)))
        return fields if fields.get("status") in (INTENT, UNKNOWN) else {}

    @mapped
    async def mark_reported(self, rent_id: int) -> None:
        await self.redis.hset(self.keys.rent(rent_id), "reported", "1")

    @mapped
    async def held(self, provider: str, order_id: str) -> bool:
        """Whether a rental holds this upstream rental order."""
        key = self.keys.upstream_order(f"{provider}:rent", order_id)
        return bool(await self.redis.exists(key))

    @mapped
    async def claim_upstream(self, provider: str, order_id: str, rent_id: int) -> bool:
        """Bind an upstream rental order to a rent id unless another already holds it."""
        key = self.keys.upstream_order(f"{provider}:rent", order_id)
        return bool(await self.redis.set(key, rent_id, nx=True, ex=int(self.retention)))

    @mapped
    async def save(self, rent: Rent, *, new: bool = False) -> None:
        """Write the rental; a new one is also indexed for its tenant (and, with a webhook, for
        the poller), bound to its upstream order, and its intent dropped: the record first."""
        key = self.keys.rent(rent.id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=_mapping(encode(rent)))
            pipe.hdel(key, "started", "error", "hours", "reported")
            pipe.expire(key, self._ttl(rent.until))
            if new:
                index = self.keys.tenant_rents(rent.tenant)
                pipe.zadd(index, {str(rent.id): rent.created})
                pipe.expire(index, self._ttl(rent.until))
                if rent.url:
                    pipe.zadd(self.keys.rents_watched(), {str(rent.id): rent.created})
                pipe.set(
                    self.keys.upstream_order(f"{rent.provider}:rent", rent.order_id),
                    rent.id, ex=self._ttl(rent.until),
                )  # fmt: skip
                pipe.zrem(self.keys.rent_intents(), str(rent.id))
            needed = self._confirm(pipe, key) if new else 0
            replies = await pipe.execute()
        if new and self.tally is not None:
            self.tally.rented(rent.tenant, rent.provider)
        try:
            confirmed(self.link, needed, replies[-1], "rental record")
        except Unconfirmed as exc:
            # The rental is paid and recorded on the primary: the client gets its number
            # (an error would have it rent again, and pay twice); the operator hears of it.
            log.warning("rent_record_unconfirmed", rent=rent.id, error=str(exc))

    @mapped
    async def load(self, rent_id: int) -> Rent | None:
        fields = cast("dict[str, str]", await self.redis.hgetall(self.keys.rent(rent_id)))
        return decode(rent_id, fields) if fields else None

    @mapped
    async def listed(self, tenant: str) -> list[Rent]:
        """The tenant's rentals still on record, newest first; ids whose record is gone are
        dropped from the index."""
        index = self.keys.tenant_rents(tenant)
        ids = [int(i) for i in cast("list[str]", await self.redis.zrevrange(index, 0, -1))]
        rents, gone = [], []
        for rent_id in ids:
            rent = await self.load(rent_id)
            if rent is None:
                gone.append(str(rent_id))
            else:
                rents.append(rent)
        if gone:
            await self.redis.zrem(index, *gone)
        return rents

    @mapped
    async def claim_poll(self, rent_id: int, interval: float, what: str = "poll") -> bool:
        """True for exactly one caller per interval, across every replica."""
        claimed = await self.redis.set(
            self.keys.rent_poll_claim(rent_id, what), "1", nx=True,
            px=max(1, int(interval * 1000)),
        )  # fmt: skip
        return bool(claimed)


def _mapping(fields: dict[str, str]) -> dict[Any, Any]:
    """redis-py's hset wants a Mapping invariant in its key type; ours are plain str."""
    return cast("dict[Any, Any]", fields)
