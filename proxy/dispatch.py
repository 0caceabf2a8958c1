"""Buying a number: pick the tenant's providers that carry the pair and fail over between them.

Money rules: a purchase intent is written to Redis before each upstream call; a number that was
sold is recorded before the client hears of it. Only a purchase that provably never reached the
upstream (not sent) or that it definitely refused is tried elsewhere. Any other outcome (a
timeout, a 5xx, an unreadable answer) may have been charged: the upstream's own order list is
read (directly, past the breaker and Redis) before any other provider is tried; an order found
there is the client's, none found lets the purchase go on, and where the upstream cannot list
orders (VAK-SMS) the client hears ERROR_SQL and the intent stays for the operator.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import structlog

from proxy import routing
from proxy.catalog.offers import Catalogs, Prices
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
    Provider,
    ProviderError,
    ProviderRefused,
    Purchase,
    Refusal,
    RequestNotSent,
)
from proxy.store.activations import ActivationStore, PurchaseIntent, StoreError, Unconfirmed

log = structlog.get_logger("dispatch")


class PurchaseFailed(Exception):
    """No number was given to the client; `word` is what it hears. `maybe_bought`: an upstream
    may hold a paid order for it (kept as an intent for the reconciler)."""

    def __init__(
        self, word: Word, detail: str = "", *args: str, maybe_bought: bool = False
    ) -> None:
        super().__init__(f"{word.value}: {detail}" if detail else word.value)
        self.word = word
        self.args_ = args  # the answer's arguments: WRONG_MAX_PRICE:<min>
        self.maybe_bought = maybe_bought


class PurchaseUncertain(Exception):
    """A purchase was sent and its outcome is not known; `listed`: the upstream's order list
    was read and holds no unclaimed order for the pair, so nothing is known to be held."""

    def __init__(self, provider: str, error: ProviderError, listed: bool) -> None:
        super().__init__(f"{provider}: {error}")
        self.provider = provider
        self.listed = listed


# Why a purchase was not sent (ProviderResting.reason), as the refusal it stands for.
REST_REASONS = {"no_balance": Refusal.NO_BALANCE, "pair_no_numbers": Refusal.NO_NUMBERS}


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
        prices: Prices,
    ) -> list[Candidate]:
        """The tenant's strategy for this service and country (see `proxy.routing`)."""
        strategy = tenant.strategy_for(request.service, request.country)
        names = [c.provider.name for c in candidates]
        if strategy == "cheapest" or request.max_price is not None:
            order = routing.by_price(names, prices.by_provider)
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
        # The price is fixed before anything is sent: what the catalog shows now is what this
        # purchase charges, whatever a refusal on the way teaches the catalog (a rest).
        prices = self.catalogs.known_prices(tenant, request)
        if prices is None:
            prices = await self.catalogs.prices(tenant, request)
        return await self._buy_any(tenant, request, candidates, prices)

    async def _buy_any(
        self,
        tenant: TenantSettings,
        request: GetNumber,
        candidates: list[Candidate],
        prices: Prices,
    ) -> Activation:
        if request.max_price is not None:
            candidates = self._under_cap(candidates, prices.by_provider, request.max_price)
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
            except RequestNotSent as exc:  # never reached the upstream: safe to fail over
                reason = str(getattr(exc, "reason", "") or "")
                if reason in REST_REASONS:
                    refusals.append(REST_REASONS[reason])
                log.info("provider_unavailable", provider=exc.provider, error=str(exc))
                self.metrics.failovers.labels(exc.provider, reason or "unavailable").inc()
            except PurchaseUncertain as exc:
                if not exc.listed:
                    # It may have sold and nobody can tell: another provider could make the
                    # client pay twice.
                    raise PurchaseFailed(
                        Word.ERROR_SQL, "purchase outcome unknown", maybe_bought=True
                    ) from exc
                self.metrics.failovers.labels(exc.provider, "not_listed").inc()
        if refusals and all(r is Refusal.NO_BALANCE for r in refusals):
            raise PurchaseFailed(Word.NO_BALANCE)
        raise PurchaseFailed(Word.NO_NUMBERS, f"{len(candidates)} candidates")

    async def _buy_from(
        self,
        tenant: TenantSettings,
        request: GetNumber,
        candidate: Candidate,
        prices: Prices,
    ) -> Activation:
        provider = candidate.provider
        deferred: list[Awaitable[None]] = []  # the sale's health update: after the record
        try:
            return await self._buy_recorded(tenant, request, candidate, prices, deferred)
        finally:
            for work in deferred:
                provider.later(work)

    async def _buy_recorded(
        self,
        tenant: TenantSettings,
        request: GetNumber,
        candidate: Candidate,
        prices: Prices,
        deferred: list[Awaitable[None]],
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
            purchase = await self._send(candidate, intent, deferred)
        except (RequestNotSent, ProviderRefused):
            if intent.written:  # nothing was bought: the intent has nothing to guard
                await self.store.drop_intent(intent.activation_id)
            raise
        except Unconfirmed:  # the intent was not confirmed on a replica: nothing was sent
            with contextlib.suppress(StoreError):
                await self.store.drop_intent(intent.activation_id)
            raise
        except ProviderError as exc:  # sent: it may have been charged (5xx, timeout, unreadable)
            log.warning("purchase_outcome_unknown", provider=provider.name, error=str(exc))
            found, listed = await self._settle(provider, candidate.request, intent.activation_id)
            if found is None:
                await self._keep_intent(intent.activation_id, exc, listed)
                raise PurchaseUncertain(provider.name, exc, listed) from exc
            purchase = found
        activation_id = intent.activation_id
        cost = self._cost(request, provider.name, prices)
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

    @staticmethod
    def _cost(request: GetNumber, provider: str, prices: Prices) -> Decimal | None:
        """What the client pays: the price the catalog showed for this purchase (`quote`), so
        the price shown is the price paid even when a failover sold from a dearer or cheaper
        provider; with maxPrice (Free Price, where every provider's price is listed) the price
        of the provider that sold, which is at or under the cap."""
        if request.max_price is None and prices.quoted is not None:
            return prices.quoted
        return prices.by_provider.get(provider)

    async def _settle(
        self, provider: Provider, request: BuyRequest, activation_id: int
    ) -> tuple[Purchase | None, bool]:
        """After a purchase with no usable answer, find the order in the upstream's own list:
        (the purchase, True) when found; (None, True) when the list holds no unclaimed order
        for the pair; (None, False) when no list can be had.

        Asked of the adapter itself: neither a resting breaker (its one probe may be spent on
        the purchase) nor Redis stands between a paid number and its recovery. An open order
        for the same service and country that no activation holds yet is ours; claiming its
        upstream id first keeps two such recoveries from taking the same order.
        """
        try:
            orders = await _direct(provider).open_orders()
        except ProviderError as exc:
            log.warning("reconcile_failed", provider=provider.name, error=str(exc))
            return None, False
        if orders is None:
            return None, False
        for order in reversed(orders):
            if (order.service, order.country) != (request.service, request.country):
                continue
            try:
                claimed = await self.store.claim_upstream(
                    provider.name, order.purchase.order_id, activation_id
                )
            except StoreError:
                await self._give_back(provider, order.purchase)  # it could not be recorded
                raise
            if claimed:
                log.warning(
                    "purchase_recovered", provider=provider.name, activation_id=activation_id
                )
                return order.purchase, True
        log.warning("purchase_not_listed", provider=provider.name, activation_id=activation_id)
        return None, True

    async def _keep_intent(self, activation_id: int, exc: ProviderError, listed: bool) -> None:
        """Leave the intent for the reconciler, which looks again later (or reports it)."""
        status = "not_listed" if listed else "unknown"
        try:
            await self.store.update_intent(activation_id, {"status": status, "error": str(exc)})
        except StoreError as store_exc:  # the intent itself was written before the request
            log.warning("intent_update_failed", activation_id=activation_id, error=str(store_exc))

    async def _send(
        self, candidate: Candidate, intent: PurchaseIntent, deferred: list[Awaitable[None]]
    ) -> Purchase:
        provider, buy = candidate.provider, candidate.request
        try:
            return await provider.buy(buy, intent, deferred)
        except ProviderRefused as exc:
            if exc.refusal is not Refusal.BAD_OPERATOR or buy.operator is None:
                raise
        # seeds/004:134: an operator that cannot serve -> the first suitable operator (the
        # intent written for the first try covers this one: same account, service, country).
        return await provider.buy(BuyRequest(buy.service, buy.country, None), None, deferred)

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
        """Redis lost a bought number: refund it upstream rather than leave it untracked. Asked
        of the adapter itself: the breaker's admission needs the Redis that just failed."""
        try:
            await _direct(provider).cancel(purchase.order_id)
            log.error(
                "purchase_refunded_unrecorded", provider=provider.name, order_id=purchase.order_id
            )
        except ProviderError as exc:
            log.critical(
                "purchase_untracked",
                provider=provider.name,
                order_id=purchase.order_id,
                error=str(exc),
            )


def _direct(provider: Provider) -> Provider:
    """The adapter behind the health guard: a call that returns money or finds a paid order
    must not wait for Redis or for the breaker's one probe."""
    return provider.inner if isinstance(provider, GuardedProvider) else provider
