"""SMS-Activate rent actions over the SMSPVA rental emulator and VAK-SMS 4-hour rents."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from proxy.emulators import OrderState
from proxy.rent.periods import DAY, Period, covering, room_hours
from tests.conftest import SMSPVA_KEY, VAKSMS_KEY, Proxy, Upstream, deliver, order_for

WAIT = 0.03  # three of the tests' poll intervals: the next read asks upstream again


@pytest.mark.parametrize(
    ("hours", "period"),
    [
        (4, Period("week", 1)),
        (168, Period("week", 1)),
        (169, Period("week", 2)),
        (673, Period("month", 1)),  # 5 weeks would be 35 days, a month 30
        (720, Period("month", 1)),
        (721, Period("week", 5)),
        (2160, Period("month", 3)),
    ],
)
def test_covering_period(hours: int, period: Period) -> None:
    """The shortest week/month count that lasts the hours asked."""
    assert covering(hours) == period
    assert covering(hours).days * 24 >= hours


def test_room_hours() -> None:
    """Nothing may be added before the last 7 days; then whole days up to 90 from now."""
    assert room_hours(until=8 * DAY, now=0) == 0
    assert room_hours(until=7 * DAY, now=1) == 83 * 24
    assert room_hours(until=1 * DAY, now=0) == 89 * 24
    # a week just rented, its `until` a second over on the upstream's whole-second clock
    assert room_hours(until=7 * DAY + 1, now=0) == 82 * 24
    assert room_hours(until=7 * DAY + 61, now=0) == 0


def rent(proxy: Proxy, tenant: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = proxy.call(tenant, action="getRentNumber", **params).json()
    return body


def rented(proxy: Proxy, tenant: str = "pva", **params: Any) -> tuple[int, str, float]:
    body = rent(proxy, tenant, **{"service": "tg", **params})
    assert body["status"] == "success", body
    end = datetime.strptime(body["phone"]["endDate"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return body["phone"]["id"], body["phone"]["number"], end.timestamp()


def message(proxy: Proxy, tenant: str, **params: Any) -> str:
    body = proxy.call(tenant, **params).json()
    assert body["status"] == "error", body
    return str(body["message"])


def pva_order(smspva: Upstream, phone: str) -> Any:
    return next(o for o in smspva.emulator.rent.orders.values() if phone.endswith(o.phone))


@pytest.fixture(name="instant")
def fixture_instant(smspva: Upstream, monkeypatch: pytest.MonkeyPatch) -> Upstream:
    """SMSPVA numbers wake up at once after `activate`."""
    monkeypatch.setattr(smspva.emulator.rent, "activation_delay", 0.0)
    return smspva


def test_services_and_countries(proxy: Proxy, smspva: Upstream) -> None:
    """SMSPVA day price x covering days, in the tenant's currency, merged with VAK's 4-hour rent."""
    smspva.emulator.rent.set_stock("opt29", "RU", 7, price_day="1.50")
    body = proxy.call("pva", action="getRentServicesAndCountries").json()
    assert body["countries"] == {"0": 0} and body["currency"] == 840
    named = list(body["operators"].values())  # SMSPVA rents by operator too (`provider`)
    assert "any" in named and "mts" in named and named == sorted(named)
    assert body["services"]["tg"] == {"cost": 10.5, "quant": 7}  # a week for 4 hours
    longer = proxy.call("pva", action="getRentServicesAndCountries", rent_time=169).json()
    assert longer["services"]["tg"]["cost"] == 21.0
    merged = proxy.call("alice", action="getRentServicesAndCountries").json()
    assert merged["services"]["tg"]["quant"] > 7  # VAK's stock added
    named = list(merged["operators"].values())
    assert "any" in named and "mts" in named and named == sorted(named)  # VAK rents by operator
    assert "wa" in proxy.call("vak", action="getRentServicesAndCountries").json()["services"]
    vak_long = proxy.call("vak", action="getRentServicesAndCountries", rent_time=5).json()
    assert vak_long == {"status": "error", "message": "OUT_OF_STOCK"}  # seeds/004:415


def test_rent_sends_telegrams_code_and_the_operator(proxy: Proxy, smspva: Upstream) -> None:
    """Renting tg asks SMSPVA for opt29 (seeds/000:262), not opt11 (Viber); an operator goes as
    create's `provider` (seeds/000:168, smspva-sdk)."""
    _, phone, _ = rented(proxy, "pva", rent_time=4)
    order = pva_order(smspva, phone)
    assert order.services == ["opt29"]
    _, phone, _ = rented(proxy, "pva", rent_time=4, operator="mts")
    order = pva_order(smspva, phone)
    assert order.services == ["opt29"] and order.provider == "mts"


def test_rent_on_smspva_activates_itself(proxy: Proxy, instant: Upstream) -> None:
    """The client never activates: getRentStatus wakes the number, then shows its SMS."""
    before = time.time()
    rent_id, phone, end = rented(proxy, "pva", rent_time=4)
    assert phone.startswith("7") and len(phone) == 11
    assert before + 7 * DAY - 2 <= end <= time.time() + 7 * DAY + 1  # the real end: a week
    order = pva_order(instant, phone)
    assert order.activated_at is None
    assert message(proxy, "pva", action="getRentStatus", id=rent_id) == "STATUS_WAIT_CODE"
    assert order.activated_at is not None
    instant.emulator.deliver_rent_sms(order.order_id, "Telegram code 11111", "TELEGRAM")
    time.sleep(WAIT)
    instant.emulator.deliver_rent_sms(order.order_id, "Telegram code 22222", "TELEGRAM")
    time.sleep(WAIT)
    body = proxy.call("pva", action="getRentStatus", id=rent_id).json()
    assert body["status"] == "success" and body["quantity"] == "2"
    assert body["values"]["0"]["text"] == "Telegram code 22222"  # newest first
    assert body["values"]["1"] == {
        "phoneFrom": "TELEGRAM",
        "text": "Telegram code 11111",
        "service": "tg",
        "date": body["values"]["1"]["date"],
    }
    page = proxy.call("pva", action="getRentStatus", id=rent_id, page=1, size=1).json()
    assert page["values"]["0"]["text"] == "Telegram code 11111"


def test_rent_on_vaksms(proxy: Proxy, vaksms: Upstream) -> None:
    """A 4-hour VAK rent: codes read with getSmsCode&all, no cancel after one, no extension."""
    before = time.time()
    rent_id, phone, end = rented(proxy, "vak")
    assert before + 4 * 3600 - 2 <= end <= time.time() + 4 * 3600 + 1
    assert message(proxy, "vak", action="getRentStatus", id=rent_id) == "STATUS_WAIT_CODE"
    deliver(vaksms, phone, "4321")
    body = proxy.call("vak", action="getRentStatus", id=rent_id).json()
    assert body["quantity"] == "1" and body["values"]["0"]["text"] == "4321"
    assert message(proxy, "vak", action="setRentStatus", id=rent_id, status=2) == "CANT_CANCEL"
    assert message(proxy, "vak", action="continueRentNumber", id=rent_id) == "RENT_DIE"
    assert proxy.call("vak", action="setRentStatus", id=rent_id, status=1).json() == {
        "status": "success"
    }
    assert message(proxy, "vak", action="getRentStatus", id=rent_id) == "STATUS_FINISH"
    too_long = proxy.call("vak", action="getRentNumber", service="tg", rent_time=5).json()
    assert too_long == {"status": "error", "message": "MAX_HOURS_EXCEED", "info": {"max": 4}}


def test_alice_rents_longer_than_four_hours_on_smspva(proxy: Proxy, smspva: Upstream) -> None:
    """Providers in the tenant's order; VAK only for rents of at most 4 hours."""
    rented(proxy, "alice", rent_time=169)
    assert len(smspva.emulator.rent.orders) == 1
    assert next(iter(smspva.emulator.rent.orders.values())).days == 14


def test_smspva_rent_is_finished_not_cancelled(proxy: Proxy, smspva: Upstream) -> None:
    """A cancel promises a refund (STATUS_CANCEL "canceled with a refund", seeds/002:819) that
    SMSPVA gives only case by case (seeds/001:42-44): CANT_CANCEL (002:861), the rental
    untouched; finishing it (1) deletes it upstream; a second change says it is over."""
    rent_id, phone, _ = rented(proxy)
    set_status = {"action": "setRentStatus", "id": rent_id}
    assert message(proxy, "pva", **set_status, status=2) == "CANT_CANCEL"
    order = pva_order(smspva, phone)
    assert order.live and not order.deleted and smspva.emulator.requests["rent:delete"] == 0
    assert message(proxy, "pva", action="getRentStatus", id=rent_id) == "STATUS_WAIT_CODE"
    assert proxy.call("pva", **set_status, status=1).json() == {"status": "success"}
    assert pva_order(smspva, phone).deleted
    assert message(proxy, "pva", **set_status, status=2) == "ALREADY_FINISH"
    assert message(proxy, "pva", **set_status, status=1) == "ALREADY_FINISH"
    assert message(proxy, "pva", action="getRentStatus", id=rent_id) == "STATUS_FINISH"


def test_cancel_on_vaksms(proxy: Proxy, vaksms: Upstream) -> None:
    """VAK-SMS cancels a number before its code as it cancels an activation (setStatus=end,
    seeds/003:1175, 1184-1186): a cancel there is one, and a second change says what happened
    already."""
    rent_id, phone, _ = rented(proxy, "vak")
    set_status = {"action": "setRentStatus", "id": rent_id}
    assert proxy.call("vak", **set_status, status=2).json() == {"status": "success"}
    assert order_for(vaksms, phone).state is not OrderState.ACTIVE
    assert message(proxy, "vak", action="getRentStatus", id=rent_id) == "STATUS_CANCEL"
    assert message(proxy, "vak", **set_status, status=2) == "ALREADY_CANCEL"
    assert message(proxy, "vak", **set_status, status=1) == "ALREADY_CANCEL"


def test_no_cancel_after_an_unseen_sms(proxy: Proxy, instant: Upstream) -> None:
    """An SMS that came since the last read still forbids the cancel (no refund, 001:42-44)."""
    rent_id, phone, _ = rented(proxy)
    assert message(proxy, "pva", action="getRentStatus", id=rent_id) == "STATUS_WAIT_CODE"
    instant.emulator.deliver_rent_sms(pva_order(instant, phone).order_id, "code 1")
    assert message(proxy, "pva", action="setRentStatus", id=rent_id, status=2) == "CANT_CANCEL"
    assert pva_order(instant, phone).live


def test_rent_list(proxy: Proxy) -> None:
    """The tenant's current rentals, newest first; finished ones leave the list."""
    assert message(proxy, "pva", action="getRentList") == "NO_NUMBERS"
    first, first_phone, _ = rented(proxy)
    second, second_phone, _ = rented(proxy)
    body = proxy.call("pva", action="getRentList").json()
    assert body == {
        "status": "success",
        "values": {
            "0": {"id": str(second), "phone": second_phone},
            "1": {"id": str(first), "phone": first_phone},
        },
    }
    proxy.call("pva", action="setRentStatus", id=second, status=1)
    assert proxy.call("pva", action="getRentList").json()["values"] == {
        "0": {"id": str(first), "phone": first_phone}
    }
    assert message(proxy, "alice", action="getRentList") == "NO_NUMBERS"


def test_continue_rent(proxy: Proxy, smspva: Upstream) -> None:
    """Prolong by the covering period, only in the last 7 days and up to 90 days from now."""
    smspva.emulator.rent.set_stock("opt29", "RU", 5, price_day="2")
    rent_id, phone, end = rented(proxy)
    price = proxy.call("pva", action="getContinueRentPriceNumber", id=rent_id).json()
    assert price == {"status": "success", "price": 14.0, "currency": 840}
    body = proxy.call("pva", action="continueRentNumber", id=rent_id, rent_time=4).json()
    assert body["status"] == "success" and body["phone"]["id"] == rent_id
    assert body["phone"]["number"] == phone
    assert rented_end(body) == pytest.approx(end + 7 * DAY, abs=1)
    assert pva_order(smspva, phone).days == 14
    assert proxy.call("pva", action="continueRentNumber", id=rent_id).json() == {
        "status": "error", "message": "MAX_HOURS_EXCEED", "info": {"max": 0},
    }  # fmt: skip
    other, _, _ = rented(proxy)
    for action in ("continueRentNumber", "getContinueRentPriceNumber"):
        over = proxy.call("pva", action=action, id=other, rent_time=2160).json()
        assert over == {"status": "error", "message": "MAX_HOURS_EXCEED", "info": {"max": 1992}}
        assert message(proxy, "pva", action=action, id=other, rent_time=2) == "INVALID_TIME"


def rented_end(body: dict[str, Any]) -> float:
    end = datetime.strptime(body["phone"]["endDate"], "%Y-%m-%dT%H:%M:%S")
    return end.replace(tzinfo=UTC).timestamp()


def test_expired_rent(proxy: Proxy, smspva: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its end upstream, a rental is finished (STATUS_FINISH: paid and over, 002:818)."""
    rent_id, _, _ = rented(proxy)
    later = smspva.emulator.clock() + 8 * DAY
    monkeypatch.setattr(smspva.emulator, "clock", lambda: later)
    assert message(proxy, "pva", action="getRentStatus", id=rent_id) == "STATUS_FINISH"
    assert message(proxy, "pva", action="continueRentNumber", id=rent_id) == "RENT_DIE"
    assert message(proxy, "pva", action="setRentStatus", id=rent_id, status=1) == ("ALREADY_FINISH")


def test_other_tenants_rent_is_invalid_phone(proxy: Proxy) -> None:
    """Another tenant's rental id looks like an unknown one."""
    rent_id, _, _ = rented(proxy, "alice")
    for action in ("getRentStatus", "continueRentNumber", "getContinueRentPriceNumber"):
        assert message(proxy, "bob", action=action, id=rent_id) == "INVALID_PHONE"
    assert message(proxy, "bob", action="setRentStatus", id=rent_id, status=1) == "INVALID_PHONE"
    assert message(proxy, "alice", action="getRentStatus", id=999_999_999) == "INVALID_PHONE"
    assert message(proxy, "alice", action="getRentStatus", id="abc") == "INVALID_PHONE"


def test_request_errors(proxy: Proxy) -> None:
    """Parameter errors, answered before any upstream call."""
    assert message(proxy, "pva", action="getRentStatus") == "NO_ID_RENT"
    assert message(proxy, "pva", action="setRentStatus", status=1) == "NO_ID_RENT"
    assert message(proxy, "pva", action="continueRentNumber") == "NO_ID_RENT"
    assert message(proxy, "pva", action="setRentStatus", id=1, status=3) == "INCORECT_STATUS"
    assert message(proxy, "pva", action="setRentStatus", id=1) == "INCORECT_STATUS"
    assert message(proxy, "pva", action="getRentNumber") == "BAD_SERVICE"
    assert message(proxy, "pva", action="getRentNumber", service="zzzz") == "BAD_SERVICE"
    assert message(proxy, "pva", action="getRentNumber", service="tg", rent_time=3) == (
        "INVALID_TIME"
    )
    assert message(proxy, "pva", action="getRentNumber", service="tg", rent_time="x") == (
        "INVALID_TIME"
    )
    over = rent(proxy, "pva", service="tg", rent_time=2161)
    assert over == {"status": "error", "message": "MAX_HOURS_EXCEED", "info": {"max": 2160}}


def test_upstream_refusals(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """No stock anywhere: NO_NUMBERS; no money anywhere: NO_BALANCE."""
    smspva.emulator.rent.set_all_stock(0)
    vaksms.emulator.set_all_stock(0)
    assert message(proxy, "alice", action="getRentNumber", service="tg") == "NO_NUMBERS"
    smspva.emulator.rent.set_all_stock(5)
    vaksms.emulator.set_all_stock(5)
    smspva.emulator.set_balance(SMSPVA_KEY, Decimal(0))
    vaksms.emulator.set_balance(VAKSMS_KEY, Decimal(0))
    assert message(proxy, "alice", action="getRentNumber", service="tg") == "NO_BALANCE"


def test_rent_by_operator(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """`operator` reaches VAK-SMS's getNumber and SMSPVA's create as `provider` (seeds/000:168,
    smspva-sdk), in the tenant's order; the first asked operator a provider carries is sent."""
    _, phone, _ = rented(proxy, "bob", operator="mts")
    assert order_for(vaksms, phone).operator == "mts"
    _, phone, _ = rented(proxy, "vak", operator="any")
    assert order_for(vaksms, phone).operator is None
    _, phone, _ = rented(proxy, "alice", operator="beeline,megafon")
    assert pva_order(smspva, phone).provider == "beeline"  # SMSPVA first for alice


def test_finished_vak_rent_is_not_reordered(proxy: Proxy, vaksms: Upstream) -> None:
    """A finished rental stays finished: VAK's prolongNumber gives a 20-minute order for
    getExtraActivation, not a rental (SPEC-NOTES), so no re-order under a new id."""
    rent_id, phone, _ = rented(proxy, "vak")
    deliver(vaksms, phone, "1234")
    assert proxy.call("vak", action="getRentStatus", id=rent_id).json()["quantity"] == "1"
    assert proxy.call("vak", action="setRentStatus", id=rent_id, status=1).json() == {
        "status": "success"
    }
    order_for(vaksms, phone).state = OrderState.EXPIRED  # the upstream order ran out too
    for action in ("continueRentNumber", "getContinueRentPriceNumber"):
        assert message(proxy, "vak", action=action, id=rent_id) == "RENT_DIE"
    assert message(proxy, "vak", action="getRentList") == "NO_NUMBERS"


def test_unused_finished_vak_rent_is_over(proxy: Proxy, vaksms: Upstream) -> None:
    """VAK gives a number again only after it received a code (seeds/003:1154)."""
    rent_id, _, _ = rented(proxy, "vak")
    assert proxy.call("vak", action="setRentStatus", id=rent_id, status=1).json()["status"] == (
        "success"
    )
    assert message(proxy, "vak", action="continueRentNumber", id=rent_id) == "RENT_DIE"


def test_out_of_stock(proxy: Proxy, smspva: Upstream) -> None:
    smspva.emulator.rent.set_all_stock(0)
    body = proxy.call("pva", action="getRentServicesAndCountries").json()
    assert body == {"status": "error", "message": "OUT_OF_STOCK"}


def test_prolong_that_timed_out_is_read_back(make_proxy: Any, smspva: Upstream) -> None:
    """SMSPVA prolongs, then goes silent past our timeout: its `orders` list shows the new
    end, so the client is told of the extension it paid for (and does not pay twice)."""
    proxy = make_proxy(read_timeout=0.3)
    rent_id, phone, end = rented(proxy)
    smspva.emulator.stall("rent:prolong", 1.0, after_effect=True)
    body = proxy.call("pva", action="continueRentNumber", id=rent_id, rent_time=4).json()
    assert body["status"] == "success", body
    assert rented_end(body) == pytest.approx(end + 7 * DAY, abs=2)
    assert pva_order(smspva, phone).days == 14


def listed_orders(smspva: Upstream) -> dict[str, Any]:
    """SMSPVA's own `orders` answer for our account (seeds/001:125-156), to alter and replay."""
    query = {"method": "orders", "apikey": SMSPVA_KEY}
    body: dict[str, Any] = httpx.get(f"{smspva.url}/api/rent.php", params=query).json()
    return body


def test_continue_asks_whether_smspva_prolongs(proxy: Proxy, smspva: Upstream) -> None:
    """`canprolong` false (seeds/001:150) though the last 7 days have come: the number's life
    cannot be extended, RENT_DIE (002:949), and nothing is prolonged or charged."""
    rent_id, phone, _ = rented(proxy)
    answer = listed_orders(smspva)
    answer["data"][0]["canprolong"] = False
    smspva.emulator.inject_error("rent:orders", status=200, body=answer, times=2)
    before = smspva.emulator.balances[SMSPVA_KEY]
    for action in ("continueRentNumber", "getContinueRentPriceNumber"):
        assert message(proxy, "pva", action=action, id=rent_id, rent_time=4) == "RENT_DIE"
    assert pva_order(smspva, phone).days == 7
    assert smspva.emulator.requests["rent:prolong"] == 0
    assert smspva.emulator.balances[SMSPVA_KEY] == before


def test_continue_within_smspvas_own_limits(proxy: Proxy, smspva: Upstream) -> None:
    """`canprolongmax` (days, seeds/001:151) and `canprolonguntil` (152) bound what may be
    added: MAX_HOURS_EXCEED with `info.max` the hours they allow."""
    rent_id, phone, _ = rented(proxy)
    answer = listed_orders(smspva)
    answer["data"][0]["canprolongmax"] = 3  # a week does not fit
    smspva.emulator.inject_error("rent:orders", status=200, body=answer)
    body = proxy.call("pva", action="continueRentNumber", id=rent_id, rent_time=4).json()
    assert body == {"status": "error", "message": "MAX_HOURS_EXCEED", "info": {"max": 72}}
    answer = listed_orders(smspva)
    order = answer["data"][0]
    order["canprolonguntil"] = order["until"] + 10 * 86400  # ten more days at most
    smspva.emulator.inject_error("rent:orders", status=200, body=answer)
    body = proxy.call("pva", action="getContinueRentPriceNumber", id=rent_id, rent_time=169).json()
    assert body == {"status": "error", "message": "MAX_HOURS_EXCEED", "info": {"max": 240}}
    assert pva_order(smspva, phone).days == 7
    # SMSPVA's own listing, which allows it: prolonged
    assert proxy.call("pva", action="continueRentNumber", id=rent_id).json()["status"] == (
        "success"
    )
    assert pva_order(smspva, phone).days == 14


def test_rent_price_shown_is_the_price_charged(proxy: Proxy, smspva: Upstream) -> None:
    """Issue 12: alice rents from SMSPVA first, which sells a week for 4 hours. The listing
    shows that week's price, not VAK-SMS's cheaper 4-hour rent; getRentNumber charges it, and
    getContinueRentPriceNumber and continueRentNumber agree on the next week."""
    smspva.emulator.rent.set_stock("opt29", "RU", 5, price_day="1.50")
    shown = proxy.call("alice", action="getRentServicesAndCountries", rent_time=4).json()
    assert shown["services"]["tg"]["cost"] == 10.5  # 7 days x 1.50, VAK's price is lower
    before = smspva.emulator.balances[SMSPVA_KEY]
    rent_id, _, _ = rented(proxy, "alice", rent_time=4)
    assert before - smspva.emulator.balances[SMSPVA_KEY] == Decimal("10.5")
    price = proxy.call("alice", action="getContinueRentPriceNumber", id=rent_id).json()
    assert price["price"] == 10.5
    before = smspva.emulator.balances[SMSPVA_KEY]
    assert proxy.call("alice", action="continueRentNumber", id=rent_id).json()["status"] == (
        "success"
    )
    assert before - smspva.emulator.balances[SMSPVA_KEY] == Decimal("10.5")


def test_an_operator_orders_the_providers_as_a_rent_does(proxy: Proxy, smspva: Upstream) -> None:
    """bob rents from VAK-SMS first; asked for `aiva`, which only SMSPVA carries, getRentNumber
    tries SMSPVA first (seeds/004:134), so the listing shows SMSPVA's week (bob's markup 10 %)."""
    smspva.emulator.rent.set_stock("opt29", "RU", 5, price_day="1.50")
    plain = proxy.call("bob", action="getRentServicesAndCountries").json()
    assert plain["services"]["tg"]["cost"] < 11.55  # VAK-SMS's 4-hour rent
    aiva = proxy.call("bob", action="getRentServicesAndCountries", operator="aiva").json()
    assert aiva["services"]["tg"] == {"cost": 11.55, "quant": plain["services"]["tg"]["quant"]}


def vak_rent_listing(cost: float, quantity: int = 5) -> dict[str, Any]:
    """getCountNumbersList&rent=True as the VAK-SMS libraries read it (vaksms 2.0 client.py
    get_count_number_list, models/services.py)."""
    item = {"name": "Telegram", "icon": "", "info": "", "cost": cost, "rent": True,
            "quantity": quantity, "private": False}  # fmt: skip
    return {"tg": [item]}


def test_vaksms_rent_is_priced_as_a_rent(proxy: Proxy, vaksms: Upstream) -> None:
    """VAK-SMS's 4-hour rent at its own price (getCountNumbersList with rent=True), not the
    activation's: 80 RUB shown as 0.80 USD where the activation costs something else."""
    assert vaksms.emulator.price("tg", "ru") != Decimal(80)
    vaksms.emulator.inject_error("getCountNumbersList", status=200, body=vak_rent_listing(80.0))
    body = proxy.call("vak", action="getRentServicesAndCountries").json()
    assert body["services"] == {"tg": {"cost": 0.8, "quant": 5}}
    assert vaksms.emulator.requests["getCountNumbersList"] == 1


def test_no_rent_price_no_offer(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """Where VAK-SMS gives no rent price, none is made up from its activation price: alone it
    answers SERVER_ERROR; tried first (bob), the services it would sell are left out, as what
    they would cost is unknown."""
    smspva.emulator.rent.set_stock("opt29", "RU", 5, price_day="1.50")
    vaksms.emulator.inject_error("getCountNumbersList", status=503, times=2)
    body = proxy.call("vak", action="getRentServicesAndCountries").json()
    assert body == {"status": "error", "message": "SERVER_ERROR"}
    body = proxy.call("bob", action="getRentServicesAndCountries").json()
    assert "tg" not in body.get("services", {})
