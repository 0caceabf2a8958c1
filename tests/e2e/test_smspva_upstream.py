"""SMSPVA as its official SDK describes it: real stock, a country priced at once, operators in the
path, and the seed's forms where an SDK-only endpoint is missing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import structlog

from proxy.emulators import SmspvaEmulator
from proxy.serving import ThreadedServer
from tests.conftest import SMSPVA_KEY, Proxy, ProxyFactory, Upstream


def test_numbers_status_shows_smspvas_real_counts(proxy: Proxy, smspva: Upstream) -> None:
    """countnumbers/{country} replaces the assumed stock of 100 (issue 11, smspva-sdk)."""
    smspva.emulator.set_stock("opt29", "RU", 37)
    smspva.emulator.set_stock("opt20", "RU", 0)
    status = proxy.call("pva", action="getNumbersStatus", country=0).json()
    assert status["tg_0"] == 37
    assert status.get("wa_0", 0) == 0


def test_a_country_is_priced_in_two_requests(proxy: Proxy, smspva: Upstream) -> None:
    """serviceprice/{country} and countnumbers/{country}: one request each for every service."""
    smspva.emulator.set_stock("opt29", "RU", 5, price="0.42")
    prices = proxy.call("pva", action="getPrices", country=0).json()
    assert prices["0"]["tg"] == {"cost": 0.42, "count": 5}
    assert len(prices["0"]) > 50
    assert smspva.emulator.requests["serviceprice_country"] == 1
    assert smspva.emulator.requests["countnumbers"] == 1
    assert smspva.emulator.requests["serviceprice"] == 0


def test_operator_goes_in_the_path(proxy: Proxy, smspva: Upstream) -> None:
    """getNumber&operator=mts reaches /activation/number/RU/opt29/mts (smspva-sdk)."""
    assert "mts" in [o.lower() for o in smspva.emulator.operators("RU")]
    answer = proxy.text("pva", action="getNumber", service="tg", country=0, operator="mts")
    assert answer.startswith("ACCESS_NUMBER:"), answer
    order = max(smspva.emulator.orders.values(), key=lambda o: o.created)
    assert (order.operator or "").lower() == "mts"


MISSING = "<html><body>404 Not Found</body></html>"  # no route: not the API's JSON answer


def test_missing_sdk_endpoints_fall_back_to_the_seed(proxy: Proxy, smspva: Upstream) -> None:
    """Where the SDK-only listings fail, the seed's per-pair price and the assumed stock serve
    (logged), and an operator the path form cannot carry goes as `?operator=` (seeds/000:43)."""
    smspva.emulator.inject_error("serviceprice_country", status=404, body=MISSING, times=3)
    smspva.emulator.inject_error("countnumbers", status=404, body=MISSING, times=3)
    smspva.emulator.set_stock("opt29", "RU", 3, price="0.31")
    with structlog.testing.capture_logs() as logs:
        prices = proxy.call("pva", action="getPrices", service="tg", country=0).json()
    assert prices == {"0": {"tg": {"cost": 0.31, "count": 100}}}  # assumed_stock
    assert smspva.emulator.requests["serviceprice"] == 1
    assert {e.get("endpoint") for e in logs if e["event"] == "smspva_fallback"} == {
        "countnumbers/{country}"
    }
    smspva.emulator.inject_error("number", status=404, body=MISSING)
    with structlog.testing.capture_logs() as logs:
        answer = proxy.text("pva", action="getNumber", service="tg", country=0, operator="mts")
    assert answer.startswith("ACCESS_NUMBER:"), answer
    assert any(e.get("endpoint") == "number/{country}/{service}/{operator}" for e in logs)
    order = max(smspva.emulator.orders.values(), key=lambda o: o.created)
    assert (order.operator or "").lower() == "mts"


def test_a_seed_shaped_upstream_serves_the_whole_lifecycle(
    make_proxy: ProxyFactory, seed_smspva: Upstream
) -> None:
    """The older shapes of seeds/000 (202 without the error object, float balance) still work."""
    proxy = make_proxy(smspva_url=seed_smspva.url)
    activation_id, _ = proxy.buy("pva", "tg", 0)
    assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    order = max(seed_smspva.emulator.orders.values(), key=lambda o: o.created)
    seed_smspva.emulator.deliver_sms(order.order_id, code="4321")
    time.sleep(0.05)
    assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_OK:4321"
    assert proxy.text("pva", action="getBalance").startswith("ACCESS_BALANCE:")


@pytest.fixture(name="seed_smspva")
def fixture_seed_smspva() -> Iterator[Upstream]:
    """An SMSPVA that answers in the seed's shapes (seeds/000)."""
    emulator = SmspvaEmulator(api_keys={SMSPVA_KEY: Decimal("100")}, sms_delay=None, shapes="seed")
    with ThreadedServer(emulator.app) as server:
        yield Upstream(emulator, server.url)
