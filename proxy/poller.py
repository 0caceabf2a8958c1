"""The background poller: one replica at a time keeps every active activation fresh.

It holds a lease in Redis (renewed while it runs; another replica takes over within a lease
period if it dies), takes the activations whose poll is due from one sorted set, asks each
upstream at its provider's interval, and gives back numbers that got no SMS before their refund
window closes (SMSPVA: block before 580 s, seeds/000:18, 382; VAK-SMS: end). Codes are thus seen
even when the client has gone quiet, and getStatus is a read for every client.

The lease holder also watches rentals that have a webhook (waking idle SMSPVA numbers), sends
the webhooks owed (`proxy.webhooks`), settles purchase and rental intents left by a crash, and
asks a provider resting for want of money for its balance, so that a top-up ends the rest
without waiting for a client's getBalance.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

import structlog
from redis.exceptions import RedisError

from proxy import lifecycle
from proxy.actions import Context, refresh
from proxy.backoff import Backoff
from proxy.config import ProviderSettings
from proxy.lifecycle import Activation
from proxy.providers.base import (
    Provider,
    ProviderError,
    ProviderRefused,
    ProviderResting,
    Refusal,
)
from proxy.reconciler import reconcile
from proxy.rent.actions import refresh as refresh_rent
from proxy.rent.model import RentStatus
from proxy.rent.reconciler import reconcile_rents
from proxy.rent.store import RentStore
from proxy.store.activations import StoreError
from proxy.store.schedule import PollSchedule
from proxy.webhooks import Sender

log = structlog.get_logger("poller")

LEASE_TTL = 5.0
TICK = 0.05  # how often the lease holder looks for due activations
BATCH = 200
CONCURRENCY = 20
MIN_SAMPLE = 5  # numbers issued before a cancel rate means anything
BROKEN_RETRY = 60.0  # a record whose visit raised is looked at again after this long
STORE_BACKOFF_CAP = 5.0  # the longest wait between two tries while Redis fails
WEBHOOK_TICK = 0.2  # how often the lease holder looks for webhooks due
STOP_GRACE = 2.0  # how long stop() lets a round finish before cancelling it
CANCEL_GRACE = 0.5  # and how long a cancellation may take to end it
LEASE_CALL = 1.0  # the bound on one lease command (taking, renewing or releasing it)

# Give the lease up, if still ours: the next replica need not wait for it to expire.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Poller:
    """Runs in every replica; works only while it holds the lease. `start()`, then `stop()`:
    an exit bounded whatever the libraries below do with a cancellation (issue 14)."""

    def __init__(
        self,
        ctx: Context,
        providers: Mapping[str, ProviderSettings],
        sender: Sender | None = None,
    ) -> None:
        self.ctx = ctx
        self.provider_settings = providers
        self.sender = sender
        self.rents = RentStore.beside(ctx.store)
        keys = ctx.store.keys
        self.activations = PollSchedule(ctx.store.redis, keys.active_all())
        self.watched_rents = PollSchedule(ctx.store.redis, keys.rents_watched())
        self.holder = uuid.uuid4().hex
        self.leading = False
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._next_rate_check = 0.0
        self._next_balance_check = 0.0
        self._next_balance_refresh = 0.0
        self._balance_outcomes: dict[str, str] = {}  # provider -> last recheck outcome logged
        self._lease_until = 0.0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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

    def start(self) -> asyncio.Task[None]:
        """`run()` in a task of its own, for `stop()` to end."""
        self._task = asyncio.create_task(self.run(), name="poller")
        return self._task

    async def stop(self, grace: float = STOP_GRACE) -> bool:
        """End `run()` and give the lease back; whether it ended. The loop ends after its round;
        a round still running after `grace` is cancelled, and one that ignores that too (on
        Python 3.11 redis-py 8 can swallow a cancellation: proxy.app.connect_redis) is left
        behind: the stop flag ends it after its round, whoever awaits this is not held up."""
        self._stopping.set()
        task = self._task
        if task is None:
            return True
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=CANCEL_GRACE)
        if not done:
            log.warning("poller_left_running", seconds=round(grace + CANCEL_GRACE, 2))
            return False  # its lease expires on its own, LEASE_TTL after its last renewal
        if self.leading:
            await self.release()
        return True

    async def release(self) -> None:
        """Give the lease up if this replica holds it (bounded: a shutdown step)."""
        self.leading = False
        try:
            async with asyncio.timeout(LEASE_CALL):
                await self.ctx.store.redis.eval(
                    RELEASE, 1, self.ctx.store.keys.poller_lease(), self.holder
                )
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            log.warning("poller_lease_not_released", error=f"{type(exc).__name__}: {exc}")
        else:
            log.info("poller_lease", leading=False, holder=self.holder[:8])

    def _running(self) -> bool:
        """Not stopping, and no cancellation was swallowed below: on Python 3.11 a task may be
        cancelled yet carry on (asyncio.wait_for returning its result instead, CPython
        gh-86296); it then ends here, at the next turn of its loop."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return not self._stopping.is_set()

    async def run(self) -> None:
        """Until stopped or cancelled: hold or wait for the lease, and sweep what is due.
        Webhooks go out from a task of their own, so a slow receiver never delays a poll."""
        delivering = asyncio.create_task(self._deliver(), name="webhooks") if self.sender else None
        # Redis down: one line when it starts and one when it ends, tries spaced up to 5 s.
        store = Backoff("poller_store", log, first=TICK, cap=STORE_BACKOFF_CAP)
        try:
            while self._running():
                pause = TICK
                try:
                    await self._round()
                    store.succeeded()
                except StoreError as exc:
                    pause = store.failed(str(exc))
                except Exception:  # one bad round must not stop the poller
                    log.exception("poller_round_failed")
                if self._running():
                    await self._pause(pause)
        finally:
            if delivering is not None:
                delivering.cancel()
                # Not awaited for ever: it may ignore its cancellation (see _running).
                await asyncio.wait({delivering}, timeout=STOP_GRACE)

    async def _round(self) -> None:
        asked = time.monotonic()
        try:
            # A renewal that takes longer than the lease lasts says nothing.
            async with asyncio.timeout(LEASE_TTL):
                leading = await self.ctx.store.lease(self.holder, LEASE_TTL)
        except TimeoutError:
            raise StoreError(f"no answer to the lease command in {LEASE_TTL:g} s") from None
        if leading:
            self._lease_until = asked + LEASE_TTL  # ours for sure until then, however long
        if leading != self.leading:
            log.info("poller_lease", leading=leading, holder=self.holder[:8])
            self.leading = leading
        if not leading:
            return
        await self.sweep()
        await self.sweep_rents()
        if time.monotonic() >= self._next_rate_check:
            self._next_rate_check = time.monotonic() + self.ctx.settings.cancel_rate_every
            await self.check_cancel_rates()
            await self.reconcile()
        if time.monotonic() >= self._next_balance_check:
            # routing.balance_recheck (30 s): how long a topped-up provider may still rest.
            self._next_balance_check = time.monotonic() + self.ctx.settings.balance_recheck
            await self.recheck_balances()
        every = self.ctx.settings.balance_refresh
        if every > 0 and time.monotonic() >= self._next_balance_refresh:
            self._next_balance_refresh = time.monotonic() + every
            await self.refresh_balances()

    async def refresh_balances(self) -> dict[str, str]:
        """Ask every provider its balance (routing.balance_refresh), so that the one shown is
        recent; what it answers is remembered by the guarded provider (Health.balance_seen).
        Returns each provider's balance or why there is none."""
        names = list(self.ctx.providers)
        found = await asyncio.gather(*(self.ctx.providers[n].balance() for n in names),
                                     return_exceptions=True)  # fmt: skip
        seen = {}
        for name, result in zip(names, found, strict=True):
            if isinstance(result, ProviderError):
                seen[name] = f"unavailable: {result}"
            elif isinstance(result, BaseException):
                raise result
            else:
                seen[name] = str(result.amount)
        return seen

    async def recheck_balances(self) -> dict[str, str]:
        """Ask each provider resting for want of money for its balance: a positive one ends the
        rest (`Health.balance_seen`, through the guarded provider). Returns the outcomes, and
        logs a provider's only when it differs from the last one logged."""
        names = [name for name in self.ctx.providers if await self._out_of_money(name)]
        found = await asyncio.gather(*(self._recheck(name) for name in names))
        for name, (outcome, detail) in zip(names, found, strict=True):
            if self._balance_outcomes.get(name) != outcome:
                self._balance_outcomes[name] = outcome
                log.info("balance_recheck", provider=name, outcome=outcome, detail=detail)
        return {name: outcome for name, (outcome, _) in zip(names, found, strict=True)}

    async def _out_of_money(self, name: str) -> bool:
        return (await self.ctx.health.view(name)).reason == ProviderResting.NO_BALANCE

    async def _recheck(self, name: str) -> tuple[str, str]:
        """The outcome, "topped_up" (the rest is over), "empty" or "unavailable" (asked again
        next time), and the balance or the error."""
        try:
            balance = await self.ctx.providers[name].balance()
        except ProviderError as exc:
            return "unavailable", str(exc)
        return ("topped_up" if balance.amount > 0 else "empty"), str(balance.amount)

    async def reconcile(self) -> None:
        """Settle purchase and rental intents a crash or an unanswered call left behind."""
        settled = await reconcile(self.ctx)
        if any(settled[k] for k in ("refunded", "nothing_bought")):
            log.info("intents_reconciled", **settled)
        rented = await reconcile_rents(self.ctx)
        if any(rented[k] for k in ("adopted", "nothing_bought")):
            log.info("rent_intents_reconciled", **rented)

    async def _deliver(self) -> None:
        """Until stopped or cancelled; a pass that fails is logged and the next one tries again,
        so the deliveries owed (safe in Redis) are never left without a sender."""
        assert self.sender is not None
        store = Backoff("webhooks_store", log, first=WEBHOOK_TICK, cap=STORE_BACKOFF_CAP)
        while self._running():
            pause = WEBHOOK_TICK
            # Only while the lease is surely ours: a long sweep must not let two replicas send.
            if self.leading and time.monotonic() < self._lease_until - 1.0:
                try:
                    await self.sender.send_due(self.ctx.clock())
                    store.succeeded()
                except StoreError as exc:
                    pause = store.failed(str(exc))
                except Exception:
                    log.exception("webhooks_pass_failed")
            await self._pause(pause)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but no longer than until `stop()` is asked."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def sweep(self) -> int:
        """One pass over the due activations; returns how many it handled."""
        return await self._sweep(self.activations, self._visit, "activation")

    async def sweep_rents(self) -> int:
        """One pass over the watched rentals that are due; returns how many it handled."""
        return await self._sweep(self.watched_rents, self._visit_rent, "rent")

    async def _sweep(
        self, schedule: PollSchedule, visit: Callable[[int], Awaitable[None]], kind: str
    ) -> int:
        due = await schedule.due(self.ctx.clock(), BATCH)

        async def one(record_id: int) -> None:
            async with self._slots:
                try:
                    await visit(record_id)
                except (StoreError, LookupError) as exc:
                    log.warning("poller_visit_failed", kind=kind, id=record_id, error=str(exc))
                except Exception:  # one bad record must not hold up the rest, every round
                    log.exception("poller_visit_broken", kind=kind, id=record_id)
                    await schedule.reschedule(record_id, self.ctx.clock() + BROKEN_RETRY)

        await asyncio.gather(*(one(record_id) for record_id in due))
        return len(due)

    async def _visit_rent(self, rent_id: int) -> None:
        rent = await self.rents.load(rent_id)
        provider = self.ctx.providers.get(rent.provider) if rent else None
        if rent is not None and provider is not None:
            rent = await refresh_rent(self.ctx, rent)
            if rent.status is RentStatus.ACTIVE:
                next_at = self.ctx.clock() + provider.poll_interval
                await self.watched_rents.reschedule(rent_id, next_at)
                return
        await self.watched_rents.forget(rent_id)

    async def _visit(self, activation_id: int) -> None:
        ctx = self.ctx
        act = await ctx.store.load(activation_id)
        if act is None or not act.state.active:
            await self.activations.forget(activation_id)
            return
        provider = ctx.providers.get(act.provider)
        if provider is None:
            await self.activations.forget(activation_id)
            return
        act = await refresh(ctx, act)
        if act.state.active and self._refund_due(act):
            act = await self._refund(act, provider)
        if act.state.active:
            await self.activations.reschedule(activation_id, ctx.clock() + provider.poll_interval)
        else:
            await self.activations.forget(activation_id)

    def _refund_due(self, act: Activation) -> bool:
        settings = self.provider_settings.get(act.provider)
        if settings is None or act.messages or act.state is not lifecycle.State.WAIT_CODE:
            return False
        # The refund comes as long before the order's own end as refund_after comes before the
        # provider's default lifetime (40 s by default), so an order that lives longer (a VAK
        # service with its own lifetime) is not given back early.
        margin = settings.order_lifetime - settings.refund_after
        return self.ctx.clock() >= act.expires - margin

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
                await self.ctx.store.count_cancel(refunded, "no_sms")
                self.ctx.metrics.refunds.labels(act.provider, "no_sms").inc()
                log.info("number_refunded", provider=act.provider, activation_id=act.id)
        return refunded
