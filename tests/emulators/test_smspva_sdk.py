"""smspva-sdk 0.1.0a2, SMSPVA's official client, driven unchanged against the emulator over HTTP.

The SDK is the newer official source beside the seeds (SPEC-NOTES "Turn 2"). Its public methods,
sync (`smspva.SMSPVA`) and async (`smspva.AsyncSMSPVA`), run against the emulator served by
uvicorn on loopback, both base URLs pointed there; each answer must pass the SDK's own parsing
(`_transport.parse_response`) and match its TypedDicts (`smspva/types.py`) field by field. A
last part runs against `shapes="seed"` to show which calls the seed's shapes break.
"""

from __future__ import annotations

import inspect
import time
import types
from collections.abc import AsyncIterator, Awaitable, Iterator
from decimal import Decimal
from typing import (
    Any,
    Literal,
    NotRequired,
    Required,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

import pytest
import smspva
from smspva import types as T

from proxy.emulators import OrderState, SmspvaEmulator
from proxy.serving import ThreadedServer

from .support import FakeClock

KEY = "sdk-key"
HOUR = 3600.0
R = TypeVar("R")
Client = smspva.SMSPVA | smspva.AsyncSMSPVA


async def settle(result: R | Awaitable[R]) -> R:
    """A sync call's result as is, an async call's awaited: one test body drives both clients."""
    if inspect.isawaitable(result):
        return cast(R, await result)
    return result


def arrived(result: T.ActivationReceiveSmsResponseResult) -> T.ActivationReceiveSmsResponse:
    """receive_sms's answer once an SMS is there (not the pending body)."""
    assert not smspva.is_pending(result), result
    return result


def mismatches(value: object, hint: Any, where: str = "$", strict: bool = True) -> list[str]:
    """Where `value` breaks the SDK's type `hint` (smspva/types.py); empty when it conforms.

    `strict`: keys a TypedDict does not declare count as mismatches too.
    """
    origin = get_origin(hint)
    if hint is Any:
        return []
    if origin in (Required, NotRequired):
        return mismatches(value, get_args(hint)[0], where, strict)
    if is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object ({hint.__name__})"]
        fields = get_type_hints(hint, include_extras=True)
        found = [f"{where}.{k}: missing" for k in hint.__required_keys__ if k not in value]
        for key, item in value.items():
            if key in fields:
                found += mismatches(item, fields[key], f"{where}.{key}", strict)
            elif strict:
                found.append(f"{where}.{key}: not in {hint.__name__}")
        return found
    if origin in (Union, types.UnionType):
        options = [mismatches(value, arg, where, strict) for arg in get_args(hint)]
        return [] if any(not o for o in options) else [f"{where}: {value!r} fits no {hint}"]
    if origin is Literal:
        allowed = get_args(hint)
        ok = any(value == a and type(value) is type(a) for a in allowed)
        return [] if ok else [f"{where}: {value!r} is not one of {allowed}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        (item_hint,) = get_args(hint)
        return [p for i, v in enumerate(value) for p in mismatches(v, item_hint, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        _, value_hint = get_args(hint)
        return [p for k, v in value.items() for p in mismatches(v, value_hint, f"{where}.{k}")]
    accepted = {float: (int, float), int: (int,), str: (str,), bool: (bool,)}[hint]
    if (isinstance(value, bool) and hint is not bool) or not isinstance(value, accepted):
        return [f"{where}: {value!r} is not {hint.__name__}"]
    return []


def conforms(value: object, hint: Any, strict: bool = True) -> object:
    """`value`, after asserting it matches the SDK's type."""
    problems = mismatches(value, hint, strict=strict)
    assert not problems, "\n".join(problems[:10])
    return value


@pytest.fixture(name="served", scope="module")
def served_fixture() -> Iterator[tuple[SmspvaEmulator, FakeClock, str]]:
    """One emulator on a loopback port for the module; a hand-driven clock for rental timing."""
    clock = FakeClock()
    emulator = SmspvaEmulator(api_keys={KEY: Decimal("1000")}, sms_delay=None, seed=5, clock=clock)
    with ThreadedServer(emulator.app) as server:
        yield emulator, clock, server.url


@pytest.fixture(name="emulator")
def emulator_fixture(served: tuple[SmspvaEmulator, FakeClock, str]) -> SmspvaEmulator:
    emulator = served[0]
    emulator.reset()
    emulator.shapes = "sdk"
    emulator.rate_limit = None  # the clock is frozen: every call would fall in one second
    return emulator


@pytest.fixture(name="clock")
def clock_fixture(served: tuple[SmspvaEmulator, FakeClock, str]) -> FakeClock:
    return served[1]


@pytest.fixture(name="client", params=["sync", "async"])
async def client_fixture(
    request: pytest.FixtureRequest,
    served: tuple[SmspvaEmulator, FakeClock, str],
    emulator: SmspvaEmulator,
) -> AsyncIterator[Client]:
    """The SDK's own client, sync or async, with both base URLs on the emulator."""
    url = served[2]
    if request.param == "sync":
        with smspva.SMSPVA(KEY, activation_base_url=url, rental_base_url=url, timeout=10) as sync:
            yield sync
    else:
        async with smspva.AsyncSMSPVA(
            KEY, activation_base_url=url, rental_base_url=url, timeout=10
        ) as asynchronous:
            yield asynchronous


class TestActivation:
    async def test_balance_and_user_info(self, client: Client, emulator: SmspvaEmulator) -> None:
        """types.py: the balance is a string."""
        emulator.set_balance(KEY, "10.5")
        balance = await settle(client.activation.get_balance())
        assert conforms(balance, T.ActivationGetBalanceResponse) == {
            "statusCode": 200,
            "data": {"balance": "10.50"},
        }
        info = await settle(client.activation.get_user_info())
        conforms(info, T.ActivationGetUserInfoResponse)
        assert info["data"]["balance"] == "10.50"

    async def test_operators_counts_and_prices(
        self, client: Client, emulator: SmspvaEmulator
    ) -> None:
        """Operators, number counts and the three price lists, consistent with the stock."""
        operators = await settle(client.activation.get_operators(country="US"))
        conforms(operators, T.ActivationGetOperatorsResponse)
        assert operators["data"] == {"country": "US", "operators": ["tmobile", "verizon"]}

        emulator.set_all_stock(0)
        emulator.set_stock("opt131", "US", 12, price="0.5", operator="tmobile")
        emulator.set_stock("opt131", "US", 5, operator="verizon")
        counts = await settle(client.activation.get_country_number_counts(country="US"))
        conforms(counts, T.ActivationGetCountryNumberCountsResponse)
        assert counts["data"] == [
            {
                "operator": "tmobile",
                "country": "US",
                "services": [{"service": "opt131", "total": 12}],
            },
            {
                "operator": "verizon",
                "country": "US",
                "services": [{"service": "opt131", "total": 5}],
            },
        ]
        every = await settle(client.activation.get_all_number_counts())
        conforms(every, T.ActivationGetAllNumberCountsResponse)
        assert [item for item in every["data"] if item["services"]] == counts["data"]

        price = await settle(client.activation.get_service_price(country="US", service="opt131"))
        conforms(price, T.ActivationGetServicePriceResponse)
        assert price["data"]["price"] == "0.50"
        assert price["data"]["priceByOperators"] == {"tmobile": "0.50", "verizon": "0.50"}
        country = await settle(client.activation.get_country_operator_prices(country="US"))
        conforms(country, T.ActivationGetCountryOperatorPricesResponse)
        assert len(country["data"]) == len(emulator.services)
        service = await settle(client.activation.get_service_prices(service="opt131"))
        conforms(service, T.ActivationGetServicePricesResponse)
        [us] = [c for c in service["data"]["clist"] if c["ccode"] == "US"]
        assert us["opers"] == [
            {"opcode": "tmobile", "price": 0.5, "count": 12},
            {"opcode": "verizon", "price": 0.5, "count": 5},
        ]
        all_prices = await settle(client.activation.get_all_service_prices())
        conforms(all_prices, T.ActivationGetAllServicePricesResponse)
        assert len(all_prices["data"]) == len(emulator.services) * len(emulator.country_iso)

    async def test_number_sms_clear_second_sms_and_stop(
        self, client: Client, emulator: SmspvaEmulator
    ) -> None:
        """Buy, poll while waiting (the pending body, not an error), receive, clear, receive a
        second code, list, look the number up, stop."""
        bought = await settle(client.activation.get_number(country="US", service="opt20"))
        conforms(bought, T.ActivationGetNumberResponse)
        order_id = bought["data"]["orderId"]
        waiting = await settle(client.activation.receive_sms(orderid=order_id))
        assert smspva.is_pending(waiting)
        conforms(waiting, T.ActivationPending, strict=False)  # it also carries data (ours)

        emulator.deliver_sms(str(order_id), code="1234", text="Your code is 1234")
        received = arrived(await settle(client.activation.receive_sms(orderid=order_id)))
        conforms(received, T.ActivationReceiveSmsResponse)
        assert received["data"]["sms"] == {"code": "1234", "fullText": "Your code is 1234"}

        cleared = await settle(client.activation.clear_sms(orderid=order_id))
        conforms(cleared, T.ActivationClearSmsResponse)
        assert smspva.is_pending(await settle(client.activation.receive_sms(orderid=order_id)))
        emulator.deliver_sms(str(order_id), code="5678")
        again = arrived(await settle(client.activation.receive_sms(orderid=order_id)))
        assert again["data"]["sms"]["code"] == "5678"

        orders = await settle(client.activation.get_orders())
        conforms(orders, T.ActivationGetOrdersResponse)
        [item] = orders["data"]["orders"]
        assert (item["orderId"], item["sms"]["code"]) == (order_id, "5678")
        phone = str(bought["data"]["phoneNumber"])
        status = await settle(client.activation.get_number_status(number=phone, service="opt20"))
        conforms(status, T.ActivationGetNumberStatusResponse)
        assert status["data"] == {"number": phone, "orderId": order_id, "countryCode": "US"}

        stopped = await settle(client.activation.stop_sms(orderid=order_id))
        conforms(stopped, T.ActivationStopSmsResponse)
        assert emulator.orders[str(order_id)].state is OrderState.FINISHED
        assert (await settle(client.activation.get_orders()))["data"]["orders"] == []

    async def test_by_operator_cancel_and_block(
        self, client: Client, emulator: SmspvaEmulator
    ) -> None:
        """get_number_by_operator sells that operator's number; cancel refunds; block closes."""
        bought = await settle(
            client.activation.get_number_by_operator(
                country="US", service="opt20", operator="verizon"
            )
        )
        conforms(bought, T.ActivationGetNumberByOperatorResponse)
        order_id = bought["data"]["orderId"]
        assert emulator.orders[str(order_id)].operator == "verizon"
        cancelled = await settle(client.activation.cancel_order(orderid=order_id))
        conforms(cancelled, T.ActivationCancelOrderResponse)
        assert emulator.orders[str(order_id)].refunded
        assert emulator.balances[KEY] == Decimal("1000")

        other = (await settle(client.activation.get_number(country="UK", service="opt29")))["data"]
        blocked = await settle(client.activation.block_number(orderid=other["orderId"]))
        assert conforms(blocked, T.ActivationBlockNumberResponse) == {
            "statusCode": 200,
            "data": {"orderId": other["orderId"]},
        }
        assert emulator.orders[str(other["orderId"])].state is OrderState.BLOCKED

    async def test_wait_for_sms_returns_a_code_already_there(
        self, client: Client, emulator: SmspvaEmulator
    ) -> None:
        """The SDK's polling helper stops at the first answer that is not pending."""
        bought = (await settle(client.activation.get_number(country="US", service="opt1")))["data"]
        emulator.deliver_sms(str(bought["orderId"]), code="4242")
        expires_at = time.time() + bought["orderExpireIn"]
        result = await settle(
            client.activation.wait_for_sms(orderid=bought["orderId"], expires_at=expires_at)
        )
        assert result["data"]["sms"]["code"] == "4242"

    async def test_refusals_are_api_errors_with_the_error_type(
        self, client: Client, emulator: SmspvaEmulator
    ) -> None:
        """The SDK reads error.type into ApiError.code and keeps the HTTP status."""
        with pytest.raises(smspva.ApiError) as unknown:
            await settle(
                client.activation.get_number_by_operator(
                    country="US", service="opt20", operator="mts"
                )
            )
        assert (unknown.value.http_status, unknown.value.code) == (405, "BAD_REQUEST")
        emulator.set_stock("opt20", "US", 0, operator="verizon")
        with pytest.raises(smspva.ApiError) as sold_out:
            await settle(
                client.activation.get_number_by_operator(
                    country="US", service="opt20", operator="verizon"
                )
            )
        assert (sold_out.value.http_status, sold_out.value.code) == (407, "NO_NUMBERS")
        with pytest.raises(smspva.ApiError) as missing:
            await settle(client.activation.receive_sms(orderid=1))
        assert (missing.value.http_status, missing.value.code) == (404, "ORDER_NOT_FOUND")


class TestRental:
    async def test_catalog(self, client: Client, emulator: SmspvaEmulator) -> None:
        """Countries, services with counts and per-provider counts, all consistent."""
        emulator.rent.set_all_stock(0)
        emulator.rent.set_stock("opt29", "RU", 30, price_day="0.5", provider="beeline")
        countries = await settle(client.rental.get_countries())
        conforms(countries, T.RentalGetCountriesResponse)
        assert {"name": "Россия", "code": "RU"} in countries["data"]
        data = await settle(client.rental.get_data(country="RU", dtype="week", dcount=1))
        conforms(data, T.RentalGetDataResponse)
        [telegram] = [s for s in data["data"]["services"] if s["service"] == "opt29"]
        assert (telegram["count"], telegram["price_day"], data["data"]["totalAmount"]) == (
            30,
            0.5,
            30,
        )
        providers = await settle(client.rental.get_data_with_providers(country="RU"))
        conforms(providers, T.RentalGetDataWithProvidersResponse)
        [offer] = [s for s in providers["data"]["services"] if s["service"] == "opt29"]
        assert offer["count"] == {"mts": 0, "beeline": 30, "megafon": 0, "tele2": 0}
        count = await settle(client.rental.get_count(country="RU"))
        conforms(count, T.RentalGetCountResponse)
        assert cast(dict[str, int], count["data"])["opt29"] == 30
        by_provider = await settle(client.rental.get_count_with_providers(country="RU"))
        conforms(by_provider, T.RentalGetCountWithProvidersResponse)
        assert by_provider["data"]["opt29"]["Total"] == 30

    async def test_rent_activate_sms_prolong_delete(
        self, client: Client, emulator: SmspvaEmulator, clock: FakeClock
    ) -> None:
        """A rental's life through the SDK: create (with and without provider), orders,
        activate, SMS, prolong (by weeks and by days), delete, history."""
        created = await settle(
            client.rental.create(dtype="week", dcount=1, country="RU", service="opt29")
        )
        conforms(created, T.RentalCreateResponse)
        data = created["data"]
        assert data["until"] == str(emulator.rent.unix(clock() + 7 * 86_400))
        order_id = data["id"]
        chosen = await settle(
            client.rental.create(
                dtype="week", dcount=1, country="RU", service="opt29", provider="beeline"
            )
        )
        assert emulator.rent.orders[str(chosen["data"]["id"])].provider == "beeline"

        orders = await settle(client.rental.get_orders())
        conforms(orders, T.RentalGetOrdersResponse)
        assert {o["id"] for o in orders["data"]} == {order_id, chosen["data"]["id"]}
        deleted = await settle(client.rental.delete_order(id=chosen["data"]["id"]))
        assert conforms(deleted, T.RentalDeleteOrderResponse) == {
            "status": 1,
            "data": {"id": chosen["data"]["id"]},
        }
        activated = await settle(client.rental.activate(id=order_id))
        assert conforms(activated, T.RentalActivateResponse) == {
            "status": 1,
            "data": [{"id": order_id}],
        }
        clock.advance(emulator.rent.activation_delay)
        emulator.deliver_rent_sms(str(order_id), "Telegram code 11111", "TELEGRAM")
        sms = await settle(client.rental.get_sms(id=order_id))
        conforms(sms, T.RentalGetSmsResponse)
        assert [m["text"] for m in sms["data"]["SmsList"]] == ["Telegram code 11111"]

        clock.advance(HOUR)
        prolonged = await settle(client.rental.prolong(id=order_id, dtype="week", dcount=1))
        assert conforms(prolonged, T.RentalProlongResponse) == {"status": 1}
        clock.advance(8 * 86_400)  # back inside the last seven days (seeds/001:25-27)
        by_days = await settle(client.rental.prolong_by_days(id=order_id, dtype="day", dcount=5))
        assert conforms(by_days, T.RentalProlongByDaysResponse) == {"status": 1}
        assert emulator.rent.orders[str(order_id)].days == 7 + 7 + 5

        history = await settle(client.rental.get_history(skip=0, take=10))
        conforms(history, T.RentalGetHistoryResponse)
        assert [h["orderId"] for h in history["data"]] == [chosen["data"]["id"]]

    async def test_refusals_are_api_errors_with_the_message(self, client: Client) -> None:
        """{"status":0,"msg"} (seeds/001:53) raises ApiError; the SDK keeps the body."""
        with pytest.raises(smspva.ApiError) as refused:
            await settle(
                client.rental.create(
                    dtype="week", dcount=1, country="RU", service="opt29", provider="verizon"
                )
            )
        assert refused.value.response == {"status": 0, "msg": "Provider not found"}


class TestSeedShapes:
    """The seeds' shapes against the SDK: which calls raise, which return off-type data."""

    async def test_receive_sms_while_waiting_raises(
        self, client: Client, emulator: SmspvaEmulator
    ) -> None:
        """seeds/000:91-100's 202 has no error object: parse_response treats it as an error."""
        emulator.shapes = "seed"
        order_id = (await settle(client.activation.get_number(country="US", service="opt20")))[
            "data"
        ]["orderId"]
        with pytest.raises(smspva.ApiError) as pending:
            await settle(client.activation.receive_sms(orderid=order_id))
        assert (pending.value.http_status, pending.value.code) == (202, 202)
        assert pending.value.response == {
            "statusCode": 202,
            "data": {"orderId": str(order_id), "orderExpireIn": 600},
        }

    async def test_other_calls_pass_but_break_the_sdk_types(
        self, client: Client, emulator: SmspvaEmulator
    ) -> None:
        """The SDK does not check types, so these return; their values are not what types.py
        promises: a float balance, seeds/000's create list, seeds/001's bare lists."""
        emulator.shapes = "seed"
        balance = await settle(client.activation.get_balance())
        assert mismatches(balance, T.ActivationGetBalanceResponse) == [
            "$.data.balance: 1000.0 is not str"
        ]
        created = await settle(
            client.rental.create(dtype="week", dcount=1, country="US", service="opt131")
        )
        assert mismatches(created, T.RentalCreateResponse)  # a list of {id, number, expireAt}
        order_id = cast(list[dict[str, int]], created["data"])[0]["id"]
        assert mismatches(
            await settle(client.rental.activate(id=order_id)), T.RentalActivateResponse
        )
        assert mismatches(await settle(client.rental.get_sms(id=order_id)), T.RentalGetSmsResponse)
        data = await settle(client.rental.get_data(country="US"))
        assert mismatches(data, T.RentalGetDataResponse)
        # Shapes both sources share still conform.
        bought = await settle(client.activation.get_number(country="US", service="opt20"))
        conforms(bought, T.ActivationGetNumberResponse)
        conforms(await settle(client.rental.get_orders()), T.RentalGetOrdersResponse)
