"""What every topology must carry, written once: the activation lifecycle, a rent, the catalog,
the record cache kept consistent across two proxies, the background poller. Each takes proxies
already served on the topology under test (test_cluster.py, test_sentinel.py)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from proxy.emulators import OrderState
from tests.conftest import Proxy, Upstream, deliver, order_for
from tests.e2e.test_rent import message, rented
from tests.topology.conftest import ServeProxy

NO_ACTIVATIONS = {"status": "error", "error": "NO_ACTIVATIONS"}
# Our own request budget per upstream account (50/s by default) lifted, for bursts of traffic.
UNLIMITED = {"smspva": {"rate_limit": 10_000.0}, "vaksms": {"rate_limit": 10_000.0}}
# An SMS-Activate answer: a word (with its ":"-separated values) or JSON; never an HTML page,
# a traceback or an empty body.
PROTOCOL_WORD = re.compile(r"[A-Z][A-Z_]*(:[^<>\s]*)*")


def ready_status(proxy: Proxy, timeout: float = 5.0) -> int:
    """/health/ready's HTTP status."""
    return proxy.client.get(proxy.url + "/health/ready", timeout=timeout).status_code


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll `check` until true; the seconds it took. AssertionError at the deadline."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:g} s"
        time.sleep(0.05)
    return time.monotonic() - started


def is_protocol_answer(response: httpx.Response) -> bool:
    """An answer a client library parses: HTTP 200 with a protocol word or JSON."""
    if response.status_code != 200:
        return False
    body = response.text
    return bool(PROTOCOL_WORD.fullmatch(body)) or body.startswith(("{", "["))


def say(proxy: Proxy, tenant: str, **params: Any) -> str:
    """The answer's text, which must come with HTTP 200 (else the failure shows the body)."""
    response = proxy.call(tenant, **params)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response.text


def buy(proxy: Proxy, tenant: str) -> tuple[int, str]:
    """getNumber: (activation id, phone); fails with the answer unless ACCESS_NUMBER."""
    answer = say(proxy, tenant, action="getNumber", service="tg", country=0)
    word, activation_id, phone = [*answer.split(":"), "", ""][:3]
    assert word == "ACCESS_NUMBER", answer
    return int(activation_id), phone


def lifecycle(proxy: Proxy, upstream: Upstream, tenant: str) -> None:
    """getNumber, getStatus waiting, an SMS upstream, STATUS_OK, setStatus 6, still the code."""
    activation_id, phone = buy(proxy, tenant)
    assert say(proxy, tenant, action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    assert say(proxy, tenant, action="setStatus", id=activation_id, status=1) == "ACCESS_READY"
    code = deliver(upstream, phone, "4242")
    assert say(proxy, tenant, action="getStatus", id=activation_id) == f"STATUS_OK:{code}"
    assert say(proxy, tenant, action="setStatus", id=activation_id, status=6) == "ACCESS_ACTIVATION"
    assert say(proxy, tenant, action="getStatus", id=activation_id) == f"STATUS_OK:{code}"
    assert proxy.call(tenant, action="getActiveActivations").json() == NO_ACTIVATIONS
    # Cancelled before any SMS: refunded upstream, STATUS_CANCEL here.
    cancelled, phone = buy(proxy, tenant)
    assert say(proxy, tenant, action="setStatus", id=cancelled, status=8) == "ACCESS_CANCEL"
    assert order_for(upstream, phone).refunded
    assert say(proxy, tenant, action="getStatus", id=cancelled) == "STATUS_CANCEL"


def rent(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """A VAK-SMS rent through its SMS to its finish; an SMSPVA rent finished (deleted)."""
    rent_id, phone, _ = rented(proxy, "vak")
    assert message(proxy, "vak", action="getRentStatus", id=rent_id) == "STATUS_WAIT_CODE"
    deliver(vaksms, phone, "5150")
    body = proxy.call("vak", action="getRentStatus", id=rent_id).json()
    assert body["status"] == "success" and body["values"]["0"]["text"] == "5150", body
    finished = proxy.call("vak", action="setRentStatus", id=rent_id, status=1).json()
    assert finished == {"status": "success"}
    assert message(proxy, "vak", action="getRentStatus", id=rent_id) == "STATUS_FINISH"

    rent_id, phone, _ = rented(proxy, "pva")
    assert message(proxy, "pva", action="getRentStatus", id=rent_id) == "STATUS_WAIT_CODE"
    finished = proxy.call("pva", action="setRentStatus", id=rent_id, status=1).json()
    assert finished == {"status": "success"}
    order = next(o for o in smspva.emulator.rent.orders.values() if phone.endswith(o.phone))
    assert order.deleted
    assert message(proxy, "pva", action="setRentStatus", id=rent_id, status=1) == "ALREADY_FINISH"


def catalog(serve: ServeProxy, redis: dict[str, Any], smspva: Upstream, vaksms: Upstream) -> None:
    """Merged prices and counts, and two proxies sharing the cached entries: one upstream
    request per entry however many calls (the offer hashes and single-flight locks work)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    replicas = [serve(redis, prefix=prefix) for _ in range(2)]
    smspva.emulator.set_stock("opt29", "RU", 100)
    vaksms.emulator.set_stock("tg", "ru", 7)
    pva_price = smspva.emulator.price("opt29", "RU")
    for i in range(20):
        proxy = replicas[i % 2]
        shown = proxy.call("alice", action="getPrices", service="tg", country=0).json()
        assert shown == {"0": {"tg": {"cost": float(pva_price), "count": 107}}}
        counts = proxy.call("vak", action="getNumbersStatus", country=0).json()
        assert counts["tg_0"] == 7
    assert vaksms.emulator.requests["getCountNumberList"] == 1
    assert smspva.emulator.requests["serviceprice_country"] == 1
    assert smspva.emulator.requests["countnumbers"] == 1


def invalidation(serve: ServeProxy, redis: dict[str, Any], upstream: Upstream, tenant: str) -> None:
    """A record cached by one proxy is dropped when the other writes it. The upstream is not
    polled (poll interval 30 s), so only the invalidation can tell the reader."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    writer, reader = (serve(redis, prefix=prefix, poll_interval=30.0) for _ in range(2))
    activation_id, phone = buy(writer, tenant)
    assert say(reader, tenant, action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    assert say(reader, tenant, action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    assert say(writer, tenant, action="setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"
    assert order_for(upstream, phone).state is not OrderState.ACTIVE
    wait_until(
        "the reader sees the cancel",
        lambda: say(reader, tenant, action="getStatus", id=activation_id) == "STATUS_CANCEL",
        timeout=3.0,
    )


def poller(serve: ServeProxy, redis: dict[str, Any], smspva: Upstream) -> None:
    """Two proxies with pollers: one holds the lease, and the code reaches Redis with no
    client poll."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    first, _ = (
        serve(redis, prefix=prefix, routing={"poller": True}, poll_interval=0.1) for _ in range(2)
    )
    activation_id, phone = buy(first, "pva")
    smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "2718")

    def listed() -> bool:
        entries = first.call("pva", action="getActiveActivations").json()["activeActivations"]
        return bool(entries[0]["smsCode"] == ["2718"])

    wait_until("the poller records the code", listed, timeout=5.0)
    assert say(first, "pva", action="getStatus", id=activation_id) == "STATUS_OK:2718"
