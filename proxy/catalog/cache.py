"""Upstream counts and prices cached in Redis, fetched by one replica at a time.

An entry is fresh for `ttl`; then the first request anywhere that takes its lock (SET NX PX)
asks the upstream while the others serve the stale entry, or wait briefly when there is none.
A failed fetch keeps its lock for a back-off, so a provider that is down is asked at most once
per back-off, and its last known entry is served (logged as stale) for up to `stale_for`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import redis.asyncio as aioredis
import structlog

from proxy.config import CatalogSettings
from proxy.providers.base import Offer, Provider, ProviderError
from proxy.store.activations import mapped
from proxy.store.keys import Keys

log = structlog.get_logger("catalog")

WHOLE_COUNTRY = "*"  # lock and freshness field of a whole-country fetch
FAILURE_BACKOFF = 10.0
FAILED = "failed"  # a lock held through a failed fetch's back-off: no fetch is under way
WAIT_FOR_OTHERS = 3.0


@dataclass
class Budget:
    """Upstream fetches one client request may still cause (catalog.max_fetches)."""

    left: int

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _encode(offer: Offer, at: float) -> str:
    count = "" if offer.count is None else str(offer.count)
    return f"{count}|{offer.price}|{at:.0f}"


def _decode(raw: str) -> tuple[Offer, float]:
    count, price, at = raw.split("|")
    return Offer(int(count) if count else None, Decimal(price)), float(at)


class OfferCache:
    """Counts and prices per provider and country, shared by every replica."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        settings: CatalogSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.clock = clock

    @mapped
    async def _read(self, key: str) -> dict[str, tuple[Offer, float]]:
        raw = cast("dict[str, str]", await self.redis.hgetall(key))
        return {field: _decode(value) for field, value in raw.items()}

    @mapped
    async def cached(
        self, provider: str, country: str, service: str, operator: str = ""
    ) -> tuple[Offer, float] | None:
        """One offer as cached and when it was seen, never fetched (the operator's page)."""
        raw = await self._get_field(self.keys.offers(provider, country, operator), service)
        return _decode(raw) if raw else None

    async def country(
        self, provider: Provider, country: str, operator: str, budget: Budget
    ) -> dict[str, Offer]:
        """Every cached offer of a country; refreshed first where the provider lists it whole."""
        key = self.keys.offers(provider.name, country, operator)
        entries = await self._read(key)
        if provider.lists_whole_country:
            marker = entries.pop(WHOLE_COUNTRY, None)
            if marker is None or self._stale(marker[1]):
                fetched = await self._refresh(
                    provider, country, operator, WHOLE_COUNTRY, budget,
                    lambda: provider.offers(country, None, operator or None),
                )  # fmt: skip
                if fetched is not None:
                    return fetched
                entries = await self._read(key) if marker is None else entries
                entries.pop(WHOLE_COUNTRY, None)
        else:
            entries.pop(WHOLE_COUNTRY, None)
        self._warn_if_stale(provider, country, entries)
        return {service: offer for service, (offer, _) in entries.items()}

    async def pair(
        self, provider: Provider, country: str, service: str, operator: str, budget: Budget
    ) -> Offer | None:
        """One service's offer, fetched when missing or stale (by country for list providers)."""
        key = self.keys.offers(provider.name, country, operator)
        if provider.lists_whole_country:
            # The common case reads two fields, not the whole country's listing.
            raw, marker = await self._get_fields(key, service, WHOLE_COUNTRY)
            if marker is not None and not self._stale(_decode(marker)[1]):
                return _decode(raw)[0] if raw else None
            listed = (await self.country(provider, country, operator, budget)).get(service)
            if listed is not None or await self._get_field(key, WHOLE_COUNTRY) is not None:
                return listed
            # The country could not be listed at all (an endpoint the seed does not show may be
            # missing upstream): price this one pair the way the seed does, with a fetch of its
            # own (the listing's attempt took the request's budget).
            budget = Budget(1)
        raw = await self._get_field(key, service)
        cached = _decode(raw) if raw else None
        if cached is None or self._stale(cached[1]):
            fetched = await self._refresh(
                provider, country, operator, service, budget,
                lambda: provider.offers(country, service, operator or None),
            )  # fmt: skip
            if fetched is not None:
                return fetched.get(service)
            if cached is None:
                raw = await self._get_field(key, service)
                cached = _decode(raw) if raw else None
        if cached is not None and self._stale(cached[1]):
            log.warning("catalog_stale", provider=provider.name, country=country, service=service)
        return cached[0] if cached else None

    @mapped
    async def stale(
        self, provider: Provider, country: str, operator: str, field: str | None
    ) -> bool:
        """Would reading this entry ask the upstream (missing or older than ttl)?
        `field` None: the whole-country listing."""
        key = self.keys.offers(provider.name, country, operator)
        raw = await self._get_field(key, field or WHOLE_COUNTRY)
        return raw is None or self._stale(_decode(raw)[1])

    @mapped
    async def _get_fields(self, key: str, *fields: str) -> list[str | None]:
        return cast("list[str | None]", await self.redis.hmget(key, list(fields)))

    @mapped
    async def _get_field(self, key: str, field: str) -> str | None:
        return cast("str | None", await self.redis.hget(key, field))

    def _stale(self, at: float) -> bool:
        return self.clock() - at >= self.settings.ttl

    def _warn_if_stale(
        self, provider: Provider, country: str, entries: dict[str, tuple[Offer, float]]
    ) -> None:
        if any(self._stale(at) for _, at in entries.values()):
            log.warning("catalog_stale", provider=provider.name, country=country)

    async def _refresh(
        self,
        provider: Provider,
        country: str,
        operator: str,
        field: str,
        budget: Budget,
        fetch: Callable[[], Awaitable[dict[str, Offer]]],
    ) -> dict[str, Offer] | None:
        """Fetch under the single-flight lock; None when someone else has it or it failed."""
        key = self.keys.offers(provider.name, country, operator)
        lock = self.keys.offers_lock(provider.name, country, operator, field)
        if not budget.take():
            return None
        if not await self._lock(lock):
            if await self._lock_value(lock) != FAILED:
                await self._wait_for(key, field)  # a fetch is under way: it may fill the entry
            return None
        try:
            offers = await fetch()
        except ProviderError as exc:
            log.warning("catalog_fetch_failed", provider=provider.name, error=str(exc))
            await self._hold(lock, FAILURE_BACKOFF)
            return None
        await self._store(key, offers, field)
        await self._unlock(lock)
        return offers

    @mapped
    async def _lock(self, lock: str) -> bool:
        return bool(await self.redis.set(lock, "1", nx=True, px=30_000))

    @mapped
    async def _hold(self, lock: str, seconds: float) -> None:
        """Keep the lock through the back-off, marked so that nobody waits for a fetch."""
        await self.redis.set(lock, FAILED, px=int(seconds * 1000))

    @mapped
    async def _lock_value(self, lock: str) -> str | None:
        return cast("str | None", await self.redis.get(lock))

    @mapped
    async def _unlock(self, lock: str) -> None:
        await self.redis.delete(lock)

    @mapped
    async def _store(self, key: str, offers: dict[str, Offer], field: str) -> None:
        now = self.clock()
        mapping: dict[Any, Any] = {code: _encode(offer, now) for code, offer in offers.items()}
        if field == WHOLE_COUNTRY:
            mapping[WHOLE_COUNTRY] = _encode(Offer(None, Decimal(0)), now)  # when it was listed
        async with self.redis.pipeline(transaction=False) as pipe:
            if field == WHOLE_COUNTRY:
                pipe.delete(key)  # services that disappeared from the list are gone
            if mapping:  # an empty listing writes nothing (HSET refuses no fields)
                pipe.hset(key, mapping=mapping)
            pipe.expire(key, int(self.settings.stale_for))
            await pipe.execute()

    async def _wait_for(self, key: str, field: str) -> None:
        """Another replica is fetching: give it a moment, then serve whatever is there."""
        deadline = time.monotonic() + WAIT_FOR_OTHERS
        while time.monotonic() < deadline:
            if await self._get_field(key, field) is not None:
                return
            await asyncio.sleep(0.05)
