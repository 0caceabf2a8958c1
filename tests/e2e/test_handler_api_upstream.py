"""smsproxy with SMS-Activate-compatible services as upstreams (issue 16): the `handler_api` kind.

Each shipped profile runs the client's whole activation through smsproxy's own endpoint against
the compatible emulator (clients see only canonical answers); a tenant's failover list mixes
SMSPVA, VAK-SMS and a compatible service; an unknown purchase outcome is recovered from
getActiveActivations where the service has it and kept as an intent (never bought elsewhere)
where it has not; and one smsproxy uses another as its upstream.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from proxy import actions
from proxy.emulators.common import OrderState
from proxy.emulators.handler_api import HandlerApiEmulator
from proxy.lifecycle import Listing
from proxy.providers.profiles import load_profile, profile_names
from proxy.redis_server import EmbeddedRedis
from proxy.serving import ThreadedServer
from tests.conftest import (
    TENANT_KEYS,
    TEST_POLL_INTERVAL,
    Proxy,
    ProxyFactory,
    Upstream,
    order_for,
    proxy_config,
)
from tests.e2e.test_money_faults import charged, held_by_client, intents

HANDLER_KEY = "compatible-upstream-key"
PROFILES = profile_names()
WAIT = TEST_POLL_INTERVAL * 3


@pytest.fixture(scope="module")
def _compatible() -> Iterator[dict[str, Upstream]]:
    """One compatible service per shipped profile, served on loopback for the module."""
    servers: dict[str, tuple[ThreadedServer, HandlerApiEmulator]] = {}
    for name in PROFILES:
        emulator = HandlerApiEmulator(name, api_keys={HANDLER_KEY: Decimal("100")}, sms_delay=None)
        servers[name] = (ThreadedServer(emulator.app).start(), emulator)
    yield {name: Upstream(emulator, server.url) for name, (server, emulator) in servers.items()}
    for server, _ in servers.values():
        server.stop()


@pytest.fixture(name="compatible")
def compatible_fixture(_compatible: dict[str, Upstream]) -> dict[str, Upstream]:
    for upstream in _compatible.values():
        upstream.emulator.reset()
    return _compatible


Serve = Callable[[dict[str, Any]], Proxy]


@pytest.fixture(name="serve")
def serve_fixture(serve_config: Serve) -> Serve:
    """smsproxy from a whole configuration (make_proxy only amends its providers)."""
    return serve_config


def handler_provider(
    url: str, profile: str, key: str = HANDLER_KEY, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": "handler_api", "profile": profile, "base_url": url, "api_key": key,
        "poll_interval": TEST_POLL_INTERVAL, "read_timeout": 2.0, **extra,
    }  # fmt: skip


def key_of(name: str) -> str:
    return f"{name}-tenant-key"


@pytest.fixture(name="deployment")
def deployment_fixture(
    redis_server: EmbeddedRedis,
    smspva: Upstream,
    vaksms: Upstream,
    compatible: dict[str, Upstream],
    serve: Serve,
) -> Callable[..., Proxy]:
    """The test deployment plus one handler_api provider `h_<profile>` per shipped profile,
    each with a tenant of its own (`<profile>`), and the tenants given."""

    def make(tenants: list[dict[str, Any]] | None = None, **overrides: Any) -> Proxy:
        config = proxy_config(redis_server.url, smspva.url, vaksms.url, **overrides)
        for name, upstream in compatible.items():
            config["providers"][f"h_{name}"] = handler_provider(upstream.url, name)
            config["tenants"].append(
                {"name": name, "key": key_of(name), "providers": [f"h_{name}"]}
            )
        for tenant in tenants or []:
            config["tenants"].append({**tenant, "key": key_of(tenant["name"])})
        return serve(config)

    return make


def text(proxy: Proxy, tenant: str, **params: Any) -> str:
    response = proxy.call(key_of(tenant), **params)
    assert response.status_code == 200
    return response.text


def upstream_order(upstream: Upstream, phone: str) -> Any:
    """The compatible emulator's order behind one of our (international) phones."""
    (order,) = [o for o in upstream.emulator.orders.values() if o.phone == phone]
    return order


# -- the lifecycle, per profile -----------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_lifecycle(
    deployment: Callable[..., Proxy], compatible: dict[str, Upstream], profile: str
) -> None:
    upstream = compatible[profile]
    emulator = upstream.emulator
    proxy = deployment()
    if emulator.profile.supports("getBalance"):
        balance = text(proxy, profile, action="getBalance")
        rate = Decimal("0.01") if emulator.profile.currency == "RUB" else Decimal(1)
        assert balance == f"ACCESS_BALANCE:{Decimal(100) * rate:.2f}"
    answer = text(proxy, profile, action="getNumber", service="tg", country=0)
    word, activation, phone = (answer + "::").split(":")[:3]
    assert word == "ACCESS_NUMBER", answer
    assert phone.startswith("7")  # the calling code, whatever the service's phone form
    order = upstream_order(upstream, phone)
    assert text(proxy, profile, action="getStatus", id=activation) == "STATUS_WAIT_CODE"
    emulator.deliver_sms(order.order_id, code="24680")
    time.sleep(WAIT)
    assert text(proxy, profile, action="getStatus", id=activation) == "STATUS_OK:24680"
    assert text(proxy, profile, action="setStatus", id=activation, status=6) == (
        "ACCESS_ACTIVATION"
    )
    assert text(proxy, profile, action="getStatus", id=activation) == "STATUS_OK:24680"

    # setStatus 8 before any SMS: cancelled upstream, refunded
    answer = text(proxy, profile, action="getNumber", service="tg", country=0)
    _, cancelled, phone = answer.split(":")
    order = upstream_order(upstream, phone)
    assert text(proxy, profile, action="setStatus", id=cancelled, status=8) == "ACCESS_CANCEL"
    assert text(proxy, profile, action="getStatus", id=cancelled) == "STATUS_CANCEL"
    assert emulator.orders[order.order_id].refunded

    # setStatus 6 before any SMS: given back upstream too (seed 004: closed as an error)
    answer = text(proxy, profile, action="getNumber", service="tg", country=0)
    _, finished, phone = answer.split(":")
    order = upstream_order(upstream, phone)
    assert text(proxy, profile, action="setStatus", id=finished, status=6) == ("ACCESS_ACTIVATION")
    assert text(proxy, profile, action="getStatus", id=finished) == "STATUS_CANCEL"
    assert emulator.orders[order.order_id].refunded
    assert emulator.orders[order.order_id].state is OrderState.CANCELLED


@pytest.mark.parametrize(
    "profile", [p for p in PROFILES if load_profile(p).set_status.retry is not None]
)
def test_retry(
    deployment: Callable[..., Proxy],
    compatible: dict[str, Upstream],
    profile: str,
) -> None:
    """setStatus 3: getStatus shows the latest SMS only, so after the retry the listing starts
    again (actions.RETRY_LISTINGS: Listing.CLEARED)."""
    assert actions.RETRY_LISTINGS["handler_api"] is Listing.CLEARED
    upstream = compatible[profile]
    proxy = deployment()
    _, activation, phone = text(proxy, profile, action="getNumber", service="tg", country=0).split(
        ":"
    )
    order = upstream_order(upstream, phone)
    upstream.emulator.deliver_sms(order.order_id, code="1111")
    time.sleep(WAIT)
    assert text(proxy, profile, action="getStatus", id=activation) == "STATUS_OK:1111"
    assert text(proxy, profile, action="setStatus", id=activation, status=3) == "ACCESS_RETRY_GET"
    time.sleep(WAIT)
    assert text(proxy, profile, action="getStatus", id=activation) == "STATUS_WAIT_RETRY:1111"
    upstream.emulator.deliver_sms(order.order_id, code="1111")  # the same code again
    time.sleep(WAIT)
    assert text(proxy, profile, action="getStatus", id=activation) == "STATUS_OK:1111"


def test_a_service_the_profile_lacks_fails_over(
    deployment: Callable[..., Proxy], compatible: dict[str, Upstream], smspva: Upstream
) -> None:
    """SMSPVA's Alternative API does not sell `ds` (Discord; its numbering lacks it): refused
    unsent, SMSPVA sells. A pair both lack stock for is NO_NUMBERS."""
    proxy = deployment([{"name": "alt_first", "providers": ["h_smspva_alternative", "smspva"]}])
    alternative = compatible["smspva_alternative"].emulator
    answer = text(proxy, "alt_first", action="getNumber", service="ds", country=0)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    assert alternative.requests["getNumber"] == 0
    assert len(charged(smspva)) == 1
    answer = text(proxy, "alt_first", action="getNumber", service="tg", country=0)
    assert upstream_order(compatible["smspva_alternative"], answer.split(":")[2])
    smspva.emulator.set_stock("opt29", "RU", 0)
    alternative.set_stock("tg", "0", 0)
    assert text(proxy, "alt_first", action="getNumber", service="tg", country=0) == "NO_NUMBERS"


# -- a mixed failover list ----------------------------------------------------------------------


MIXED = [{"name": "mixed", "providers": ["smspva", "vaksms", "h_canonical"]}]


def test_mixed_failover(
    deployment: Callable[..., Proxy],
    compatible: dict[str, Upstream],
    smspva: Upstream,
    vaksms: Upstream,
) -> None:
    """SMSPVA and VAK-SMS out of stock: bought from the compatible service; it out of stock
    too, the client hears NO_NUMBERS; back in stock at SMSPVA, SMSPVA sells again."""
    proxy = deployment(MIXED)
    smspva.emulator.set_stock("opt29", "RU", 0)
    vaksms.emulator.set_stock("tg", "ru", 0)
    answer = text(proxy, "mixed", action="getNumber", service="tg", country=0)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    upstream = compatible["canonical"]
    order = upstream_order(upstream, answer.split(":")[2])
    upstream.emulator.deliver_sms(order.order_id, code="777")
    time.sleep(WAIT)
    assert text(proxy, "mixed", action="getStatus", id=answer.split(":")[1]) == "STATUS_OK:777"
    upstream.emulator.set_stock("tg", "0", 0)
    assert text(proxy, "mixed", action="getNumber", service="tg", country=0) == "NO_NUMBERS"
    assert charged(smspva) == [] and charged(vaksms) == []


def test_compatible_first_then_native(
    deployment: Callable[..., Proxy], compatible: dict[str, Upstream], vaksms: Upstream
) -> None:
    """The compatible service first and out of numbers: VAK-SMS sells."""
    proxy = deployment([{"name": "h_first", "providers": ["h_herosms", "vaksms"]}])
    compatible["herosms"].emulator.set_stock("tg", "0", 0)
    answer = text(proxy, "h_first", action="getNumber", service="tg", country=0)
    assert answer.startswith("ACCESS_NUMBER:")
    assert len(charged(vaksms)) == 1


# -- unknown purchase outcomes ------------------------------------------------------------------


@pytest.mark.parametrize("after", [False, True], ids=["before-sale", "after-sale"])
def test_unknown_outcome_with_active_activations(
    deployment: Callable[..., Proxy],
    compatible: dict[str, Upstream],
    smspva: Upstream,
    after: bool,
) -> None:
    """getActiveActivations (canonical) recovers a sale behind a 502; without a sale the
    purchase goes on to the next provider, the intent kept as not listed."""
    proxy = deployment([{"name": "h_then_pva", "providers": ["h_canonical", "smspva"]}])
    upstream = compatible["canonical"]
    upstream.emulator.inject_error("getNumber", status=502, after_effect=after)
    answer = text(proxy, "h_then_pva", action="getNumber", service="tg", country=0)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    if after:
        (order,) = charged(upstream)
        assert order.phone == answer.split(":")[2]  # the recovered sale is the client's
        assert charged(smspva) == []
        assert intents(proxy) == {}
    else:
        assert charged(upstream) == []
        assert len(charged(smspva)) == 1
        assert [i["status"] for i in intents(proxy).values()] == ["not_listed"]


@pytest.mark.parametrize("after", [False, True], ids=["before-sale", "after-sale"])
def test_unknown_outcome_without_active_activations(
    deployment: Callable[..., Proxy],
    compatible: dict[str, Upstream],
    smspva: Upstream,
    after: bool,
) -> None:
    """SMSBower lists no orders: a lost answer may hide a sale, so nothing is bought elsewhere,
    the client hears ERROR_SQL and the intent stays for the operator."""
    proxy = deployment([{"name": "bower_then_pva", "providers": ["h_smsbower", "smspva"]}])
    upstream = compatible["smsbower"]
    upstream.emulator.inject_error("getNumber", status=503, after_effect=after)
    answer = text(proxy, "bower_then_pva", action="getNumber", service="tg", country=0)
    assert answer == "ERROR_SQL"
    assert charged(smspva) == []
    (kept,) = intents(proxy).values()
    assert kept["provider"] == "h_smsbower" and kept["status"] == "unknown"
    assert len(charged(upstream)) == (1 if after else 0)


def test_timeout_after_the_sale_is_recovered(
    deployment: Callable[..., Proxy], compatible: dict[str, Upstream], smspva: Upstream
) -> None:
    proxy = deployment([{"name": "grizzly_then_pva", "providers": ["h_grizzlysms", "smspva"]}])
    upstream = compatible["grizzlysms"]
    upstream.emulator.stall("getNumber", 3.0, after_effect=True)
    answer = text(proxy, "grizzly_then_pva", action="getNumber", service="tg", country=0)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    (order,) = charged(upstream)
    assert order.phone == answer.split(":")[2]
    assert charged(smspva) == []


# -- one smsproxy in front of another -----------------------------------------------------------


def test_two_proxies_chained(
    make_proxy: ProxyFactory, redis_server: EmbeddedRedis, smspva: Upstream, serve: Serve
) -> None:
    """Proxy A's provider is proxy B (profile canonical, B's tenant key); B is in front of the
    SMSPVA emulator. A client of A runs the lifecycle."""
    central = make_proxy()  # B: tenant "pva" buys from SMSPVA only
    site = serve(
        {
            "redis": {"url": redis_server.url, "key_prefix": f"site{uuid.uuid4().hex[:8]}"},
            "money": {"currency": "USD"},
            "routing": {"poller": False},
            "providers": {
                "central": handler_provider(central.url, "canonical", key=TENANT_KEYS["pva"])
            },
            "tenants": [{"name": "site", "key": "site-key", "providers": ["central"]}],
        }
    )
    assert site.call("site-key", action="getBalance").text == "ACCESS_BALANCE:100.00"
    answer = site.call("site-key", action="getNumber", service="tg", country=0).text
    word, activation, phone = answer.split(":")
    assert word == "ACCESS_NUMBER" and phone.startswith("7")
    assert site.call("site-key", action="getStatus", id=activation).text == "STATUS_WAIT_CODE"
    order = order_for(smspva, phone)
    smspva.emulator.deliver_sms(order.order_id, "13579")
    time.sleep(WAIT)
    assert site.call("site-key", action="getStatus", id=activation).text == "STATUS_OK:13579"
    done = site.call("site-key", action="setStatus", id=activation, status=6).text
    assert done == "ACCESS_ACTIVATION"
    # a cancel goes through B to SMSPVA, refunded there
    answer = site.call("site-key", action="getNumber", service="tg", country=0).text
    _, dropped, phone = answer.split(":")
    order = order_for(smspva, phone)
    cancelled = site.call("site-key", action="setStatus", id=dropped, status=8).text
    assert cancelled == "ACCESS_CANCEL"
    assert site.call("site-key", action="getStatus", id=dropped).text == "STATUS_CANCEL"
    assert smspva.emulator.orders[order.order_id].refunded
    assert held_by_client(smspva, answer) == {order.order_id}
