"""After a crash mid-purchase: the intent left in Redis leads to the orphan order, which is
given back; nothing is left paid for and untracked."""

from __future__ import annotations

import time
from typing import Any, cast

import httpx
import redis
from structlog.testing import capture_logs

from proxy.store.keys import Keys
from tests.conftest import SMSPVA_KEY, Proxy, ProxyFactory, Upstream

RECONCILING = {"poller": True, "cancel_rate_every": 0.1}


def crashed_purchase(proxy: Proxy, provider: str, started_ago: float = 300) -> str:
    """What a replica that died between its intent and its record leaves in Redis."""
    keys = Keys(proxy.settings.redis.key_prefix)
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    activation_id = str(client.incr(keys.id_counter()))
    started = time.time() - started_ago
    fields: dict[Any, Any] = {
        "tenant": "alice", "provider": provider, "service": "tg", "country": "0",
        "status": "sending", "started": repr(started),
    }  # fmt: skip
    client.hset(keys.intent(int(activation_id)), mapping=fields)
    client.zadd(keys.intents(), {activation_id: started})
    client.close()
    return activation_id


def intents(proxy: Proxy, rentals: bool = False) -> list[str]:
    """The ids of purchase intents (or, with `rentals`, rental intents) still in Redis."""
    keys = Keys(proxy.settings.redis.key_prefix)
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    key = keys.rent_intents() if rentals else keys.intents()
    found = cast(list[str], client.zrange(key, 0, -1))
    client.close()
    return found


def wait_until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
    assert check()


def test_orphan_order_is_refunded(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    proxy = make_proxy(routing=RECONCILING)
    # the purchase reached SMSPVA before the crash: a real order nobody knows of
    answer = httpx.get(smspva.url + "/activation/number/RU/opt29", headers={"apikey": SMSPVA_KEY})
    order_id = str(answer.json()["data"]["orderId"])
    real_clock = smspva.emulator.clock
    smspva.emulator.clock = lambda: real_clock() + 90  # the order is 90 s old by now
    try:
        crashed_purchase(proxy, "smspva")
        wait_until(lambda: intents(proxy) == [])
        assert smspva.emulator.orders[order_id].refunded
    finally:
        smspva.emulator.clock = real_clock


def test_an_orphan_whose_cancel_fails_is_kept_and_cancelled_later(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    """A refund the upstream did not take is not a refund: the intent stays, holding the
    order, until a later pass cancels it."""
    proxy = make_proxy(routing=RECONCILING)
    answer = httpx.get(smspva.url + "/activation/number/RU/opt29", headers={"apikey": SMSPVA_KEY})
    order_id = str(answer.json()["data"]["orderId"])
    real_clock = smspva.emulator.clock
    smspva.emulator.clock = lambda: real_clock() + 90
    try:
        smspva.emulator.inject_error("cancelorder", status=503, times=3)
        stale = crashed_purchase(proxy, "smspva")
        wait_until(lambda: smspva.emulator.requests["cancelorder"] >= 1)
        assert stale in intents(proxy) and not smspva.emulator.orders[order_id].refunded
        wait_until(lambda: intents(proxy) == [], timeout=10.0)
        assert smspva.emulator.orders[order_id].refunded
        assert smspva.emulator.requests["cancelorder"] == 4  # three failures, then the refund
    finally:
        smspva.emulator.clock = real_clock


def test_nothing_bought_drops_the_intent(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    proxy = make_proxy(routing=RECONCILING)
    crashed_purchase(proxy, "smspva")
    wait_until(lambda: intents(proxy) == [])
    assert smspva.emulator.orders == {}


def test_an_order_of_a_purchase_in_flight_is_left_to_it(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    """An unheld order while another purchase of the pair is under way (its intent is young)
    may be that purchase's: not refunded, and the old intent waits rather than being dropped
    as "nothing bought". Once that purchase is gone, the order is the orphan's: refunded."""
    proxy = make_proxy(routing=RECONCILING)
    answer = httpx.get(smspva.url + "/activation/number/RU/opt29", headers={"apikey": SMSPVA_KEY})
    order_id = str(answer.json()["data"]["orderId"])
    in_flight = crashed_purchase(proxy, "smspva", started_ago=1)
    stale = crashed_purchase(proxy, "smspva")
    time.sleep(1.0)  # several reconciler passes
    assert not smspva.emulator.orders[order_id].refunded
    assert stale in intents(proxy)
    drop_intent(proxy, in_flight)  # that purchase ended without taking the order
    wait_until(lambda: stale not in intents(proxy))
    assert smspva.emulator.orders[order_id].refunded


def test_an_order_is_not_aged_by_a_configured_lifetime(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    """issue 12: with order_lifetime configured shorter than the upstream's, every orphan once
    looked younger than a minute and its intent was dropped as "nothing bought"."""
    proxy = make_proxy(routing=RECONCILING, providers={"smspva": {"order_lifetime": 30}})
    answer = httpx.get(smspva.url + "/activation/number/RU/opt29", headers={"apikey": SMSPVA_KEY})
    order_id = str(answer.json()["data"]["orderId"])
    crashed_purchase(proxy, "smspva")
    wait_until(lambda: intents(proxy) == [])
    assert smspva.emulator.orders[order_id].refunded


def drop_intent(proxy: Proxy, activation_id: str) -> None:
    keys = Keys(proxy.settings.redis.key_prefix)
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    client.delete(keys.intent(int(activation_id)))
    client.zrem(keys.intents(), activation_id)
    client.close()


def test_vak_intent_stays_and_is_reported(make_proxy: ProxyFactory, vaksms: Upstream) -> None:
    """VAK-SMS cannot list orders: the intent stays, reported once for the operator."""
    with capture_logs() as logs:
        proxy = make_proxy(routing=RECONCILING)
        activation_id = crashed_purchase(proxy, "vaksms")
        wait_until(lambda: any(e["event"] == "purchase_unresolved" for e in logs))
        time.sleep(0.3)
    reports = [e for e in logs if e["event"] == "purchase_unresolved"]
    assert len(reports) == 1
    assert reports[0]["activation_id"] == int(activation_id)
    assert intents(proxy) == [activation_id]


def rent_intents(proxy: Proxy) -> list[str]:
    return intents(proxy, rentals=True)


def age_rent_intents(proxy: Proxy, seconds: float) -> None:
    """Time passes: every rental intent started `seconds` earlier than it did."""
    keys = Keys(proxy.settings.redis.key_prefix)
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    listed = client.zrange(keys.rent_intents(), 0, -1, withscores=True)
    entries = cast(list[tuple[str, float]], listed)
    for rent_id, started in entries:
        client.zadd(keys.rent_intents(), {rent_id: started - seconds})
        client.hset(keys.rent(int(rent_id)), "started", repr(started - seconds))
    client.close()


def age_rent_orders(smspva: Upstream, seconds: float) -> None:
    """Time passes upstream too: every rental was bought `seconds` earlier than it was."""
    for order in smspva.emulator.rent.orders.values():
        order.created -= seconds
        order.until -= seconds


def test_stalled_rental_is_adopted(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """SMSPVA rents, then stalls past our timeout: the client hears SERVER_ERROR, the intent
    stays; later the reconciler finds the order in `orders` and records it as the tenant's
    rental (not deleted: SMSPVA refunds a deleted rental only case by case, 001:42-44)."""
    proxy = make_proxy(read_timeout=0.3)
    smspva.emulator.stall("rent:create", 1.0, after_effect=True)
    body = proxy.call("pva", action="getRentNumber", service="tg").json()
    assert body == {"status": "error", "message": "SERVER_ERROR"}
    [rent_id] = rent_intents(proxy)
    [order] = smspva.emulator.rent.orders.values()
    age_rent_intents(proxy, 200)
    age_rent_orders(smspva, 200)
    make_proxy(prefix=proxy.settings.redis.key_prefix, routing=RECONCILING)
    wait_until(lambda: rent_intents(proxy) == [])
    assert not order.deleted
    listed = proxy.call("pva", action="getRentList").json()["values"]
    assert [(e["id"], e["phone"][-10:]) for e in listed.values()] == [(rent_id, order.phone)]
    assert proxy.call("pva", action="getRentStatus", id=rent_id).json()["message"] == (
        "STATUS_WAIT_CODE"
    )
    # the client may now finish it as any other (SMSPVA cancels none with a refund)
    assert proxy.call("pva", action="setRentStatus", id=rent_id, status=1).json() == {
        "status": "success"
    }
    assert order.deleted


def test_rental_sold_after_the_client_gave_up(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """The upstream was slow to start, and sold once we had stopped waiting: still found."""
    proxy = make_proxy(read_timeout=0.3)
    smspva.emulator.stall("rent:create", 1.0, after_effect=False)
    assert proxy.call("pva", action="getRentNumber", service="tg").json()["message"] == (
        "SERVER_ERROR"
    )
    wait_until(lambda: len(smspva.emulator.rent.orders) == 1)
    age_rent_intents(proxy, 200)
    age_rent_orders(smspva, 200)
    make_proxy(prefix=proxy.settings.redis.key_prefix, routing=RECONCILING)
    wait_until(lambda: rent_intents(proxy) == [])
    assert len(proxy.call("pva", action="getRentList").json()["values"]) == 1


def test_a_young_rental_is_left_to_its_purchase(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """An unheld rental bought a moment ago may be a purchase still in flight: neither
    adopted nor taken as "nothing bought"; the intent waits for a later pass."""
    proxy = make_proxy(read_timeout=0.3)
    smspva.emulator.stall("rent:create", 1.0, after_effect=True)
    assert proxy.call("pva", action="getRentNumber", service="tg").json()["message"] == (
        "SERVER_ERROR"
    )
    age_rent_intents(proxy, 200)  # the intent is old, the upstream order is not
    make_proxy(prefix=proxy.settings.redis.key_prefix, routing=RECONCILING)
    time.sleep(1.0)
    assert len(rent_intents(proxy)) == 1
    assert proxy.call("pva", action="getRentList").json()["message"] == "NO_NUMBERS"


def test_crash_before_renting_drops_the_intent(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """A replica died between its intent and the upstream call: nothing was bought."""
    proxy = make_proxy(routing=RECONCILING)
    keys = Keys(proxy.settings.redis.key_prefix)
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    rent_id = int(client.incr(keys.id_counter()))
    started = time.time() - 200
    fields: dict[Any, Any] = {
        "tenant": "pva", "provider": "smspva", "service": "tg", "upstream_service": "opt29",
        "upstream_country": "RU", "hours": "4", "status": "sending", "started": repr(started),
    }  # fmt: skip
    client.zadd(keys.rent_intents(), {str(rent_id): started})
    client.hset(keys.rent(rent_id), mapping=fields)
    client.close()
    wait_until(lambda: rent_intents(proxy) == [])
    assert smspva.emulator.rent.orders == {}
    assert proxy.call("pva", action="getRentStatus", id=rent_id).json()["message"] == (
        "INVALID_PHONE"
    )


def test_recorded_rentals_leave_no_intent(proxy: Proxy) -> None:
    assert proxy.call("pva", action="getRentNumber", service="tg").json()["status"] == "success"
    assert proxy.call("vak", action="getRentNumber", service="tg").json()["status"] == "success"
    assert rent_intents(proxy) == []


def test_vak_rental_of_unknown_outcome_is_reported(
    make_proxy: ProxyFactory, vaksms: Upstream
) -> None:
    """VAK-SMS lists no orders: the intent stays, reported once for the operator."""
    proxy = make_proxy(read_timeout=0.3)
    vaksms.emulator.stall("getNumber", 1.0, after_effect=True)
    assert proxy.call("vak", action="getRentNumber", service="tg").json()["message"] == (
        "SERVER_ERROR"
    )
    age_rent_intents(proxy, 200)
    with capture_logs() as logs:
        make_proxy(prefix=proxy.settings.redis.key_prefix, routing=RECONCILING)
        wait_until(lambda: any(e["event"] == "rent_unresolved" for e in logs))
        time.sleep(0.3)
    assert sum(e["event"] == "rent_unresolved" for e in logs) == 1
    assert len(rent_intents(proxy)) == 1
