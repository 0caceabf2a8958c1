"""After a crash or a purchase that was never answered: find what was paid for, give it back.

A purchase intent is written before every upstream purchase and removed once the activation is
recorded (`proxy.dispatch`). An intent still there long after (`INTENT_AGE`) means the replica
died mid-purchase, or the upstream never answered. Where the upstream lists its open orders
(SMSPVA), an order for that service and country that no activation holds is the orphan: it is
cancelled for a refund and the intent dropped (a cancel that fails keeps both the intent and
its claim on the order, and is tried again at the next pass); no such order means nothing was
bought. An
unheld order while another purchase of the same pair at that account is still in flight (its
intent younger than INTENT_AGE) may be that purchase's: the intent waits for the next pass
rather than be dropped. Ages come from the intents' own times, never from a configured order
lifetime. Where the upstream cannot list orders (VAK-SMS), the intent stays and is reported
once, for the operator.
"""

from __future__ import annotations

import structlog

from proxy.actions import Context
from proxy.providers.base import ProviderError

log = structlog.get_logger("reconciler")

INTENT_AGE = 120.0  # seconds: far beyond any purchase's timeouts and failover deadline


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
    in_flight: bool | None = None
    for order in orders:
        if (order.service, order.country) != (service, country):
            continue
        holder = await ctx.store.by_upstream(provider.name, order.purchase.order_id)
        if holder is not None and holder != activation_id:
            continue  # an activation holds it
        if in_flight is None:
            in_flight = await _in_flight(ctx, activation_id, intent)
        if in_flight:
            return "unresolved"  # it may be that purchase's: looked at again next pass
        order_id = order.purchase.order_id
        if holder is None and not await ctx.store.claim_upstream(
            provider.name, order_id, activation_id
        ):
            continue  # an activation holds it
        try:
            await provider.cancel(order_id)
        except ProviderError as exc:
            # Still paid for: the intent stays (and the order claimed by it), and the cancel
            # is tried again at the next pass.
            log.warning("orphan_cancel_failed", provider=provider.name, error=str(exc))
            return "unresolved"
        ctx.metrics.refunds.labels(provider.name, "orphan").inc()
        if ctx.store.tally is not None:
            ctx.store.tally.orphan_refunded(provider.name)
        log.warning("orphan_refunded", provider=provider.name, activation_id=activation_id)
        await ctx.store.drop_intent(activation_id)
        return "refunded"
    await ctx.store.drop_intent(activation_id)
    return "nothing_bought"


async def _in_flight(ctx: Context, activation_id: int, intent: dict[str, str]) -> bool:
    """Whether another purchase of the same provider, service and country is still under way
    (its intent is younger than INTENT_AGE): an unheld order may then be its."""
    same = ("provider", "service", "country")
    for other in await ctx.store.intents_since(ctx.clock() - INTENT_AGE):
        if other == activation_id:
            continue
        fields = await ctx.store.intent(other)
        if all(fields.get(k) == intent.get(k) for k in same):
            return True
    return False


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
