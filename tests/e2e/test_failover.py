"""Failover before a number is issued: in the tenant's order, never paying twice."""

from __future__ import annotations

from typing import cast

import redis

from proxy.serving import free_port
from tests.conftest import (
    SMSPVA_KEY,
    VAKSMS_KEY,
    Proxy,
    ProxyFactory,
    Upstream,
    deliver,
    order_for,
)


def test_first_provider_serves(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """alice's order is smspva then vaksms: with stock everywhere, smspva sells."""
    _, phone = proxy.buy("alice")
    assert order_for(smspva, phone)
    assert vaksms.emulator.requests["getNumber"] == 0


def test_no_stock_moves_on(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    smspva.emulator.set_all_stock(0)
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)
    assert smspva.emulator.requests["number"] == 1


def test_no_balance_moves_on(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    smspva.emulator.set_balance(SMSPVA_KEY, 0)
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)


def test_no_balance_everywhere(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    smspva.emulator.set_balance(SMSPVA_KEY, 0)
    vaksms.emulator.set_balance(VAKSMS_KEY, 0)
    assert proxy.text("alice", action="getNumber", service="tg", country=0) == "NO_BALANCE"


def test_mixed_refusals_answer_no_numbers(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """NO_BALANCE only when every provider lacked money; otherwise NO_NUMBERS."""
    smspva.emulator.set_balance(SMSPVA_KEY, 0)
    vaksms.emulator.set_all_stock(0)
    assert proxy.text("alice", action="getNumber", service="tg", country=0) == "NO_NUMBERS"


def test_server_error_moves_on(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """An upstream that answers 503 sold nothing: the next provider is tried."""
    smspva.emulator.inject_error("number", status=503)
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)


def test_unreachable_provider_moves_on(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """A connection refused never reached the upstream: safe to buy elsewhere."""
    proxy = make_proxy(smspva_url=f"http://127.0.0.1:{free_port()}")
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)


def test_unknown_outcome_is_recovered_from_the_order_list(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """SMSPVA sells, then stalls past our timeout: its order list gives us the number."""
    proxy = make_proxy(read_timeout=0.3)
    smspva.emulator.stall("number", 1.0, after_effect=True)
    activation_id, phone = proxy.buy("alice")
    assert vaksms.emulator.requests["getNumber"] == 0
    (order,) = smspva.emulator.orders.values()  # exactly one purchase, and it is ours
    assert phone.endswith(str(order.phone))
    deliver(smspva, phone, "8080")
    assert proxy.text("alice", action="getStatus", id=activation_id) == "STATUS_OK:8080"


def test_unknown_outcome_is_not_bought_again(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """VAK-SMS cannot list orders: after a sale that stalled, no purchase at SMSPVA."""
    proxy = make_proxy(read_timeout=0.3)
    vaksms.emulator.stall("getNumber", 1.0, after_effect=True)
    assert proxy.text("bob", action="getNumber", service="tg", country=0) == "ERROR_SQL"
    assert smspva.emulator.requests["number"] == 0
    assert len(vaksms.emulator.orders) == 1  # the upstream did sell one
    # The purchase intent stays in Redis, naming the account that may hold the order.
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    prefix = proxy.settings.redis.key_prefix
    (intent_id,) = cast(list[str], client.zrange(f"{prefix}:{{intents}}", 0, -1))
    intent = client.hgetall(f"{prefix}:{{intents}}:{intent_id}")
    client.close()
    assert intent["provider"] == "vaksms"
    assert intent["status"] == "unknown"


def test_provider_without_the_pair_is_skipped(
    proxy: Proxy, smspva: Upstream, vaksms: Upstream
) -> None:
    """Country 16 (UK) with Telegram: both carry it; `pva` tenant only uses SMSPVA."""
    _, phone = proxy.buy("pva", service="tg", country=16)
    assert phone.startswith("44")
    assert order_for(smspva, phone).country == "UK"


def test_unknown_service_is_bad_service(proxy: Proxy) -> None:
    assert proxy.text("alice", action="getNumber", service="zz-nope", country=0) == "BAD_SERVICE"


def test_no_candidate_is_no_numbers(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """A country no provider carries: NO_NUMBERS, and no upstream is asked."""
    assert proxy.text("alice", action="getNumber", service="tg", country=3) == "NO_NUMBERS"
    assert smspva.emulator.requests["number"] == 0
    assert vaksms.emulator.requests["getNumber"] == 0


def test_refused_service_moves_on(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """SMSPVA 411 "service unavailable": this provider cannot sell it now; the next one can."""
    smspva.emulator.inject_error("number", status=411)
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)


def test_html_error_page_moves_on(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """A 5xx answered with an HTML page sold nothing: fail over, not "outcome unknown"."""
    smspva.emulator.inject_error("number", status=503, body="<html>down</html>")
    _, phone = proxy.buy("alice")
    assert order_for(vaksms, phone)
