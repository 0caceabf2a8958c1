"""Buying a number: pick the tenant's providers that carry the pair and fail over between them.

Money rules: a purchase intent is written to Redis before each upstream call; a number that was
sold is recorded before the client hears of it; a purchase whose outcome is unknown (sent, no
answer) is never bought again elsewhere within the same request.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import structlog

from proxy import routing
from proxy.catalog.offers import Catalogs
from proxy.config import RoutingSettings, TenantSettings
from proxy.health.breaker import Health
from proxy.health.guard import GuardedProvider
from proxy.lifecycle import Activation
from proxy.mapping import CodeMap
from proxy.metrics import Metrics
from proxy.money import Money
from proxy.protocol.requests import GetNumber
from proxy.protocol.words import Word
from proxy.providers.base import (
    BuyRequest,
    OutcomeUnknown,
    Provider,
    ProviderAnswerInvalid,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    Purchase,
    Refusal,
)
from proxy.store.activations import ActivationStore, PurchaseIntent, StoreError

log = structlog.get_logger("dispatch")


class PurchaseFailed(Exception):
    """No number was bought; `word` is what the client hears."""

    def __init__(self, word: Word, detail: str = "", *args: str) -> None:
        super().__init__(f"{word.value}: {detail}" if detail else word.value)
        self.word = word
        self.args_ = args  # the answer's arguments: WRONG_MAX_PRICE:<min>


@dataclass(frozen=True, slots=True)
class Candidate:
    """One provider able to sell the pair, with the request in its own codes."""

    provider: GuardedProvider
    request: BuyRequest
    fallback: bool = False  # cannot honour the asked operator: bought without one


class Dispatcher:
    """Tries the tenant's providers in its configured order."""

    def __init__(
        self,
        store: ActivationStore,
        providers: Mapping[str, GuardedProvider],
        codes: CodeMap,
        money: Money,
        catalogs: Catalogs,
        health: Health,
        settings: RoutingSettings,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.providers = providers
        self.codes = codes
        self.money = money
        self.catalogs = catalogs
        self.health = health
        self.routing = settings
        self.rng = random.Random()
        self.metrics = metrics

    def candidates(self, tenant: TenantSettings, request: GetNumber) -> list[Candidate]:
        """The tenant's providers that carry this service and country, in order."""
        if self.codes.service(request.service) is None:
            raise PurchaseFailed(Word.BAD_SERVICE, f"unknown service {request.service!r}")
        if self.codes.country(request.country) is None:
            raise PurchaseFailed(Word.NO_NUMBERS, f"unknown country {request.country}")
        honouring, fallback = [], []
        names = routing.narrowed(tenant.providers, request.only_providers, request.except_providers)
        for name in names:
            provider = self.providers[name]
            service = self.codes.provider_service(provider.kind, request.service)
            country = self.codes.provider_country(provider.kind, request.country)
            if service is None or country is None:
                continue  # this provider does not carry the pair: skipped
            if not request.operators:
                honouring.append(Candidate(provider, BuyRequest(service, country)))
                continue
            operator = self._operator(provider, request)
            if operator is None:
                fallback.append(Candidate(provider, BuyRequest(service, country), fallback=True))
            else:
                honouring.append(Candidate(provider, BuyRequest(service, country, operator)))
        # Providers that can honour the operator come first; the others are the seed's
        # "first suitable operator" fallback (seeds/004:134), tried only after them.
        return honouring + fallback

    async def _ordered(
        self,
        tenant: TenantSettings,
        request: GetNumber,
        candidates: list[Candidate],
        prices: asyncio.Future[dict[str, Decimal]],
    ) -> list[Candidate]:
        """The tenant's strategy for this service and country (see `proxy.routing`)."""
        strategy = tenant.strategy_for(request.service, request.country)
        names = [c.provider.name for c in candidates]
        if strategy == "cheapest" or request.max_price is not None:
            order = routing.by_price(names, await prices)
        elif strategy == "success_rate":
            hours = self.routing.success_window_hours
            pair = f"{request.service}:{request.country}"
            issued = await self.store.provider_counts(names, f"{pair}:issued", hours)
            coded = await self.store.provider_counts(names, f"{pair}:coded", hours)
            order = routing.by_success(names, issued, coded)
        elif strategy == "weighted":
            order = routing.by_weight(names, tenant.weights, self.rng)
        else:
            return candidates
        rank = {name: i for i, name in enumerate(order)}
        # Providers honouring the asked operator stay ahead of the fallback ones.
        return sorted(candidates, key=lambda c: (c.fallback, rank[c.provider.name]))

    def _operator(self, provider: Provider, request: GetNumber) -> str | None:
        """The provider's name for the first requested operator it carries."""
        for name in request.operators:
            found = self.catalogs.operators.provider_operator(provider.kind, request.country, name)
            if found:
                return found
        return None

    def _under_cap(
        self, candidates: list[Candidate], prices: Mapping[str, Decimal], cap: Decimal
    ) -> list[Candidate]:
        """Free Price: only providers at or under `cap`, cheapest first (seeds/004:108, 123)."""
        priced = [(prices[c.provider.name], c) for c in candidates if c.provider.name in prices]
        under = [(price, c) for price, c in priced if price <= cap]
        if priced and not under:
            cheapest = min(price for price, _ in priced)
            raise PurchaseFailed(
                Word.WRONG_MAX_PRICE, "every provider is above maxPrice", str(cheapest)
            )
        return [c for _, c in sorted(under, key=lambda pc: pc[0])]

    async def buy(self, tenant: TenantSettings, request: GetNumber) -> Activation:
        """Buy from the first candidate that sells; raise PurchaseFailed with the word."""
        candidates = self.candidates(tenant, request)
        known = self.catalogs.known_prices(tenant, request)
        prices: asyncio.Future[dict[str, Decimal]]
        if known is None:
            prices = asyncio.ensure_future(self.catalogs.prices(tenant, request))
        else:
            prices = asyncio.get_running_loop().create_future()
            prices.set_result(known)
        try:
            return await self._buy_any(tenant, request, candidates, prices)
        finally:
            if not prices.done():
                prices.cancel()

    async def _buy_any(
        self,
        tenant: TenantSettings,
        request: GetNumber,
        candidates: list[Candidate],
        prices: asyncio.Future[dict[str, Decimal]],
    ) -> Activation:
        if request.max_price is not None:
            candidates = self._under_cap(candidates, await prices, request.max_price)
        candidates = await self._ordered(tenant, request, candidates, prices)
        deadline = time.monotonic() + self.routing.deadline
        refusals: list[Refusal] = []
        for candidate in candidates:
            if time.monotonic() > deadline:
                log.warning("failover_deadline", tried=len(refusals))
                break
            try:
                return await self._buy_from(tenant, request, candidate, prices)
            except ProviderRefused as exc:
                refusals.append(exc.refusal)
                log.info("provider_refused", provider=exc.provider, refusal=exc.refusal.value)
                self.metrics.failovers.labels(exc.provider, exc.refusal.value).inc()
            except (OutcomeUnknown, ProviderAnswerInvalid) as exc:
                # It may have sold: trying another provider could make the client pay twice.
                log.warning("purchase_outcome_unknown", provider=exc.provider, error=str(exc))
                raise PurchaseFailed(Word.ERROR_SQL, "purchase outcome unknown") from exc
            except ProviderUnavailable as exc:
                log.info("provider_unavailable", provider=exc.provider, error=str(exc))
                self.metrics.failovers.labels(exc.provider, "unavailable").inc()
        if refusals and all(r is Refusal.NO_BALANCE for r in refusals):
            raise PurchaseFailed(Word.NO_BALANCE)
        raise PurchaseFailed(Word.NO_NUMBERS, f"{len(candidates)} candidates")

    async def _buy_from(
        self,
        tenant: TenantSettings,
        request: GetNumber,
        candidate: Candidate,
        prices: asyncio.Future[dict[str, Decimal]],
    ) -> Activation:
        provider = candidate.provider
        # Written in the same round trip as the provider's admission, before the request.
        intent = self.store.intent_for(
            {
                "tenant": tenant.name,
                "provider": provider.name,
                "service": request.service,
                "country": str(request.country),
                "status": "sending",
            },
        )
        try:
            try:
                purchase = await self._send(candidate, intent)
            except (OutcomeUnknown, ProviderAnswerInvalid) as exc:
                found = await self._reconcile(provider, candidate.request, intent.activation_id)
                if found is None:
                    # Kept for the reconciler: the intent names the account that may hold it.
                    await self.store.update_intent(
                        intent.activation_id, {"status": "unknown", "error": str(exc)}
                    )
                    raise
                purchase = found
        except (OutcomeUnknown, ProviderAnswerInvalid):
            raise
        except ProviderError:
            if intent.written:
                await self.store.drop_intent(intent.activation_id)
            raise
        activation_id = intent.activation_id
        try:
            cost = (await prices).get(provider.name)
        except StoreError as exc:  # the number is bought: record it without a catalog price
            log.warning("price_unavailable", provider=provider.name, error=str(exc))
            cost = None
        if purchase.cost is not None:  # the upstream's own figure wins over the catalog's
            cost = self.money.client_price(
                purchase.cost, purchase.currency or provider.currency, tenant.currency,
                tenant.markup,
            )  # fmt: skip
        act = self.activation(activation_id, tenant, request, provider, purchase, cost)
        try:
            # No poll right after the sale: no SMS can be there yet.
            await self.store.record_purchase(act, first_poll=provider.poll_interval)
        except StoreError:
            await self._give_back(provider, purchase)
            raise
        log.info(
            "number_bought",
            provider=provider.name,
            activation_id=act.id,
            service=act.service,
            country=act.country,
        )
        return act

    async def _reconcile(
        self, provider: Provider, request: BuyRequest, activation_id: int
    ) -> Purchase | None:
        """After a purchase with no answer, find the order in the upstream's own list.

        An open order for the same service and country that no activation holds yet is ours;
        claiming its upstream id first keeps two such recoveries from taking the same order.
        """
        try:
            orders = await provider.open_orders()
        except ProviderError as exc:
            log.warning("reconcile_failed", provider=provider.name, error=str(exc))
            return None
        for order in reversed(orders or []):
            if (order.service, order.country) != (request.service, request.country):
                continue
            if await self.store.claim_upstream(
                provider.name, order.purchase.order_id, activation_id
            ):
                log.warning(
                    "purchase_recovered", provider=provider.name, activation_id=activation_id
                )
                return order.purchase
        return None

    async def _send(self, candidate: Candidate, intent: PurchaseIntent) -> Purchase:
        provider, buy = candidate.provider, candidate.request
        try:
            return await provider.buy(buy, intent)
        except ProviderRefused as exc:
            if exc.refusal is not Refusal.BAD_OPERATOR or buy.operator is None:
                raise
        # seeds/004:134: an operator that cannot serve -> the first suitable operator (the
        # intent written for the first try covers this one: same account, service, country).
        return await provider.buy(BuyRequest(buy.service, buy.country, None))

    def activation(
        self,
        activation_id: int,
        tenant: TenantSettings,
        request: GetNumber,
        provider: Provider,
        purchase: Purchase,
        cost: Decimal | None,
    ) -> Activation:
        now = time.time()
        phone = purchase.phone
        if provider.national_phones:
            phone = self.codes.international_phone(request.country, phone)
        lifetime = purchase.expires_in or provider.order_lifetime
        return Activation(
            id=activation_id,
            tenant=tenant.name,
            provider=provider.name,
            order_id=purchase.order_id,
            phone=phone,
            service=request.service,
            country=request.country,
            operator=purchase.operator or (request.operators[0] if request.operators else None),
            cost=cost,
            currency=tenant.currency,
            created=now,
            expires=now + lifetime,
            updated=now,
        )

    async def _give_back(self, provider: Provider, purchase: Purchase) -> None:
        """Redis lost a bought number: refund it upstream rather than leave it untracked."""
        try:
            await provider.cancel(purchase.order_id)
            log.error("purchase_refunded_unrecorded", provider=provider.name)
        except ProviderError as exc:
            log.critical(
                "purchase_untracked",
                provider=provider.name,
                order_id=purchase.order_id,
                error=str(exc),
            )
