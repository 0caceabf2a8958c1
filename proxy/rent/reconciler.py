"""Rentals asked upstream but never recorded: find what was paid for and give it back.

A rental intent is written before every upstream `create` (`RentStore.begin`) and dropped when
the rental is recorded. One still there after INTENT_AGE means a replica died mid-purchase or
the upstream never answered. SMSPVA lists its open rentals (`orders`, seeds/001:125-156): an
order for the intent's service and country that no rental holds, ending where a rental bought
at the intent's start would end, is the orphan; it is deleted upstream, which refunds a rental
that got no SMS (001:42-44). No such order means nothing was bought. VAK-SMS lists nothing:
the intent stays and is reported once, for the operator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from proxy.providers.base import Provider, ProviderError, RentOrder
from proxy.rent.periods import covering
from proxy.rent.store import RentStore

if TYPE_CHECKING:
    from proxy.actions import Context

log = structlog.get_logger("rent.reconciler")

INTENT_AGE = 120.0  # seconds: far beyond any purchase's timeouts
SLACK = 300.0  # an upstream `until` may be this far from the intent's start + its period


async def reconcile_rents(ctx: Context) -> dict[str, int]:
    """One pass over old rental intents; counts by outcome."""
    rents = RentStore.beside(ctx.store)
    outcome = {"recorded": 0, "refunded": 0, "nothing_bought": 0, "unresolved": 0}
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
        outcome[await _settle(rents, provider, rent_id, intent, orders)] += 1
    return outcome


async def _settle(
    rents: RentStore,
    provider: Provider,
    rent_id: int,
    intent: dict[str, str],
    orders: list[RentOrder],
) -> str:
    started = float(intent.get("started", "0"))
    hours = int(intent.get("hours", "0") or 0)
    ends = started + covering(hours).days * 86400 if hours > 0 else None
    for order in orders:
        if (order.service, order.country) != (intent.get("upstream_service"),
                                               intent.get("upstream_country")):  # fmt: skip
            continue
        if ends is not None and abs(order.until - ends) > SLACK:
            continue
        if not await rents.claim_upstream(provider.name, order.order_id, rent_id):
            continue  # a rental holds it
        try:
            await provider.rent_end(order.order_id)
        except ProviderError as exc:
            log.warning("rent_orphan_delete_failed", provider=provider.name, error=str(exc))
        log.warning("rent_orphan_refunded", provider=provider.name, rent=rent_id)
        await rents.drop_intent(rent_id)
        return "refunded"
    await rents.drop_intent(rent_id)
    return "nothing_bought"


async def _unresolved(rents: RentStore, rent_id: int, intent: dict[str, str], why: str) -> str:
    if intent.get("reported") != "1":
        log.critical("rent_unresolved", rent=rent_id, provider=intent.get("provider"),
                     tenant=intent.get("tenant"), why=why)  # fmt: skip
        await rents.mark_reported(rent_id)
    return "unresolved"
