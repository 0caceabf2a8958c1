"""The purchase path's round trips: the intent rides with admission, and what follows a sale."""

from __future__ import annotations

import threading
import time
import uuid
from typing import cast

import redis

from tests.conftest import Proxy, ProxyFactory, Upstream, order_for


def _redis(proxy: Proxy) -> redis.Redis:
    return redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)


def test_intent_exists_while_the_upstream_is_asked(proxy: Proxy, smspva: Upstream) -> None:
    """Written in admission's round trip, the intent is in Redis before the request goes out,
    and gone once the number is recorded."""
    smspva.emulator.stall("number", 0.5, after_effect=False)
    answers: list[str] = []
    buyer = threading.Thread(
        target=lambda: answers.append(proxy.text("alice", action="getNumber", service="tg"))
    )
    client, prefix = _redis(proxy), proxy.settings.redis.key_prefix
    try:
        buyer.start()
        deadline = time.monotonic() + 3
        while not client.zrange(f"{prefix}:{{intents}}", 0, -1):
            assert time.monotonic() < deadline, "no intent while the purchase was in flight"
            time.sleep(0.01)
        (intent_id,) = cast(list[str], client.zrange(f"{prefix}:{{intents}}", 0, -1))
        intent = client.hgetall(f"{prefix}:{{intents}}:{intent_id}")
        assert (intent["provider"], intent["status"]) == ("smspva", "sending")
        assert smspva.emulator.orders == {}  # the upstream has not sold yet
        buyer.join(5)
        assert answers[0].startswith(f"ACCESS_NUMBER:{intent_id}:")
        deadline = time.monotonic() + 3
        while client.zrange(f"{prefix}:{{intents}}", 0, -1):  # dropped in the background
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        client.close()


def test_refused_admission_leaves_no_intent(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """SMSPVA rests (its breaker is open): its intent, written with the admission that said no,
    is dropped, and the purchase fails over to VAK-SMS. The 503 before it was sent and may have
    been charged: its intent stays for the reconciler (`not_listed`: SMSPVA listed no order)."""
    proxy = make_proxy(providers={"smspva": {"breaker_threshold": 1, "breaker_cooldown": 30}})
    proxy.call("alice", action="getPrices", service="tg", country=0)
    smspva.emulator.inject_error("number", status=503)
    proxy.buy("alice")  # fails over; SMSPVA's breaker opens
    _, phone = proxy.buy("alice")  # SMSPVA not even asked
    assert order_for(vaksms, phone)
    assert smspva.emulator.requests["number"] == 1
    client, prefix = _redis(proxy), proxy.settings.redis.key_prefix
    try:
        deadline = time.monotonic() + 3
        while len(client.zrange(f"{prefix}:{{intents}}", 0, -1)) > 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (kept,) = client.keys(f"{prefix}:{{intents}}:[0-9]*")
        assert client.hget(kept, "status") == "not_listed"
    finally:
        client.close()


def test_first_poll_one_interval_after_the_sale(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(providers={"smspva": {"poll_interval": 7}})
    activation_id, _ = proxy.buy("alice")
    client, prefix = _redis(proxy), proxy.settings.redis.key_prefix
    try:
        due = client.zscore(f"{prefix}:{{active}}", str(activation_id))
        created = float(client.hget(f"{prefix}:act:{{{activation_id}}}", "created") or 0)
    finally:
        client.close()
    assert due == created + 7


def test_waiting_polls_change_nothing_and_a_code_still_comes(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    """Polls that find no SMS leave the record as it was; the code is seen when it comes."""
    proxy = make_proxy(prefix=f"t{uuid.uuid4().hex[:10]}")
    activation_id, phone = proxy.buy("alice")
    client, prefix = _redis(proxy), proxy.settings.redis.key_prefix
    key = f"{prefix}:act:{{{activation_id}}}"
    try:
        before = client.hgetall(key)
        for _ in range(3):
            assert proxy.text("alice", action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
            time.sleep(0.02)  # past the tests' poll interval: each read polls upstream
        assert smspva.emulator.requests["sms"] >= 2
        assert client.hgetall(key) == before
    finally:
        client.close()
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, code="4242")
    time.sleep(0.02)
    assert proxy.text("alice", action="getStatus", id=activation_id) == "STATUS_OK:4242"
