"""The purchase path's fault matrix: no charged upstream order ends untracked and unrefunded, and
no client answer hides a paid number (issue 12, point 6).

Each fault is injected at the provider's `number`/`getNumber` endpoint, either before anything
happened upstream or after the upstream sold and charged (`after_effect`: a gateway's answer
lost after its backend committed). After the client's answer, every charged order is either
the client's activation, or held by a purchase intent that the reconciler settles: on SMSPVA by
its order list (tracked or refunded), on VAK-SMS (no order list) reported for the operator while
the client heard ERROR_SQL, never NO_NUMBERS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from structlog.testing import capture_logs

from proxy.emulators import OrderState
from proxy.redis_server import EmbeddedRedis
from proxy.store.keys import Keys
from tests.conftest import Proxy, ProxyFactory, Upstream

GATEWAY_PAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>"


def charged(upstream: Upstream) -> list[Any]:
    """Orders the upstream sold and did not refund."""
    return [o for o in upstream.emulator.orders.values() if not o.refunded]


def intents(proxy: Proxy) -> dict[str, dict[str, str]]:
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    prefix = proxy.settings.redis.key_prefix
    try:
        ids = cast(list[str], client.zrange(f"{prefix}:{{intents}}", 0, -1))
        return {i: cast(dict[str, str], client.hgetall(f"{prefix}:{{intents}}:{i}")) for i in ids}
    finally:
        client.close()


def settled_intents(proxy: Proxy, seconds: float = 5.0) -> dict[str, dict[str, str]]:
    """The intents once a recorded purchase's own has gone: it is dropped in the background
    after the answer (ActivationStore.record_purchase), so right after the answer it may still
    be there, "sending"."""
    deadline = time.monotonic() + seconds
    found = intents(proxy)
    while any(i.get("status") == "sending" for i in found.values()) and time.monotonic() < deadline:
        time.sleep(0.02)
        found = intents(proxy)
    return found


def held_by_client(upstream: Upstream, answer: str) -> set[str]:
    """The upstream order ids behind an ACCESS_NUMBER answer (none otherwise)."""
    if not answer.startswith("ACCESS_NUMBER:"):
        return set()
    phone = answer.split(":")[2]
    return {o.order_id for o in upstream.emulator.orders.values() if phone.endswith(str(o.phone))}


FAULTS: dict[str, dict[str, Any]] = {
    "500": {"status": 500},
    "502-gateway": {"status": 502, "body": GATEWAY_PAGE},
    "503": {"status": 503},
    "unreadable-200": {"status": 200, "body": "<html>maintenance</html>"},
}


@pytest.mark.parametrize("after", [False, True], ids=["before-sale", "after-sale"])
@pytest.mark.parametrize("fault", FAULTS)
def test_smspva_fault_leaves_no_paid_order_untracked(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream, fault: str, after: bool
) -> None:
    """SMSPVA lists its orders: a sale behind a fault is found and given to the client, before
    any other provider is asked; no sale lets the purchase go on to VAK-SMS."""
    proxy = make_proxy()
    smspva.emulator.inject_error("number", after_effect=after, **FAULTS[fault])
    answer = proxy.text("alice", action="getNumber", service="tg", country=0)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    mine = held_by_client(smspva, answer) | held_by_client(vaksms, answer)
    if after:
        (order,) = charged(smspva)
        assert order.order_id in mine  # recovered from SMSPVA's own order list
        assert charged(vaksms) == []  # nobody else was asked: the client pays once
        assert settled_intents(proxy) == {}
    else:
        assert charged(smspva) == []
        (order,) = charged(vaksms)
        assert order.order_id in mine
        # SMSPVA listed nothing; the reconciler looks again
        kept = list(settled_intents(proxy).values())
        assert [i["status"] for i in kept] == ["not_listed"]


@pytest.mark.parametrize("after", [False, True], ids=["before-sale", "after-sale"])
@pytest.mark.parametrize("fault", FAULTS)
def test_vaksms_fault_never_answers_no_numbers_over_a_paid_order(
    make_proxy: ProxyFactory, vaksms: Upstream, fault: str, after: bool
) -> None:
    """VAK-SMS lists no orders: a fault after sending may hide a sale, so the client hears
    ERROR_SQL (not NO_NUMBERS, not another provider's number) and the intent stays, reported."""
    proxy = make_proxy()
    vaksms.emulator.inject_error("getNumber", after_effect=after, **FAULTS[fault])
    answer = proxy.text("bob", action="getNumber", service="tg", country=0)  # VAK first
    assert answer == "ERROR_SQL"
    (kept,) = intents(proxy).values()
    assert kept["provider"] == "vaksms" and kept["status"] == "unknown"
    assert len(charged(vaksms)) == (1 if after else 0)


def test_read_timeout_after_the_sale_is_recovered(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """The answer never comes (read timeout): the sale is found in SMSPVA's list."""
    proxy = make_proxy(read_timeout=0.3)
    smspva.emulator.stall("number", 1.0, after_effect=True)
    answer = proxy.text("alice", action="getNumber", service="tg", country=0)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    (order,) = charged(smspva)
    assert order.order_id in held_by_client(smspva, answer)
    assert charged(vaksms) == []


def test_recovery_does_not_wait_for_a_resting_breaker(
    make_proxy: ProxyFactory, smspva: Upstream, vaksms: Upstream
) -> None:
    """After a rate-limit rest, the breaker's one probe goes to the purchase; the order list
    that recovers its unknown outcome is read past the breaker, at once (issue 12)."""
    proxy = make_proxy(providers={"smspva": {"breaker_threshold": 1, "breaker_cooldown": 0.2}})
    smspva.emulator.inject_error("balance", status=503)
    proxy.text("pva", action="getBalance")  # a failure: the breaker opens for 0.2 s
    time.sleep(0.3)  # half-open: one probe
    smspva.emulator.inject_error("number", status=503, after_effect=True)
    answer = proxy.text("pva", action="getNumber", service="tg", country=0)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    (order,) = charged(smspva)
    assert order.order_id in held_by_client(smspva, answer)


@pytest.fixture(name="own_redis")
def fixture_own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, which it may kill."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis-killed"), persistent=False)
    try:
        yield server.start()
    finally:
        server.stop()


def test_a_sale_redis_cannot_record_is_given_back_without_redis(
    make_proxy: ProxyFactory, smspva: Upstream, own_redis: EmbeddedRedis
) -> None:
    """Redis dies while the upstream sells: the record cannot be written, so the number is
    cancelled upstream at once (no breaker, no Redis on that path) and the client hears an
    error, not a number it cannot use."""
    proxy = make_proxy(redis_url=own_redis.url)
    smspva.emulator.stall("number", 0.5, after_effect=True)
    with capture_logs() as logs:
        killer = threading.Timer(0.2, own_redis.stop)
        killer.start()
        response = proxy.call("pva", action="getNumber", service="tg", country=0)
        killer.join()
    assert response.status_code == 200 and response.text == "ERROR_SQL"
    (order,) = smspva.emulator.orders.values()
    assert order.refunded and order.state is OrderState.CANCELLED
    assert any(e["event"] == "purchase_refunded_unrecorded" for e in logs)


def test_an_order_id_is_released_when_nothing_was_sent(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    """issue 12, point 5: a Redis error before the purchase was sent (here: the id counter
    cannot be incremented, so no intent is written) answers ERROR_SQL and frees the orderId;
    the retry buys. Refusals free it too; a purchase that may be charged keeps it."""
    proxy = make_proxy()
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    counter = Keys(proxy.settings.redis.key_prefix).id_counter()
    try:
        saved = client.get(counter) or "0"
        client.set(counter, "not a number")
        first = proxy.text("pva", action="getNumberV2", service="tg", country=0, orderId="o-1")
        assert first == "ERROR_SQL"
        assert smspva.emulator.requests["number"] == 0  # nothing reached the upstream
        client.set(counter, saved)
    finally:
        client.close()
    again = proxy.call("pva", action="getNumberV2", service="tg", country=0, orderId="o-1")
    assert again.json()["activationId"] > 0
    taken = proxy.text("pva", action="getNumberV2", service="tg", country=0, orderId="o-1")
    assert taken == "ORDER_ALREADY_EXISTS"
    smspva.emulator.set_stock("opt29", "RU", 0)
    none = proxy.text("pva", action="getNumberV2", service="tg", country=0, orderId="o-2")
    assert none == "NO_NUMBERS"
    smspva.emulator.set_stock("opt29", "RU", 5)
    assert proxy.call("pva", action="getNumberV2", service="tg", country=0, orderId="o-2").json()


def test_an_order_id_stays_taken_while_its_purchase_may_be_charged(
    make_proxy: ProxyFactory, vaksms: Upstream
) -> None:
    """A VAK-SMS purchase lost after sending may be charged: its orderId is not free again."""
    proxy = make_proxy()
    vaksms.emulator.inject_error("getNumber", status=503, after_effect=True)
    first = proxy.text("vak", action="getNumberV2", service="tg", country=0, orderId="o-3")
    assert first == "ERROR_SQL"
    again = proxy.text("vak", action="getNumberV2", service="tg", country=0, orderId="o-3")
    assert again == "ORDER_ALREADY_EXISTS"
