"""The shared emulator machinery (proxy/emulators/common.py), exercised through both emulators."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from proxy.emulators import EmulatorBase, OrderState, SmspvaEmulator, VaksmsEmulator
from proxy.serving import ThreadedServer

from .support import FakeClock, asgi_client, buy

BUY_ENDPOINT = {"smspva": "number", "vaksms": "getNumber"}
BUY_REQUEST = {
    "smspva": ("/activation/number/US/opt20", {}, {"apikey": "test-key"}),
    "vaksms": ("/api/getNumber/", {"apiKey": "test-key", "service": "tg"}, {}),
}


@pytest.fixture(name="emulator", params=["smspva", "vaksms"])
def emulator_fixture(
    request: pytest.FixtureRequest, smspva: SmspvaEmulator, vaksms: VaksmsEmulator
) -> EmulatorBase:
    return smspva if request.param == "smspva" else vaksms


@pytest.fixture(name="client")
async def client_fixture(emulator: EmulatorBase) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(emulator) as client:
        yield client


def make(kind: str, clock: FakeClock, **kwargs: object) -> EmulatorBase:
    cls = SmspvaEmulator if kind == "smspva" else VaksmsEmulator
    return cls(clock=clock, api_keys={"test-key": Decimal("1000")}, **kwargs)  # type: ignore[arg-type]


class TestCatalog:
    def test_smspva_catalog_copies_the_reference_lists(self) -> None:
        """SMSPVA sells its 247 activation services in its 75 countries; UK is ISO GB."""
        assert len(SmspvaEmulator.services) == 247
        assert len(SmspvaEmulator.country_iso) == 75
        assert SmspvaEmulator.services["opt131"] == "Apple"
        assert SmspvaEmulator.country_iso["UK"] == "GB"

    def test_vaksms_catalog_has_the_seed_tables(self) -> None:
        """VAK-SMS has seed 003's 280 services and 33 countries, each with its operators."""
        assert len(VaksmsEmulator.services) == 280
        assert len(VaksmsEmulator.country_iso) == 33
        assert VaksmsEmulator.services["dc"] == "Discord"
        assert "lifecell" in VaksmsEmulator.operators["ua"]
        assert "nordic telecom" in VaksmsEmulator.operators["cz"]

    def test_prices_are_deterministic_and_realistic(self, emulator: EmulatorBase) -> None:
        """Every pair has a stable hash-derived price inside the provider's range."""
        other = make(emulator.provider, FakeClock(), seed=99)
        low, high = emulator.price_range
        for service in list(emulator.services)[:40]:
            for country in list(emulator.country_iso)[:5]:
                price = emulator.price(service, country)
                assert low <= price <= high
                assert price == other.price(service, country)
                assert price == price.quantize(emulator.price_step)

    def test_stock_starts_at_default_and_can_be_set(self, emulator: EmulatorBase) -> None:
        """Each pair starts with default_stock; set_stock and set_all_stock change it."""
        service, country = next(iter(emulator.services)), next(iter(emulator.country_iso))
        assert emulator.stock(service, country) == 100
        emulator.set_stock(service, country, 3, price="1.5")
        assert (emulator.stock(service, country), emulator.price(service, country)) == (
            3,
            Decimal("1.5"),
        )
        emulator.set_all_stock(0)
        assert emulator.stock(service, country) == 0
        assert emulator.price(service, country) == Decimal("1.5")

    def test_unknown_pairs_are_rejected(self, emulator: EmulatorBase) -> None:
        """A typo in a knob fails loudly instead of configuring nothing."""
        with pytest.raises(KeyError):
            emulator.set_stock("nope", "XX", 1)
        with pytest.raises(ValueError, match="negative"):
            emulator.set_all_stock(-1)


class TestOrders:
    async def test_buying_charges_and_takes_stock(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """A purchase deducts the pair's price and one number of stock."""
        before = emulator.balances["test-key"]
        order_id = await buy(emulator, client)
        order = emulator.orders[order_id]
        assert emulator.balances["test-key"] == before - order.price
        assert emulator.stock(order.service, order.country) == 99
        assert order.state is OrderState.ACTIVE and order.messages == []

    @pytest.mark.parametrize("kind", ["smspva", "vaksms"])
    async def test_sms_arrives_lazily_after_sms_delay(self, kind: str, clock: FakeClock) -> None:
        """The first SMS is there sms_delay seconds after purchase, judged by the clock."""
        emulator = make(kind, clock, sms_delay=3.0)
        async with asgi_client(emulator) as client:
            order_id = await buy(emulator, client)
        clock.advance(2.9)
        assert emulator.orders[order_id].messages == []
        clock.advance(0.1)
        [message] = emulator.orders[order_id].messages
        assert message.code in message.text and message.at == clock.now

    @pytest.mark.parametrize("kind", ["smspva", "vaksms"])
    async def test_expiry_refunds_only_without_a_code(self, kind: str, clock: FakeClock) -> None:
        """At order_lifetime the order expires; the price comes back if no code came."""
        emulator = make(kind, clock, sms_delay=None, order_lifetime=100.0)
        async with asgi_client(emulator) as client:
            silent = await buy(emulator, client)
            answered = await buy(emulator, client)
        emulator.deliver_sms(answered)
        after_buying = emulator.balances["test-key"]
        clock.advance(100.0)
        orders = emulator.orders
        assert orders[silent].state is OrderState.EXPIRED and orders[silent].refunded
        assert orders[answered].state is OrderState.EXPIRED and not orders[answered].refunded
        assert emulator.balances["test-key"] == after_buying + orders[silent].price

    async def test_deliver_sms_makes_realistic_distinct_codes(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """Random codes have 4-6 digits, appear in their text, and never repeat on one order."""
        order_id = await buy(emulator, client)
        messages = [emulator.deliver_sms(order_id) for _ in range(30)]
        codes = [m.code for m in messages]
        assert len(set(codes)) == len(codes)
        assert all(c.isdigit() and 4 <= len(c) <= 6 for c in codes)
        assert all(m.code in m.text for m in messages)

    async def test_deliver_sms_takes_code_or_text(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """A given text yields its code; a given code gets a text around it."""
        order_id = await buy(emulator, client)
        assert emulator.deliver_sms(order_id, text="Use 55123 to log in").code == "55123"
        assert "9911" in emulator.deliver_sms(order_id, code="9911").text
        message = emulator.deliver_sms(order_id, code="1", text="t")
        assert (message.code, message.text) == ("1", "t")

    async def test_deliver_sms_refuses_closed_or_unknown_orders(
        self, emulator: EmulatorBase, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Only a live order can receive an SMS."""
        order_id = await buy(emulator, client)
        clock.advance(emulator.order_lifetime)
        with pytest.raises(ValueError, match="expired"):
            emulator.deliver_sms(order_id)
        with pytest.raises(KeyError):
            emulator.deliver_sms("no-such-order")

    @pytest.mark.parametrize("kind", ["smspva", "vaksms"])
    async def test_same_seed_gives_same_orders(self, kind: str, clock: FakeClock) -> None:
        """A seed makes order ids, phones and codes reproducible."""
        results = []
        for _ in range(2):
            emulator = make(kind, clock, sms_delay=None, seed=3)
            async with asgi_client(emulator) as client:
                order_id = await buy(emulator, client)
            code = emulator.deliver_sms(order_id).code
            results.append((order_id, emulator.orders[order_id].phone, code))
        assert results[0] == results[1]


class TestFaults:
    async def test_injected_error_touches_no_state(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """An injected answer replaces the call entirely: no sale, no charge; then normal again."""
        emulator.inject_error(BUY_ENDPOINT[emulator.provider], status=500, body={"x": 1}, times=2)
        path, params, headers = BUY_REQUEST[emulator.provider]
        for _ in range(2):
            response = await client.get(path, params=params, headers=headers)
            assert (response.status_code, response.json()) == (500, {"x": 1})
        assert emulator.orders == {}
        assert emulator.balances["test-key"] == Decimal("1000")
        assert emulator.requests[BUY_ENDPOINT[emulator.provider]] == 2
        await buy(emulator, client)
        assert len(emulator.orders) == 1

    async def test_injected_text_body_is_sent_as_text(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """A str body goes out verbatim, so tests can serve pages or garbage."""
        emulator.inject_error(BUY_ENDPOINT[emulator.provider], status=502, body="<html>bad gateway")
        path, params, headers = BUY_REQUEST[emulator.provider]
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 502
        assert response.text == "<html>bad gateway"
        assert response.headers["content-type"].startswith("text/html")

    def test_knobs_reject_unknown_endpoints(self, emulator: EmulatorBase) -> None:
        """Endpoint names are the provider's action words; anything else is a test bug."""
        with pytest.raises(ValueError, match="unknown"):
            emulator.inject_error("getStatus")
        with pytest.raises(ValueError, match="unknown"):
            emulator.stall("nope", 1.0)
        with pytest.raises(ValueError, match="times"):
            emulator.inject_error(BUY_ENDPOINT[emulator.provider], times=0)

    async def test_latency_delays_every_answer(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """`latency` seconds pass before any answer."""
        emulator.latency = 0.05
        started = time.monotonic()
        await buy(emulator, client)
        assert time.monotonic() - started >= 0.05

    @pytest.mark.parametrize("kind", ["smspva", "vaksms"])
    def test_stall_after_effect_sells_then_sleeps(self, kind: str, clock: FakeClock) -> None:
        """A client that times out on a stalled purchase still leaves a paid order behind."""
        emulator = make(kind, clock, sms_delay=None)
        emulator.stall(BUY_ENDPOINT[kind], 5.0)
        path, params, headers = BUY_REQUEST[kind]
        with ThreadedServer(emulator.app) as server:
            with pytest.raises(httpx.ReadTimeout):
                httpx.get(server.url + path, params=params, headers=headers, timeout=0.3)
            [order] = emulator.orders.values()
            assert emulator.balances["test-key"] == Decimal("1000") - order.price
            emulator.reset()  # wakes the stalled request so the server stops at once

    @pytest.mark.parametrize("kind", ["smspva", "vaksms"])
    def test_stall_before_effect_does_nothing_yet(self, kind: str, clock: FakeClock) -> None:
        """Stalled before its work, a request has changed nothing when the client gives up."""
        emulator = make(kind, clock, sms_delay=None)
        emulator.stall(BUY_ENDPOINT[kind], 0.5, after_effect=False)
        path, params, headers = BUY_REQUEST[kind]
        with ThreadedServer(emulator.app) as server:
            with pytest.raises(httpx.ReadTimeout):
                httpx.get(server.url + path, params=params, headers=headers, timeout=0.2)
            assert emulator.orders == {}
            response = httpx.get(server.url + path, params=params, headers=headers)
            assert response.status_code == 200  # the stall was used up by the first call
            # The first request wakes after its 0.5 s and does its work for nobody.
            deadline = time.monotonic() + 5.0
            while len(emulator.orders) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(emulator.orders) == 2


class TestCounters:
    async def test_requests_are_counted_per_endpoint_and_order(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """Tests count upstream polls with `requests` and `order_requests`."""
        order_id = await buy(smspva, pva)
        for _ in range(3):
            await pva.get(f"/activation/sms/{order_id}")
        await pva.get("/activation/sms/42")
        assert smspva.requests == {"number": 1, "sms": 4}
        assert smspva.order_requests[("sms", order_id)] == 3
        assert smspva.order_requests[("sms", "42")] == 1

    async def test_control_routes_are_not_counted(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """Only provider endpoints count; `/_emulator/` calls do not."""
        await client.post("/_emulator/latency", json={"seconds": 0})
        await client.get("/_emulator/stats")
        assert sum(emulator.requests.values()) == 0


class TestReset:
    async def test_reset_restores_the_initial_state(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """Balances, stock, orders, counters and knobs go back; counters stay the same objects."""
        requests = emulator.requests
        await buy(emulator, client)
        service, country = next(iter(emulator.services)), next(iter(emulator.country_iso))
        emulator.set_stock(service, country, 0, price=9)
        emulator.set_balance("other", 5)
        emulator.latency = 1.0
        emulator.inject_error(BUY_ENDPOINT[emulator.provider])
        emulator.reset()
        assert emulator.requests is requests and not requests
        assert emulator.orders == {} and not emulator.order_requests
        assert emulator.balances == {"test-key": Decimal("1000")}
        assert emulator.stock(service, country) == 100
        assert emulator.price(service, country) != Decimal(9)
        assert emulator.latency == 0.0
        await buy(emulator, client)
        assert len(emulator.orders) == 1


class TestControlRoutes:
    async def test_knobs_over_http(self, emulator: EmulatorBase, client: httpx.AsyncClient) -> None:
        """Every knob has a `POST /_emulator/<name>` twin for a separate emulator process."""
        service, country = next(iter(emulator.services)), next(iter(emulator.country_iso))
        endpoint = BUY_ENDPOINT[emulator.provider]
        calls: list[tuple[str, dict[str, object]]] = [
            ("stock", {"service": service, "country": country, "count": 2, "price": "1.25"}),
            ("balance", {"api_key": "other", "amount": "7.5"}),
            ("latency", {"seconds": 0.01}),
            ("error", {"endpoint": endpoint, "status": 500, "times": 2}),
            ("stall", {"endpoint": endpoint, "seconds": 0.01, "after_effect": False}),
        ]
        for name, payload in calls:
            response = await client.post(f"/_emulator/{name}", json=payload)
            assert (response.status_code, response.json()) == (200, {"ok": True})
        assert emulator.stock(service, country) == 2
        assert emulator.price(service, country) == Decimal("1.25")
        assert emulator.balances["other"] == Decimal("7.5")
        assert emulator.latency == 0.01
        await client.post("/_emulator/stock", json={"all": 4})
        assert emulator.stock(service, country) == 4

        path, params, headers = BUY_REQUEST[emulator.provider]
        statuses = [(await client.get(path, params=params, headers=headers)).status_code]
        statuses += [(await client.get(path, params=params, headers=headers)).status_code]
        statuses += [(await client.get(path, params=params, headers=headers)).status_code]
        assert statuses == [500, 500, 200]  # the stall waits behind the faults and then sells

    async def test_sms_stats_and_reset_over_http(
        self, emulator: EmulatorBase, client: httpx.AsyncClient
    ) -> None:
        """An SMS can be delivered, state read back as JSON, and everything reset."""
        order_id = await buy(emulator, client)
        response = await client.post("/_emulator/sms", json={"order_id": order_id, "code": "4321"})
        assert response.json()["code"] == "4321" and "4321" in response.json()["text"]
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["provider"] == emulator.provider
        assert stats["requests"] == {BUY_ENDPOINT[emulator.provider]: 1}
        [order] = stats["orders"]
        assert order["order_id"] == order_id and order["messages"][0]["code"] == "4321"
        assert stats["balances"]["test-key"] == str(
            Decimal("1000") - emulator.orders[order_id].price
        )
        await client.post("/_emulator/reset")
        assert emulator.orders == {}

    @pytest.mark.parametrize(
        ("route", "payload"),
        [
            ("stock", {"service": "nope", "country": "XX", "count": 1}),
            ("balance", {"api_key": "k"}),
            ("latency", {"seconds": -1}),
            ("error", {"endpoint": "nope"}),
            ("sms", {"order_id": "nope"}),
            ("balance", [1, 2]),
        ],
    )
    async def test_bad_control_input_is_400(
        self, client: httpx.AsyncClient, route: str, payload: object
    ) -> None:
        """A malformed knob call says what is wrong instead of half-applying."""
        response = await client.post(f"/_emulator/{route}", json=payload)
        assert response.status_code == 400
        assert "error" in response.json()
