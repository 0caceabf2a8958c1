"""Provider rests hold back purchases only (issue 12, point 3): a provider out of money or told
to slow down still polls, refunds and lists its orders, and a top-up ends a "no money" rest
without any client call."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tests.conftest import (
    SMSPVA_KEY,
    VAKSMS_KEY,
    Proxy,
    ProxyFactory,
    Upstream,
    deliver,
    order_for,
)
from tests.e2e.test_reconciler import crashed_purchase, intents, wait_until


def upstream_health(proxy: Proxy, name: str) -> dict[str, Any]:
    """One provider's health as /health/upstreams shows it (a Redis read, no upstream call)."""
    views: dict[str, dict[str, Any]] = proxy.client.get(proxy.url + "/health/upstreams").json()
    return views[name]


@pytest.mark.parametrize(("tenant", "name", "key"), [("pva", "smspva", SMSPVA_KEY),
                                                     ("vak", "vaksms", VAKSMS_KEY)])  # fmt: skip
def test_out_of_money_still_polls_and_refunds(
    make_proxy: ProxyFactory,
    smspva: Upstream,
    vaksms: Upstream,
    tenant: str,
    name: str,
    key: str,
) -> None:
    """While a provider rests for want of money, the code of a number it sold earlier is
    delivered and another of its numbers is cancelled with the refund reaching the account."""
    upstream = {"smspva": smspva, "vaksms": vaksms}[name]
    proxy = make_proxy()
    used_id, used_phone = proxy.buy(tenant)
    spare_id, spare_phone = proxy.buy(tenant)
    upstream.emulator.set_balance(key, 0)
    assert proxy.text(tenant, action="getNumber", service="tg", country=0) == "NO_BALANCE"
    assert (upstream_health(proxy, name)["state"], upstream_health(proxy, name)["reason"]) == (
        "open",
        "no_balance",
    )

    code = deliver(upstream, used_phone)
    assert proxy.text(tenant, action="getStatus", id=used_id) == f"STATUS_OK:{code}"
    assert proxy.text(tenant, action="setStatus", id=spare_id, status=8) == "ACCESS_CANCEL"
    spare = order_for(upstream, spare_phone)
    assert spare.refunded
    assert upstream.emulator.balances[key] == spare.price  # the refund is the only money there
    # the rest lasts: neither the poll nor the refund ended it (only a balance or a sale does)
    view = upstream_health(proxy, name)
    assert (view["state"], view["reason"]) == ("open", "no_balance")


def test_rate_limited_provider_still_lists_its_orders(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """SMSPVA said "slow down" (502) and rests: the reconciler's order listing still goes out
    during the rest, so an order a crashed purchase left behind is found and refunded."""
    proxy = make_proxy(routing={"poller": True, "cancel_rate_every": 0.1})
    smspva.emulator.inject_error("number", status=502)
    _, phone = proxy.buy("alice")  # fails over to VAK-SMS; SMSPVA rests (10 s)
    assert order_for(vaksms, phone)
    view = upstream_health(proxy, "smspva")
    assert (view["state"], view["reason"]) == ("open", "rate_limited")
    # a purchase that reached SMSPVA before its replica died: a 90-s-old order nobody holds
    answer = httpx.get(smspva.url + "/activation/number/RU/opt29", headers={"apikey": SMSPVA_KEY})
    order_id = str(answer.json()["data"]["orderId"])
    real_clock = smspva.emulator.clock
    smspva.emulator.clock = lambda: real_clock() + 90
    try:
        crashed_purchase(proxy, "smspva")
        wait_until(lambda: intents(proxy) == [], timeout=5.0)  # well within the 10 s rest
        assert smspva.emulator.orders[order_id].refunded
    finally:
        smspva.emulator.clock = real_clock
    view = upstream_health(proxy, "smspva")
    assert (view["state"], view["reason"]) == ("open", "rate_limited")  # still resting


def test_top_up_ends_the_no_money_rest_without_a_client(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    """The poller asks a provider resting for want of money for its balance every
    `routing.balance_recheck`: a top-up ends the rest within that period, and the log has one
    line per change of outcome, not one per pass."""
    recheck = 0.5
    proxy = make_proxy(routing={"poller": True, "balance_recheck": recheck})
    smspva.emulator.set_balance(SMSPVA_KEY, 0)
    with capture_logs() as logs:
        assert proxy.text("pva", action="getNumber", service="tg", country=0) == "NO_BALANCE"
        wait_until(lambda: smspva.emulator.requests["balance"] >= 3)  # three empty rechecks
        assert upstream_health(proxy, "smspva")["reason"] == "no_balance"
        smspva.emulator.set_balance(SMSPVA_KEY, 50)
        topped_up = time.monotonic()
        wait_until(lambda: upstream_health(proxy, "smspva")["state"] == "closed", timeout=3.0)
        assert time.monotonic() - topped_up <= recheck + 1.0  # a round's work, a busy machine
    rechecks = [(e["provider"], e["outcome"]) for e in logs if e["event"] == "balance_recheck"]
    assert rechecks == [("smspva", "empty"), ("smspva", "topped_up")]
    _, phone = proxy.buy("pva")
    assert order_for(smspva, phone)
