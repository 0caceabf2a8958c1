"""Routing strategies, provider narrowing, and the health rules shared by replicas."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

from tests.conftest import SMSPVA_KEY, ProxyFactory, Upstream, order_for


def cheap_vak_dear_pva(smspva: Upstream, vaksms: Upstream) -> None:
    smspva.emulator.set_stock("opt29", "RU", 50, price=Decimal("0.90"))
    vaksms.emulator.set_stock("tg", "ru", 50, price=Decimal("30"))  # 0.30 USD


def test_priority_follows_the_tenant_order(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    cheap_vak_dear_pva(smspva, vaksms)
    _, phone = make_proxy().buy("alice")
    assert order_for(smspva, phone)


def test_cheapest(make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream) -> None:
    cheap_vak_dear_pva(smspva, vaksms)
    proxy = make_proxy(tenants={"alice": {"strategy": "cheapest"}})
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)
    assert smspva.emulator.requests["number"] == 0


def test_rule_per_service_and_country(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """A routes rule for tg in Russia overrides the tenant's priority strategy."""
    cheap_vak_dear_pva(smspva, vaksms)
    rules = [{"service": "tg", "country": 0, "strategy": "cheapest"}]
    proxy = make_proxy(tenants={"alice": {"routes": rules}})
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)
    _, phone = proxy.buy("alice", service="wa")  # no rule: priority, SMSPVA first
    assert order_for(smspva, phone)


def test_success_rate(make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream) -> None:
    """The provider whose numbers received codes wins over the one whose numbers did not."""
    proxy = make_proxy(tenants={"alice": {"strategy": "success_rate"}})
    # history: two SMSPVA numbers without code, one VAK-SMS number with a code
    for _ in range(2):
        proxy.buy("pva")
    activation_id, phone = proxy.buy("vak")
    vaksms.emulator.deliver_sms(order_for(vaksms, phone).order_id, "1234")
    time.sleep(0.05)
    assert proxy.text("vak", action="getStatus", id=activation_id) == "STATUS_OK:1234"
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone).api_key


def test_weighted(make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream) -> None:
    """Weights 1:0 send everything to one provider; the other is still a fallback."""
    proxy = make_proxy(tenants={"alice": {"strategy": "weighted",
                                          "weights": {"smspva": 0, "vaksms": 1}}})  # fmt: skip
    for _ in range(5):
        _, phone = proxy.buy("alice")
        assert order_for(vaksms, phone)
    vaksms.emulator.set_all_stock(0)
    _, phone = proxy.buy("alice")
    assert order_for(smspva, phone)


def test_provider_ids_narrow_the_choice(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    proxy = make_proxy()
    answer = proxy.text("alice", action="getNumber", service="tg", providerIds="vaksms")
    assert order_for(vaksms, answer.split(":")[2])
    answer = proxy.text("alice", action="getNumber", service="tg", exceptProviderIds="smspva")
    assert order_for(vaksms, answer.split(":")[2])
    assert smspva.emulator.requests["number"] == 0
    assert proxy.text("alice", action="getNumber", service="tg", providerIds="nope") == (
        "NO_NUMBERS"
    )


def test_breaker_is_shared_by_replicas(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """Failures seen by one replica open SMSPVA's breaker for the other; after the cooldown
    one probe goes through and closes it."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = {"smspva": {"breaker_threshold": 3, "breaker_cooldown": 0.5}}
    first, second = (make_proxy(prefix=prefix, providers=settings) for _ in range(2))
    first.call("alice", action="getPrices", service="tg", country=0)  # prices cached first
    smspva.emulator.inject_error("number", status=503, times=3)
    for _ in range(3):
        _, phone = first.buy("alice")  # each fails over to VAK-SMS
        assert order_for(vaksms, phone)
    assert smspva.emulator.requests["number"] == 3
    _, phone = second.buy("alice")
    assert order_for(vaksms, phone)
    assert smspva.emulator.requests["number"] == 3  # open: not even asked
    health = second.client.get(second.url + "/health/upstreams").json()
    assert health["smspva"]["state"] == "open"
    time.sleep(0.6)
    _, phone = second.buy("alice")  # half-open: one probe, it succeeds
    assert order_for(smspva, phone)
    _, phone = first.buy("alice")
    assert order_for(smspva, phone)  # closed again, for both


def test_slow_down_answer_rests_the_provider(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """SMSPVA 502 "limit exceeded": it rests; the next purchases go elsewhere at once."""
    proxy = make_proxy()
    smspva.emulator.inject_error("number", status=502)
    for _ in range(3):
        _, phone = proxy.buy("alice")
        assert order_for(vaksms, phone)
    assert smspva.emulator.requests["number"] == 1


def test_no_money_rests_until_balance_is_seen(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    proxy = make_proxy()
    smspva.emulator.set_balance(SMSPVA_KEY, 0)
    proxy.buy("alice")
    proxy.buy("alice")
    assert smspva.emulator.requests["number"] == 1
    smspva.emulator.set_balance(SMSPVA_KEY, 50)
    assert proxy.text("alice", action="getBalance").startswith("ACCESS_BALANCE:")
    _, phone = proxy.buy("alice")
    assert order_for(smspva, phone)


def test_no_numbers_cools_the_pair_down(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """After 3 "no numbers" for tg in Russia, SMSPVA is not asked for that pair for a while,
    but still for others."""
    proxy = make_proxy()
    smspva.emulator.set_stock("opt29", "RU", 0)
    for _ in range(5):
        proxy.buy("alice")
    assert smspva.emulator.order_requests == smspva.emulator.order_requests  # no order state
    assert smspva.emulator.requests["number"] == 3
    _, phone = proxy.buy("alice", service="wa")
    assert order_for(smspva, phone)


def test_rate_limit_is_shared_by_replicas(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """Two replicas together never exceed the account's per-second budget upstream."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = {"smspva": {"rate_limit": 4}}
    replicas = [make_proxy(prefix=prefix, providers=settings) for _ in range(2)]
    started = time.monotonic()
    answers = [replicas[i % 2].text("pva", action="getBalance") for i in range(20)]
    elapsed = time.monotonic() - started
    calls = smspva.emulator.requests["balance"]
    assert calls <= 4 * (int(elapsed) + 2)
    assert calls < 20
    assert {a.split(":")[0] for a in answers} <= {"ACCESS_BALANCE", "ERROR_SQL"}
