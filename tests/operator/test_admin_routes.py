"""/admin and /admin/api/... over real HTTP, against a proxy selling from the emulators: who
gets in, what the JSON twin counts after real traffic (and from another replica), unknown
intents and upstream errors, and that no phone, key or token is ever shown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from proxy.operator.routes import COOKIE, session_value
from proxy.operator.schema import SECTIONS
from proxy.store.activations import ActivationStore
from proxy.store.keys import Keys
from tests.conftest import SMSPVA_KEY, VAKSMS_KEY, Proxy, ProxyFactory, Upstream, deliver

TOKEN = "op-token-0123456789"
ADMIN = {"token": TOKEN, "refresh_seconds": 1, "flush_seconds": 0.1}
BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(name="proxy")
def fixture_proxy(make_proxy: ProxyFactory) -> Proxy:
    return make_proxy(admin=ADMIN)


def api(proxy: Proxy, section: str = "overview") -> Any:
    response = proxy.client.get(f"{proxy.url}/admin/api/{section}", headers=BEARER)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(proxy: Proxy, check: Callable[[Any], bool], seconds: float = 5.0) -> Any:
    """The overview once `check` holds (counts land with the next flush, 0.1 s here)."""
    deadline = time.monotonic() + seconds
    while True:
        view = api(proxy)
        if check(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.05)


def test_without_a_token_configured_the_page_is_not_served(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy()
    for path in ("/admin", "/admin/api/overview", "/admin/login?token=", "/admin/fragment"):
        response = proxy.client.get(proxy.url + path)
        assert response.status_code == 403
        assert "[admin] token" in response.text


def test_a_wrong_token_sees_nothing(proxy: Proxy) -> None:
    proxy.buy()
    page = proxy.client.get(f"{proxy.url}/admin")
    assert page.status_code == 401
    assert 'name="token"' in page.text and "data-figure" not in page.text
    assert "alice" not in page.text
    for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": TOKEN}):
        response = proxy.client.get(f"{proxy.url}/admin/api/overview", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized"}
    started = time.monotonic()
    wrong = proxy.client.post(f"{proxy.url}/admin/login", data={"token": "nope"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    assert time.monotonic() - started >= 0.4  # guessing is slow
    assert COOKIE not in wrong.cookies
    started = time.monotonic()

    def guess(_: int) -> httpx.Response:
        return httpx.post(f"{proxy.url}/admin/login", data={"token": "nope"})

    with ThreadPoolExecutor(3) as pool:  # guesses in parallel wait for each other
        answers = list(pool.map(guess, range(3)))
    assert [a.status_code for a in answers] == [401] * 3
    assert time.monotonic() - started >= 1.4
    now = int(time.time())
    for cookie in (
        session_value("nope", now),
        session_value(TOKEN, now - 13 * 3600),
        session_value(TOKEN, now + 3600),
        f"x.{session_value(TOKEN, now)}",
        "1.2",
    ):
        forged = {"cookie": f"{COOKIE}={cookie}"}  # another token's, expired, future, mangled
        assert proxy.client.get(f"{proxy.url}/admin", headers=forged).status_code == 401
    good = {"cookie": f"{COOKIE}={session_value(TOKEN, now - 60)}"}
    assert proxy.client.get(f"{proxy.url}/admin", headers=good).status_code == 200
    # A reverse proxy's Basic auth beside the cookie: the cookie still decides.
    basic = {**good, "authorization": "Basic dXNlcjpwYXNz"}
    assert proxy.client.get(f"{proxy.url}/admin", headers=basic).status_code == 200


def test_the_right_token_earns_a_session_cookie_that_is_not_the_token(proxy: Proxy) -> None:
    with httpx.Client(base_url=proxy.url, follow_redirects=False) as browser:
        login = browser.post("/admin/login", data={"token": TOKEN})
        assert login.status_code == 303 and login.headers["location"] == "/admin"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
        assert "Max-Age=43200" in cookie
        assert TOKEN not in cookie
        page = browser.get("/admin")
        assert page.status_code == 200 and "data-figure" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert browser.get("/admin/fragment").text.startswith('<main id="figures"')
        assert browser.get("/admin/api/providers").status_code == 200
        browser.get("/admin/logout")
        assert browser.get("/admin").status_code == 401
    by_query = proxy.client.get(f"{proxy.url}/admin/login?token={TOKEN}", follow_redirects=False)
    assert by_query.status_code == 303 and COOKIE in by_query.cookies


def test_figures_count_the_traffic_made(proxy: Proxy, smspva: Upstream) -> None:
    bought = [proxy.buy("pva") for _ in range(3)]
    first, phone = bought[0]
    code = deliver(smspva, phone, "4321")
    assert proxy.text("pva", action="getStatus", id=first) == f"STATUS_OK:{code}"
    assert proxy.text("pva", action="setStatus", id=bought[1][0], status=8) == "ACCESS_CANCEL"

    view = wait_for(proxy, lambda v: v["windows"]["hour"]["all"]["refunded"] == 1)
    for window in ("hour", "day"):
        for scope in ("all", "provider:smspva", "service:tg", "country:0"):
            totals = view["windows"][window][scope]
            assert (totals["bought"], totals["coded"], totals["cancelled"]) == (3, 1, 1), scope
            assert totals["refunded"] == 1 and totals["success_rate"] == pytest.approx(1 / 3)
    assert view["windows"]["hour"]["provider:vaksms"]["bought"] == 0
    assert view["windows"]["hour"]["all"]["code_seconds_p50"] is not None
    assert view["charts"]["hour"]["points"] == 60 and view["charts"]["day"]["points"] == 24
    assert sum(view["charts"]["hour"]["series"]["all"]["bought"]) == 3
    assert sum(view["charts"]["day"]["series"]["provider:smspva"]["coded"]) == 1

    pva = next(t for t in view["tenants"] if t["name"] == "pva")
    assert (pva["bought_hour"], pva["bought_day"], pva["active"]) == (3, 3, 2)
    assert pva["success_rate_day"] == pytest.approx(1 / 3)
    records = [api_record(proxy, activation_id) for activation_id, _ in bought]
    paid = sum((r.cost or Decimal(0) for r in records), Decimal(0))
    refunded = records[1].cost or Decimal(0)
    assert Decimal(pva["spend_day"]) == paid - refunded
    assert Decimal(pva["refunded_day"]) == refunded

    assert view["activations"]["active"] == 2
    shown = {a["id"]: a for a in view["activations"]["shown"]}
    assert set(shown) == {first, bought[2][0]}
    assert shown[first]["state"] == "CODE_RECEIVED" and shown[first]["codes"] == 1
    assert shown[first]["phone"] != phone and shown[first]["phone"][-2:] == phone[-2:]

    smspva_view = next(p for p in view["providers"] if p["name"] == "smspva")
    assert smspva_view["state"] == "closed" and smspva_view["latency"]["calls"] >= 3
    assert smspva_view["latency"]["p50_ms"] is not None and smspva_view["error_rate"] == 0
    stock = smspva_view["stock"]
    assert stock and stock[0]["service"] == "tg" and stock[0]["country"] == 0

    page = proxy.client.get(f"{proxy.url}/admin", headers=BEARER).text
    everything = page + str(view)
    for _, number in bought:
        assert number not in everything
    for secret in (TOKEN, SMSPVA_KEY, VAKSMS_KEY):
        assert secret not in everything


def api_record(proxy: Proxy, activation_id: int) -> Any:
    """The stored record, as the proxy wrote it (its price is the tenant's)."""

    async def load() -> Any:
        client = aioredis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
        try:
            store = ActivationStore(client, Keys(proxy.settings.redis.key_prefix), 3600)
            return await store.load(activation_id)
        finally:
            await client.aclose()

    return asyncio.run(load())


def test_every_section_is_the_overviews_own(proxy: Proxy) -> None:
    proxy.buy()
    view = wait_for(proxy, lambda v: v["windows"]["hour"]["all"]["bought"] == 1)
    for section in SECTIONS:
        assert api(proxy, section) == view[section] or section in ("providers", "activations")
    missing = proxy.client.get(f"{proxy.url}/admin/api/nothing", headers=BEARER)
    assert missing.status_code == 404 and "sections" in missing.json()


def test_another_replica_shows_the_same_figures(proxy: Proxy, make_proxy: ProxyFactory) -> None:
    other = make_proxy(admin=ADMIN, prefix=proxy.settings.redis.key_prefix)
    proxy.buy("alice")
    other.buy("bob")
    for replica in (proxy, other):
        view = wait_for(replica, lambda v: v["windows"]["hour"]["all"]["bought"] == 2)
        assert view["windows"]["hour"]["all"]["bought"] == 2
        assert {t["name"]: t["bought_hour"] for t in view["tenants"]}["bob"] == 1


def test_unknown_intents_come_first(proxy: Proxy) -> None:
    async def leave_unknown() -> int:
        client = aioredis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
        try:
            store = ActivationStore(client, Keys(proxy.settings.redis.key_prefix), 3600)
            fields = {"tenant": "alice", "provider": "smspva", "service": "tg", "country": "0"}
            activation_id = await store.begin_purchase({**fields, "status": "sending"})
            await store.update_intent(
                activation_id, {"status": "unknown", "error": f"timeout api_key={SMSPVA_KEY}"}
            )
            return activation_id
        finally:
            await client.aclose()

    activation_id = asyncio.run(leave_unknown())
    view = api(proxy)
    assert view["intents"]["unknown"] == 1
    intent = view["intents"]["shown"][0]
    assert intent["id"] == activation_id and intent["status"] == "unknown"
    assert SMSPVA_KEY not in intent["error"]
    assert view["attention"][0].startswith("1 purchase with an unknown outcome")


def test_upstream_errors_are_grouped_and_a_failing_provider_called_out(
    make_proxy: ProxyFactory, smspva: Upstream
) -> None:
    proxy = make_proxy(admin=ADMIN, providers={"smspva": {"breaker_threshold": 2}})
    smspva.emulator.inject_error("number", status=503, times=3)
    for _ in range(3):
        proxy.text("pva", action="getNumber", service="tg", country=0)
    # Both failures sent (the breaker held the third back), perhaps in two flushes.
    view = wait_for(proxy, lambda v: sum(g["count"] for g in v["errors"]) >= 2)
    group = view["errors"][0]
    assert (group["provider"], group["endpoint"]) == ("smspva", "buy")
    assert group["count"] >= 2 and group["last_at"] is not None
    assert SMSPVA_KEY not in group["message"]
    smspva_view = next(p for p in view["providers"] if p["name"] == "smspva")
    assert smspva_view["state"] == "open" and smspva_view["resting"]
    # Every purchase failed; the catalog's price lookups before them did not.
    assert smspva_view["errors"] == group["count"] and smspva_view["error_rate"] >= 0.5
    assert any("smspva is failing" in note for note in view["attention"])


def test_rentals_are_listed_and_counted_for_their_tenant(proxy: Proxy) -> None:
    body = proxy.call("pva", action="getRentNumber", service="tg").json()
    assert body["status"] == "success", body
    phone = str(body["phone"]["number"])
    view = wait_for(proxy, lambda v: sum(t["rented_day"] for t in v["tenants"]) == 1)
    (rental,) = view["rentals"]["shown"]
    assert rental["tenant"] == "pva" and rental["state"] == "ACTIVE"
    assert rental["phone"] != phone and rental["left_seconds"] > 0
    pva = next(t for t in view["tenants"] if t["name"] == "pva")
    assert pva["rented_day"] == 1 and pva["bought_day"] == 0
    assert phone not in proxy.client.get(f"{proxy.url}/admin", headers=BEARER).text


def test_the_poller_keeps_every_providers_balance_recent(make_proxy: ProxyFactory) -> None:
    """Nobody asks getBalance here: the poller does, every routing.balance_refresh."""
    proxy = make_proxy(admin=ADMIN, routing={"poller": True, "balance_refresh": 0.2})
    view = wait_for(proxy, lambda v: all(p["balance_at"] for p in v["providers"]))
    first = {p["name"]: p["balance_at"] for p in view["providers"]}
    for provider in view["providers"]:
        assert Decimal(provider["balance"]) > 0 and provider["balance_at"] <= time.time()
    later = wait_for(proxy, lambda v: all(p["balance_at"] > first[p["name"]]
                                          for p in v["providers"]))  # fmt: skip
    assert all(p["balance_at"] > first[p["name"]] for p in later["providers"])
