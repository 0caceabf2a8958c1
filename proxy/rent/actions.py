"""SMS-Activate's rent actions (seeds/002:712-880, 004:402-530) over the tenant's providers.

SMSPVA rents by the week or month (`create`, seeds/001:101-123) and its numbers receive SMS only
for a while after `activate` (001:23, 39-40): getRentStatus activates an idle number itself, so
clients never need to know. VAK-SMS rents for 4 hours (`getNumber&rent=true`, 003:451) and
cannot extend a rent. Errors are `{"status":"error","message":…}` (002:773, SPEC-NOTES).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from proxy.config import TenantSettings
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import (
    ContinueRentNumber,
    GetContinueRentPriceNumber,
    GetRentList,
    GetRentNumber,
    GetRentServicesAndCountries,
    GetRentStatus,
    RentRefused,
    RentRequest,
    SetRentStatus,
)
from proxy.providers.base import (
    Offer,
    OutcomeUnknown,
    Provider,
    ProviderAnswerInvalid,
    ProviderError,
    ProviderRefused,
    Refusal,
    RentMessage,
    RentOrder,
    RentState,
)
from proxy.rent.model import Rent, RentError, RentSms, RentStatus
from proxy.rent.periods import DAY, MAX_HOURS, covering, room_hours
from proxy.rent.store import RentStore
from proxy.store.rmw import change_locked
from proxy.webhooks import usable_url

if TYPE_CHECKING:
    from proxy.actions import Context, Trace

log = structlog.get_logger("rent")

RENT_LIST_SIZE = 10  # seeds/004:473: getRentList shows the last 10 numbers
GONE = frozenset({Refusal.ORDER_EXPIRED, Refusal.ORDER_NOT_FOUND})
FINISH, CANCEL = 1, 2  # seeds/002:840-845
# Upstreams that refund an ended rental only case by case, not as a rule: SMSPVA ("refunds only
# when there are unsolvable problems with the number ... decided individually", seeds/001:42-44).
# A cancel there would promise a refund nobody guarantees: it is CANT_CANCEL (set_rent_status).
REFUND_NOT_SURE = frozenset({"smspva"})
# An SMSPVA number stays awake 10-30 minutes after `activate` (seeds/001:39-40): whether it must
# be woken is asked once a minute, not at every poll (`orders` lists the whole account).
WAKE_CHECK_EVERY = 60.0


def error(message: RentError, info: dict[str, Any] | None = None) -> Answer:
    """`{"status":"error","message":…}`, with `info` where the seed has one (004:497-499)."""
    body: dict[str, Any] = {"status": "error", "message": message.value}
    if info is not None:
        body["info"] = info
    return answers.json_answer(body, message.value)


def phone_answer(rent: Rent) -> Answer:
    """getRentNumber / continueRentNumber (seeds/002:766, 004:489)."""
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(rent.until))
    body = {"status": "success", "phone": {"id": rent.id, "endDate": end, "number": rent.phone}}
    return answers.json_answer(body, "RENT_NUMBER")


def _codes(ctx: Context, provider: Provider, service: str, country: int) -> tuple[str, str] | None:
    """The provider's service and country codes. SMSPVA rents with its activation numbering
    (`service=opt131` Apple, seeds/000:172, 259; `scode: "opt16"` Instagram, seeds/001:138 and
    000:264; Telegram opt29, 000:262), so one code map serves both, overrides included."""
    code = ctx.codes.provider_service(provider.kind, service)
    place = ctx.codes.provider_country(provider.kind, country)
    return (code, place) if code and place else None


async def _rent_offers(
    provider: Provider, place: str, hours: int
) -> tuple[Provider, dict[str, Offer] | None]:
    """The provider's rental offers there; None when it did not answer."""
    try:
        return provider, await provider.rent_offers(place, hours)
    except ProviderError as exc:
        log.warning("rent_offers_unavailable", provider=provider.name, error=str(exc))
        return provider, None


def _offer_bought(chain: list[tuple[Provider, Offer | None]]) -> tuple[Provider, Offer] | None:
    """The offer getRentNumber buys: the first provider in its order with stock (all sold out:
    the first that prices it). None where a provider before it did not answer: what that one
    would charge is unknown, and it would be tried first."""
    found = next((i for i, (_, o) in enumerate(chain) if o is not None and o.count != 0), None)
    if found is None:
        found = next((i for i, (_, o) in enumerate(chain) if o is not None), None)
    if found is None or any(offer is None for _, offer in chain[:found]):
        return None
    provider, offer = chain[found]
    return (provider, offer) if offer is not None else None


async def services_and_countries(
    ctx: Context, tenant: TenantSettings, request: GetRentServicesAndCountries
) -> Answer:
    """Rental prices for `hours` in one country: per service, the price of what getRentNumber
    buys (the first provider in its order that has a number: SMSPVA's covering week or month,
    VAK-SMS's own 4-hour rent price), stock summed; OUT_OF_STOCK when the providers that
    answered have no number there (seeds/004:415)."""
    asked: list[tuple[Provider, str]] = []
    operators = {"any"}
    for provider, _ in _in_order(ctx, tenant, request.country, request.operators):
        place = ctx.codes.provider_country(provider.kind, request.country)
        if place is None or request.hours > provider.max_rent_hours:
            continue
        asked.append((provider, place))
        operators.update(ctx.catalogs.operators.honoured(provider.kind, request.country))
    listed = await asyncio.gather(*(_rent_offers(p, place, request.hours) for p, place in asked))
    codes = {
        service
        for provider, offers in listed
        for code in offers or ()
        if (service := ctx.codes.service_from_provider(provider.kind, code)) is not None
    }
    services = {}
    for service in sorted(codes):
        chain = []  # as getRentNumber tries them: the providers that rent this service here
        for provider, offers in listed:
            code = ctx.codes.provider_service(provider.kind, service)
            if code is not None and (offers is None or code in offers):
                chain.append((provider, None if offers is None else offers[code]))
        bought = _offer_bought(chain)
        if bought is None:
            continue
        provider, offer = bought
        cost = ctx.money.client_price(
            offer.price, provider.currency, tenant.currency, tenant.markup
        )
        quant = sum(o.count or 0 for _, o in chain if o is not None)
        services[service] = {"cost": float(cost), "quant": quant}
    failed = sum(offers is None for _, offers in listed)
    if listed and (failed == len(listed) or (failed and not services)):
        return error(RentError.SERVER_ERROR)
    if not any(entry["quant"] for entry in services.values()):
        return error(RentError.OUT_OF_STOCK)
    body = {
        "countries": {str(request.country): request.country},
        # seeds/002:720: every operator a rent may ask for here, "any" among them, by name
        "operators": {str(i): name for i, name in enumerate(sorted(operators))},
        "services": services,
        "currency": answers.currency_number(tenant.currency),  # seeds/004:410
    }
    return answers.json_answer(body, "RENT_SERVICES")


def _in_order(
    ctx: Context, tenant: TenantSettings, country: int, operators: tuple[str, ...]
) -> list[tuple[Provider, str | None]]:
    """The tenant's providers as getRentNumber tries them, each with its name for the asked
    operator: those that can honour it first, then the others without one (getNumber's "first
    suitable operator", seeds/004:134)."""
    honouring: list[tuple[Provider, str | None]] = []
    fallback: list[tuple[Provider, str | None]] = []
    for name in tenant.providers:
        provider = ctx.providers[name]
        operator = _operator(ctx, provider, country, operators)
        if operators and operator is None:
            fallback.append((provider, None))
        else:
            honouring.append((provider, operator))
    return honouring + fallback


async def rent_number(
    ctx: Context, tenant: TenantSettings, request: GetRentNumber, trace: Trace
) -> Answer:
    """Rent from the tenant's providers in order; the first that sells wins."""
    if ctx.codes.service(request.service) is None:
        return error(RentError.BAD_SERVICE)
    candidates: list[tuple[Provider, tuple[str, str], str | None]] = []
    longest, sellers = 0, 0
    for provider, operator in _in_order(ctx, tenant, request.country, request.operators):
        codes = _codes(ctx, provider, request.service, request.country)
        sellers += _codes(ctx, provider, request.service, 0) is not None
        if codes is None:
            continue
        if request.hours > provider.max_rent_hours:
            longest = max(longest, provider.max_rent_hours)
            continue
        candidates.append((provider, codes, operator))
    if not candidates:
        if longest:
            return error(RentError.MAX_HOURS_EXCEED, {"max": longest})
        return error(RentError.NO_NUMBERS if sellers else RentError.BAD_SERVICE)
    rents = RentStore.beside(ctx.store)
    rent_id = await ctx.store.next_id()
    refusals: list[Refusal] = []
    url = request.url if usable_url(request.url) else ""
    if request.url and not url:
        log.warning("rent_webhook_ignored", reason="not an http(s) URL")
    for provider, (code, place), operator in candidates:
        await rents.begin(rent_id, {
            "tenant": tenant.name, "provider": provider.name, "service": request.service,
            "upstream_service": code, "upstream_country": place, "hours": str(request.hours),
            "country": str(request.country), "url": url,
        })  # fmt: skip
        try:
            bought = await provider.rent(code, place, request.hours, operator)
        except ProviderRefused as exc:
            refusals.append(exc.refusal)
            continue
        except (OutcomeUnknown, ProviderAnswerInvalid) as exc:
            await rents.give_up(rent_id, unknown=str(exc))
            return error(RentError.SERVER_ERROR)
        except ProviderError:
            continue
        rent = Rent(
            id=rent_id,
            tenant=tenant.name,
            provider=provider.name,
            order_id=bought.order_id,
            service=request.service,
            upstream_service=code,
            upstream_country=place,
            country=request.country,
            phone=bought.phone,
            created=ctx.clock(),
            until=bought.until,
            url=url,
        )
        await rents.save(rent, new=True)
        trace.activation_id, trace.provider = rent.id, provider.name
        log.info("rented", provider=provider.name, rent=rent.id, hours=request.hours)
        return phone_answer(rent)
    await rents.give_up(rent_id)
    if refusals and all(r is Refusal.NO_BALANCE for r in refusals):
        return error(RentError.NO_BALANCE)
    if refusals and all(r is Refusal.BAD_SERVICE for r in refusals):
        return error(RentError.BAD_SERVICE)
    return error(RentError.NO_NUMBERS)


def _operator(
    ctx: Context, provider: Provider, country: int, operators: tuple[str, ...]
) -> str | None:
    """The provider's name for the first asked operator it carries (VAK-SMS: getNumber's
    `operator`; SMSPVA: create's `provider`, seeds/000:168 and smspva-sdk)."""
    for name in operators:
        found = ctx.catalogs.operators.provider_operator(provider.kind, country, name)
        if found is not None:
            return found
    return None


async def _owned(ctx: Context, tenant: TenantSettings, rent_id: int) -> Rent | None:
    """The rental if it exists and is this tenant's: foreign ids look like unknown ones."""
    rent = await RentStore.beside(ctx.store).load(rent_id)
    return rent if rent is not None and rent.tenant == tenant.name else None


async def _change(ctx: Context, rent_id: int, change: Callable[[Rent], Rent]) -> Rent:
    """Read-modify-write under the id's lock (ids are shared with activations: never both);
    SMS this change alone saw first go to the rental's webhook."""
    rents = RentStore.beside(ctx.store)
    _, after = await change_locked(
        ctx.store.locked(rent_id), lambda: rents.load(rent_id), rents.save, change,
        ctx.notifier.rent,
    )  # fmt: skip
    return after


def _finished(rent: Rent) -> Rent:
    return replace(rent, status=RentStatus.FINISHED) if rent.status is RentStatus.ACTIVE else rent


def _merged(rent: Rent, messages: tuple[RentMessage, ...], now: float) -> Rent:
    """The rental with the upstream's further SMS; VAK gives no time, so first sight is it."""
    if len(messages) <= len(rent.messages) or rent.status is not RentStatus.ACTIVE:
        return rent
    new = tuple(RentSms(m.sender, m.text, m.date or now) for m in messages[len(rent.messages) :])
    return replace(rent, messages=rent.messages + new)


async def refresh(ctx: Context, rent: Rent, *, force: bool = False, wake: bool = True) -> Rent:
    """Bring an active rental up to date, asking upstream at most once per poll interval; an
    idle SMSPVA number is activated first (`wake`), as only active numbers get SMS (001:23)."""
    now = ctx.clock()
    current = rent.current(now)
    if current.status is not RentStatus.ACTIVE:
        return await _change(ctx, rent.id, lambda r: r.current(now)) if current != rent else rent
    provider = ctx.providers.get(rent.provider)
    rents = RentStore.beside(ctx.store)
    if provider is None or not (force or await rents.claim_poll(rent.id, provider.poll_interval)):
        return current
    try:
        if (
            wake
            and await rents.claim_poll(rent.id, WAKE_CHECK_EVERY, "wake")
            and await ctx.rent_states.of(provider, rent.order_id) is RentState.INACTIVE
        ):
            try:
                await provider.rent_activate(rent.order_id)
            except ProviderRefused as exc:
                if exc.refusal is not Refusal.WAIT_SMS:  # already waking up: fine
                    raise
        messages = await provider.rent_messages(rent.order_id)
    except ProviderRefused as exc:
        if exc.refusal in GONE:  # expired or deleted upstream: the rental is over
            return await _change(ctx, rent.id, _finished)
        log.warning("rent_poll_refused", provider=provider.name, refusal=exc.refusal.value)
        return current
    except ProviderError as exc:
        log.warning("rent_poll_failed", provider=provider.name, error=str(exc))
        return current
    return await _change(ctx, rent.id, lambda r: _merged(r, messages, ctx.clock()))


async def rent_status(ctx: Context, tenant: TenantSettings, request: GetRentStatus) -> Answer:
    """SMS newest first, `size` a page (seeds/004:440-441); an error word while there are none."""
    rent = await _owned(ctx, tenant, request.rent_id)
    if rent is None:
        return error(RentError.INVALID_PHONE)
    rent = await refresh(ctx, rent)
    if rent.status is RentStatus.FINISHED:
        return error(RentError.STATUS_FINISH)  # also a rental whose time ran out
    if rent.status is RentStatus.CANCELLED:
        return error(RentError.STATUS_CANCEL)
    if not rent.messages:
        return error(RentError.STATUS_WAIT_CODE)  # seeds/002:801: success only with an SMS
    size = request.size or 10
    newest = list(reversed(rent.messages))[request.page * size : (request.page + 1) * size]
    values = {
        str(i): {"phoneFrom": m.sender, "text": m.text, "service": rent.service,
                 "date": answers.timestamp(m.date)}
        for i, m in enumerate(newest)
    }  # fmt: skip
    body = {"status": "success", "quantity": str(len(rent.messages)), "values": values}
    return answers.json_answer(body, "RENT_STATUS")


async def set_rent_status(ctx: Context, tenant: TenantSettings, request: SetRentStatus) -> Answer:
    """Finish (1) or cancel (2). A cancel is "canceled with a refund" (STATUS_CANCEL,
    seeds/002:819), so it is CANT_CANCEL (002:861, 004:468) wherever no refund is sure: once an
    SMS came, and on SMSPVA at all, which refunds a deleted rental only case by case
    (seeds/001:42-44); finishing (1) ends such a rental. (SMS-Activate's own limit is 20
    minutes, 002:861.)"""
    rent = await _owned(ctx, tenant, request.rent_id)
    if rent is None:
        return error(RentError.INVALID_PHONE)
    provider = ctx.providers.get(rent.provider)
    refunds = provider is not None and provider.kind not in REFUND_NOT_SURE
    if request.status == CANCEL and refunds:
        rent = await refresh(ctx, rent, force=True, wake=False)  # an unseen SMS forbids it
    rents = RentStore.beside(ctx.store)
    async with ctx.store.locked(rent.id):
        fresh = await rents.load(rent.id)
        if fresh is None:
            return error(RentError.INVALID_PHONE)
        rent = fresh.current(ctx.clock())
        if rent != fresh:
            await rents.save(rent)
        if rent.status is RentStatus.FINISHED:
            return error(RentError.ALREADY_FINISH)
        if rent.status is RentStatus.CANCELLED:
            return error(RentError.ALREADY_CANCEL)
        if request.status == CANCEL and (rent.messages or not refunds):
            return error(RentError.CANT_CANCEL)
        if provider is None:
            return error(RentError.SERVER_ERROR)
        try:
            await provider.rent_end(rent.order_id)
        except ProviderRefused as exc:
            if exc.refusal in GONE:
                await rents.save(_finished(rent))
                return error(RentError.ALREADY_FINISH)
            if exc.refusal is not Refusal.SMS_RECEIVED or request.status == CANCEL:
                word = RentError.CANT_CANCEL
                return error(
                    word if exc.refusal is Refusal.SMS_RECEIVED else RentError.SERVER_ERROR
                )
            # VAK keeps a number that got a code until its 4 hours end (seeds/003:1185)
        except ProviderError as exc:
            log.warning("rent_end_failed", provider=provider.name, error=str(exc))
            return error(RentError.SERVER_ERROR)
        status = RentStatus.FINISHED if request.status == FINISH else RentStatus.CANCELLED
        await rents.save(replace(rent, status=status))
    return answers.json_answer({"status": "success"}, "RENT_STATUS_SET")


async def rent_list(ctx: Context, tenant: TenantSettings) -> Answer:
    """The tenant's current rentals, newest first, the last 10 (seeds/004:473)."""
    now = ctx.clock()
    rents = await RentStore.beside(ctx.store).listed(tenant.name)
    current = [r for r in rents if r.current(now).status is RentStatus.ACTIVE][:RENT_LIST_SIZE]
    if not current:
        return error(RentError.NO_NUMBERS)  # seeds/004:484
    values = {str(i): {"id": str(r.id), "phone": r.phone} for i, r in enumerate(current)}
    return answers.json_answer({"status": "success", "values": values}, "RENT_LIST")


async def _extendable(
    ctx: Context, tenant: TenantSettings, rent_id: int, hours: int
) -> tuple[Rent, Provider] | Answer:
    """The rental and its provider when `hours` may be added now, or the error to answer.

    SMSPVA prolongs only in the last 7 days and up to 90 days from now (seeds/001:25-31): before
    that window the hours that may be added are 0, so MAX_HOURS_EXCEED says `max` 0. A rental
    that is over cannot be extended (RENT_DIE). SMS-Activate re-orders a finished one under a
    new id (002:921); neither upstream can: SMSPVA keeps nothing of it, and VAK's prolongNumber
    serves getExtraActivation, not rentals (SPEC-NOTES), giving a 20-minute order.
    """
    rent = await _owned(ctx, tenant, rent_id)
    if rent is None:
        return error(RentError.INVALID_PHONE)
    now = ctx.clock()
    provider = ctx.providers.get(rent.provider)
    if rent.current(now).status is not RentStatus.ACTIVE:
        return error(RentError.RENT_DIE)
    if provider is None or not provider.extends_rents:
        return error(RentError.RENT_DIE)  # VAK-SMS rents cannot be extended (003:451)
    room = room_hours(rent.until, now)
    if covering(hours).days * 24 > room:
        return error(RentError.MAX_HOURS_EXCEED, {"max": room})
    # seeds/001:150-152: the upstream's own word on this order, asked before every prolongation
    try:
        orders = await provider.rent_orders()
    except ProviderError as exc:
        log.warning("rent_orders_unavailable", provider=provider.name, error=str(exc))
        return error(RentError.SERVER_ERROR)
    if orders is not None:  # a provider that lists no orders has nothing more to say
        order = next((o for o in orders if o.order_id == rent.order_id), None)
        if order is None or order.can_prolong is False:
            # Not open upstream, or not to be prolonged though its last 7 days have come:
            # the number's life cannot be extended (RENT_DIE, seeds/002:949).
            return error(RentError.RENT_DIE)
        room = min(room, _upstream_room(order))
        if covering(hours).days * 24 > room:
            return error(RentError.MAX_HOURS_EXCEED, {"max": room})
    return rent, provider


def _upstream_room(order: RentOrder) -> int:
    """Hours the upstream lets a prolongation add (whole days): at most `canprolongmax` days,
    and not past `canprolonguntil` (seeds/001:151-152); unbounded where it names neither."""
    days = [order.prolong_max_days] if order.prolong_max_days is not None else []
    if order.prolong_until is not None:
        days.append(math.floor((order.prolong_until - order.until) / DAY))
    return max(0, min(days)) * 24 if days else MAX_HOURS


async def continue_rent(
    ctx: Context, tenant: TenantSettings, request: ContinueRentNumber
) -> Answer:
    """Prolong by the covering period; answered like getRentNumber with the new end."""
    checked = await _extendable(ctx, tenant, request.rent_id, request.hours)
    if isinstance(checked, Answer):
        return checked
    rent, provider = checked
    rents = RentStore.beside(ctx.store)
    async with ctx.store.locked(rent.id):
        fresh = await rents.load(rent.id) or rent  # what others saved meanwhile is kept
        try:
            added = await provider.rent_prolong(rent.order_id, request.hours)
        except ProviderRefused as exc:
            if exc.refusal in GONE:
                await rents.save(_finished(fresh))
                return error(RentError.RENT_DIE)
            if exc.refusal is Refusal.NO_BALANCE:
                return error(RentError.NO_BALANCE)
            if exc.refusal in (Refusal.BAD_STATUS, Refusal.BAD_REQUEST):
                return error(RentError.MAX_HOURS_EXCEED, {"max": 0})  # the upstream's clock
            return error(RentError.SERVER_ERROR)
        except (OutcomeUnknown, ProviderAnswerInvalid) as exc:
            # Paid or not? The upstream's own `until` says (SMSPVA `orders`, 001:125-156).
            log.warning("rent_prolong_unknown", provider=provider.name, error=str(exc))
            until = await _upstream_until(provider, rent.order_id)
            if until is None or until <= fresh.until:
                return error(RentError.SERVER_ERROR)
            added = until - fresh.until
        except ProviderError as exc:
            log.warning("rent_prolong_failed", provider=provider.name, error=str(exc))
            return error(RentError.SERVER_ERROR)
        longer = replace(fresh, until=fresh.until + added)
        await rents.save(longer)
    return phone_answer(longer)


async def _upstream_until(provider: Provider, order_id: str) -> float | None:
    """The rental's end as the upstream lists it, or None when it cannot tell."""
    try:
        orders = await provider.rent_orders()
    except ProviderError:
        return None
    return next((o.until for o in orders or () if o.order_id == order_id), None)


async def continue_price(
    ctx: Context, tenant: TenantSettings, request: GetContinueRentPriceNumber
) -> Answer:
    """What continueRentNumber would cost: the upstream's day price x the covering days."""
    checked = await _extendable(ctx, tenant, request.rent_id, request.hours)
    if isinstance(checked, Answer):
        return checked
    rent, provider = checked
    try:
        offers = await provider.rent_offers(rent.upstream_country, request.hours)
    except ProviderError as exc:
        log.warning("rent_offers_unavailable", provider=provider.name, error=str(exc))
        return error(RentError.SERVER_ERROR)
    offer = offers.get(rent.upstream_service)
    if offer is None:
        return error(RentError.SERVER_ERROR)
    price = ctx.money.client_price(offer.price, provider.currency, tenant.currency, tenant.markup)
    body = {
        "status": "success",
        "price": float(price),
        "currency": answers.currency_number(tenant.currency),  # seeds/004:517
    }
    return answers.json_answer(body, "RENT_PRICE")


async def perform_rent(
    ctx: Context, tenant: TenantSettings, request: RentRequest, trace: Trace
) -> Answer:
    """Run one of the rent actions."""
    match request:
        case RentRefused():
            return error(RentError(request.message))
        case GetRentServicesAndCountries():
            return await services_and_countries(ctx, tenant, request)
        case GetRentNumber():
            return await rent_number(ctx, tenant, request, trace)
        case GetRentStatus():
            trace.activation_id = request.rent_id
            return await rent_status(ctx, tenant, request)
        case SetRentStatus():
            trace.activation_id = request.rent_id
            return await set_rent_status(ctx, tenant, request)
        case GetRentList():
            return await rent_list(ctx, tenant)
        case ContinueRentNumber():
            trace.activation_id = request.rent_id
            return await continue_rent(ctx, tenant, request)
        case GetContinueRentPriceNumber():
            return await continue_price(ctx, tenant, request)
