"""After a crash or a purchase that was never answered: find what was paid for, give it back.

A purchase intent is written before every upstream purchase and removed once the activation is
recorded (`proxy.dispatch`). An intent still there long after (`INTENT_AGE`) means the replica
died mid-purchase, or the upstream never answered. Where the upstream lists its open orders
(SMSPVA), an order for that service and country that no activation holds and that is old
enough not to belong to a purchase in flight is the orphan: it is cancelled for a refund and
the intent dropped; no such order means nothing was bought. Where it cannot (VAK-SMS), the
intent stays and is reported once, for the operator.
"""

from __future__ import annotations

import structlog

from proxy.actions import Context
from proxy.providers.base import ProviderError, UpstreamOrder

log = structlog.get_logger("reconciler")

INTENT_AGE = 120.0  # seconds: far beyond any purchase's timeouts and failover deadline
ORDER_AGE = 60.0  # an upstream order younger than this may be a purchase still in flight


async def reconcile(ctx: Context) -> dict[str, int]:
    """One pass over old intents; returns counts by outcome."""
    outcome = {"recorded": 0, "refunded": 0, "nothing_bought": 0, "unresolved": 0}
    for activation_id in await ctx.store.stale_intents(ctx.clock() - INTENT_AGE):
        intent = await ctx.store.intent(activation_id)
        if not intent or await ctx.store.load(activation_id, fresh=True) is not None:
            await ctx.store.drop_intent(activation_id)  # recorded after all: a leftover
            outcome["recorded"] += 1
            continue
        result = await _settle(ctx, activation_id, intent)
        outcome[result] += 1
    return outcome


async def _settle(ctx: Context, activation_id: int, intent: dict[str, str]) -> str:
    provider = ctx.providers.get(intent.get("provider", ""))
    if provider is None:
        return await _unresolved(ctx, activation_id, intent, "provider no longer configured")
    service = ctx.codes.provider_service(provider.kind, intent.get("service", ""))
    country = ctx.codes.provider_country(provider.kind, int(intent.get("country", "-1")))
    try:
        orders = await provider.open_orders()
    except ProviderError as exc:
        log.warning("reconcile_unavailable", provider=provider.name, error=str(exc))
        return "unresolved"  # tried again at the next pass
    if orders is None:
        return await _unresolved(ctx, activation_id, intent, "the upstream cannot list orders")
    for order in orders:
        if (order.service, order.country) != (service, country):
            continue
        if _age(order, provider.order_lifetime) < ORDER_AGE:
            continue
        order_id = order.purchase.order_id
        if not await ctx.store.claim_upstream(provider.name, order_id, activation_id):
            continue  # an activation holds it
        try:
            await provider.cancel(order_id)
        except ProviderError as exc:
            log.warning("orphan_cancel_failed", provider=provider.name, error=str(exc))
        log.warning("orphan_refunded", provider=provider.name, activation_id=activation_id)
        ctx.metrics.refunds.labels(provider.name, "orphan").inc()
        await ctx.store.drop_intent(activation_id)
        return "refunded"
    await ctx.store.drop_intent(activation_id)
    return "nothing_bought"


def _age(order: UpstreamOrder, lifetime: float) -> float:
    remaining = order.purchase.expires_in
    return lifetime - remaining if remaining is not None else lifetime


async def _unresolved(ctx: Context, activation_id: int, intent: dict[str, str], why: str) -> str:
    if intent.get("reported") != "1":
        log.critical(
            "purchase_unresolved",
            activation_id=activation_id,
            provider=intent.get("provider"),
            tenant=intent.get("tenant"),
            why=why,
        )
        await ctx.store.update_intent(activation_id, {"reported": "1"})
    return "unresolved"
