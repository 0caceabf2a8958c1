"""The webhook outbox in Redis: one hash per POST still owed, one sorted set by when it is due.

A delivery is written when its SMS is first seen, so neither a restart nor a dead replica loses
it; it leaves only once delivered or given up (seeds/002:266: at most 8 tries within 2 hours).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from proxy.store.activations import mapped
from proxy.store.keys import Keys

ATTEMPTS = 8  # seeds/002:266
WINDOW = 7200.0  # seconds: "within 2 hours"
# Waits after attempts 1..7: eight attempts spread over about 1 h 52 min.
BACKOFF = (30.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 2700.0)
SEND_TIMEOUT = 10.0  # a POST's own timeout; a taken delivery comes back after three of these
BATCH = 50


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST still owed: where, what, for whom, and how often it was tried."""

    id: str
    url: str
    body: str
    tenant: str
    attempts: int
    created: float
    from_client: bool = False  # the URL came with a client request, not from the operator


class Outbox:
    """Deliveries in Redis: a hash each and one sorted set scored by when each is due."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    @mapped
    async def enqueue(
        self, tenant: str, url: str, payload: Mapping[str, Any], *, from_client: bool = False
    ) -> str:
        """Owe one POST of `payload` to `url`, due now."""
        delivery_id = uuid.uuid4().hex
        now = time.time()
        fields = {"url": url, "body": json.dumps(payload), "tenant": tenant, "attempts": "0",
                  "created": repr(now), "from_client": "1" if from_client else "0"}  # fmt: skip
        key = self.keys.webhook(delivery_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=cast("dict[Any, Any]", fields))
            pipe.expire(key, int(WINDOW) + 600)
            pipe.zadd(self.keys.webhook_queue(), {delivery_id: now})
            await pipe.execute()
        return delivery_id

    @mapped
    async def take_due(self, now: float, limit: int = BATCH) -> list[Delivery]:
        """Deliveries due by `now`, each pushed SEND_TIMEOUT ahead first, so that a sender
        that dies mid-POST leaves it to be sent again rather than lost."""
        queue = self.keys.webhook_queue()
        ids = cast("list[str]", await self.redis.zrangebyscore(queue, 0, now, 0, limit))
        found = []
        for delivery_id in ids:
            await self.redis.zadd(queue, {delivery_id: now + SEND_TIMEOUT * 3}, xx=True)
            key = self.keys.webhook(delivery_id)
            fields = cast("dict[str, str]", await self.redis.hgetall(key))
            if not fields:
                await self.redis.zrem(queue, delivery_id)  # expired: nothing left to send
                continue
            found.append(
                Delivery(delivery_id, fields["url"], fields["body"], fields["tenant"],
                         int(fields["attempts"]), float(fields["created"]),
                         fields.get("from_client") == "1")
            )  # fmt: skip
        return found

    @mapped
    async def settle(
        self, delivery: Delivery, delivered: bool, now: float, *, hopeless: bool = False
    ) -> str:
        """Drop a delivered or hopeless POST, or schedule the next attempt; the outcome word."""
        attempts = delivery.attempts + 1
        retry_at = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
        if delivered or hopeless or attempts >= ATTEMPTS or retry_at - delivery.created > WINDOW:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.keys.webhook(delivery.id))
                pipe.zrem(self.keys.webhook_queue(), delivery.id)
                await pipe.execute()
            return "delivered" if delivered else "abandoned"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.webhook(delivery.id), "attempts", str(attempts))
            pipe.zadd(self.keys.webhook_queue(), {delivery.id: retry_at})
            await pipe.execute()
        return "retry"

    @mapped
    async def pending(self) -> int:
        return int(await self.redis.zcard(self.keys.webhook_queue()))
