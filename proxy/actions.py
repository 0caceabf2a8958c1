"""One coroutine per SMS-Activate action: load, ask the state machine, call upstream, store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from proxy import lifecycle
from proxy.calls import answer_call
from proxy.catalog.actions import CatalogContext, perform_catalog
from proxy.catalog.offers import Catalogs
from proxy.config import RoutingSettings, TenantSettings
from proxy.dispatch import Dispatcher, PurchaseFailed
from proxy.health.breaker import Health
from proxy.history import get_history
from proxy.lifecycle import Activation, Listing, State, Upstream
from proxy.mapping import CodeMap
from proxy.metrics import Metrics
from proxy.money import Money
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import (
    CheckExtraActivation,
    CreateTaskForCall,
    GetActiveActivations,
    GetAdditionalService,
    GetBalance,
    GetExtraActivation,
    GetFullSms,
    GetHistory,
    GetIncomingCallStatus,
    GetMultiServiceNumber,
    GetNumber,
    GetOutgoingCalls,
    GetStatus,
    RentRequest,
    Request,
    SetStatus,
)
from proxy.protocol.words import Word
from proxy.providers.base import Poll, PollState, Provider, ProviderError, ProviderRefused, Refusal
from proxy.rent.actions import perform_rent
from proxy.rent.states import RentStates
from proxy.repeats import perform_repeat
from proxy.store.activations import ActivationStore, StoreError
from proxy.store.rmw import change_locked
from proxy.webhooks import Notifier

log = structlog.get_logger("actions")


@dataclass(frozen=True, slots=True)
class Context:
    """Everything an action needs, built once in the app's lifespan."""

    store: ActivationStore
    providers: Mapping[str, Provider]
    dispatcher: Dispatcher
    codes: CodeMap
    money: Money
    catalogs: Catalogs
    metrics: Metrics
    health: Health
    settings: RoutingSettings
    notifier: Notifier
    clock: Callable[[], float] = time.time
    rent_states: RentStates = field(default_factory=RentStates)  # shared SMSPVA listings


@dataclass(slots=True)
class Trace:
    """What the canonical request log line reports about the work done."""

    activation_id: int | None = None
    provider: str | None = None


async def get_balance(ctx: Context, tenant: TenantSettings, trace: Trace) -> Answer:
    """The sum of the tenant's providers' balances, in the clients' currency."""
    providers = [ctx.providers[name] for name in tenant.providers]
    results = await asyncio.gather(*(p.balance() for p in providers), return_exceptions=True)
    total, answered = Decimal(0), 0
    for provider, result in zip(providers, results, strict=True):
        if isinstance(result, ProviderError):
            log.warning("balance_unavailable", provider=provider.name, error=str(result))
            continue
        if isinstance(result, BaseException):
            raise result
        total += ctx.money.convert(result.amount, result.currency, tenant.currency)
        answered += 1
    if providers and not answered:
        return answers.word(Word.ERROR_SQL)
    return answers.balance(total)


async def get_number(
    ctx: Context, tenant: TenantSettings, request: GetNumber, trace: Trace
) -> Answer:
    """getNumber / getNumberV2, with orderId idempotency per tenant (seeds/004:137, 152)."""
    if request.order_id is not None:
        held = await ctx.store.reserve_order(tenant.name, request.order_id)
        if held is not None:
            return answers.word(Word.ORDER_ALREADY_EXISTS)
    try:
        act = await _buy_allowed(ctx, tenant, request)
    except PurchaseFailed as exc:
        if request.order_id is not None:
            await _settle_order(ctx, tenant, request.order_id, exc.maybe_bought)
        return answers.word(exc.word, *exc.args_)
    except StoreError:
        # Nothing was recorded: the intent could not be written (nothing was sent) or a sold
        # number could not be recorded and was given back (proxy.dispatch).
        if request.order_id is not None:
            await _settle_order(ctx, tenant, request.order_id, maybe_bought=False)
        raise
    trace.activation_id, trace.provider = act.id, act.provider
    if request.order_id is not None:
        await ctx.store.bind_order(tenant.name, request.order_id, act.id)
    if request.v2:
        return answers.number_v2(act, act.operator)
    return answers.access_number(act)


async def _settle_order(
    ctx: Context, tenant: TenantSettings, order_id: str, maybe_bought: bool
) -> None:
    """An orderId whose purchase gave the client nothing: free for a retry, unless an upstream
    may hold a paid order for it. Best effort: a lapse (PENDING_ORDER_TTL) frees it anyway."""
    try:
        if maybe_bought:
            await ctx.store.hold_order(tenant.name, order_id)
        else:
            await ctx.store.release_order(tenant.name, order_id)
    except StoreError as exc:
        log.warning("order_id_not_settled", error=str(exc))


# Numbers bought for one request while each has a prefix the client excluded (phoneException).
EXCLUDED_PURCHASES = 3


async def _buy_allowed(ctx: Context, tenant: TenantSettings, request: GetNumber) -> Activation:
    """A number whose prefix the client did not exclude (phoneException, seeds/004:110).

    No upstream filters by prefix, so the number is checked once bought: an excluded one is
    given back at once, as setStatus 8 would (refunded: no SMS came), and another is bought, up
    to EXCLUDED_PURCHASES; then NO_NUMBERS. A number the upstream will not take back is issued
    after all: it is paid for, and only the client can still use or cancel it.
    """
    for _ in range(EXCLUDED_PURCHASES):
        act = await ctx.dispatcher.buy(tenant, request)
        if not act.phone.startswith(request.phone_exceptions):
            return act
        given_back = await _change_status(ctx, act.id, 8, Trace(), why="phone_exception")
        if given_back is not Word.ACCESS_CANCEL:
            log.warning("excluded_number_kept", activation_id=act.id, provider=act.provider)
            return act
        log.info("excluded_number_given_back", activation_id=act.id, provider=act.provider)
    raise PurchaseFailed(Word.NO_NUMBERS, "every number bought had an excluded prefix")


async def _owned(ctx: Context, tenant: TenantSettings, activation_id: int) -> Activation | None:
    """The activation if it exists and is this tenant's: foreign ids look like unknown ones."""
    act = await ctx.store.load(activation_id)
    if act is None or act.tenant != tenant.name:
        return None
    return act


async def get_status(
    ctx: Context, tenant: TenantSettings, request: GetStatus | GetFullSms, trace: Trace
) -> Answer:
    # As `_owned`, a copy in the record cache taken as `store.load` takes it, without its
    # coroutine and error mapping: most requests end there.
    cache = ctx.store.cache
    act = cache.get(request.activation_id) if cache is not None else None
    if act is None:
        act = await ctx.store.load(request.activation_id)
    if act is None or act.tenant != tenant.name:
        return answers.word(Word.NO_ACTIVATION)
    trace.activation_id, trace.provider = act.id, act.provider
    ctx.metrics.client_poll()
    upstream = not ctx.settings.poller
    if not _as_is(ctx, act, upstream):
        act = await refresh(ctx, act, upstream=upstream)
    if isinstance(request, GetFullSms):
        return answers.full_sms(act)
    return answers.status_v2(act) if request.v2 else answers.status(act)


# `State.active` as a set: the property costs an enum lookup per member on Python 3.11.
ACTIVE = frozenset(state for state in State if state.active)


def _as_is(ctx: Context, act: Activation, upstream: bool) -> bool:
    """Whether `refresh` would hand `act` back unchanged at once, with no I/O: ended, or read
    with the upstream left to the poller while it is neither expired nor orphaned. Asked
    before calling it, so that a poll needs no coroutine for it (most getStatus requests)."""
    if act.state not in ACTIVE:
        return True
    return not upstream and ctx.clock() < act.expires and act.provider in ctx.providers


async def refresh(ctx: Context, act: Activation, *, upstream: bool = True) -> Activation:
    """Bring an active activation up to date, asking upstream at most once per interval.

    With the background poller on, client reads skip the upstream (`upstream=False`): the
    poller keeps the record fresh, and getStatus is a read.
    """
    if act.state not in ACTIVE:
        return act
    now = ctx.clock()
    provider = ctx.providers.get(act.provider)
    if now >= act.expires or provider is None:
        return await _apply(ctx, act.id, lambda a: lifecycle.on_clock(a, now))
    if not upstream or not await ctx.store.claim_poll(act.id, provider.poll_interval):
        return act
    try:
        poll = await provider.poll(act.order_id)
    except ProviderRefused as exc:
        if exc.refusal is not Refusal.ORDER_NOT_FOUND:
            log.warning("poll_refused", provider=provider.name, refusal=exc.refusal.value)
            return act
        poll = Poll(PollState.EXPIRED)  # the upstream no longer knows the order
    except ProviderError as exc:
        log.warning("poll_failed", provider=provider.name, error=str(exc))
        return act
    if poll.state is PollState.WAITING and lifecycle.on_poll(act, poll, ctx.clock()) == act:
        # Still waiting changes a record only once it expires, which the copy in hand shows
        # as well as a fresh read would: no lock, no read, nothing to write (most polls).
        return act
    # The poll was asked for `act` (read before it was sent): if a setStatus 3 reached the
    # upstream since, the record under the lock counts more retries and the poll is stale.
    basis, listing = act.retries, retry_listing(provider)
    before, updated = await _change(
        ctx,
        act.id,
        lambda a: lifecycle.on_poll(a, poll, ctx.clock(), basis=basis, listing=listing),
        ctx.notifier.activation,
    )
    if updated.messages and not before.messages:
        ctx.metrics.codes.labels(updated.provider).inc()
        await ctx.store.count_code(updated)
    return updated


def _change(
    ctx: Context,
    activation_id: int,
    change: Callable[[Activation], Activation],
    before_save: Callable[[Activation, Activation], Awaitable[None]] | None = None,
) -> Awaitable[tuple[Activation, Activation]]:
    """Read-modify-write under the activation's lock: (as it was, as it is)."""
    return change_locked(
        ctx.store.locked(activation_id),
        lambda: ctx.store.load(activation_id, fresh=True),
        ctx.store.save,
        change,
        before_save,
    )


async def _apply(
    ctx: Context, activation_id: int, change: Callable[[Activation], Activation]
) -> Activation:
    """Read-modify-write under the activation's lock, so concurrent changes are not lost."""
    return (await _change(ctx, activation_id, change))[1]


async def set_status(
    ctx: Context, tenant: TenantSettings, request: SetStatus, trace: Trace
) -> Answer:
    """setStatus through the state machine; the upstream call happens under the lock."""
    if await _owned(ctx, tenant, request.activation_id) is None:
        return answers.word(Word.NO_ACTIVATION)
    return answers.word(
        await _change_status(ctx, request.activation_id, request.status, trace, why="client")
    )


async def _change_status(
    ctx: Context, activation_id: int, status: int, trace: Trace, *, why: str
) -> Word:
    """The setStatus word for one activation; `why` labels a refund it causes."""
    async with ctx.store.locked(activation_id):
        act = loaded = await ctx.store.load(activation_id, fresh=True)
        if act is None:
            return Word.NO_ACTIVATION
        trace.activation_id, trace.provider = act.id, act.provider
        now = ctx.clock()
        act = lifecycle.on_clock(act, now)
        provider = ctx.providers.get(act.provider)
        listing = retry_listing(provider)
        plan = lifecycle.plan_set_status(act, status, now, listing)
        if plan.upstream is Upstream.REQUEST_ANOTHER and provider and listing is Listing.EVERY:
            act = await _count_listed(provider, act, now)
            plan = lifecycle.plan_set_status(act, status, now, listing)
        if plan.upstream is not Upstream.NONE:
            if provider is None:
                return Word.ERROR_SQL
            try:
                await _perform(provider, plan.upstream, act.order_id)
            except ProviderRefused as exc:
                log.info("upstream_refused", provider=provider.name, refusal=exc.refusal.value)
                plan = lifecycle.on_upstream_refused(plan, act, exc.refusal, now)
            except ProviderError as exc:
                log.warning("upstream_failed", provider=provider.name, error=str(exc))
                return Word.ERROR_SQL
        stored = loaded
        if plan.upstream is not Upstream.NONE:  # read again after the (slow) upstream call
            stored = await ctx.store.load(activation_id, fresh=True)
        if plan.after != stored:
            await ctx.store.save(plan.after)
        if plan.upstream is Upstream.CANCEL and plan.after.state is State.CANCELLED:
            ctx.metrics.refunds.labels(act.provider, why).inc()
            await ctx.store.count_cancel(act, why)
        return Word(plan.answer.value)


async def _count_listed(provider: Provider, act: Activation, now: float) -> Activation:
    """The activation with the upstream's SMS counted right before a retry is sent upstream.

    The retry waits for VAK-SMS's `all` list (seeds/003:1199-1205) to grow past the length it
    has when the retry is asked; an SMS that came since the last poll came before the retry, so
    it is counted now (one GET per retry). A failed look leaves the last poll's count.
    """
    try:
        poll = await provider.poll(act.order_id)
    except ProviderError as exc:
        log.info("retry_count_failed", provider=provider.name, error=str(exc))
        return act
    return lifecycle.on_poll(act, poll, now, basis=act.retries)


# Where each upstream shows the SMS a retry brings (lifecycle.Listing), by adapter kind:
# SMSPVA's clearsms deletes the SMS `sms` showed (seeds/000:120-126, 368-375); VAK-SMS's
# getSmsCode&all keeps listing every code (seeds/003:1199-1205) after setStatus=send (003:1176).
# handler_api: getStatus shows the latest SMS only, STATUS_WAIT_RETRY after a retry until the
# next one (seeds/004:227-232), as SMSPVA clears its SMS after a retry.
RETRY_LISTINGS = {"smspva": Listing.CLEARED, "vaksms": Listing.EVERY,
                  "handler_api": Listing.CLEARED}  # fmt: skip


def retry_listing(provider: Provider | None) -> Listing:
    """How `provider` lists SMS after a retry; EVERY (wait rather than repeat) when unknown."""
    if provider is None:
        return Listing.EVERY
    return RETRY_LISTINGS.get(provider.kind, Listing.EVERY)


async def _perform(provider: Provider, upstream: Upstream, order_id: str) -> None:
    if upstream is Upstream.CANCEL:
        await provider.cancel(order_id)
    elif upstream is Upstream.REQUEST_ANOTHER:
        await provider.request_another(order_id)


async def get_active_activations(ctx: Context, tenant: TenantSettings, trace: Trace) -> Answer:
    """The tenant's active activations (seeds/004:77-102); NO_ACTIVATIONS when none."""
    ids = await ctx.store.active_ids(tenant.name)
    records = await ctx.store.load_many(ids)
    now, entries, stale = ctx.clock(), [], []
    for activation_id, act in zip(ids, records, strict=True):
        current = lifecycle.on_clock(act, now) if act is not None else None
        if current is None or current.tenant != tenant.name or not current.state.active:
            stale.append(activation_id)
            continue
        country = ctx.codes.country(current.country)
        entries.append(answers.active_activation(current, country.eng if country else ""))
    await ctx.store.forget_active(tenant.name, stale)
    return answers.active_activations(entries)


async def perform(ctx: Context, tenant: TenantSettings, request: Request, trace: Trace) -> Answer:
    """Run the action a parsed request names."""
    if type(request) is GetStatus:  # most requests: no pattern matching for them
        return await get_status(ctx, tenant, request, trace)
    match request:
        case GetBalance():
            return await get_balance(ctx, tenant, trace)
        case GetNumber():
            return await get_number(ctx, tenant, request, trace)
        case GetStatus() | GetFullSms():
            return await get_status(ctx, tenant, request, trace)
        case SetStatus():
            return await set_status(ctx, tenant, request, trace)
        case GetActiveActivations():
            return await get_active_activations(ctx, tenant, trace)
        case GetHistory():
            return await get_history(ctx.store, tenant, request, ctx.clock())
        case GetIncomingCallStatus() | CreateTaskForCall() | GetOutgoingCalls():
            return answer_call(request)
        case (
            GetMultiServiceNumber()
            | GetExtraActivation()
            | CheckExtraActivation()
            | (GetAdditionalService())
        ):
            return await perform_repeat(ctx.dispatcher, tenant, request)
        case _ if isinstance(request, RentRequest):
            return await perform_rent(ctx, tenant, request, trace)
        case _:
            catalog = CatalogContext(ctx.catalogs, ctx.codes, ctx.store)
            return await perform_catalog(catalog, tenant, request)
