"""In-process copies of activation records, kept consistent across replicas by Redis pub/sub.

Every write of a record publishes its id; every replica drops its copy when the id arrives.
getStatus, the hot path (clients poll every second), then reads memory instead of Redis.

Two races are closed: a copy is only kept while the subscription is live (after a reconnect
the cache starts empty, as messages sent meanwhile were lost), and a read that started before
an invalidation arrived does not store what it read (a per-id generation counter).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from proxy.backoff import Backoff
from proxy.lifecycle import Activation

log = structlog.get_logger("cache")

RECONNECT_DELAY = 0.5


class RecordCache:
    """Activation records by id, dropped on every write anywhere."""

    def __init__(
        self,
        subscribe: Callable[[], Awaitable[PubSub]],
        channel: str,
        max_entries: int = 200_000,
    ) -> None:
        self.subscribe = subscribe  # a fresh PubSub that hears every write (RedisLink.pubsub)
        self.channel = channel
        self.max_entries = max_entries
        self.live = False
        self._records: OrderedDict[int, Activation] = OrderedDict()
        self._generations: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, wait: float = 2.0) -> None:
        self._task = asyncio.create_task(self._listen())
        try:
            await asyncio.wait_for(self._ready.wait(), wait)
        except TimeoutError:
            log.warning("cache_not_live", reason="subscription not confirmed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._go_dark()

    def get(self, activation_id: int) -> Activation | None:
        if not self.live:
            return None
        return self._records.get(activation_id)

    def generation(self, activation_id: int) -> int:
        return self._generations.get(activation_id, 0)

    def put(self, act: Activation, generation: int) -> None:
        """Keep a copy read from Redis, unless it was invalidated while being read."""
        if not self.live or self._generations.get(act.id, 0) != generation:
            return
        self._records[act.id] = act
        if len(self._records) > self.max_entries:
            self._records.popitem(last=False)

    def drop(self, activation_id: int) -> None:
        self._records.pop(activation_id, None)
        self._generations[activation_id] = self._generations.get(activation_id, 0) + 1
        if len(self._generations) > 2 * self.max_entries:
            self._generations.clear()  # bumps everyone's generation: in-flight reads not kept
            self._records.clear()

    def _go_dark(self) -> None:
        self.live = False
        self._records.clear()
        self._generations.clear()

    async def _listen(self) -> None:
        # Redis down: one line when the subscription is lost and one when it is back.
        subscription = Backoff("cache_subscription", log, first=RECONNECT_DELAY, cap=5.0)
        while True:
            pubsub: PubSub | None = None
            pause = RECONNECT_DELAY
            try:
                pubsub = await self.subscribe()
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        self._records.clear()
                        self.live = True
                        self._ready.set()
                        subscription.succeeded()
                    elif message["type"] == "message":
                        self.drop(int(message["data"]))
            except (RedisError, OSError, ValueError) as exc:
                pause = subscription.failed(f"{type(exc).__name__}: {exc}")
            finally:
                self._go_dark()
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(pause)
