"""After a crash mid-purchase: the intent left in Redis leads to the orphan order, which is
given back; nothing is left paid for and untracked."""

from __future__ import annotations

import time
from typing import Any

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


def intents(proxy: Proxy) -> list[str]:
    keys = Keys(proxy.settings.redis.key_prefix)
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    found: list[str] = client.zrange(keys.intents(), 0, -1)
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


def test_nothing_bought_drops_the_intent(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    proxy = make_proxy(routing=RECONCILING)
    crashed_purchase(proxy, "smspva")
    wait_until(lambda: intents(proxy) == [])
    assert smspva.emulator.orders == {}


def test_a_young_order_is_left_to_its_purchase(make_proxy: ProxyFactory, smspva: Upstream) -> None:
    """An order of a purchase that may still be in flight is never taken for an orphan."""
    proxy = make_proxy(routing=RECONCILING)
    answer = httpx.get(smspva.url + "/activation/number/RU/opt29", headers={"apikey": SMSPVA_KEY})
    order_id = str(answer.json()["data"]["orderId"])
    crashed_purchase(proxy, "smspva")
    wait_until(lambda: intents(proxy) == [])
    assert not smspva.emulator.orders[order_id].refunded


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
