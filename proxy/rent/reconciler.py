"""Rentals asked upstream but never recorded: find what was paid for and give it back.

A rental intent is written before every upstream `create` (`RentStore.begin`) and dropped when
the rental is recorded. One still there after INTENT_AGE means a replica died mid-purchase or
the upstream never answered. SMSPVA lists its open rentals (`orders`, seeds/001:125-156): the
one order for the intent's service and country that no rental holds, ending where a rental
bought at the intent's start would end, is the orphan. It is adopted as the rental the client
asked for (it shows in getRentList; finishing or cancelling it works as for any other), not
deleted: SMSPVA refunds a deleted rental only case by case (001:42-44), so a delete could burn
it. No unheld order for the pair means nothing was bought; anything less clear, and every
VAK-SMS intent (it lists nothing), is reported once, for the operator, and kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from proxy.providers.base import Provider, ProviderError, RentOrder
from proxy.rent.model import Rent
from proxy.rent.periods import DAY, covering
from proxy.rent.store import RentStore

if TYPE_CHECKING:
    from proxy.actions import Context

log = structlog.get_logger("rent.reconciler")

INTENT_AGE = 120.0  # seconds: far beyond any purchase's timeouts
ORDER_AGE = 60.0  # a rental younger than this may belong to a purchase still in flight
SLACK = 300.0  # an upstream `until` may be this far from the intent's start + its period


async def reconcile_rents(ctx: Context) -> dict[str, int]:
    """One pass over old rental intents; counts by outcome."""
    rents = RentStore.beside(ctx.store)
    outcome = {"recorded": 0, "adopted": 0, "nothing_bought": 0, "unresolved": 0}
    listings: dict[str, list[RentOrder] | None] = {}
    for rent_id in await rents.stale_intents(ctx.clock() - INTENT_AGE):
        intent = await rents.intent(rent_id)
        if not intent:
            await rents.forget_intent(rent_id)  # recorded after all, or expired
            outcome["recorded"] += 1
            continue
        provider = ctx.providers.get(intent.get("provider", ""))
        if provider is None:
            outcome[await _unresolved(rents, rent_id, intent, "provider not configured")] += 1
            continue
        if provider.name not in listings:
            try:
                listings[provider.name] = await provider.rent_orders()
            except ProviderError as exc:
                log.warning("rent_reconcile_unavailable", provider=provider.name, error=str(exc))
                outcome["unresolved"] += 1
                continue
        orders = listings[provider.name]
        if orders is None:
            why = "the upstream cannot list rentals"
            outcome[await _unresolved(rents, rent_id, intent, why)] += 1
            continue
        outcome[await _settle(ctx, rents, provider, rent_id, intent, orders)] += 1
    return outcome


async def _settle(
    ctx: Context,
    rents: RentStore,
    provider: Provider,
    rent_id: int,
    intent: dict[str, str],
    orders: list[RentOrder],
) -> str:
    """Adopt the orphan as the tenant's rental, say nothing was bought, or leave it to the
    operator when the listing cannot tell."""
    started = float(intent.get("started", "0"))
    hours = int(intent.get("hours", "0") or 0)
    days = covering(hours).days if hours > 0 else 0
    pair = (intent.get("upstream_service"), intent.get("upstream_country"))
    unheld = []
    for order in orders:
        if (order.service, order.country) != pair:
            continue
        if await rents.held(provider.name, order.order_id):
            continue  # a rental holds it
        if order.until - days * DAY > ctx.clock() - ORDER_AGE:
            return "unresolved"  # bought a moment ago: maybe a purchase still in flight
        unheld.append(order)
    fitting = [o for o in unheld if days and abs(o.until - (started + days * DAY)) <= SLACK]
    if len(fitting) == 1 and await rents.claim_upstream(
        provider.name, fitting[0].order_id, rent_id
    ):
        rent = _adopted(intent, rent_id, fitting[0], ctx.clock())
        await rents.save(rent, new=True)
        log.warning("rent_orphan_adopted", provider=provider.name, rent=rent_id,
                    tenant=rent.tenant)  # fmt: skip
        return "adopted"
    if not unheld:
        await rents.drop_intent(rent_id)
        return "nothing_bought"
    return await _unresolved(rents, rent_id, intent, "rentals held by no one, none clearly this")


def _adopted(intent: dict[str, str], rent_id: int, order: RentOrder, now: float) -> Rent:
    """The paid orphan as the rental the client asked for: it shows in getRentList, and
    finishing or cancelling it goes upstream as for any other."""
    return Rent(
        id=rent_id, tenant=intent["tenant"], provider=intent["provider"],
        order_id=order.order_id, service=intent.get("service", ""),
        upstream_service=order.service, upstream_country=order.country,
        country=int(intent.get("country", "0") or 0), phone=order.phone, created=now,
        until=order.until, url=intent.get("url", ""),
    )  # fmt: skip


async def _unresolved(rents: RentStore, rent_id: int, intent: dict[str, str], why: str) -> str:
    if intent.get("reported") != "1":
        log.critical("rent_unresolved", rent=rent_id, provider=intent.get("provider"),
                     tenant=intent.get("tenant"), why=why)  # fmt: skip
        await rents.mark_reported(rent_id)
    return "unresolved"
