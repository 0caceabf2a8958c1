"""A poll schedule: one sorted set of ids scored by when each is next due a background poll."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from proxy.store.activations import mapped


class PollSchedule:
    """What the poller's lease holder visits next; the ids are put in by their stores, with
    the record they belong to."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self.redis = redis
        self.key = key

    @mapped
    async def due(self, now: float, limit: int) -> list[int]:
        """Ids whose next poll is due by `now`, the most overdue first."""
        found = await self.redis.zrangebyscore(self.key, "-inf", now, 0, limit)
        return [int(m) for m in cast("list[str]", found)]

    @mapped
    async def reschedule(self, record_id: int, at: float) -> None:
        """Next poll at `at`, unless the id has left the schedule meanwhile."""
        await self.redis.zadd(self.key, {str(record_id): at}, xx=True)

    @mapped
    async def forget(self, record_id: int) -> None:
        await self.redis.zrem(self.key, str(record_id))
