"""One catalog for a tenant: every provider's offers in SMS-Activate codes, merged.

Counts are summed across providers. The price shown is the price getNumber would charge: the
client price (tenant currency and markup) of the provider it would buy from under the tenant's
routing for that service and country (`quote`): the first provider with stock that is not
resting, in the strategy's order: `priority` the tenant's order, `cheapest` by price. Under
`success_rate` and `weighted` the order is drawn per purchase, so the price shown is the dearest
such provider's: a client may pay less than shown, never more. `retail_price` is the dearest
offer and `freePriceMap` lists every provider's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from decimal import Decimal

import structlog

from proxy.catalog.cache import Budget, OfferCache
from proxy.catalog.memo import MEMO_SECONDS, PriceMemo
from proxy.config import CatalogSettings, ProviderSettings, TenantSettings
from proxy.health.breaker import Health
from proxy.mapping import CodeMap, OperatorMap
from proxy.money import Money
from proxy.protocol.requests import GetNumber
from proxy.providers.base import Offer, Provider
from proxy.store.activations import StoreError

log = structlog.get_logger("catalog")


@dataclass(frozen=True, slots=True)
class ProviderOffer:
    """One provider's offer for one SMS-Activate service and country, priced for the client."""

    provider: str
    count: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Merged:
    """The tenant's view of one service in one country across its providers."""

    count: int
    price: Decimal
    retail_price: Decimal
    offers: tuple[ProviderOffer, ...]  # cheapest first
    provider: str | None = None  # the provider `price` is quoted from (None: none can sell now)

    @property
    def price_map(self) -> dict[Decimal, int]:
        """Free Price map: price -> numbers available at it (seeds/004:40-43)."""
        found: dict[Decimal, int] = {}
        for offer in self.offers:
            found[offer.price] = found.get(offer.price, 0) + offer.count
        return found


# Strategies whose order is the same for every purchase of a pair: the price shown is exact.
EXACT_STRATEGIES = ("priority", "cheapest")


def quote(
    offers: Sequence[ProviderOffer], strategy: str, order: Sequence[str], resting: Set[str]
) -> ProviderOffer | None:
    """The offer getNumber would buy: the first provider in the strategy's order that has
    stock and is not resting (for `priority`, `order` is the tenant's); the dearest of those
    where the order is drawn per purchase. None when no provider could sell now."""
    able = [o for o in offers if o.count > 0 and o.provider not in resting]
    if not able:
        return None
    if strategy == "priority":
        rank = {name: i for i, name in enumerate(order)}
        return min(able, key=lambda o: rank.get(o.provider, len(rank)))
    if strategy == "cheapest":
        return min(able, key=lambda o: o.price)  # min keeps the first of equal prices
    return max(able, key=lambda o: o.price)


def merge(
    offers: Iterable[ProviderOffer],
    strategy: str = "cheapest",
    order: Sequence[str] = (),
    resting: Set[str] = frozenset(),
) -> Merged | None:
    """One service in one country across the tenant's providers (`offers` in its order)."""
    listed = list(offers)
    ranked = sorted(listed, key=lambda o: (o.price, -o.count))
    if not ranked:
        return None
    chosen = quote(listed, strategy, order, resting)
    in_stock = [o for o in ranked if o.count > 0] or ranked
    return Merged(
        count=sum(o.count for o in ranked),
        price=chosen.price if chosen is not None else in_stock[0].price,
        retail_price=in_stock[-1].price,
        offers=tuple(ranked),
        provider=chosen.provider if chosen is not None else None,
    )


Catalog = dict[int, dict[str, Merged]]  # country id -> SMS-Activate service code -> offer


@dataclass(frozen=True, slots=True)
class Prices:
    """What one purchase is priced by: every provider's client price (routing by price, Free
    Price) and the price the catalog shows for it (`quoted`, from `quote`), which it charges."""

    by_provider: Mapping[str, Decimal]
    quoted: Decimal | None = None

    def __len__(self) -> int:
        return len(self.by_provider)


@dataclass(frozen=True, slots=True)
class Lookup:
    """One provider's part of a catalog request, in its own codes."""

    provider: Provider
    country: int
    country_code: str
    service: str | None
    service_code: str | None
    operator: str


class Catalogs:
    """Builds merged catalogs from the shared offer cache."""

    def __init__(
        self,
        cache: OfferCache,
        providers: Mapping[str, Provider],
        provider_settings: Mapping[str, ProviderSettings],
        codes: CodeMap,
        operators: OperatorMap,
        money: Money,
        settings: CatalogSettings,
        health: Health | None = None,
    ) -> None:
        self.health = health
        self.cache = cache
        self.providers = providers
        self.provider_settings = provider_settings
        self.codes = codes
        self.operators = operators
        self.money = money
        self.settings = settings
        self._memo: PriceMemo[Prices] = PriceMemo(min(MEMO_SECONDS, settings.ttl))

    def budget(self) -> Budget:
        return Budget(self.settings.max_fetches)

    def provider_operator(
        self, provider: Provider, country: int, operator: str | None
    ) -> str | None:
        """The provider's name for an SMS-Activate operator; "" for no filter, None: cannot."""
        if operator is None:
            return ""
        return self.operators.provider_operator(provider.kind, country, operator)

    async def catalog(
        self,
        tenant: TenantSettings,
        countries: Iterable[int],
        service: str | None = None,
        operator: str | None = None,
        budget: Budget | None = None,
    ) -> Catalog:
        """Merged offers for the countries (and one service, or all) the tenant can buy.

        Entries needing an upstream fetch get the request's budget in country order (so a
        listing fills in predictably, first countries first), then everything runs at once.
        """
        budget = budget or self.budget()
        lookups = [
            lookup
            for country in countries
            for name in tenant.providers
            if (lookup := self._lookup(self.providers[name], country, service, operator))
        ]
        stale = await asyncio.gather(*(self._needs_fetch(lookup) for lookup in lookups))
        budgets = [Budget(1 if need and budget.take() else 0) for need in stale]
        results = await asyncio.gather(
            *(self._fetch(lookup, own) for lookup, own in zip(lookups, budgets, strict=True))
        )
        collected: dict[tuple[int, str], list[ProviderOffer]] = {}
        for lookup, found in zip(lookups, results, strict=True):
            for code, offer in found.items():
                collected.setdefault((lookup.country, code), []).append(
                    self._priced(tenant, lookup.provider, offer)
                )
        resting = await self.resting(tenant.providers)
        merged: Catalog = {}
        for (country, code), offers in collected.items():
            strategy = tenant.strategy_for(code, country)
            entry = merge(offers, strategy, tenant.providers, resting)
            if entry is not None:
                merged.setdefault(country, {})[code] = entry
        return merged

    async def resting(self, names: Sequence[str]) -> frozenset[str]:
        """The providers a purchase would not be sent to now (their breaker is open); a
        provider whose health cannot be read counts as available, as a purchase would try it."""
        if self.health is None:
            return frozenset()
        try:
            views = await asyncio.gather(*(self.health.view(name) for name in names))
        except StoreError:
            return frozenset()
        return frozenset(v.provider for v in views if v.state == "open")

    async def warm(self, pairs: Iterable[tuple[str, int]]) -> int:
        """Refresh the configured (service, country) pairs at every provider; returns how many
        offers are now known. Stale entries are fetched once across all replicas (single flight).
        """
        known = 0
        budget = Budget(10**9)  # the warm list is bounded by configuration, not per request
        for service, country in pairs:
            for provider in self.providers.values():
                code = self.codes.provider_service(provider.kind, service)
                country_code = self.codes.provider_country(provider.kind, country)
                if code is None or country_code is None:
                    continue
                if await self.cache.pair(provider, country_code, code, "", budget) is not None:
                    known += 1
        return known

    async def keep_warm(self, pairs: tuple[tuple[str, int], ...]) -> None:
        """Background task: refresh the warm list twice per ttl until cancelled."""
        while True:
            try:
                known = await self.warm(pairs)
                log.info("catalog_warmed", pairs=len(pairs), offers=known)
            except StoreError as exc:
                log.warning("catalog_warm_failed", error=str(exc))
            await asyncio.sleep(max(1.0, self.settings.ttl / 2))

    def known_prices(self, tenant: TenantSettings, request: GetNumber) -> Prices | None:
        """What `prices` answered for the same purchase a moment ago (see catalog.memo)."""
        return self._memo.get(self._price_key(tenant, request))

    async def prices(self, tenant: TenantSettings, request: GetNumber) -> Prices:
        """Each provider's current client price for a purchase, and the price shown for it."""
        key = self._price_key(tenant, request)
        known = self._memo.get(key)
        if known is not None:
            return known
        operator = request.operators[0] if request.operators else None
        found = await self.catalog(tenant, [request.country], request.service, operator)
        merged = found.get(request.country, {}).get(request.service)
        if merged is None:
            return Prices({})
        quoted = merged.price if merged.provider is not None else None
        prices = Prices({o.provider: o.price for o in merged.offers}, quoted)
        self._memo.put(key, prices)
        return prices

    @staticmethod
    def _price_key(tenant: TenantSettings, request: GetNumber) -> tuple[str, str, int, str]:
        operator = request.operators[0] if request.operators else ""
        return (tenant.name, request.service, request.country, operator)

    def _priced(self, tenant: TenantSettings, provider: Provider, offer: Offer) -> ProviderOffer:
        count = offer.count
        if count is None:
            count = self.provider_settings[provider.name].assumed_stock
        price = self.money.client_price(
            offer.price, provider.currency, tenant.currency, tenant.markup
        )
        return ProviderOffer(provider.name, count, price)

    def _lookup(
        self, provider: Provider, country: int, service: str | None, operator: str | None
    ) -> Lookup | None:
        """What to read for one provider and country, in its own codes; None: not carried."""
        country_code = self.codes.provider_country(provider.kind, country)
        provider_operator = self.provider_operator(provider, country, operator)
        if country_code is None or provider_operator is None:
            return None
        service_code = None
        if service is not None:
            service_code = self.codes.provider_service(provider.kind, service)
            if service_code is None:
                return None
        return Lookup(provider, country, country_code, service, service_code, provider_operator)

    async def _needs_fetch(self, lookup: Lookup) -> bool:
        field = None if lookup.provider.lists_whole_country else lookup.service_code
        if field is None and not lookup.provider.lists_whole_country:
            return False  # a per-pair provider is only listed from what is cached
        return await self.cache.stale(lookup.provider, lookup.country_code, lookup.operator, field)

    async def _fetch(self, lookup: Lookup, budget: Budget) -> dict[str, Offer]:
        if lookup.service is not None and lookup.service_code is not None:
            return await self._one(
                lookup.provider, lookup.country_code, lookup.service_code, lookup.service,
                lookup.operator, budget,
            )  # fmt: skip
        return await self._all(lookup.provider, lookup.country_code, lookup.operator, budget)

    async def _one(
        self,
        provider: Provider,
        country: str,
        service_code: str,
        service: str,
        operator: str,
        budget: Budget,
    ) -> dict[str, Offer]:
        offer = await self.cache.pair(provider, country, service_code, operator, budget)
        return {service: offer} if offer is not None else {}

    async def _all(
        self, provider: Provider, country: str, operator: str, budget: Budget
    ) -> dict[str, Offer]:
        found = {}
        for code, offer in (await self.cache.country(provider, country, operator, budget)).items():
            service = self.codes.service_from_provider(provider.kind, code)
            if service is not None:
                found[service] = offer
        return found
