"""SMSPVA Rental API emulator (proxy/emulators/smspva_rent.py): fixtures, wire, life cycle.

The default shapes are smspva-sdk's (types.py); `shapes="seed"` keeps seeds/000's and 001's.
A fixture whose source is smspva-sdk is replayed against "sdk", every other one against "seed".
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.emulators import RentState, SmspvaEmulator
from proxy.emulators.common import load_data
from proxy.emulators.smspva_rent import (
    DAY,
    METHODS,
    ORDER_METHODS,
    RENT_ENDPOINTS,
    SERVICES,
    Shapes,
)
from proxy.serving import ThreadedServer

from .support import FakeClock, asgi_client
from .test_fixtures import json_type, load, strings_in

ROOT = Path(__file__).resolve().parents[2] / "protocol_fixtures" / "smspva_rent"
FIXTURES = sorted(ROOT.glob("*.json"))
KEY = {"apikey": "test-key"}
ORDER, PNUMBER = "123", "79096068511"  # the fixtures' placeholders (seeds/001's own examples)
MEANING_KEYS: dict[str, set[str]] = {
    "rent": {"kind", "order_id", "phone", "calling_code", "until"},
    "rent_orders": {"kind"},
    "rent_sms": {"kind", "texts"},
    "rent_history": {"kind"},
    "ok": {"kind"},
    "catalog": {"kind", "offers"},
    "refused": {"kind", "msg"},
}
SOURCE = re.compile(r"seeds/00[01]:\d+(-\d+)?|emulator: .+|smspva-sdk 0\.1\.0a2: .+")
NOT_EMULATED = {"restore_user_precalc", "restore_user"}
# SDK-only methods with no recorded exchange yet; tests/emulators/test_smspva_sdk.py drives them.
NO_FIXTURE_YET = {"getcount", "getCountWithProviders", "prolong_max"}
# Meanings computed from the answer rather than copied from it.
DERIVED_MEANINGS = {
    "phone": "ccode + pnumber (types.py RentalCreateResponseData)",
    "until": "expireAt read as UTC (seeds/000:183)",
    "offers": "count and price_day x days",
}
# Fixtures no shapes setting reproduces.
MISFITS = {
    "create_success": (
        "seeds/001:114-123's int `until`: the sdk shapes send it as a str (types.py "
        "RentalCreateResponseData), the seed shapes answer seeds/000:176-186's list"
    ),
}


# -- fixture states ---------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a setup may use: the emulator, its clock, and an HTTP client to its server."""

    emulator: SmspvaEmulator
    clock: FakeClock
    http: httpx.Client

    def call(self, method: str, **params: str) -> dict[str, Any]:
        """One rent.php call with the test key; its JSON."""
        answer = self.http.get("/api/rent.php", params={"method": method, **KEY, **params})
        result: dict[str, Any] = answer.json()
        return result


Setup = Callable[[Ctx], dict[str, str]]


def rented(
    service: str = "opt6",
    dtype: str = "week",
    age: float = 0.0,
    then: tuple[str, ...] = (),
) -> Setup:
    """A rental of `service`, `age` seconds old, after the given calls on it."""

    def setup(ctx: Ctx) -> dict[str, str]:
        data = ctx.call("create", dtype=dtype, dcount="1", country="RU", service=service)["data"]
        order_id, pnumber = created(data)
        ctx.clock.advance(age)
        for method in then:
            assert ctx.call(method, id=order_id)["status"] == 1
        return {ORDER: order_id, PNUMBER: pnumber}

    return setup


def created(data: Any) -> tuple[str, str]:
    """(order id, number with calling code) from either create shape."""
    if isinstance(data, list):  # seeds/000:176-186
        return str(data[0]["id"]), str(data[0]["number"])
    return str(data["id"]), data["ccode"].lstrip("+") + data["pnumber"]


def with_sms(ctx: Ctx) -> dict[str, str]:
    replacements = rented(service="opt16", then=("activate",))(ctx)
    ctx.clock.advance(ctx.emulator.rent.activation_delay)
    ctx.emulator.deliver_rent_sms(replacements[ORDER], "Code Instagram: 671 094.", "FACEBOOK")
    return replacements


def nothing(ctx: Ctx) -> dict[str, str]:
    return {}


def broke(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.set_balance("test-key", 0)
    return {}


def sold_out(ctx: Ctx) -> dict[str, str]:
    ctx.emulator.rent.set_stock("opt6", "RU", 0)
    return {}


HOUR = 3600.0
SETUPS: dict[str, Setup] = {
    "getcountries_success": nothing,
    "getdata_success": nothing,
    "getdata_sdk": nothing,
    "getdataWithProviders_sdk": nothing,
    "getdata_unknown_country": nothing,
    "create_success": nothing,
    "create_sdk": nothing,
    "create_seed000_list": nothing,
    "create_bad_key": nothing,
    "create_no_balance": broke,
    "create_no_numbers": sold_out,
    "create_unknown_service": nothing,
    "create_bad_dtype": nothing,
    "create_too_long": nothing,
    "orders_success": rented(service="opt16"),
    "add_service_to_order_success": rented(),
    "add_service_to_order_wrong_pnumber": rented(),
    "sms_success": with_sms,
    "sms_sdk": with_sms,
    "sms_order_not_found": nothing,
    "sms_expired": rented(age=7 * DAY),
    "prolong_success": rented(age=HOUR),
    "prolong_sdk": rented(age=HOUR),
    "prolong_too_early": rented(dtype="month"),
    "prolong_over_max": rented(age=HOUR),
    "activate_success": rented(),
    "activate_sdk": rented(),
    "activate_in_progress": rented(then=("activate",)),
    "activate_expired": rented(age=7 * DAY),
    "delete_success": rented(),
    "delete_order_not_found": nothing,
    "delete_deleted": rented(then=("delete",)),
    "get_rent_history_success": rented(then=("delete",)),
}


def assert_same_shape(expected: object, actual: object, where: str, catalog: bool) -> None:
    """Same keys and JSON types, recursively; a catalog list may hold more items than shown,
    and a catalog object keyed by data (operators) other keys, each value shaped alike."""
    assert json_type(actual) == json_type(expected), f"{where}: {actual!r} vs {expected!r}"
    if isinstance(expected, dict):
        assert isinstance(actual, dict)
        if catalog and expected and set(actual) != set(expected):
            prototype = next(iter(expected.values()))
            for key, value in actual.items():
                assert_same_shape(prototype, value, f"{where}.{key}", catalog)
            return
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} vs {sorted(expected)}"
        for key, value in expected.items():
            assert_same_shape(value, actual[key], f"{where}.{key}", catalog)
    elif isinstance(expected, list):
        assert isinstance(actual, list)
        assert catalog or len(actual) == len(expected), f"{where}: {actual!r}"
        assert bool(actual) == bool(expected), f"{where}: {actual!r}"
        for index, got in enumerate(actual):
            assert_same_shape(expected[0], got, f"{where}[{index}]", catalog)


@pytest.fixture(name="served", scope="module")
def served_fixture() -> Iterator[tuple[SmspvaEmulator, FakeClock, str]]:
    """One uvicorn server for the module, reset before each fixture."""
    clock = FakeClock()
    emulator = SmspvaEmulator(api_keys={"test-key": Decimal("1000")}, sms_delay=None, clock=clock)
    with ThreadedServer(emulator.app) as server:
        yield emulator, clock, server.url


def replayed(path: Path) -> Any:
    reason = MISFITS.get(path.stem)
    if reason is None:
        return path
    return pytest.param(path, marks=pytest.mark.xfail(reason=reason, strict=True))


def shapes_for(fixture: dict[str, Any]) -> Shapes:
    """The shapes a fixture was recorded from: the SDK's, or the seeds' and our own."""
    return "sdk" if fixture["source"].startswith("smspva-sdk") else "seed"


@pytest.mark.parametrize("path", [replayed(p) for p in FIXTURES], ids=lambda p: p.stem)
def test_emulator_answers_like_the_fixture(
    path: Path, served: tuple[SmspvaEmulator, FakeClock, str]
) -> None:
    """In the fixture's state, the emulator answers its request with its status and shape."""
    emulator, clock, url = served
    emulator.reset()
    fixture = load(path)
    emulator.shapes = shapes_for(fixture)
    request = fixture["request"]
    with httpx.Client(base_url=url) as http:
        real = SETUPS[path.stem](Ctx(emulator, clock, http))
        query = {name: real.get(value, value) for name, value in request["query"].items()}
        response = http.request(request["method"], request["path"], params=query)
    expected = fixture["response"]
    assert response.status_code == expected["status"], response.text
    catalog = fixture["meaning"]["kind"] == "catalog"
    assert_same_shape(expected["body"], response.json(), "$", catalog)
    if fixture["meaning"]["kind"] == "refused":
        assert response.json()["msg"] == fixture["meaning"]["msg"]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_is_well_formed(path: Path) -> None:
    """Fields, endpoint, source citation, and a meaning whose values are read off the answer."""
    fixture = load(path)
    assert list(fixture) == [
        "protocol",
        "endpoint",
        "title",
        "source",
        "request",
        "response",
        "meaning",
    ]
    assert fixture["protocol"] == "smspva_rent"
    assert f"rent:{fixture['endpoint']}" in SmspvaEmulator.endpoints
    assert path.stem.startswith(fixture["endpoint"] + "_")
    assert SOURCE.fullmatch(fixture["source"]), fixture["source"]
    request = fixture["request"]
    assert (request["method"], request["path"], request["headers"]) == ("GET", "/api/rent.php", {})
    assert request["query"]["method"] == fixture["endpoint"]
    body = fixture["response"]["body"]
    assert body["status"] == (0 if fixture["meaning"]["kind"] == "refused" else 1)
    meaning = fixture["meaning"]
    assert {"kind"} <= set(meaning) <= MEANING_KEYS[meaning["kind"]]
    wire = json.dumps(body, ensure_ascii=False)
    for key, value in meaning.items():
        if key != "kind" and key not in DERIVED_MEANINGS:
            for text in strings_in(value):
                assert text in wire, f"{key}={text!r} is not in the response"


def test_every_fixture_has_a_setup_and_every_setup_a_fixture() -> None:
    """The state table and the fixture files name the same exchanges."""
    assert {p.stem for p in FIXTURES} == set(SETUPS)


def test_fixtures_cover_every_emulated_method() -> None:
    """Each documented method the emulator implements has a recorded success."""
    succeeded = {load(p)["endpoint"] for p in FIXTURES if load(p)["meaning"]["kind"] != "refused"}
    assert succeeded == (METHODS | ORDER_METHODS) - NOT_EMULATED - NO_FIXTURE_YET


# -- wire format ------------------------------------------------------------------------------


@pytest.fixture(name="rent")
async def rent_fixture(smspva: SmspvaEmulator) -> AsyncIterator[Callable[..., Any]]:
    """Call rent.php with the test key: `await rent("create", dtype=...)` -> JSON."""
    async with asgi_client(smspva) as client:

        async def call(method: str, **params: str) -> Any:
            answer = await client.get("/api/rent.php", params={"method": method, **KEY, **params})
            assert answer.status_code == 200
            return answer.json()

        yield call


Rent = Callable[..., Any]


async def create(rent: Rent, dtype: str = "week", dcount: str = "1", service: str = "opt6") -> str:
    body = await rent("create", dtype=dtype, dcount=dcount, country="RU", service=service)
    assert body["status"] == 1, body
    return str(body["data"]["id"])


async def order_view(rent: Rent, order_id: str) -> dict[str, Any]:
    items = [o for o in (await rent("orders"))["data"] if str(o["id"]) == order_id]
    assert len(items) == 1
    result: dict[str, Any] = items[0]
    return result


def refused(body: dict[str, Any]) -> str:
    assert set(body) == {"status", "msg"} and body["status"] == 0, body
    return str(body["msg"])


class TestWire:
    async def test_create_charges_days_and_answers_until(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """types.py RentalCreateResponseData (seeds/001:114-123 with `until` a str); week = 7
        days, month = 30 days at price_day each."""
        smspva.rent.set_stock("opt16", "RU", 5, price_day="1.50")
        body = await rent("create", dtype="month", dcount="2", country="RU", service="opt16")
        data = body["data"]
        assert (data["ccode"], data["service"], len(data["pnumber"])) == ("+7", "opt16", 10)
        assert data["until"] == str(smspva.rent.unix(clock() + 60 * DAY))
        assert smspva.balances["test-key"] == Decimal("1000") - Decimal("90.00")
        assert smspva.rent.stock("opt16", "RU") == 4
        assert (await order_view(rent, str(data["id"])))["state"] == RentState.INACTIVE

    @pytest.mark.parametrize("path", ["/api/rent.php", "/api/rent.php/"])
    async def test_both_slash_spellings_and_no_key_for_the_catalog(
        self, smspva: SmspvaEmulator, path: str
    ) -> None:
        """seeds/001:63, 81: getcountries and getdata are called without apikey."""
        async with asgi_client(smspva) as client:
            countries = (await client.get(path, params={"method": "getcountries"})).json()
            data = (await client.get(path, params={"method": "getdata", "country": "PR"})).json()
        assert {"code": "RU", "name": "Россия"} in countries["data"]
        services = {item["service"] for item in data["data"]["services"]}
        assert services >= {"opt6", "opt16", "opt46", "opt89"}

    async def test_getdata_shows_stock_and_price(self, smspva: SmspvaEmulator, rent: Rent) -> None:
        """types.py RentalGetDataResponseData: services and their totalAmount."""
        smspva.rent.set_all_stock(0)
        smspva.rent.set_stock("opt46", "RU", 359, price_day=6)
        data = (await rent("getdata", country="RU"))["data"]
        items = {item["service"]: item for item in data["services"]}
        assert items["opt46"] == {
            "name": "Airbnb",
            "service": "opt46",
            "price_day": 6,
            "count": 359,
            "img": "",
            "procent_days": 0,
            "procent": 0,
            "day_step": 1,
        }
        assert data["totalAmount"] == 359

    async def test_counts_per_provider(self, smspva: SmspvaEmulator, rent: Rent) -> None:
        """getdataWithProviders, getcount and getCountWithProviders (types.py) agree with the
        stock, split over the country's operators."""
        smspva.rent.set_all_stock(0)
        smspva.rent.set_stock("opt29", "RU", 30, provider="beeline")
        smspva.rent.set_stock("opt29", "RU", 10, provider="MTS")
        data = (await rent("getdataWithProviders", country="RU"))["data"]
        [telegram] = [item for item in data["services"] if item["service"] == "opt29"]
        counts = {"mts": 10, "beeline": 30, "megafon": 0, "tele2": 0}
        assert (telegram["count"], telegram["totalCount"]) == (counts, 40)
        assert (data["totalAmount"], data["allOperators"]) == (40, list(counts))
        assert (await rent("getcount", country="RU"))["data"]["opt29"] == 40
        with_providers = (await rent("getCountWithProviders", country="RU"))["data"]
        assert with_providers["opt29"] == {"Amount": counts, "Total": 40}
        assert refused(await rent("getcount", country="XX")) == "Country not found"

    async def test_unknown_method_bad_key_and_other_accounts(
        self, smspva: SmspvaEmulator, rent: Rent
    ) -> None:
        """Refusals are {status: 0, msg} (seeds/001:53), counted under rent:<method>."""
        assert refused(await rent("nosuch")) == "Unknown method"
        assert refused(await rent("orders", apikey="wrong")) == "Wrong apikey"
        order_id = await create(rent)
        smspva.set_balance("other", 10)
        assert refused(await rent("sms", id=order_id, apikey="other")) == (
            "the user had not this order"
        )
        assert smspva.requests["rent:unknown"] == 1
        assert smspva.requests["rent:orders"] == 1
        assert smspva.order_requests[("rent:sms", order_id)] == 1

    async def test_injected_fault_uses_the_rent_shape(
        self, smspva: SmspvaEmulator, rent: Rent
    ) -> None:
        smspva.inject_error("rent:orders", status=200)
        assert refused(await rent("orders")).startswith("Service temporarily unavailable")
        assert (await rent("orders"))["status"] == 1
        assert "rent:create" in RENT_ENDPOINTS
        with pytest.raises(ValueError, match="unknown smspva endpoint"):
            smspva.inject_error("rent:nosuch")

    async def test_refusals_leave_balance_and_stock_alone(
        self, smspva: SmspvaEmulator, rent: Rent
    ) -> None:
        smspva.rent.set_stock("opt6", "RU", 1, price_day=10)
        smspva.set_balance("test-key", 69)
        week = {"dtype": "week", "dcount": "1", "country": "RU"}
        assert refused(await rent("create", **week, service="opt6")) == "Balance is not enough"
        assert refused(await rent("create", **week, service="opt0")) == "Service not found"
        too_long = {**week, "dcount": "13", "service": "opt6"}
        assert refused(await rent("create", **too_long)) == "Maximum rental period is 90 days"
        assert smspva.balances["test-key"] == 69 and smspva.rent.stock("opt6", "RU") == 1

    async def test_provider_sells_only_its_numbers(
        self, smspva: SmspvaEmulator, rent: Rent
    ) -> None:
        """seeds/000:168 and smspva-sdk rental.create: `provider` picks the operator."""
        smspva.rent.set_stock("opt29", "RU", 1, provider="tele2")
        week = {"dtype": "week", "dcount": "1", "country": "RU", "service": "opt29"}
        body = await rent("create", **week, provider="Tele2")
        order = smspva.rent.orders[str(body["data"]["id"])]
        assert (order.provider, smspva.rent.stock("opt29", "RU", "tele2")) == ("tele2", 0)
        assert smspva.rent.stock("opt29", "RU") == 75  # the other three keep 25 each
        assert refused(await rent("create", **week, provider="tele2")) == "No free numbers"
        assert refused(await rent("create", **week, provider="verizon")) == "Provider not found"
        await rent("delete", id=order.order_id)
        assert smspva.rent.stock("opt29", "RU", "tele2") == 1
        unasked = await rent("create", **week)
        assert smspva.rent.orders[str(unasked["data"]["id"])].provider == "mts"  # the fullest

    @pytest.mark.parametrize("method", sorted(NOT_EMULATED))
    async def test_restore_is_refused_as_not_emulated(self, rent: Rent, method: str) -> None:
        order_id = await create(rent)
        assert refused(await rent(method, id=order_id)).startswith("Not emulated")

    async def test_reset_forgets_rentals(self, smspva: SmspvaEmulator, rent: Rent) -> None:
        await create(rent)
        smspva.reset()
        assert smspva.rent.orders == {} and (await rent("orders"))["data"] == []


# -- life cycle -------------------------------------------------------------------------------


class TestActivation:
    async def test_state_goes_0_2_1_0(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """seeds/001:140-144, 39-40: activation takes time, then a window of activity."""
        order_id = await create(rent)
        start = clock()
        assert (await rent("activate", id=order_id))["data"] == [{"id": int(order_id)}]
        assert (await order_view(rent, order_id))["state"] == 2
        assert refused(await rent("activate", id=order_id)) == (
            "The number is already being activated"
        )
        clock.advance(smspva.rent.activation_delay)
        view = await order_view(rent, order_id)
        assert (view["state"], view["lastonline"]) == (1, smspva.rent.unix(clock()))
        assert refused(await rent("activate", id=order_id)) == "The number is already active"
        clock.advance(smspva.rent.active_window)
        view = await order_view(rent, order_id)
        assert view["state"] == 0
        assert view["lastonline"] == smspva.rent.unix(clock())
        assert (await rent("activate", id=order_id))["status"] == 1  # again, for the next SMS
        assert (await order_view(rent, order_id))["lastonline"] == smspva.rent.unix(clock())
        assert clock() - start == smspva.rent.activation_delay + smspva.rent.active_window

    async def test_sms_only_while_active(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """seeds/001:54: activate and wait for the state before sending SMS."""
        order_id = await create(rent)
        with pytest.raises(ValueError, match="state 0"):
            smspva.deliver_rent_sms(order_id)
        await rent("activate", id=order_id)
        with pytest.raises(ValueError, match="state 2"):
            smspva.deliver_rent_sms(order_id)
        clock.advance(smspva.rent.activation_delay)
        message = smspva.deliver_rent_sms(order_id)
        assert re.search(r"\d{6}", message.text) and message.sender == "FIVERR"  # opt6
        clock.advance(smspva.rent.active_window)
        with pytest.raises(ValueError, match="state 0"):
            smspva.deliver_rent_sms(order_id)

    async def test_hasnewsms_until_read(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        order_id = await create(rent)
        await rent("activate", id=order_id)
        clock.advance(smspva.rent.activation_delay)
        assert (await rent("sms", id=order_id))["data"] == {"SmsList": [], "OtherSms": []}
        smspva.deliver_rent_sms(order_id, "Code 1", "ACME")
        assert (await order_view(rent, order_id))["hasnewsms"] is True
        first = (await rent("sms", id=order_id))["data"]["SmsList"]
        assert first == [{"text": "Code 1", "sender": "ACME", "date": smspva.rent.unix(clock())}]
        assert (await order_view(rent, order_id))["hasnewsms"] is False
        clock.advance(60)
        smspva.deliver_rent_sms(order_id, "Code 2")
        assert (await order_view(rent, order_id))["hasnewsms"] is True
        texts = [sms["text"] for sms in (await rent("sms", id=order_id))["data"]["SmsList"]]
        assert texts == ["Code 1", "Code 2"]

    async def test_timing_knobs_over_http(self, smspva: SmspvaEmulator, clock: FakeClock) -> None:
        """POST /_emulator/rent/{timing,stock,sms} mirror the Python knobs."""
        async with asgi_client(smspva) as client:
            timing = {"activation_delay": 0, "active_window": 60}
            assert (await client.post("/_emulator/rent/timing", json=timing)).status_code == 200
            stock = {"service": "opt6", "country": "RU", "count": 3, "price_day": 2}
            assert (await client.post("/_emulator/rent/stock", json=stock)).status_code == 200
            params = {"method": "create", **KEY, "dtype": "week", "dcount": "1"}
            params |= {"country": "RU", "service": "opt6"}
            order_id = str((await client.get("/api/rent.php", params=params)).json()["data"]["id"])
            await client.get("/api/rent.php", params={"method": "activate", **KEY, "id": order_id})
            sms = {"order_id": order_id, "text": "Code 42"}
            answer = (await client.post("/_emulator/rent/sms", json=sms)).json()
            clock.advance(60)
            late = await client.post("/_emulator/rent/sms", json=sms)
        assert answer["text"] == "Code 42" and smspva.rent.stock("opt6", "RU") == 2
        assert late.status_code == 400


class TestProlong:
    async def test_only_in_the_last_seven_days(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """seeds/001:25-27; canprolong says so, and prolong adds the period and charges it."""
        smspva.rent.set_stock("opt6", "RU", 5, price_day=1)
        order_id = await create(rent, dtype="month")
        view = await order_view(rent, order_id)
        assert view["canprolong"] is False
        msg = "Prolongation is possible when less than 7 days left"
        assert refused(await rent("prolong", id=order_id, dtype="week", dcount="1")) == msg
        clock.advance(23 * DAY + 1)
        assert (await order_view(rent, order_id))["canprolong"] is True
        before = smspva.balances["test-key"]
        body = await rent("prolong", id=order_id, dtype="week", dcount="2")
        assert body == {"status": 1}  # types.py RentalProlongResponse
        assert (await order_view(rent, order_id))["until"] == view["until"] + 14 * 86_400
        assert smspva.balances["test-key"] == before - 14

    async def test_ninety_day_cap(self, rent: Rent, clock: FakeClock) -> None:
        """seeds/001:29-31: canprolongmax/canprolonguntil stop at now + 90 days."""
        order_id = await create(rent)
        clock.advance(DAY)
        view = await order_view(rent, order_id)
        assert view["canprolongmax"] == 84
        assert view["canprolonguntil"] == view["until"] + 84 * 86_400
        msg = "Maximum rental period is 90 days: 84 days can be added"
        assert refused(await rent("prolong", id=order_id, dtype="week", dcount="13")) == msg
        assert (await rent("prolong", id=order_id, dtype="week", dcount="12"))["status"] == 1
        view = await order_view(rent, order_id)
        assert (view["canprolong"], view["canprolongmax"]) == (False, 0)

    async def test_prolong_max_takes_days(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """smspva-sdk rental.prolongByDays (method prolong_max): dtype day as well."""
        smspva.rent.set_stock("opt6", "RU", 5, price_day=1)
        order_id = await create(rent)
        clock.advance(DAY)
        until = (await order_view(rent, order_id))["until"]
        assert await rent("prolong_max", id=order_id, dtype="day", dcount="5") == {"status": 1}
        assert (await order_view(rent, order_id))["until"] == until + 5 * 86_400
        assert refused(await rent("prolong", id=order_id, dtype="day", dcount="5")) == (
            "Wrong dtype: week or month"
        )

    async def test_prolong_charges_every_service_on_the_order(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """add_service_to_order (seeds/001:158-173) pays the rest of the period, then prolongs."""
        smspva.rent.set_stock("opt6", "RU", 5, price_day=1)
        smspva.rent.set_stock("opt89", "RU", 5, price_day=2)
        order_id = await create(rent)
        pnumber = "7" + smspva.rent.orders[order_id].phone
        clock.advance(DAY / 2)
        added = await rent("add_service_to_order", id=order_id, service="opt89", pnumber=pnumber)
        assert added == {"status": 1}
        assert smspva.balances["test-key"] == 1000 - 7 - 2 * 7
        again = await rent("add_service_to_order", id=order_id, service="opt89", pnumber=pnumber)
        assert refused(again) == "The service is already in this order"
        await rent("prolong", id=order_id, dtype="week", dcount="1")
        assert smspva.balances["test-key"] == 1000 - 21 - (1 + 2) * 7


class TestEnd:
    async def test_delete_refunds_only_an_unused_number(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """seeds/001:42-44: no refund once an SMS came; the number goes back to stock."""
        unused, used = await create(rent), await create(rent)
        await rent("activate", id=used)
        clock.advance(smspva.rent.activation_delay)
        smspva.deliver_rent_sms(used)
        spent, stock = smspva.balances["test-key"], smspva.rent.stock("opt6", "RU")
        for order_id in (unused, used):
            assert (await rent("delete", id=order_id))["data"] == {"id": int(order_id)}
        orders = smspva.rent.orders
        assert smspva.balances["test-key"] == spent + orders[unused].paid
        assert (orders[unused].refunded, orders[used].refunded) == (True, False)
        assert smspva.rent.stock("opt6", "RU") == stock + 2
        assert (await rent("orders"))["data"] == []
        assert refused(await rent("sms", id=used)) == "Order is deleted"

    async def test_expired_orders_leave_the_list(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        order_id = await create(rent)
        await rent("activate", id=order_id)
        clock.advance(7 * DAY - 1)
        assert len((await rent("orders"))["data"]) == 1
        clock.advance(1)
        assert (await rent("orders"))["data"] == []
        for method in ("sms", "activate", "prolong", "delete"):
            params = {"dtype": "week", "dcount": "1"} if method == "prolong" else {}
            assert refused(await rent(method, id=order_id, **params)) == "Order is expired"
        with pytest.raises(ValueError):
            smspva.deliver_rent_sms(order_id)
        assert not smspva.rent.orders[order_id].refunded

    async def test_history_lists_ended_orders_newest_first(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """seeds/001:256-271: skip/take paging over the archive."""
        expired, deleted, later = await create(rent), await create(rent), await create(rent)
        await rent("delete", id=deleted)
        clock.advance(7 * DAY)
        ids = [item["orderId"] for item in (await rent("get_rent_history"))["data"]]
        assert ids == [int(later), int(expired), int(deleted)]
        page = (await rent("get_rent_history", skip="1", take="1"))["data"]
        order = smspva.rent.orders[expired]
        assert page == [
            {
                "orderId": int(expired),
                "resourceCode": "opt6",
                "number": "7" + order.phone,
                "branchId": 1,
                "haveSms": False,
                "days": 7,
                "country": "RU",
                "begin": smspva.rent.unix(order.created),
                "end": smspva.rent.unix(order.until),
                "closed": smspva.rent.unix(order.until),
                "isAvailForRestore": False,  # types.py; seed shapes leave it out
            }
        ]
        assert refused(await rent("get_rent_history", take="x")) == "Wrong skip or take"


# -- seed shapes and catalog ------------------------------------------------------------------


class TestSeedShapes:
    async def test_create_is_seed_000s_list(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """seeds/000:176-186: [{id, number with calling code, expireAt}], the date in UTC."""
        smspva.shapes = "seed"
        body = await rent("create", dtype="week", dcount="1", country="US", service="opt131")
        [item] = body["data"]
        order = smspva.rent.orders[str(item["id"])]
        expire = datetime.fromtimestamp(smspva.rent.unix(clock() + 7 * DAY), UTC)
        assert item == {
            "id": int(order.order_id),
            "number": "1" + order.phone,
            "expireAt": expire.strftime("%Y-%m-%d %H:%M:%S"),
        }

    async def test_lists_and_ids_as_seed_001_shows(
        self, smspva: SmspvaEmulator, rent: Rent, clock: FakeClock
    ) -> None:
        """seeds/001: getdata and sms are bare lists; activate and prolong answer {id}."""
        smspva.shapes = "seed"
        assert isinstance((await rent("getdata", country="RU"))["data"], list)
        [item] = (await rent("create", dtype="week", dcount="1", country="RU", service="opt6"))[
            "data"
        ]
        order_id = str(item["id"])
        assert (await rent("activate", id=order_id))["data"] == {"id": int(order_id)}
        clock.advance(smspva.rent.activation_delay)
        smspva.deliver_rent_sms(order_id, "Code 5", "ACME")
        [sms] = (await rent("sms", id=order_id))["data"]
        assert (sms["text"], sms["sender"]) == ("Code 5", "ACME")
        clock.advance(HOUR)
        body = await rent("prolong", id=order_id, dtype="week", dcount="1")
        assert body == {"status": 1, "data": {"id": int(order_id)}}


def test_rental_services_are_activation_codes() -> None:
    """SPEC-NOTES "Turn 2": rentals use the activation numbering (Telegram is opt29); each row
    names its source, none is "illustrative"."""
    rows = load_data("smspva_rent_services.json")
    activation = {s["code"]: s["name"] for s in load_data("smspva_services.json")}
    assert all(row["source"] and "illustrative" not in row["source"] for row in rows)
    assert {row["code"]: activation[row["code"]] for row in rows} == SERVICES
    assert (SERVICES["opt29"], SERVICES["opt131"], SERVICES["opt46"]) == (
        "Telegram",
        "Apple",
        "Airbnb",
    )
    assert "opt11" not in SERVICES  # Viber in SMSPVA's list, once taken for Telegram here
