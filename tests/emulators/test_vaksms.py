"""VAK-SMS emulator (proxy/emulators/vaksms.py): wire format and order life."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from proxy.emulators import OrderState, VaksmsEmulator
from proxy.providers.vaksms_lifetimes import (
    VAKSMS_DEFAULT_LIFETIME,
    VAKSMS_LIFETIMES,
    VAKSMS_RENT_LIFETIME,
    vaksms_lifetime,
)

from .support import FakeClock, asgi_client

PUBLIC = frozenset({"getCountNumbersList", "getCountryList"})  # vaksms 2.0: api_key_required=False


async def call(client: httpx.AsyncClient, name: str, **params: str) -> Any:
    """GET /api/<name>/ and the JSON answer; VAK answers HTTP 200 to everything it documents."""
    response = await client.get(f"/api/{name}/", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def buy(client: httpx.AsyncClient, service: str = "tg", **params: str) -> str:
    answer = await call(client, "getNumber", service=service, **params)
    return str(answer["idNum"])


class TestAccount:
    async def test_balance_in_roubles(self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient) -> None:
        """seeds/003:18-20: {"balance": 100.0}."""
        vaksms.set_balance("test-key", 100)
        assert await call(vak, "getBalance") == {"balance": 100.0}

    @pytest.mark.parametrize("params", [{"apiKey": "wrong"}, {}])
    async def test_unknown_or_missing_key(
        self, vaksms: VaksmsEmulator, params: dict[str, str]
    ) -> None:
        """seeds/003:1211: apiKeyNotFound, on every endpoint but the libraries' key-free two."""
        async with asgi_client(vaksms, params=params) as client:
            for name in sorted(VaksmsEmulator.endpoints - PUBLIC):
                assert await call(client, name) == {"error": "apiKeyNotFound"}
            for name in sorted(PUBLIC):
                assert "error" not in await call(client, name)

    async def test_paths_work_without_trailing_slash(self, vak: httpx.AsyncClient) -> None:
        """The seed writes /api/getBalance/; the slash-less form is served too."""
        assert "balance" in (await vak.get("/api/getBalance")).json()

    async def test_get_only(self, vak: httpx.AsyncClient) -> None:
        """seeds/003:6: every request is a GET."""
        assert (await vak.post("/api/getNumber/", params={"service": "tg"})).status_code == 405


class TestCounts:
    async def test_count_with_and_without_price(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:434-438: {"<service>": count}, plus "price" when the price flag is present."""
        vaksms.set_stock("tg", "gb", 332, price=2)
        assert await call(vak, "getCountNumber", service="tg", country="gb") == {"tg": 332}
        assert await call(vak, "getCountNumber", service="tg", country="gb", price="") == {
            "tg": 332,
            "price": 2.0,
        }
        async with asgi_client(vaksms) as bare:  # the seed's bare `&price` flag
            url = "/api/getCountNumber/?apiKey=test-key&service=tg&country=gb&price"
            assert (await bare.get(url)).json() == {"tg": 332, "price": 2.0}

    async def test_count_defaults_to_russia(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:28: country defaults to ru."""
        vaksms.set_stock("wa", "ru", 5)
        assert await call(vak, "getCountNumber", service="wa") == {"wa": 5}

    async def test_country_in_any_case(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """vaksms 2.0 client.py get_count_number_list sends country='RU'; the seed spells 'ru'."""
        vaksms.set_stock("wa", "ru", 6)
        assert await call(vak, "getCountNumber", service="wa", country="RU") == {"wa": 6}
        answer = await call(vak, "getNumber", service="wa", country="Ru")
        assert vaksms.orders[answer["idNum"]].country == "ru"

    async def test_count_list_covers_every_service(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:440-442: {code: {code, count, price}} for the whole catalog, no price flag."""
        answer = await call(vak, "getCountNumberList", country="kz", operator="tele2")
        assert set(answer) == set(VaksmsEmulator.services)
        assert answer["tg"] == {
            "code": "tg",
            "count": 100,
            "price": float(vaksms.price("tg", "kz")),
        }

    @pytest.mark.parametrize(
        ("params", "word"),
        [
            ({}, "badData"),
            ({"service": "T G"}, "badService"),
            ({"service": "zzz"}, "noService"),
            ({"service": "tg", "country": "xx"}, "noCountry"),
            ({"service": "tg", "country": "ru", "operator": "kyivstar"}, "noOperator"),
        ],
    )
    async def test_count_refusals(
        self, vak: httpx.AsyncClient, params: dict[str, str], word: str
    ) -> None:
        """seeds/003:1212-1220: the error words for bad service, country and operator."""
        assert await call(vak, "getCountNumber", **params) == {"error": word}


class TestLibraryCatalog:
    """The two catalog calls only the client libraries know (vaksms 2.0 client.py)."""

    @pytest.mark.parametrize("rent", ["False", "True", "false", None])
    async def test_count_numbers_list_has_the_library_fields(
        self, vaksms: VaksmsEmulator, rent: str | None
    ) -> None:
        """models/services.py fields, one entry per service, no key needed, `rent` echoed."""
        vaksms.set_stock("tg", "kz", 17, price=9)
        params = {"country": "KZ", "operator": "tele2"} | ({} if rent is None else {"rent": rent})
        async with asgi_client(vaksms) as keyless:
            answer = await call(keyless, "getCountNumbersList", **params)
        assert set(answer) == set(VaksmsEmulator.services)
        assert answer["tg"] == [
            {
                "name": "Telegram",
                "icon": "/static/services/tg.png",
                "info": "",
                "cost": 9.0,
                "rent": rent == "True",
                "quantity": 17,
                "private": False,
            }
        ]

    async def test_count_numbers_list_plain_path_and_refusals(self, vak: httpx.AsyncClient) -> None:
        """The library's path has no trailing slash; bad country, operator and rent refused."""
        response = await vak.get("/api/getCountNumbersList", params={"country": "ru"})
        assert "tg" in response.json()
        assert await call(vak, "getCountNumbersList", country="xx") == {"error": "noCountry"}
        assert await call(vak, "getCountNumbersList", operator="kyivstar") == {
            "error": "noOperator"
        }
        assert await call(vak, "getCountNumbersList", rent="maybe") == {"error": "badData"}

    async def test_country_list(self, vaksms: VaksmsEmulator) -> None:
        """models/country.py: [{countryName, countryCode, operatorList}] for 003:312-433."""
        async with asgi_client(vaksms, params={"apiKey": "wrong"}) as client:
            answer = await call(client, "getCountryList")
        assert len(answer) == 33
        assert {"countryName": "Denmark", "countryCode": "dk", "operatorList": ["lycamobile"]} in (
            answer
        )
        ukraine = next(c for c in answer if c["countryCode"] == "ua")
        assert "lifecell" in ukraine["operatorList"]


class TestGetNumber:
    async def test_buy_answers_tel_with_calling_code_and_id_num(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:858-860: int tel with calling code, 32-hex idNum, Russia by default."""
        answer = await call(vak, "getNumber", service="tg")
        assert set(answer) == {"tel", "idNum"}
        assert re.fullmatch(r"79\d{9}", str(answer["tel"]))
        assert re.fullmatch(r"[0-9a-f]{32}", answer["idNum"])
        order = vaksms.orders[answer["idNum"]]
        assert (order.service, order.country, order.phone) == ("tg", "ru", str(answer["tel"]))
        assert vaksms.balances["test-key"] == Decimal("1000") - vaksms.price("tg", "ru")
        assert order.expires_at - order.created == 1200.0

    async def test_operator_and_country_are_honoured(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:424: gb with operator ee gives a +44 number on that operator."""
        answer = await call(vak, "getNumber", service="wa", country="gb", operator="ee")
        assert str(answer["tel"]).startswith("447")
        assert vaksms.orders[answer["idNum"]].operator == "ee"

    async def test_two_services_share_one_number(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:862-865: a list of {tel, service, idNum}, one paid order per service."""
        answer = await call(vak, "getNumber", service="wa,vi")
        assert [item["service"] for item in answer] == ["wa", "vi"]
        assert answer[0]["tel"] == answer[1]["tel"]
        assert answer[0]["idNum"] != answer[1]["idNum"]
        paid = vaksms.price("wa", "ru") + vaksms.price("vi", "ru")
        assert vaksms.balances["test-key"] == Decimal("1000") - paid

    @pytest.mark.parametrize("rent", ["true", "True", "1"])
    async def test_rent_gives_a_four_hour_order(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, rent: str
    ) -> None:
        """seeds/003:451: rent=true is a number for 4 hours, also for tf (models/number.py)."""
        order = vaksms.orders[await buy(vak, service="tf", rent=rent)]
        assert order.expires_at - order.created == 4 * 3600

    @pytest.mark.parametrize("rent", ["false", "False", "0", ""])
    async def test_rent_false_in_any_case(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, rent: str
    ) -> None:
        """The libraries send rent='false' (vaksms 2.0 client.py get_number): an ordinary order."""
        order = vaksms.orders[await buy(vak, rent=rent)]
        assert order.expires_at - order.created == VAKSMS_DEFAULT_LIFETIME

    @pytest.mark.parametrize(
        ("params", "word"),
        [
            ({"service": "wa,vi,tg"}, "badData"),
            ({"service": "wa,wa"}, "badData"),
            ({"service": ""}, "badData"),
            ({"service": "tg", "rent": "maybe"}, "badData"),
            ({"service": "tg", "softId": "x1"}, "badData"),
            ({"service": "WA!"}, "badService"),
            ({"service": "wa,zzz"}, "noService"),
            ({"service": "tg", "country": "xx"}, "noCountry"),
            ({"service": "tg", "country": "ua", "operator": "mts"}, "noOperator"),
        ],
    )
    async def test_refusals_sell_nothing(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, params: dict[str, str], word: str
    ) -> None:
        """seeds/003:1212-1220: each refusal word, with no order and no charge."""
        assert await call(vak, "getNumber", **params) == {"error": word}
        assert vaksms.orders == {} and vaksms.balances["test-key"] == Decimal("1000")

    async def test_no_stock_and_no_money(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:1213-1214: noNumber when either service is out; noMoney for the total."""
        vaksms.set_stock("vi", "ru", 0)
        assert await call(vak, "getNumber", service="wa,vi") == {"error": "noNumber"}
        vaksms.set_stock("wa", "ru", 9, price=30)
        vaksms.set_stock("vi", "ru", 9, price=30)
        vaksms.set_balance("test-key", 59)
        assert await call(vak, "getNumber", service="wa,vi") == {"error": "noMoney"}
        assert await call(vak, "getNumber", service="wa")


class TestLifetimes:
    """Per-service order windows: vaksms 2.0 models/number.py, in proxy/providers."""

    def test_the_table(self) -> None:
        by_window = {7200: "tf", 3600: "otk cs strh cp mg", 2400: "otp mkb", 1800: "ai ig tw"}
        table = {code: s for s, codes in by_window.items() for code in codes.split()}
        assert table == VAKSMS_LIFETIMES
        assert (VAKSMS_DEFAULT_LIFETIME, VAKSMS_RENT_LIFETIME) == (1200, 14400)
        assert vaksms_lifetime("tf") == 7200 and vaksms_lifetime("tg") == 1200
        assert vaksms_lifetime("tg", rent=True) == vaksms_lifetime("tf", rent=True) == 14400
        assert vaksms_lifetime("wa,tf") == vaksms_lifetime(" tf , wa") == 7200  # the longer
        assert vaksms_lifetime("") == 1200

    @pytest.mark.parametrize(
        ("service", "seconds"),
        [
            *(("tf", 7200), ("cp", 3600), ("strh", 3600), ("mg", 3600)),
            *(("ai", 1800), ("ig", 1800), ("tw", 1800), ("tg", 1200), ("wa", 1200)),
        ],
    )
    async def test_order_stays_open_for_its_service(
        self,
        vaksms: VaksmsEmulator,
        vak: httpx.AsyncClient,
        clock: FakeClock,
        service: str,
        seconds: int,
    ) -> None:
        """Open one second before the window ends, idNumNotFound (and refunded) at its end."""
        id_num = await buy(vak, service=service)
        assert vaksms.orders[id_num].expires_at - vaksms.orders[id_num].created == seconds
        clock.advance(seconds - 1)
        assert await call(vak, "getSmsCode", idNum=id_num) == {"smsCode": None}
        clock.advance(1)
        assert await call(vak, "getSmsCode", idNum=id_num) == {"error": "idNumNotFound"}
        assert vaksms.orders[id_num].state is OrderState.EXPIRED
        assert vaksms.balances["test-key"] == Decimal("1000")

    async def test_two_services_keep_their_own_windows(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """One idNum per service (seeds/003:862-865), each with its service's window."""
        tf, wa = await call(vak, "getNumber", service="tf,wa")
        clock.advance(1200)
        assert await call(vak, "getSmsCode", idNum=wa["idNum"]) == {"error": "idNumNotFound"}
        assert await call(vak, "getSmsCode", idNum=tf["idNum"]) == {"smsCode": None}

    async def test_prolonged_order_gets_its_service_window(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """prolongNumber (seeds/003:1156-1160) opens a new order with the service's window."""
        id_num = await buy(vak, service="tf")
        vaksms.deliver_sms(id_num)
        clock.advance(7200)
        answer = await call(vak, "prolongNumber", service="tf", tel=vaksms.orders[id_num].phone)
        renewed = vaksms.orders[answer["idNum"]]
        assert renewed.expires_at - renewed.created == 7200

    async def test_order_lifetime_argument_overrides_the_table(self, clock: FakeClock) -> None:
        """An explicit order_lifetime is every order's window but a rent's."""
        keys = {"test-key": Decimal("1000")}
        vaksms = VaksmsEmulator(api_keys=keys, order_lifetime=50.0, sms_delay=None, clock=clock)
        async with asgi_client(vaksms, params={"apiKey": "test-key"}) as vak:
            tf = vaksms.orders[await buy(vak, service="tf")]
            rent = vaksms.orders[await buy(vak, service="tf", rent="true")]
        assert tf.expires_at - tf.created == 50.0 == vaksms.order_lifetime
        assert rent.expires_at - rent.created == 14400


class TestSmsCode:
    async def test_waiting_then_received_then_all(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:1200-1205: null while waiting, the code, and with `all` every code."""
        id_num = await buy(vak)
        assert await call(vak, "getSmsCode", idNum=id_num) == {"smsCode": None}
        assert await call(vak, "getSmsCode", idNum=id_num, all="") == {"smsCode": None}
        vaksms.deliver_sms(id_num, code="1111")
        assert await call(vak, "getSmsCode", idNum=id_num) == {"smsCode": "1111"}
        assert await call(vak, "setStatus", idNum=id_num, status="send") == {"status": "ready"}
        assert await call(vak, "getSmsCode", idNum=id_num) == {"smsCode": None}
        assert await call(vak, "getSmsCode", idNum=id_num, all="") == {"smsCode": ["1111"]}
        vaksms.deliver_sms(id_num, code="2222")
        assert await call(vak, "getSmsCode", idNum=id_num) == {"smsCode": "2222"}
        async with asgi_client(vaksms) as bare:  # the seed's bare `&all` flag
            url = f"/api/getSmsCode/?apiKey=test-key&idNum={id_num}&all"
            assert (await bare.get(url)).json() == {"smsCode": ["1111", "2222"]}

    @pytest.mark.parametrize("flag", ["False", "None", "false", "0", "NONE"])
    async def test_all_false_or_none_answers_the_latest(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, flag: str
    ) -> None:
        """seeds/003:1199: `all` is a boolean, default None; the libraries send str(False/None)."""
        id_num = await buy(vak)
        vaksms.deliver_sms(id_num, code="1111")
        await call(vak, "setStatus", idNum=id_num, status="send")
        vaksms.deliver_sms(id_num, code="2222")
        assert await call(vak, "getSmsCode", idNum=id_num, all=flag) == {"smsCode": "2222"}
        assert await call(vak, "getSmsCode", idNum=id_num, all="True") == {
            "smsCode": ["1111", "2222"]
        }

    async def test_codes_arrive_by_themselves_with_sms_delay(self, clock: FakeClock) -> None:
        """With sms_delay, a code comes after purchase and a different one after `send`."""
        vaksms = VaksmsEmulator(sms_delay=2.0, clock=clock, seed=5)
        async with asgi_client(vaksms, params={"apiKey": "test-key"}) as vak:
            id_num = await buy(vak)
            clock.advance(2)
            first = (await call(vak, "getSmsCode", idNum=id_num))["smsCode"]
            await call(vak, "setStatus", idNum=id_num, status="send")
            clock.advance(1.9)
            assert await call(vak, "getSmsCode", idNum=id_num) == {"smsCode": None}
            clock.advance(0.1)
            second = (await call(vak, "getSmsCode", idNum=id_num))["smsCode"]
        assert first is not None and second is not None and first != second

    async def test_unknown_id_num(self, vak: httpx.AsyncClient) -> None:
        """seeds/003:1218: idNumNotFound."""
        assert await call(vak, "getSmsCode", idNum="f" * 32) == {"error": "idNumNotFound"}

    async def test_expired_order_is_forgotten_and_refunded(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Our choice: after the order window the idNum is unknown; no code means a refund."""
        id_num = await buy(vak)
        clock.advance(1200)
        assert await call(vak, "getSmsCode", idNum=id_num) == {"error": "idNumNotFound"}
        assert vaksms.orders[id_num].state is OrderState.EXPIRED
        assert vaksms.balances["test-key"] == Decimal("1000")


class TestSetStatus:
    async def test_end_before_a_code_cancels_and_refunds(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:1187: update; the money and the number come back, the idNum is closed."""
        id_num = await buy(vak)
        assert await call(vak, "setStatus", idNum=id_num, status="end") == {"status": "update"}
        assert vaksms.balances["test-key"] == Decimal("1000")
        assert vaksms.stock("tg", "ru") == 100
        assert await call(vak, "getSmsCode", idNum=id_num) == {"error": "idNumNotFound"}
        assert await call(vak, "setStatus", idNum=id_num, status="end") == {
            "error": "idNumNotFound"
        }

    async def test_end_after_a_code_or_while_waiting_is_refused(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """seeds/003:1185-1186: smsReceived after a code, waitSMS while another is awaited."""
        id_num = await buy(vak)
        vaksms.deliver_sms(id_num)
        assert await call(vak, "setStatus", idNum=id_num, status="end") == {"status": "smsReceived"}
        await call(vak, "setStatus", idNum=id_num, status="send")
        assert await call(vak, "setStatus", idNum=id_num, status="end") == {"status": "waitSMS"}
        assert await call(vak, "setStatus", idNum=id_num, status="bad") == {"status": "waitSMS"}
        assert vaksms.orders[id_num].state is OrderState.ACTIVE

    @pytest.mark.parametrize("with_code", [False, True])
    async def test_bad_closes_the_order(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, with_code: bool
    ) -> None:
        """seeds/003:1189: update; refunded only when no code came."""
        id_num = await buy(vak)
        if with_code:
            vaksms.deliver_sms(id_num)
        assert await call(vak, "setStatus", idNum=id_num, status="bad") == {"status": "update"}
        order = vaksms.orders[id_num]
        assert order.state is OrderState.BLOCKED and order.refunded is not with_code

    async def test_send_needs_a_code_first(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient
    ) -> None:
        """Our choice: `send` before any code, or twice, answers waitSMS."""
        id_num = await buy(vak)
        assert await call(vak, "setStatus", idNum=id_num, status="send") == {"status": "waitSMS"}
        vaksms.deliver_sms(id_num)
        assert await call(vak, "setStatus", idNum=id_num, status="send") == {"status": "ready"}
        assert await call(vak, "setStatus", idNum=id_num, status="send") == {"status": "waitSMS"}

    @pytest.mark.parametrize("status", ["cancel", "", "END"])
    async def test_other_status_words(self, vak: httpx.AsyncClient, status: str) -> None:
        """seeds/003:1217: badStatus."""
        id_num = await buy(vak)
        assert await call(vak, "setStatus", idNum=id_num, status=status) == {"error": "badStatus"}


class TestProlong:
    async def test_prolong_reorders_a_number_that_got_a_code(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """seeds/003:1156-1160: same tel, new idNum, charged again."""
        id_num = await buy(vak)
        tel = vaksms.orders[id_num].phone
        vaksms.deliver_sms(id_num)
        assert await call(vak, "prolongNumber", service="tg", tel=tel) == {"error": "noNumber"}
        clock.advance(1200)
        answer = await call(vak, "prolongNumber", service="tg", tel="+" + tel)
        assert answer["tel"] == int(tel) and answer["idNum"] != id_num
        renewed = vaksms.orders[answer["idNum"]]
        assert (renewed.phone, renewed.service, renewed.state) == (tel, "tg", OrderState.ACTIVE)
        assert vaksms.balances["test-key"] == Decimal("1000") - 2 * vaksms.price("tg", "ru")

    async def test_prolong_refusals(
        self, vaksms: VaksmsEmulator, vak: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Never coded, another service, another account, bad input: refused."""
        id_num = await buy(vak)
        tel = vaksms.orders[id_num].phone
        assert await call(vak, "prolongNumber", service="tg", tel=tel) == {"error": "noNumber"}
        vaksms.deliver_sms(id_num)
        clock.advance(1200)
        assert await call(vak, "prolongNumber", service="wa", tel=tel) == {"error": "noNumber"}
        assert await call(vak, "prolongNumber", service="tg", tel="7x") == {"error": "badData"}
        assert await call(vak, "prolongNumber", service="zzz", tel=tel) == {"error": "noService"}
        vaksms.set_balance("other-key", 1000)
        async with asgi_client(vaksms, params={"apiKey": "other-key"}) as other:
            assert await call(other, "prolongNumber", service="tg", tel=tel) == {
                "error": "noNumber"
            }
        vaksms.set_balance("test-key", 0)
        assert await call(vak, "prolongNumber", service="tg", tel=tel) == {"error": "noMoney"}
