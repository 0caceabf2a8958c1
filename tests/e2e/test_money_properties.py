"""Money invariants stated as properties (issue 12, point 8), over random stock, prices, balances,
strategies and provider orders, against the emulators and a real Redis:

- every successful purchase charges the price the catalog showed just before it, in the
  tenant's currency and with its markup;
- every NO_BALANCE / NO_NUMBERS names the real cause: NO_BALANCE exactly when every provider
  of the tenant that carries the pair had numbers but not the money for one.

The pure price function is also checked against the dispatcher's own ordering functions, so the
catalog and getNumber cannot drift apart.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import redis
from hypothesis import HealthCheck, given, settings, strategies as st

from proxy import routing
from proxy.catalog.offers import ProviderOffer, quote
from tests.conftest import SMSPVA_KEY, VAKSMS_KEY, Proxy, ProxyFactory, Upstream

RUB = Decimal("0.01")  # the tests' rate (tests/conftest.py: money.rates.RUB)
TENANTS = {  # name: (providers in order, strategy, markup)
    "prio_pva": (["smspva", "vaksms"], "priority", "0"),
    "prio_vak": (["vaksms", "smspva"], "priority", "0.1"),
    "cheap": (["smspva", "vaksms"], "cheapest", "0.25"),
    "only_pva": (["smspva"], "priority", "0"),
}


def _tenant_config() -> list[dict[str, Any]]:
    return [
        {"name": name, "key": f"{name}-key", "providers": providers, "strategy": strategy,
         "markup": markup}
        for name, (providers, strategy, markup) in TENANTS.items()
    ]  # fmt: skip


def _flush(url: str, prefix: str) -> None:
    """A clean slate for the next example: no cached catalog, no rests, no records."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys = cast(list[str], list(client.scan_iter(f"{prefix}:*", count=1000)))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


upstream_state = st.fixed_dictionaries(
    {
        "pva_stock": st.sampled_from([0, 1, 50]),
        "pva_price": st.decimals("0.10", "2.50", places=2),
        "pva_money": st.booleans(),
        "vak_stock": st.sampled_from([0, 1, 50]),
        "vak_price": st.integers(5, 150).map(Decimal),
        "vak_money": st.booleans(),
        "tenant": st.sampled_from(sorted(TENANTS)),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(state=upstream_state)
def test_price_shown_is_price_charged_and_refusals_name_their_cause(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream, state: dict[str, Any]
) -> None:
    proxy = _proxy(make_proxy)
    _flush(proxy.settings.redis.url, proxy.settings.redis.key_prefix)
    smspva.emulator.reset()
    vaksms.emulator.reset()
    smspva.emulator.set_stock("opt29", "RU", state["pva_stock"], price=state["pva_price"])
    vaksms.emulator.set_stock("tg", "ru", state["vak_stock"], price=state["vak_price"])
    smspva.emulator.set_balance(SMSPVA_KEY, state["pva_price"] if state["pva_money"] else 0)
    vaksms.emulator.set_balance(VAKSMS_KEY, state["vak_price"] if state["vak_money"] else 0)
    tenant = state["tenant"]
    providers, _, _ = TENANTS[tenant]

    shown = proxy.call(f"{tenant}-key", action="getPrices", service="tg", country=0).json()
    answer = proxy.call(f"{tenant}-key", action="getNumberV2", service="tg", country=0)

    stocked = {"smspva": state["pva_stock"] > 0, "vaksms": state["vak_stock"] > 0}
    money = {"smspva": state["pva_money"], "vaksms": state["vak_money"]}
    can_sell = [p for p in providers if stocked[p] and money[p]]
    if can_sell:
        body = answer.json()
        assert body["activationCost"] == shown["0"]["tg"]["cost"], (state, shown, body)
    elif all(stocked[p] and not money[p] for p in providers):
        assert answer.text == "NO_BALANCE", state
    else:
        assert answer.text == "NO_NUMBERS", state


_STARTED: dict[int, Proxy] = {}


def _proxy(make_proxy: ProxyFactory) -> Proxy:
    """One proxy for all of a run's examples: hypothesis calls the body many times with the
    same fixtures, and each example starts from a flushed key prefix instead."""
    key = id(make_proxy)
    if key not in _STARTED:
        _STARTED.clear()
        _STARTED[key] = make_proxy(catalog_ttl=0.001, extra_tenants=_tenant_config())
    return _STARTED[key]


offers_st = st.lists(
    st.builds(
        ProviderOffer,
        provider=st.sampled_from(["a", "b", "c", "d"]),
        count=st.sampled_from([0, 1, 100]),
        price=st.decimals("0.01", "9.99", places=2),
    ),
    max_size=4,
    unique_by=lambda o: o.provider,
)


@given(
    offers=offers_st,
    order=st.permutations(["a", "b", "c", "d"]),
    resting=st.sets(st.sampled_from(["a", "b", "c", "d"])),
)
def test_quote_is_the_first_provider_getnumber_tries_that_can_sell(
    offers: list[ProviderOffer], order: list[str], resting: set[str]
) -> None:
    """`priority` quotes the tenant's order and `cheapest` routing.by_price's, each skipping
    providers without stock or resting, as the dispatcher would when they refuse or are not
    sent to."""
    able = {o.provider for o in offers if o.count > 0 and o.provider not in resting}
    by_name = {o.provider: o for o in offers}
    prices = {o.provider: o.price for o in offers}
    for strategy, tried in (
        ("priority", [n for n in order if n in by_name]),
        ("cheapest", routing.by_price([n for n in order if n in by_name], prices)),
    ):
        chosen = quote([by_name[n] for n in order if n in by_name], strategy, order, resting)
        first = next((n for n in tried if n in able), None)
        if first is None:
            assert chosen is None
        else:
            assert chosen is not None
            assert chosen.price == by_name[first].price, strategy
            if strategy == "priority":
                assert chosen.provider == first
