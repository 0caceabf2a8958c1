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

# KEYS[1] queue; ARGV now, limit, pushed-ahead score -> the ids taken
TAKE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids
"""
# KEYS[1] delivery hash, KEYS[2] queue; ARGV id, attempts, retry score. A delivery whose hash
# is gone (expired, or settled by another sender) is not brought back as a bare stub.
RETRY_IF_KEPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], 'attempts', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""


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
        async with self.redis.pipeline(transaction=False) as pipe:
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
        # One script takes them and pushes them ahead: two senders never take the same one.
        taken = await self.redis.eval(
            TAKE_DUE, 1, queue, repr(now), str(limit), repr(now + SEND_TIMEOUT * 3)
        )
        found = []
        for delivery_id in cast("list[str]", taken):
            key = self.keys.webhook(delivery_id)
            fields = cast("dict[str, str]", await self.redis.hgetall(key))
            try:
                found.append(
                    Delivery(delivery_id, fields["url"], fields["body"], fields["tenant"],
                             int(fields["attempts"]), float(fields["created"]),
                             fields.get("from_client") == "1")
                )  # fmt: skip
            except (KeyError, ValueError):  # expired or damaged: nothing that can be sent
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.delete(key)
                    pipe.zrem(queue, delivery_id)
                    await pipe.execute()
        return found

    @mapped
    async def settle(
        self, delivery: Delivery, delivered: bool, now: float, *, hopeless: bool = False
    ) -> str:
        """Drop a delivered or hopeless POST, or schedule the next attempt; the outcome word."""
        attempts = delivery.attempts + 1
        retry_at = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
        if delivered or hopeless or attempts >= ATTEMPTS or retry_at - delivery.created > WINDOW:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.delete(self.keys.webhook(delivery.id))
                pipe.zrem(self.keys.webhook_queue(), delivery.id)
                await pipe.execute()
            return "delivered" if delivered else "abandoned"
        kept = await self.redis.eval(
            RETRY_IF_KEPT, 2, self.keys.webhook(delivery.id), self.keys.webhook_queue(),
            delivery.id, str(attempts), repr(retry_at),
        )  # fmt: skip
        return "retry" if kept else "abandoned"

    @mapped
    async def pending(self) -> int:
        return int(await self.redis.zcard(self.keys.webhook_queue()))
