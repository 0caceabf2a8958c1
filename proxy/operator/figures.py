"""The operator's overview, read from Redis alone: any replica shows the same figures.

Counts and charts come from the tally's buckets; breakers, balances and latency from the
providers' health; stock from the offers cache as the catalog left it (never fetched for the
page: looking must not cost upstream requests); activations, rentals and unknown intents from
their own records. Nothing here writes, but for what reading the rentals does anyway: a tenant's
rental index forgets ids whose records have expired (RentStore.listed, as getRentList).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from proxy.actions import Context
from proxy.config import ProviderSettings, TenantSettings
from proxy.lifecycle import Activation
from proxy.operator import buckets
from proxy.operator.buckets import Buckets, Scoped
from proxy.operator.schema import (
    Activations,
    ActiveActivation,
    ActiveRental,
    Chart,
    Charts,
    ErrorGroup,
    Held,
    Intent,
    Intents,
    Latency,
    Overview,
    Provider,
    Rentals,
    Stock,
    Tenant,
    Windows,
    mask_phone,
)
from proxy.operator.tally import MONEY_UNITS, scrub
from proxy.rent.model import Rent, RentStatus
from proxy.rent.store import INTENT, RentStore

SHOWN = 50  # activations, rentals and intents listed (the counts are of all of them)
SCANNED = 1000  # purchase intents read at most (more than that unreconciled: a disaster)
TOP = 3  # services and countries charted
STOCK_PAIRS = 5  # what sells most, per provider, in the stock table
SENDING_GRACE = 60.0  # an intent still "sending" after this long lost its answer
ERROR_RATE_ALARM = 0.2


@dataclass(frozen=True, slots=True)
class Sources:
    """What the overview is read from."""

    ctx: Context
    providers: Mapping[str, ProviderSettings]
    tenants: Sequence[TenantSettings]
    refresh_seconds: int

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(p.api_key for p in self.providers.values() if p.api_key)


async def overview(sources: Sources) -> Overview:
    """Every figure of the page, as of now."""
    ctx = sources.ctx
    now = ctx.clock()
    read = await buckets.read(ctx.store.redis, ctx.store.keys, now)
    hour, day = buckets.merge(read.minutes), buckets.merge(read.hours)
    providers, activations, rentals, intents, tenants = await asyncio.gather(
        _providers(sources, hour, day, now),
        _activations(sources, now),
        _rentals(sources, now),
        _intents(sources, now),
        _tenants(sources, hour, day),
    )
    scopes = _scopes(sources, day)
    result = Overview(
        generated_at=now,
        refresh_seconds=sources.refresh_seconds,
        attention=[],
        providers=providers,
        windows=Windows(
            hour={s: buckets.window(hour.get(s, {}), s) for s in scopes},
            day={s: buckets.window(day.get(s, {}), s) for s in scopes},
        ),
        charts=_charts(read, scopes),
        activations=activations,
        rentals=rentals,
        intents=intents,
        errors=_errors(read, hour, sources.secrets),
        tenants=tenants,
    )
    result["attention"] = attention(result)
    return result


def _scopes(sources: Sources, day: Scoped) -> list[str]:
    """All, each provider, then the services and countries that sold most over the day."""
    return ["all", *(f"provider:{name}" for name in sources.providers),
            *buckets.top(day, "service", TOP), *buckets.top(day, "country", TOP)]  # fmt: skip


def _charts(read: Buckets, scopes: list[str]) -> Charts:
    return Charts(
        hour=Chart(
            start=read.hour_start,
            step_seconds=60,
            points=len(read.minutes),
            series={s: buckets.series(read.minutes, s) for s in scopes},
        ),
        day=Chart(
            start=read.day_start,
            step_seconds=3600,
            points=len(read.hours),
            series={s: buckets.series(read.hours, s) for s in scopes},
        ),
    )


async def _providers(sources: Sources, hour: Scoped, day: Scoped, now: float) -> list[Provider]:
    ctx = sources.ctx
    pairs = [scope.split(":")[1:] for scope in buckets.top(day, "pair", STOCK_PAIRS)]
    found = []
    for name, settings in sources.providers.items():
        view = await ctx.health.view(name)
        counts = hour.get(f"provider:{name}", {})
        p50, p99, calls = buckets.latency(counts)
        errors = counts.get("errors", 0)
        resting = view.state != "closed" and (view.open_until > now or bool(view.reason))
        found.append(
            Provider(
                name=name,
                kind=settings.kind,
                state=view.state,
                resting=resting,
                rest_reason=view.reason if resting else "",
                rest_until=view.open_until or None,
                failures=view.failures,
                last_error=scrub(view.last_error, sources.secrets) if view.last_error else None,
                balance=view.last_balance,
                balance_at=view.balance_at,
                currency=settings.currency,
                latency=Latency(p50_ms=p50, p99_ms=p99, calls=calls),
                error_rate=buckets.ratio(errors, calls),
                errors=errors,
                stock=await _stock(ctx, name, settings.kind, pairs),
            )
        )
    return found


async def _stock(ctx: Context, provider: str, kind: str, pairs: list[list[str]]) -> list[Stock]:
    """What the offers cache holds for the pairs that sell most (as the catalog last saw it)."""
    rows = []
    for service, country in pairs:
        service_code = ctx.codes.provider_service(kind, service)
        country_code = ctx.codes.provider_country(kind, int(country))
        cached = None
        if service_code is not None and country_code is not None:
            cached = await ctx.catalogs.cache.cached(provider, country_code, service_code)
        offer, seen = cached if cached is not None else (None, None)
        rows.append(
            Stock(
                service=service,
                country=int(country),
                count=offer.count if offer is not None else None,
                price=str(offer.price) if offer is not None else None,
                seen_at=seen,
            )
        )
    return rows


async def _activations(sources: Sources, now: float) -> Activations:
    ctx = sources.ctx
    total = await ctx.store.active_count()
    # Twice as many as shown: a tenant's index may still hold a few that just ended.
    newest = await ctx.store.newest_active([t.name for t in sources.tenants], 2 * SHOWN)
    shown = [
        ActiveActivation(**_held(act, act.state.name, now), codes=len(act.messages))
        for act in await ctx.store.load_many(newest)
        if act is not None and act.state.active
    ][:SHOWN]
    return Activations(active=total, shown=shown)


async def _rentals(sources: Sources, now: float) -> Rentals:
    store = RentStore.beside(sources.ctx.store)
    active = []
    for tenant in sources.tenants:
        for rent in await store.listed(tenant.name):
            rent = rent.current(now)
            if rent.status is RentStatus.ACTIVE:
                active.append(rent)
    active.sort(key=lambda r: -r.created)
    shown = [
        ActiveRental(
            **_held(rent, rent.status.name, now),
            left_seconds=round(max(0.0, rent.until - now), 1),
            messages=len(rent.messages),
        )
        for rent in active[:SHOWN]
    ]
    return Rentals(active=len(active), shown=shown)


def _held(number: Activation | Rent, state: str, now: float) -> Held:
    """What an activation's row and a rental's share: whose, where from, the phone masked."""
    return Held(
        id=number.id,
        tenant=number.tenant,
        provider=number.provider,
        service=number.service,
        country=number.country,
        phone=mask_phone(number.phone),
        state=state,
        age_seconds=round(max(0.0, now - number.created), 1),
    )


async def _intents(sources: Sources, now: float) -> Intents:
    """Purchases and rentals asked upstream and not recorded: the reconciler's work."""
    store = sources.ctx.store
    rents = RentStore.beside(store)
    purchases = await store.stale_intents(now, SCANNED)
    rentals = await rents.stale_intents(now)
    listed = [("activation", i, f) for i, f in zip(purchases, await store.intents(purchases),
                                                    strict=True)]  # fmt: skip
    listed += [("rental", i, await rents.intent(i)) for i in rentals]  # rare: one read each
    found: list[Intent] = []
    for kind, intent_id, fields in listed:
        if not fields:  # recorded or gone since it was listed
            continue
        started = float(fields.get("started", 0) or 0)
        found.append(
            Intent(
                id=intent_id,
                kind=kind,
                tenant=fields.get("tenant", ""),
                provider=fields.get("provider", ""),
                service=fields.get("service", ""),
                country=fields.get("country", ""),
                status=_status(fields.get("status", INTENT)),
                age_seconds=round(max(0.0, now - started), 1) if started else 0.0,
                error=scrub(fields.get("error", ""), sources.secrets),
            )
        )
    unknown = [i for i in found if _awaits_reconciliation(i)]
    unknown.sort(key=lambda i: -i["age_seconds"])
    return Intents(unknown=len(unknown), shown=unknown[:SHOWN])


def _status(stored: str) -> str:
    """An intent's status in the page's words: a rental's "intent" is "sending" too."""
    return "sending" if stored in ("", INTENT) else stored


def _awaits_reconciliation(intent: Intent) -> bool:
    return intent["status"] != "sending" or intent["age_seconds"] > SENDING_GRACE


def _errors(read: Buckets, hour: Scoped, secrets: tuple[str, ...]) -> list[ErrorGroup]:
    groups = []
    for name, count in hour.get("error", {}).items():
        provider, endpoint, kind = [*name.rsplit("|", 2), "", ""][:3]  # a provider may hold "|"
        at, message = read.last_errors.get(f"error|{name}", (None, ""))
        groups.append(
            ErrorGroup(
                provider=provider,
                endpoint=endpoint,
                kind=kind,
                count=count,
                last_at=at or None,
                message=scrub(message, secrets),
            )
        )
    groups.sort(key=lambda g: (-g["count"], g["provider"], g["endpoint"], g["kind"]))
    return groups


async def _tenants(sources: Sources, hour: Scoped, day: Scoped) -> list[Tenant]:
    store = sources.ctx.store
    found = []
    for tenant in sources.tenants:
        hourly, daily = hour.get(f"tenant:{tenant.name}", {}), day.get(f"tenant:{tenant.name}", {})
        spend, refund = daily.get("spend", 0), daily.get("refund", 0)
        found.append(
            Tenant(
                name=tenant.name,
                currency=tenant.currency,
                active=await store.tenant_active_count(tenant.name),
                bought_hour=hourly.get("bought", 0),
                bought_day=daily.get("bought", 0),
                spend_day=money(spend - refund),
                refunded_day=money(refund),
                success_rate_day=buckets.ratio(daily.get("coded", 0), daily.get("bought", 0)),
                rented_day=daily.get("rented", 0),
            )
        )
    return found


def money(units: int) -> str:
    """Ten-thousandths as a decimal string with at least two decimals (`12.50`, `0.1234`)."""
    amount = Decimal(units) / MONEY_UNITS
    return str(amount.quantize(Decimal("0.01")) if amount == amount.quantize(Decimal("0.01"))
               else amount.normalize())  # fmt: skip


def attention(view: Overview) -> list[str]:
    """What must be seen first, most urgent first: money in doubt, then providers failing."""
    notes = []
    unknown = view["intents"]["unknown"]
    if unknown:
        noun = "purchase" if unknown == 1 else "purchases"
        notes.append(f"{unknown} {noun} with an unknown outcome await reconciliation")
    for p in view["providers"]:
        if p["state"] == "open":
            reason = f": {p['rest_reason']}" if p["rest_reason"] else ""
            notes.append(f"provider {p['name']} is failing (breaker open{reason})")
        elif p["resting"]:
            notes.append(f"provider {p['name']} is resting: {p['rest_reason'] or 'half-open'}")
        rate = p["error_rate"]
        if rate is not None and rate >= ERROR_RATE_ALARM and p["state"] != "open":
            notes.append(f"provider {p['name']}: {rate:.0%} of calls failed in the last hour")
    return notes


def as_section(view: Overview, section: str) -> object:
    """One section of the overview, for /admin/api/<section>."""
    return cast("Mapping[str, object]", view)[section]
