"""The merged catalog: counts summed, the cheapest price converted and marked up, Free Price,
and the upstream request bound of the shared cache."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import Proxy, ProxyFactory, Upstream, order_for

RUB = Decimal("0.01")  # the tests' rate: one rouble in USD


def usd(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"))


def test_prices_merge_two_providers(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """Counts add up; the price is the one getNumber would charge under the tenant's routing
    (issue 12: a `priority` tenant was shown the cheapest provider's price and charged its
    first provider's)."""
    proxy = make_proxy(tenants={"bob": {"markup": "0", "strategy": "cheapest"}})
    smspva.emulator.set_stock("opt29", "RU", 100)
    vaksms.emulator.set_stock("tg", "ru", 7)
    pva_price = smspva.emulator.price("opt29", "RU")
    vak_price = usd(vaksms.emulator.price("tg", "ru") * RUB)
    assert pva_price != vak_price
    shown = proxy.call("alice", action="getPrices", service="tg", country=0).json()
    assert shown == {"0": {"tg": {"cost": float(pva_price), "count": 100 + 7}}}  # SMSPVA first
    cheapest = proxy.call("bob", action="getPrices", service="tg", country=0).json()
    assert cheapest["0"]["tg"]["cost"] == float(min(pva_price, vak_price))
    for tenant, body in (("alice", shown), ("bob", cheapest)):
        bought = proxy.call(tenant, action="getNumberV2", service="tg", country=0).json()
        assert bought["activationCost"] == body["0"]["tg"]["cost"], tenant


def test_markup_is_applied(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """bob's markup of 10 % shows on every price."""
    vak_price = usd(vaksms.emulator.price("tg", "ru") * RUB)
    pva_price = smspva.emulator.price("opt29", "RU")
    expected = min(usd(vak_price * Decimal("1.1")), usd(pva_price * Decimal("1.1")))
    body = proxy.call("bob", action="getPrices", service="tg", country=0).json()
    assert Decimal(str(body["0"]["tg"]["cost"])) == expected


def test_numbers_status_for_one_provider(proxy: Proxy, vaksms: Upstream) -> None:
    vaksms.emulator.set_stock("wa", "ru", 0)
    vaksms.emulator.set_stock("tg", "ru", 42)
    body = proxy.call("vak", action="getNumbersStatus", country=0).json()
    assert body["tg_0"] == 42
    assert body["wa_0"] == 0
    assert all(key.endswith("_0") for key in body)
    assert len(body) > 50  # VAK-SMS lists its whole Russian catalogue


def test_max_price_buys_cheapest_under_cap(
    proxy: Proxy, smspva: Upstream, vaksms: Upstream
) -> None:
    """With maxPrice, the cheapest provider at or under the cap sells, whatever the order."""
    smspva.emulator.set_stock("opt29", "RU", 5, price=Decimal("0.90"))
    vaksms.emulator.set_stock("tg", "ru", 5, price=Decimal("40"))  # 0.40 USD
    answer = proxy.text("alice", action="getNumber", service="tg", country=0, maxPrice="0.5")
    _, _, phone = answer.split(":")
    assert order_for(vaksms, phone)
    assert smspva.emulator.requests["number"] == 0


def test_max_price_skips_expensive_provider(
    proxy: Proxy, smspva: Upstream, vaksms: Upstream
) -> None:
    smspva.emulator.set_stock("opt29", "RU", 5, price=Decimal("0.30"))
    vaksms.emulator.set_stock("tg", "ru", 5, price=Decimal("90"))  # 0.90 USD
    answer = proxy.text("bob", action="getNumber", service="tg", country=0, maxPrice="0.5")
    assert order_for(smspva, answer.split(":")[2])
    assert vaksms.emulator.requests["getNumber"] == 0


def test_wrong_max_price_names_the_cheapest(
    proxy: Proxy, smspva: Upstream, vaksms: Upstream
) -> None:
    smspva.emulator.set_stock("opt29", "RU", 5, price=Decimal("0.70"))
    vaksms.emulator.set_stock("tg", "ru", 5, price=Decimal("60"))
    answer = proxy.text("alice", action="getNumber", service="tg", country=0, maxPrice="0.2")
    assert answer == "WRONG_MAX_PRICE:0.60"
    assert smspva.emulator.requests["number"] == vaksms.emulator.requests["getNumber"] == 0


def test_activation_cost_includes_markup(proxy: Proxy, vaksms: Upstream) -> None:
    vaksms.emulator.set_stock("tg", "ru", 5, price=Decimal("50"))
    answer = proxy.call("bob", action="getNumberV2", service="tg", country=0).json()
    assert answer["activationCost"] == 0.55


def test_catalog_requests_are_bounded(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """Hundreds of catalog calls on two replicas: one upstream request per entry per ttl."""
    replicas = [make_proxy(prefix="shared-catalog") for _ in range(2)]
    for i in range(100):
        proxy = replicas[i % 2]
        proxy.call("alice", action="getPrices", service="tg", country=0).raise_for_status()
        proxy.call("alice", action="getNumbersStatus", country=0).raise_for_status()
    assert vaksms.emulator.requests["getCountNumberList"] == 1
    # SMSPVA lists the country too: prices and stock, one request each (smspva-sdk)
    assert smspva.emulator.requests["serviceprice_country"] == 1
    assert smspva.emulator.requests["countnumbers"] == 1
    assert smspva.emulator.requests["serviceprice"] == 0


def test_stale_catalog_is_served_when_provider_is_down(
    make_proxy: ProxyFactory, vaksms: Upstream
) -> None:
    proxy = make_proxy(catalog_ttl=0.01)
    first = proxy.call("vak", action="getNumbersStatus", country=0).json()
    vaksms.emulator.inject_error("getCountNumberList", status=503, times=5)
    again = proxy.call("vak", action="getNumbersStatus", country=0).json()
    assert again == first


def test_countries(proxy: Proxy) -> None:
    body = proxy.call("vak", action="getCountries").json()
    assert len(body) == 205
    assert body["0"]["eng"] == "Russia" and body["0"]["visible"] == 1
    assert body["3"]["visible"] == 0  # China: neither provider carries it
    assert body["16"] == {
        "id": 16, "rus": body["16"]["rus"], "eng": body["16"]["eng"], "chn": body["16"]["chn"],
        "visible": 1, "retry": 1, "rent": 1, "multiService": 1,
    }  # fmt: skip


def test_services_list(proxy: Proxy) -> None:
    body = proxy.call("vak", action="getServicesList", country=0, lang="ru").json()
    assert body["status"] == "success"
    codes = {s["code"] for s in body["services"]}
    assert {"tg", "wa", "go"} <= codes
    everything = proxy.call("alice", action="getServicesList").json()["services"]
    assert len(everything) > len(body["services"])


def test_operators(proxy: Proxy) -> None:
    body = proxy.call("alice", action="getOperators", country=0).json()
    assert body["status"] == "success"
    assert {"mts", "beeline", "megafon"} <= set(body["countryOperators"]["0"])
    assert proxy.text("alice", action="getOperators", country=3) == "OPERATORS_NOT_FOUND"


def test_top_countries_with_free_price(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    body = proxy.call(
        "alice", action="getTopCountriesByService", service="tg", freePrice="true"
    ).json()
    entries = [body[str(i)] for i in range(len(body))]
    counts = [e["count"] for e in entries]
    assert counts == sorted(counts, reverse=True)
    russia = next(e for e in entries if e["country"] == 0)
    assert russia["price"] <= russia["retail_price"]
    assert sum(russia["freePriceMap"].values()) == russia["count"]


def test_top_countries_list_and_rate(proxy: Proxy, smspva: Upstream) -> None:
    """The rate is the share of numbers that received a code (ours), the share of stock."""
    from tests.conftest import deliver

    smspva.emulator.set_stock("opt29", "RU", 5000)  # real stock now: Russia among the top 10
    activation_id, phone = proxy.buy("pva")
    deliver(smspva, phone)
    proxy.text("pva", action="getStatus", id=activation_id)
    proxy.buy("pva")
    body = proxy.call("pva", action="getListOfTopCountriesByService", service="tg").json()
    assert len(body) <= 10
    russia = next(e for e in body if e["country"] == 0)
    assert russia["rate"] == 50
    assert proxy.text("pva", action="getListOfTopCountriesByService", service="x?") == (
        "WRONG_SERVICE"
    )


def test_prices_verification(proxy: Proxy) -> None:
    body = proxy.call("vak", action="getPricesVerification", service="tg").json()
    assert isinstance(body["tg"]["0"]["price"], str)
    assert isinstance(body["tg"]["0"]["count"], int)


def test_warm_list_is_fetched_in_background(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """catalog.warm pairs are priced before any client asks, so getNumber needs no price call."""
    import time

    proxy = make_proxy(warm=[["tg", 0], ["wa", 16]])
    deadline = time.monotonic() + 5
    listed = smspva.emulator.requests  # SMSPVA prices a whole country per request (smspva-sdk)
    while listed["serviceprice_country"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listed["serviceprice_country"] == 2
    proxy.buy("pva")
    assert listed["serviceprice_country"] == 2 and listed["serviceprice"] == 0


def test_countries_say_where_rent_and_multi_service_work(proxy: Proxy) -> None:
    """`rent` where a provider of the tenant rents (SMSPVA, VAK-SMS's rent=true, seeds/003:451),
    `multiService` where one sells a number for two services (VAK-SMS, seeds/003:858-865);
    seeds/002:579-581 define both flags."""
    pva = proxy.call("pva", action="getCountries").json()
    assert (pva["0"]["rent"], pva["0"]["multiService"]) == (1, 0)  # SMSPVA sells no such number
    vak = proxy.call("vak", action="getCountries").json()
    assert (vak["0"]["rent"], vak["0"]["multiService"]) == (1, 1)
    assert (vak["3"]["visible"], vak["3"]["rent"], vak["3"]["multiService"]) == (0, 0, 0)


def test_top_countries_share_is_of_purchases(proxy: Proxy, smspva: Upstream) -> None:
    """`share` is the country's part of the numbers smsproxy issued for the service ("purchases
    ... as a percentage of the total quantity of purchases", seeds/002:479, 004:295-296), not
    of the stock; the most purchased come first."""
    smspva.emulator.set_stock("opt29", "RU", 10)
    smspva.emulator.set_stock("opt29", "UA", 5000)  # far more stock in Ukraine
    for _ in range(3):
        proxy.buy("pva", country=0)
    proxy.buy("pva", country=1)
    body = proxy.call("pva", action="getListOfTopCountriesByService", service="tg").json()
    assert body[0] == {"country": 0, "share": 75, "rate": 0}
    assert body[1] == {"country": 1, "share": 25, "rate": 0}
    assert all(entry["share"] == 0 for entry in body[2:])
