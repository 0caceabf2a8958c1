"""The background poller: one replica at a time keeps every active activation fresh.

It holds a lease in Redis (renewed while it runs; another replica takes over within a lease
period if it dies), takes the activations whose poll is due from one sorted set, asks each
upstream at its provider's interval, and gives back numbers that got no SMS before their refund
window closes (SMSPVA: block before 580 s, seeds/000:18, 382; VAK-SMS: end). Codes are thus seen
even when the client has gone quiet, and getStatus is a read for every client.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping

import structlog

from proxy import lifecycle
from proxy.actions import Context, refresh
from proxy.config import ProviderSettings
from proxy.lifecycle import Activation
from proxy.providers.base import Provider, ProviderError, ProviderRefused, Refusal
from proxy.reconciler import reconcile
from proxy.store.activations import StoreError

log = structlog.get_logger("poller")

LEASE_TTL = 5.0
TICK = 0.05  # how often the lease holder looks for due activations
BATCH = 200
CONCURRENCY = 20
MIN_SAMPLE = 5  # numbers issued before a cancel rate means anything


class Poller:
    """Runs in every replica; works only while it holds the lease."""

    def __init__(self, ctx: Context, providers: Mapping[str, ProviderSettings]) -> None:
        self.ctx = ctx
        self.provider_settings = providers
        self.holder = uuid.uuid4().hex
        self.leading = False
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._next_rate_check = 0.0

    async def check_cancel_rates(self) -> dict[str, float]:
        """Cancelled / issued per account over the window; warn before providers punish it."""
        names = list(self.ctx.providers)
        hours = self.ctx.settings.success_window_hours
        issued = await self.ctx.store.provider_counts(names, "all:issued", hours)
        cancelled = await self.ctx.store.provider_counts(names, "all:cancelled", hours)
        rates = {}
        for name in names:
            rate = cancelled[name] / issued[name] if issued[name] else 0.0
            rates[name] = rate
            self.ctx.metrics.cancel_rate.labels(name).set(rate)
            if issued[name] >= MIN_SAMPLE and rate > self.ctx.settings.cancel_rate_warning:
                log.warning("cancel_rate_high", provider=name, rate=round(rate, 3),
                            issued=issued[name], cancelled=cancelled[name])  # fmt: skip
        return rates

    async def run(self) -> None:
        """Until cancelled: hold or wait for the lease, and sweep what is due."""
        while True:
            try:
                leading = await self.ctx.store.lease(self.holder, LEASE_TTL)
                if leading != self.leading:
                    log.info("poller_lease", leading=leading, holder=self.holder[:8])
                    self.leading = leading
                if leading:
                    await self.sweep()
                    if time.monotonic() >= self._next_rate_check:
                        every = self.ctx.settings.cancel_rate_every
                        self._next_rate_check = time.monotonic() + every
                        await self.check_cancel_rates()
                        settled = await reconcile(self.ctx)
                        if any(settled[k] for k in ("refunded", "nothing_bought")):
                            log.info("intents_reconciled", **settled)
            except StoreError as exc:
                log.warning("poller_store_failed", error=str(exc))
            await asyncio.sleep(TICK)

    async def sweep(self) -> int:
        """One pass over the due activations; returns how many it handled."""
        due = await self.ctx.store.due(self.ctx.clock(), BATCH)
        await asyncio.gather(*(self._one(activation_id) for activation_id in due))
        return len(due)

    async def _one(self, activation_id: int) -> None:
        async with self._slots:
            try:
                await self._visit(activation_id)
            except (StoreError, LookupError) as exc:
                log.warning("poller_visit_failed", activation_id=activation_id, error=str(exc))

    async def _visit(self, activation_id: int) -> None:
        ctx = self.ctx
        act = await ctx.store.load(activation_id)
        if act is None or not act.state.active:
            await ctx.store.forget(activation_id)
            return
        provider = ctx.providers.get(act.provider)
        if provider is None:
            await ctx.store.forget(activation_id)
            return
        act = await refresh(ctx, act)
        if act.state.active and self._refund_due(act):
            act = await self._refund(act, provider)
        if act.state.active:
            await ctx.store.reschedule(activation_id, ctx.clock() + provider.poll_interval)
        else:
            await ctx.store.forget(activation_id)

    def _refund_due(self, act: Activation) -> bool:
        settings = self.provider_settings.get(act.provider)
        if settings is None or act.messages or act.state is not lifecycle.State.WAIT_CODE:
            return False
        return self.ctx.clock() - act.created >= settings.refund_after

    async def _refund(self, act: Activation, provider: Provider) -> Activation:
        """No SMS in time: give the number back while the upstream still refunds it."""
        try:
            if provider.kind == "smspva":
                await provider.block(act.order_id)  # seeds/000:382: block it by 9:40
            else:
                await provider.cancel(act.order_id)
        except ProviderRefused as exc:
            if exc.refusal not in (Refusal.ORDER_NOT_FOUND, Refusal.ORDER_EXPIRED):
                log.info("refund_refused", provider=act.provider, refusal=exc.refusal.value)
                return act  # e.g. an SMS came meanwhile: the next poll shows it
        except ProviderError as exc:
            log.warning("refund_failed", provider=act.provider, error=str(exc))
            return act  # tried again at the next visit
        now = self.ctx.clock()
        async with self.ctx.store.locked(act.id):
            fresh = await self.ctx.store.load(act.id, fresh=True)
            if fresh is None:
                return act
            refunded = lifecycle.on_refund(fresh, now)
            if refunded != fresh:
                await self.ctx.store.save(refunded)
                await self.ctx.store.count_cancel(refunded)
                self.ctx.metrics.refunds.labels(act.provider, "no_sms").inc()
                log.info("number_refunded", provider=act.provider, activation_id=act.id)
        return refunded
