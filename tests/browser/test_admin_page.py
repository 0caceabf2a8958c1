"""The operator page (/admin) in Chromium, against one smsproxy over both emulated providers
after real SMS-Activate traffic: what a human sees must be what the JSON twin says, and what
the traffic was; the token guards it; phones stay masked; a failing provider shows up by the
page's own refresh.

The tests share one proxy and one browser (module scope) and run in file order: the provider
made to fail comes last but one, so the counts checked before it are the traffic's alone.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from proxy.app import create_app
from proxy.config import settings_from_dict
from proxy.emulators import OrderState
from proxy.operator.page import format_value, resolve
from proxy.operator.schema import mask_phone
from proxy.redis_server import EmbeddedRedis
from proxy.serving import ThreadedServer
from tests.browser.conftest import wait_for
from tests.conftest import Proxy, Upstream, deliver, order_for, proxy_config

TOKEN = "operator-page-test-token"
REFRESH_SECONDS = 1
FLUSH_SECONDS = 0.2
BEARER = {"authorization": f"Bearer {TOKEN}"}
# Figures that move between two reads a moment apart (clocks, ages, what the cache last saw):
# compared by type only. Every other figure must equal the JSON twin's.
MOVING = {"generated_at", "age_seconds", "left_seconds", "rest_until", "seen_at", "last_at",
          "start"}  # fmt: skip
# Every figure element on the page, read in one script so a refresh cannot split the read.
READ_FIGURES = """
return Array.from(document.querySelectorAll('[data-figure]')).map(e => [
    e.getAttribute('data-figure'), e.getAttribute('data-kind'), e.getAttribute('data-value'),
    e.textContent]);
"""


# The charts likewise, in one script (a refresh replaces every element it read).
READ_CHARTS = """
return Array.from(document.querySelectorAll('svg.chart')).map(e => [
    e.getAttribute('data-series'), e.getAttribute('data-points')]);
"""


@dataclass
class Site:
    """The proxy under test and the traffic it served, as the client saw it."""

    proxy: Proxy
    smspva: Upstream
    vaksms: Upstream
    bought: dict[str, int] = field(default_factory=dict)  # per tenant
    coded: int = 0
    cancelled: int = 0
    phones: list[str] = field(default_factory=list)  # every phone the proxy handed out

    @property
    def url(self) -> str:
        return self.proxy.url

    def overview(self) -> dict[str, Any]:
        """The JSON twin, as a script reads it (bearer header)."""
        response = self.proxy.client.get(self.url + "/admin/api/overview", headers=BEARER)
        assert response.status_code == 200, response.text
        return cast(dict[str, Any], response.json())


def _counts(overview: dict[str, Any]) -> tuple[int, int, int]:
    every = overview["windows"]["hour"]["all"]
    return every["bought"], every["coded"], every["cancelled"]


@pytest.fixture(scope="module", name="site")
def fixture_site(
    redis_server: EmbeddedRedis, _smspva_server: Upstream, _vaksms_server: Upstream
) -> Iterator[Site]:
    """One proxy with an admin token, a 1-s page refresh and 0.2-s count flushes, after
    purchases on both providers, two codes and one cancel."""
    smspva, vaksms = _smspva_server, _vaksms_server
    smspva.emulator.reset()
    vaksms.emulator.reset()
    config = proxy_config(redis_server.url, smspva.url, vaksms.url,
                          providers={"smspva": {"breaker_threshold": 2}})  # fmt: skip
    config["admin"] = {"token": TOKEN, "refresh_seconds": REFRESH_SECONDS,
                       "flush_seconds": FLUSH_SECONDS}  # fmt: skip
    settings = settings_from_dict(config)
    server = ThreadedServer(create_app(settings)).start()
    client = httpx.Client(timeout=10)
    site = Site(Proxy(server.url, settings, client), smspva, vaksms)
    try:
        _drive_traffic(site)
        expected = (sum(site.bought.values()), site.coded, site.cancelled)
        wait_for(lambda: _counts(site.overview()) == expected, what=f"counts {expected}")
        yield site
    finally:
        client.close()
        server.stop()
        smspva.emulator.reset()
        vaksms.emulator.reset()


def _drive_traffic(site: Site) -> None:
    """alice buys 3 at SMSPVA (her first choice), bob 2 at VAK-SMS (his); one of each gets a
    code, read by getStatus; one of alice's is cancelled (setStatus 8)."""
    proxy = site.proxy
    numbers: dict[str, list[tuple[int, str]]] = {}
    for tenant, count in (("alice", 3), ("bob", 2)):
        numbers[tenant] = [proxy.buy(tenant) for _ in range(count)]
        site.bought[tenant] = count
        site.phones += [phone for _, phone in numbers[tenant]]
    for tenant, upstream in (("alice", site.smspva), ("bob", site.vaksms)):
        activation_id, phone = numbers[tenant][0]
        code = deliver(upstream, phone)
        assert proxy.text(tenant, action="getStatus", id=activation_id) == f"STATUS_OK:{code}"
        site.coded += 1
        waiting_id, _ = numbers[tenant][1]
        assert proxy.text(tenant, action="getStatus", id=waiting_id) == "STATUS_WAIT_CODE"
    cancel_id, cancel_phone = numbers["alice"][2]
    assert proxy.text("alice", action="setStatus", id=cancel_id, status=8) == "ACCESS_CANCEL"
    assert order_for(site.smspva, cancel_phone).state is not OrderState.ACTIVE
    site.cancelled += 1


def _logged_out(browser: webdriver.Chrome, site: Site) -> None:
    """No session cookie: WebDriver deletes only the cookies the open document would send,
    so a page under the cookie's path (/admin) is opened first."""
    browser.get(site.url + "/admin/login")
    browser.delete_all_cookies()
    assert not browser.get_cookies()


def _login(browser: webdriver.Chrome, site: Site) -> None:
    """Through the form, as an operator would: type the token, press the button."""
    _logged_out(browser, site)
    browser.get(site.url + "/admin")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "login").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-figure]"), what="the page")


def _figures(browser: webdriver.Chrome) -> list[tuple[str, str, Any, str]]:
    """(path, kind, value, text) of every figure on the page now."""
    rows = cast(list[list[str]], browser.execute_script(READ_FIGURES))
    return [(path, kind, json.loads(value), text) for path, kind, value, text in rows]


def _assert_login_only(browser: webdriver.Chrome, overview: dict[str, Any]) -> None:
    """The login form and nothing of what the page would show."""
    assert browser.find_elements(By.CSS_SELECTOR, 'form[action="/admin/login"]')
    field_ = browser.find_element(By.ID, "token")
    assert field_.get_attribute("name") == "token"
    assert browser.find_elements(By.ID, "login")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-figure]")
    source = browser.page_source
    assert "data-figure" not in source
    for tenant in overview["tenants"]:
        assert tenant["name"] not in source, tenant["name"]
        if Decimal(tenant["spend_day"]):  # "0.00" could be anywhere; a real spend not
            assert tenant["spend_day"] not in source, tenant["spend_day"]
    for provider in overview["providers"]:
        if provider["balance"] is not None:
            assert provider["balance"] not in source, provider["balance"]
    for shown in overview["activations"]["shown"]:
        assert shown["phone"] not in source


def test_wrong_or_no_token_shows_only_the_login_form(browser: webdriver.Chrome, site: Site) -> None:
    """A wrong token, or none, earns the login form (401) and not one figure."""
    overview = site.overview()
    client = site.proxy.client
    assert client.get(site.url + "/admin").status_code == 401
    assert client.get(site.url + "/admin/login", params={"token": "wrong"}).status_code == 401
    assert client.get(site.url + "/admin/api/overview").status_code == 401
    assert client.get(site.url + "/admin/fragment").status_code == 401
    wrong = {"authorization": "Bearer wrong"}
    assert client.get(site.url + "/admin/api/overview", headers=wrong).status_code == 401

    _logged_out(browser, site)
    browser.get(site.url + "/admin/login?token=wrong")
    _assert_login_only(browser, overview)
    assert browser.find_element(By.ID, "login-error").text.strip()  # says the token was wrong
    assert not browser.get_cookies()

    browser.get(site.url + "/admin")
    _assert_login_only(browser, overview)


def test_the_page_shows_the_json_twin_and_the_traffic(
    browser: webdriver.Chrome, site: Site
) -> None:
    """Every figure on the page is the twin's value, formatted by format_value; the counts
    are those of the traffic driven."""
    _login(browser, site)
    (session,) = browser.get_cookies()
    assert session["httpOnly"] is True
    assert not browser.execute_script("return document.cookie")  # not readable by scripts
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-refresh") == str(
        REFRESH_SECONDS
    )
    assert browser.find_elements(By.CSS_SELECTOR, "main#figures")

    figures = _figures(browser)
    overview = site.overview()  # right after the DOM read: the same traffic, later clocks
    assert len(figures) >= 10, figures
    for path, kind, value, text in figures:
        assert text.strip() == format_value(kind, value).strip(), (path, kind, value, text)
        twin = resolve(overview, path)
        if path.rsplit("/", 1)[-1] in MOVING:
            assert type(twin) is type(value) or None in (twin, value), (path, value, twin)
        else:
            assert twin == value, (path, value, twin)

    shown = {path: value for path, _, value, _ in figures}
    bought = sum(site.bought.values())
    expected = {
        "windows/hour/all/bought": bought,
        "windows/hour/all/coded": site.coded,
        "windows/hour/all/cancelled": site.cancelled,
        "activations/active": bought - site.cancelled,
        "intents/unknown": 0,
    }
    names = [tenant["name"] for tenant in overview["tenants"]]
    for tenant, count in site.bought.items():
        expected[f"tenants/{names.index(tenant)}/bought_hour"] = count
    assert {path: shown.get(path, "not on the page") for path in expected} == expected

    charts = cast(list[list[str]], browser.execute_script(READ_CHARTS))
    assert charts
    for series, points_shown in charts:
        assert series.startswith("charts/"), series
        points = resolve(overview, series)
        assert isinstance(points, list), series
        assert len(points) == int(points_shown or -1), series


def test_no_full_phone_anywhere(browser: webdriver.Chrome, site: Site) -> None:
    """The page, its fragment and its twin show phones masked, never whole (not even the
    national number SMSPVA knows them by)."""
    _login(browser, site)
    source = browser.page_source
    fragment = site.proxy.client.get(site.url + "/admin/fragment", headers=BEARER).text
    twin = json.dumps(site.overview())
    upstream = [str(order.phone) for emulator in (site.smspva.emulator, site.vaksms.emulator)
                for order in emulator.orders.values()]  # fmt: skip
    assert len(upstream) >= len(site.phones)
    for phone in [*site.phones, *upstream]:
        for text in (source, fragment, twin):
            assert phone not in text
    masked = {mask_phone(phone) for phone in site.phones}
    shown = {a["phone"] for a in site.overview()["activations"]["shown"]}
    assert shown and shown <= masked


def test_a_failing_provider_shows_without_a_reload(browser: webdriver.Chrome, site: Site) -> None:
    """SMSPVA fails purchases until its breaker opens (threshold 2): within a refresh, its
    card says so (or the attention box names it), the page itself never reloaded."""
    _login(browser, site)
    card = browser.execute_script("return document.getElementById('provider-smspva').className")
    assert "state-closed" in str(card).split()
    browser.execute_script("window.__notReloaded = true;")

    site.smspva.emulator.inject_error("number", status=503, times=10)
    for _ in range(2):
        answer = site.proxy.text("pva", action="getNumber", service="tg", country=0)
        assert not answer.startswith("ACCESS_NUMBER"), answer
    states = {p["name"]: p["state"] for p in site.overview()["providers"]}
    assert states["smspva"] == "open", states

    def failing() -> bool:
        return bool(browser.execute_script(FAILING_SHOWN))

    wait_for(failing, timeout=REFRESH_SECONDS + 2.0, what="smspva shown failing")
    assert browser.execute_script("return window.__notReloaded === true;")


FAILING_SHOWN = """
const card = document.getElementById('provider-smspva');
if (card && card.classList.contains('state-open')) return true;
return Array.from(document.querySelectorAll('[data-figure^="attention/"]'))
    .some(e => e.textContent.includes('smspva'));
"""


def _png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk (after checking the signature)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _viewport(browser: webdriver.Chrome, width: int, height: int) -> None:
    """A window whose page area (not the window) is width x height: the window's frame, as
    the browser reports it, is added."""
    frame = cast(list[int], browser.execute_script(
        "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]"
    ))  # fmt: skip
    browser.set_window_size(width + frame[0], height + frame[1])


def test_screenshots(browser: webdriver.Chrome, site: Site, artifacts: Path) -> None:
    """The whole page at desktop width and a phone's first screen, kept for a human."""
    _login(browser, site)
    whole, phone = artifacts / "admin.png", artifacts / "admin-phone.png"
    try:
        _viewport(browser, 1280, 800)
        height = int(browser.execute_script("return document.documentElement.scrollHeight"))
        _viewport(browser, 1280, height)
        assert browser.save_screenshot(str(whole))
        _viewport(browser, 390, 844)
        assert browser.save_screenshot(str(phone))
    finally:
        browser.set_window_size(1280, 2000)
    assert _png_size(whole) == (1280, height)
    assert _png_size(phone) == (390, 844)
    for path in (whole, phone):
        assert path.stat().st_size > 10_000, path  # a rendered page, not a blank image
