"""A replica's watch on its Redis: every few seconds, can the primary be written to?

It keeps what money writes need fresh (how many replicas confirm them, RedisLink.refresh) and
says in the log, once per change, when the store stops or starts taking writes: a failover,
a dead primary, a cluster with uncovered slots. Readiness asks the primary itself, each time.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from redis.exceptions import RedisError

from proxy.backoff import Backoff
from proxy.store.connect import RedisLink

log = structlog.get_logger("redis")

WATCH_EVERY = 2.0  # seconds between two checks while the store is writable
CHECK_TIMEOUT = 2.0


class StoreWatch:
    """`start()`, then `stop()`; `writable` is the last check's verdict."""

    def __init__(self, link: RedisLink, probe_key: str, every: float = WATCH_EVERY) -> None:
        self.link = link
        self.probe_key = probe_key
        self.every = every
        self.writable = False
        self._task: asyncio.Task[None] | None = None
        self._state = Backoff("redis_writes", log, first=0.25, cap=every)

    async def start(self) -> None:
        """One check now (so the first purchase knows its replicas), then in the background."""
        await self.check()
        self._task = asyncio.create_task(self._run(), name="store-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check(self) -> float:
        """Probe the primary; the pause before the next probe."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await self.link.writable(self.probe_key)
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            self.writable = False
            return self._state.failed(f"{type(exc).__name__}: {exc}")
        self.writable = True
        self._state.succeeded()
        return self.every

    async def _run(self) -> None:
        pause = self.every
        while True:
            await asyncio.sleep(pause)
            pause = await self.check()
