"""A Provider wrapped in the shared health rules: budget, breaker, and what each answer teaches.

Every upstream call of every replica goes through here, so no provider is ever hammered: over
budget, or held back by a rest, the call is not sent at all (ProviderResting, a RequestNotSent:
safe to fail over). Rests hold back purchases only, so the numbers already sold are still polled
and refunded; `CALLS` sorts every endpoint (see `proxy.health.breaker`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import structlog

from proxy.health.breaker import Admission, Call, Health, Staged
from proxy.metrics import Metrics
from proxy.providers.base import (
    Balance,
    BuyRequest,
    MultiBuyRequest,
    Offer,
    Poll,
    Provider,
    ProviderAnswerInvalid,
    ProviderRefused,
    ProviderResting,
    ProviderUnavailable,
    Purchase,
    Refusal,
    RentMessage,
    RentOrder,
    RentPurchase,
    RentState,
    UpstreamOrder,
)

if TYPE_CHECKING:
    from proxy.operator.tally import Tally

T = TypeVar("T")
log = structlog.get_logger("health")

# How a rest treats each endpoint. Purchases wait out every rest; what gives money back or
# recovers a purchase whose outcome is unknown (order listings) never waits, nor does the
# balance (it is how a "no money" rest ends); the rest wait only while the upstream asked us
# to slow down. Every call still takes one request from the account's budget.
CALLS: dict[str, Call] = {
    "buy": Call.PURCHASE,
    "buy_multi": Call.PURCHASE,
    "reissue": Call.PURCHASE,
    "rent": Call.PURCHASE,
    "cancel": Call.ALWAYS,
    "block": Call.ALWAYS,
    "rent_end": Call.ALWAYS,
    "open_orders": Call.ALWAYS,
    "rent_orders": Call.ALWAYS,  # the rentals' order listing: recovers an unknown rental
    "balance": Call.ALWAYS,
    "poll": Call.ROUTINE,
    "request_another": Call.ROUTINE,
    "offers": Call.ROUTINE,
    "rent_offers": Call.ROUTINE,
    "rent_state": Call.ROUTINE,
    "rent_activate": Call.ROUTINE,
    "rent_messages": Call.ROUTINE,
    "rent_prolong": Call.ROUTINE,
}


class GuardedProvider:
    """Conforms to Provider; delegates to the adapter under the health rules."""

    def __init__(
        self, inner: Provider, health: Health, metrics: Metrics, tally: Tally | None = None
    ) -> None:
        self.inner = inner
        self.health = health
        self.metrics = metrics
        self.tally = tally  # the operator page's counts
        self._background: set[asyncio.Future[None]] = set()
        self.name = inner.name
        self.kind = inner.kind
        self.currency = inner.currency
        self.poll_interval = inner.poll_interval
        self.order_lifetime = inner.order_lifetime
        self.national_phones = inner.national_phones
        self.lists_whole_country = inner.lists_whole_country
        self.sells_multi_service = inner.sells_multi_service
        self.reissues_numbers = inner.reissues_numbers
        self.max_rent_hours = inner.max_rent_hours
        self.extends_rents = inner.extends_rents

    async def _call(
        self,
        endpoint: str,
        call: Callable[[], Awaitable[T]],
        *,
        pair: tuple[str, str] | None = None,
        before: Staged | None = None,
        deferred: list[Awaitable[None]] | None = None,
    ) -> T:
        kind = CALLS[endpoint]
        verdict = await self.health.admit(self.name, call=kind, pair=pair, before=before)
        if not verdict.sent:
            self._count(endpoint, verdict.admission.value)
            raise ProviderResting(self.name, verdict.reason)
        started = time.perf_counter()
        try:
            result = await call()
        except ProviderRefused as exc:
            self._count(endpoint, exc.refusal.value, started, str(exc))
            await self._learn(exc, time.perf_counter() - started, endpoint)
            if exc.refusal is Refusal.NO_NUMBERS and pair is not None:
                await self.health.no_numbers(self.name, *pair)
            raise
        except ProviderAnswerInvalid as exc:  # answered, but not in a shape we read
            self._count(endpoint, type(exc).__name__, started, str(exc))
            raise
        except ProviderUnavailable as exc:
            self._count(endpoint, type(exc).__name__, started, str(exc))
            await self.health.failed(self.name, str(exc), time.perf_counter() - started, endpoint)
            raise
        self._count(endpoint, "ok", started)
        latency, sale = time.perf_counter() - started, kind is Call.PURCHASE
        update = self.health.succeeded(self.name, latency, endpoint, sale=sale)
        if verdict.admission is Admission.PROBE:
            await update  # the probe's success closes the breaker before anyone asks again
        elif deferred is not None:
            deferred.append(update)  # the caller starts it once its own writes are sent
        else:
            self.later(update)  # bookkeeping that need not delay the answer
        return result

    async def drain(self) -> None:
        """Wait for the health updates still running (at shutdown, before Redis is closed)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def later(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("health_update_failed", provider=self.name, error=str(task.exception()))

    def _count(
        self, endpoint: str, outcome: str, started: float | None = None, error: str = ""
    ) -> None:
        elapsed = None if started is None else time.perf_counter() - started
        self.metrics.upstream_done(self.name, endpoint, outcome, elapsed)
        if self.tally is not None:
            self.tally.upstream(self.name, endpoint, outcome, elapsed, error)

    async def _learn(self, exc: ProviderRefused, latency: float, endpoint: str) -> None:
        if exc.refusal is Refusal.RATE_LIMITED:
            await self.health.slow_down(self.name, exc.retry_after)
        elif exc.refusal is Refusal.NO_BALANCE:
            await self.health.no_money(self.name)
        elif exc.refusal is Refusal.BAD_KEY:
            await self.health.failed(self.name, str(exc), latency, endpoint)
        else:
            await self.health.succeeded(self.name, latency, endpoint)  # it answered: alive

    async def balance(self) -> Balance:
        # Always asked (within budget), even while resting: a balance is how a provider that
        # ran out of money is seen to have money again.
        balance = await self._call("balance", self.inner.balance)
        await self.health.balance_seen(self.name, str(balance.amount), balance.amount > 0)
        return balance

    async def buy(
        self,
        request: BuyRequest,
        intent: Staged | None = None,
        deferred: list[Awaitable[None]] | None = None,
    ) -> Purchase:
        """`intent` (the purchase intent) is written in admission's round trip, before the
        request is sent; it is written even when admission refuses (the caller drops it).
        With `deferred`, the health update a sale makes is left there for the caller to start
        (`later`) after it has recorded the number: run meanwhile, it would compete with that
        write for the event loop and delay the client's answer."""
        pair = (request.service, request.country)
        return await self._call(
            "buy", lambda: self.inner.buy(request), pair=pair, before=intent, deferred=deferred
        )

    async def buy_multi(self, request: MultiBuyRequest) -> list[tuple[str, Purchase]]:
        return await self._call("buy_multi", lambda: self.inner.buy_multi(request))

    async def reissue(self, service: str, phone: str) -> Purchase:
        return await self._call("reissue", lambda: self.inner.reissue(service, phone))

    async def offers(
        self, country: str, service: str | None, operator: str | None = None
    ) -> dict[str, Offer]:
        return await self._call("offers", lambda: self.inner.offers(country, service, operator))

    async def poll(self, order_id: str) -> Poll:
        self.metrics.upstream_polls.labels(self.name).inc()
        return await self._call("poll", lambda: self.inner.poll(order_id))

    async def request_another(self, order_id: str) -> None:
        await self._call("request_another", lambda: self.inner.request_another(order_id))

    async def cancel(self, order_id: str) -> None:
        await self._call("cancel", lambda: self.inner.cancel(order_id))

    async def block(self, order_id: str) -> None:
        await self._call("block", lambda: self.inner.block(order_id))

    async def open_orders(self) -> list[UpstreamOrder] | None:
        return await self._call("open_orders", self.inner.open_orders)

    async def rent_offers(self, country: str, hours: int) -> dict[str, Offer]:
        return await self._call("rent_offers", lambda: self.inner.rent_offers(country, hours))

    async def rent(
        self, service: str, country: str, hours: int, operator: str | None = None
    ) -> RentPurchase:
        return await self._call("rent", lambda: self.inner.rent(service, country, hours, operator))

    async def rent_orders(self) -> list[RentOrder] | None:
        return await self._call("rent_orders", self.inner.rent_orders)

    async def rent_state(self, order_id: str) -> RentState:
        return await self._call("rent_state", lambda: self.inner.rent_state(order_id))

    async def rent_activate(self, order_id: str) -> None:
        await self._call("rent_activate", lambda: self.inner.rent_activate(order_id))

    async def rent_messages(self, order_id: str) -> tuple[RentMessage, ...]:
        self.metrics.upstream_polls.labels(self.name).inc()
        return await self._call("rent_messages", lambda: self.inner.rent_messages(order_id))

    async def rent_prolong(self, order_id: str, hours: int) -> float:
        return await self._call("rent_prolong", lambda: self.inner.rent_prolong(order_id, hours))

    async def rent_end(self, order_id: str) -> None:
        await self._call("rent_end", lambda: self.inner.rent_end(order_id))

    async def aclose(self) -> None:
        await self.inner.aclose()
