"""The catalog actions: what exists, how many numbers, at what price, in SMS-Activate's shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from proxy.catalog.offers import Catalog, Catalogs, Merged
from proxy.config import TenantSettings
from proxy.mapping import CodeMap
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import (
    CatalogRequest,
    GetCountries,
    GetListOfTopCountriesByService,
    GetNumbersStatus,
    GetOperators,
    GetPrices,
    GetPricesVerification,
    GetServicesList,
    GetTopCountriesByService,
)
from proxy.protocol.words import Word
from proxy.providers.base import Provider
from proxy.store.activations import ActivationStore

TOP_LIST_SIZE = 10  # seeds/002:464 "TOP 10 countries"


@dataclass(frozen=True, slots=True)
class CatalogContext:
    """What the catalog actions read: the merged offers, the code tables and the statistics."""

    catalogs: Catalogs
    codes: CodeMap
    store: ActivationStore


def carried_countries(ctx: CatalogContext, tenant: TenantSettings) -> list[int]:
    """Every SMS-Activate country at least one of the tenant's providers carries."""
    kinds = {ctx.catalogs.providers[name].kind for name in tenant.providers}
    return [
        country.id
        for country in ctx.codes.countries
        if any(ctx.codes.provider_country(kind, country.id) is not None for kind in kinds)
    ]


def _countries(ctx: CatalogContext, tenant: TenantSettings, country: int | None) -> list[int]:
    return carried_countries(ctx, tenant) if country is None else [country]


def _number(value: Decimal) -> float:
    return float(value)


async def numbers_status(
    ctx: CatalogContext, tenant: TenantSettings, r: GetNumbersStatus
) -> Answer:
    """{"<service>_0": count}: `_0` is "without forwarding", the only kind served."""
    found = await ctx.catalogs.catalog(tenant, [r.country], operator=r.operator)
    offers = found.get(r.country, {})
    return answers.json_answer({f"{code}_0": m.count for code, m in sorted(offers.items())}, "JSON")


async def prices(ctx: CatalogContext, tenant: TenantSettings, r: GetPrices) -> Answer:
    """{"<country>": {"<service>": {"cost": …, "count": …}}} (seeds/004:325)."""
    found = await ctx.catalogs.catalog(tenant, _countries(ctx, tenant, r.country), r.service)
    body = {
        str(country): {
            code: {"cost": _number(m.price), "count": m.count} for code, m in sorted(offers.items())
        }
        for country, offers in sorted(found.items())
    }
    return answers.json_answer(body, "JSON")


def _by_country(found: Catalog, service: str | None) -> dict[int, Merged]:
    """One entry per country: the service's, or all services folded together."""
    result: dict[int, Merged] = {}
    for country, offers in found.items():
        if service is not None:
            if service in offers:
                result[country] = offers[service]
            continue
        if offers:
            entries = list(offers.values())
            result[country] = Merged(
                count=sum(m.count for m in entries),
                price=min(m.price for m in entries),
                retail_price=max(m.retail_price for m in entries),
                offers=tuple(o for m in entries for o in m.offers),
            )
    return result


async def top_countries(
    ctx: CatalogContext, tenant: TenantSettings, r: GetTopCountriesByService
) -> Answer:
    """Countries by stock, most first, keyed by rank (seeds/004:25-45)."""
    found = await ctx.catalogs.catalog(tenant, carried_countries(ctx, tenant), r.service)
    ranked = sorted(_by_country(found, r.service).items(), key=lambda cm: (-cm[1].count, cm[0]))
    body = {}
    for rank, (country, merged) in enumerate(ranked):
        entry: dict[str, Any] = {
            "country": country,
            "count": merged.count,
            "price": _number(merged.price),
            "retail_price": _number(merged.retail_price),
        }
        if r.free_price:
            entry["freePriceMap"] = {
                answers.money(price): count for price, count in sorted(merged.price_map.items())
            }
        body[str(rank)] = entry
    return answers.json_answer(body, "JSON")


def countries(ctx: CatalogContext, tenant: TenantSettings) -> Answer:
    """Every SMS-Activate country, visible where one of the tenant's providers carries it;
    `rent` 1 where one of them rents (SMSPVA weeks and months, VAK-SMS's 4-hour rent=true,
    seeds/003:451), `multiService` 1 where one sells a number for two services (VAK-SMS,
    seeds/003:858-865), as getRentNumber and getMultiServiceNumber would ask them there."""
    providers = [ctx.catalogs.providers[name] for name in tenant.providers]

    def offered(country: int, can: Callable[[Provider], bool]) -> int:
        return int(
            any(can(p) and ctx.codes.provider_country(p.kind, country) is not None
                for p in providers)
        )  # fmt: skip

    body = {
        str(c.id): {
            "id": c.id,
            "rus": c.rus or c.eng,
            "eng": c.eng,
            "chn": c.eng,  # no Chinese names in our sources: the English one stands in
            "visible": offered(c.id, lambda p: True),
            "retry": 1,  # both upstreams deliver a further SMS (setStatus 3)
            "rent": offered(c.id, lambda p: p.max_rent_hours > 0),
            "multiService": offered(c.id, lambda p: p.sells_multi_service),
        }
        for c in ctx.codes.countries
    }
    return answers.json_answer(body, "JSON")


async def services_list(ctx: CatalogContext, tenant: TenantSettings, r: GetServicesList) -> Answer:
    """{"status":"success","services":[{"code","name"}]}; names are English in every `lang`."""
    if r.country is not None:
        found = await ctx.catalogs.catalog(tenant, [r.country])
        codes: Iterable[str] = sorted(found.get(r.country, {}))
    else:
        kinds = {ctx.catalogs.providers[name].kind for name in tenant.providers}
        codes = [
            s.code
            for s in ctx.codes.services
            if any(ctx.codes.provider_service(kind, s.code) for kind in kinds)
        ]
    services = []
    for code in codes:
        service = ctx.codes.service(code)
        if service is not None:
            services.append({"code": code, "name": service.name})
    return answers.json_answer({"status": "success", "services": services}, "JSON")


def operators(ctx: CatalogContext, tenant: TenantSettings, r: GetOperators) -> Answer:
    """{"status":"success","countryOperators":{"<id>":[names]}} or OPERATORS_NOT_FOUND."""
    carried = set(carried_countries(ctx, tenant))
    wanted = ctx.catalogs.operators.countries() if r.country is None else (r.country,)
    found = {
        str(country): list(ctx.catalogs.operators.names(country))
        for country in wanted
        if country in carried and ctx.catalogs.operators.names(country)
    }
    if not found:
        return answers.word(Word.OPERATORS_NOT_FOUND)
    return answers.json_answer({"status": "success", "countryOperators": found}, "JSON")


async def top_countries_list(
    ctx: CatalogContext, tenant: TenantSettings, r: GetListOfTopCountriesByService
) -> Answer:
    """[{"country", "share", "rate"}], from smsproxy's own purchases: `share` is the country's
    part of the numbers issued for the service ("purchases of the chosen service by country as
    a percentage of the total quantity of purchases", seeds/002:479, 004:295-296), `rate` the
    part of those that got a code (002:480). Most purchased first, then by stock."""
    if ctx.codes.service(r.service) is None:
        return answers.word(Word.WRONG_SERVICE)
    found = await ctx.catalogs.catalog(tenant, carried_countries(ctx, tenant), r.service)
    by_country = _by_country(found, r.service)
    stats = await ctx.store.service_stats(r.service)
    bought = sum(issued for issued, _ in stats.values())

    def rank(entry: tuple[int, Merged]) -> tuple[int, int, int]:
        country, merged = entry
        return -stats.get(country, (0, 0))[0], -merged.count, country

    body = []
    for country, _ in sorted(by_country.items(), key=rank)[:TOP_LIST_SIZE]:
        issued, coded = stats.get(country, (0, 0))
        body.append(
            {
                "country": country,
                "share": round(100 * issued / bought) if bought else 0,
                "rate": round(100 * coded / issued) if issued else 0,
            }
        )
    return answers.json_answer(body, "JSON")


async def prices_verification(
    ctx: CatalogContext, tenant: TenantSettings, r: GetPricesVerification
) -> Answer:
    """{"<service>": {"<country>": {"count": n, "price": "x.xx"}}} (seeds/002:552)."""
    found = await ctx.catalogs.catalog(tenant, carried_countries(ctx, tenant), r.service)
    body: dict[str, dict[str, dict[str, Any]]] = {}
    for country, offers in sorted(found.items()):
        for code, merged in sorted(offers.items()):
            body.setdefault(code, {})[str(country)] = {
                "count": merged.count,
                "price": answers.money(merged.price),
            }
    return answers.json_answer(body, "JSON")


async def perform_catalog(
    ctx: CatalogContext, tenant: TenantSettings, request: CatalogRequest
) -> Answer:
    """Run one catalog action."""
    match request:
        case GetNumbersStatus():
            return await numbers_status(ctx, tenant, request)
        case GetPrices():
            return await prices(ctx, tenant, request)
        case GetTopCountriesByService():
            return await top_countries(ctx, tenant, request)
        case GetCountries():
            return countries(ctx, tenant)
        case GetServicesList():
            return await services_list(ctx, tenant, request)
        case GetOperators():
            return operators(ctx, tenant, request)
        case GetListOfTopCountriesByService():
            return await top_countries_list(ctx, tenant, request)
        case GetPricesVerification():
            return await prices_verification(ctx, tenant, request)
