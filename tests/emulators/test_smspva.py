"""SMSPVA Activation API v2 emulator (proxy/emulators/smspva.py): wire format and order life.

The default shapes are smspva-sdk's (types.py, _transport.py); `shapes="seed"` keeps seeds/000's.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from proxy.cli import build_parser
from proxy.emulators import OrderState, SmspvaEmulator
from proxy.emulators.smspva_rent import Shapes

from .support import FakeClock, asgi_client


async def buy(client: httpx.AsyncClient, country: str = "US", service: str = "opt20") -> str:
    response = await client.get(f"/activation/number/{country}/{service}")
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["orderId"])


def error_status(response: httpx.Response) -> int:
    """The HTTP status, after checking the body's statusCode and error object agree with it."""
    body = response.json()
    assert body["statusCode"] == response.status_code
    assert set(body) == {"statusCode", "error"}
    assert set(body["error"]) == {"type", "description"}
    return response.status_code


class TestNumber:
    async def test_buy_answers_the_seed_shape(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """seeds/000:51-61: int orderId, national int phone, countryCode, orderExpireIn 600."""
        response = await pva.get("/activation/number/US/opt131")
        body = response.json()
        assert (response.status_code, body["statusCode"]) == (200, 200)
        data = body["data"]
        assert set(data) == {"orderId", "phoneNumber", "countryCode", "orderExpireIn"}
        assert isinstance(data["orderId"], int) and isinstance(data["phoneNumber"], int)
        assert len(str(data["phoneNumber"])) == 10  # US national number, no leading 1
        assert (data["countryCode"], data["orderExpireIn"]) == ("US", 600)
        order = smspva.orders[str(data["orderId"])]
        assert (order.service, order.country, order.phone) == (
            "opt131",
            "US",
            str(data["phoneNumber"]),
        )
        assert smspva.balances["test-key"] == Decimal("1000") - smspva.price("opt131", "US")

    async def test_uk_numbers_follow_the_gb_plan(self, pva: httpx.AsyncClient) -> None:
        """SMSPVA's UK is ISO GB: ten national digits starting with 7."""
        response = await pva.get("/activation/number/UK/opt1")
        assert str(response.json()["data"]["phoneNumber"]).startswith("7")

    @pytest.mark.parametrize(
        "path", ["/activation/number/US/opt20", "/activation/number/US/opt20/"]
    )
    async def test_paths_work_with_and_without_trailing_slash(
        self, pva: httpx.AsyncClient, path: str
    ) -> None:
        """Clients spell the paths both ways; neither gets a redirect."""
        assert (await pva.get(path)).status_code == 200

    @pytest.mark.parametrize("headers", [{"apikey": "wrong"}, {"apikey": ""}])
    async def test_unknown_or_missing_key_is_406(
        self, smspva: SmspvaEmulator, headers: dict[str, str]
    ) -> None:
        """seeds/000:237: authorization error."""
        async with asgi_client(smspva, headers=headers) as client:
            assert error_status(await client.get("/activation/number/US/opt20")) == 406
            assert error_status(await client.get("/activation/balance")) == 406

    @pytest.mark.parametrize(
        "path", ["/activation/number/US/opt99999", "/activation/number/XX/opt20"]
    )
    async def test_unknown_service_or_country_is_405(
        self, pva: httpx.AsyncClient, path: str
    ) -> None:
        """Codes outside the catalog are invalid parameters (docs.smspva.com's 405)."""
        assert error_status(await pva.get(path)) == 405

    async def test_no_stock_is_407(self, smspva: SmspvaEmulator, pva: httpx.AsyncClient) -> None:
        """seeds/000:238: no numbers."""
        smspva.set_stock("opt20", "US", 1)
        await buy(pva)
        assert error_status(await pva.get("/activation/number/US/opt20")) == 407

    async def test_not_enough_money_is_501(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """seeds/000:242: insufficient funds; nothing is sold or charged."""
        smspva.set_stock("opt20", "US", 5, price="0.50")
        smspva.set_balance("test-key", "0.49")
        assert error_status(await pva.get("/activation/number/US/opt20")) == 501
        assert smspva.orders == {} and smspva.stock("opt20", "US") == 5
        smspva.set_balance("test-key", "0.50")
        await buy(pva)
        assert smspva.balances["test-key"] == 0


class TestOperators:
    @pytest.mark.parametrize(
        ("path", "params"),
        [
            ("/activation/number/RU/opt29/mts", {}),  # the SDK's get_number_by_operator
            ("/activation/number/RU/opt29", {"operator": "mts"}),  # seeds/000:43
            ("/activation/number/RU/opt29/MTS/", {"operator": "mts"}),  # case; both agree
        ],
    )
    async def test_operator_in_path_or_query_sells_from_its_stock(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, path: str, params: dict[str, str]
    ) -> None:
        """The number comes from the asked operator's stock, and the order records it."""
        before = smspva.stock("opt29", "RU", "beeline")
        response = await pva.get(path, params=params)
        order = smspva.orders[str(response.json()["data"]["orderId"])]
        assert order.operator == "mts"
        assert smspva.stock("opt29", "RU", "mts") == 24  # 100 over four operators, less one
        assert smspva.stock("opt29", "RU", "beeline") == before
        assert smspva.stock("opt29", "RU") == 99

    @pytest.mark.parametrize(
        ("path", "params"),
        [
            ("/activation/number/RU/opt29/verizon", {}),
            ("/activation/number/RU/opt29", {"operator": "nope"}),
            ("/activation/number/RU/opt29/mts", {"operator": "beeline"}),
        ],
    )
    async def test_unknown_or_conflicting_operator_is_405(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, path: str, params: dict[str, str]
    ) -> None:
        """An operator the country lacks is an invalid parameter (seeds/000:236), as are two."""
        assert error_status(await pva.get(path, params=params)) == 405
        assert smspva.orders == {}

    async def test_a_sold_out_operator_is_407_while_others_sell(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """seeds/000:238 for the asked operator; without one, any operator with numbers sells."""
        smspva.set_stock("opt20", "US", 0, operator="tmobile")
        assert error_status(await pva.get("/activation/number/US/opt20/tmobile")) == 407
        order_id = await buy(pva)
        assert smspva.orders[order_id].operator == "verizon"

    async def test_without_operator_the_fullest_operator_sells(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """Purchases drain the operators evenly, so the counts stay consistent with sales."""
        smspva.set_stock("opt20", "US", 3)  # split 2 + 1; ties go to the first operator
        split = [smspva.stock("opt20", "US", op) for op in ("tmobile", "verizon")]
        assert split == [2, 1]
        sold = [smspva.orders[await buy(pva)].operator for _ in range(3)]
        assert sold == ["tmobile", "tmobile", "verizon"]
        assert error_status(await pva.get("/activation/number/US/opt20")) == 407

    async def test_cancel_returns_the_number_to_its_operator(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        order_id = (await pva.get("/activation/number/US/opt20/verizon")).json()["data"]["orderId"]
        assert smspva.stock("opt20", "US", "verizon") == 49
        await pva.put(f"/activation/cancelorder/{order_id}")
        assert smspva.stock("opt20", "US", "verizon") == 50

    def test_operator_knobs_check_the_name(self, smspva: SmspvaEmulator) -> None:
        """A typo in an operator fails loudly; names match without regard to case."""
        smspva.set_stock("opt20", "US", 7, operator="TMobile")
        assert smspva.stock("opt20", "US", "tmobile") == 7
        assert smspva.stock("opt20", "US") == 57
        with pytest.raises(KeyError):
            smspva.set_stock("opt20", "US", 1, operator="mts")
        assert smspva.operators("XK") == ("virtual",)  # countries without data: one operator

    async def test_operators_endpoint(self, pva: httpx.AsyncClient) -> None:
        """smspva-sdk types.py ActivationGetOperatorsResponseData: country and operators."""
        assert (await pva.get("/activation/operators/uk")).json() == {
            "statusCode": 200,
            "data": {"country": "UK", "operators": ["ee", "o2", "three", "vodafone"]},
        }
        assert error_status(await pva.get("/activation/operators/XX")) == 405

    async def test_countnumbers_match_what_can_be_bought(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """types.py ActivationGetCountryNumberCountsResponse: one item per operator, services
        with numbers only; a purchase shows up in its operator's count."""
        smspva.set_all_stock(0)
        smspva.set_stock("opt131", "US", 2, operator="verizon")
        await pva.get("/activation/number/US/opt131/verizon")
        assert (await pva.get("/activation/countnumbers/US")).json()["data"] == [
            {"operator": "tmobile", "country": "US", "services": []},
            {
                "operator": "verizon",
                "country": "US",
                "services": [{"service": "opt131", "total": 1}],
            },
        ]
        await pva.get("/activation/number/US/opt131/verizon")
        assert error_status(await pva.get("/activation/number/US/opt131")) == 407
        everything = (await pva.get("/activation/countnumbers")).json()["data"]
        assert {item["country"] for item in everything} == set(smspva.country_iso)
        assert all(item["services"] == [] for item in everything)
        assert error_status(await pva.get("/activation/countnumbers/XX")) == 405


class TestSms:
    async def test_waiting_is_202_with_the_sdks_error_object(self, pva: httpx.AsyncClient) -> None:
        """smspva-sdk _transport.py: a 202 is "pending" only with error.type
        SMS_NOT_YET_RECEIVED; types.py ActivationReceiveSmsResponseData: orderId an int."""
        order_id = await buy(pva)
        response = await pva.get(f"/activation/sms/{order_id}")
        assert response.status_code == 202
        assert response.json() == {
            "statusCode": 202,
            "error": {"type": "SMS_NOT_YET_RECEIVED", "description": "SMS not yet received"},
            "data": {"orderId": int(order_id), "orderExpireIn": 600},
        }

    async def test_waiting_in_seed_shapes_is_the_seeds_body(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """seeds/000:91-100: statusCode 202, orderId as a string, seconds left, no error."""
        smspva.shapes = "seed"
        order_id = await buy(pva)
        response = await pva.get(f"/activation/sms/{order_id}")
        assert response.status_code == 202
        assert response.json() == {
            "statusCode": 202,
            "data": {"orderId": order_id, "orderExpireIn": 600},
        }

    @pytest.mark.parametrize("shapes", ["sdk", "seed"])
    async def test_received_sms_carries_code_and_full_text(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, clock: FakeClock, shapes: Shapes
    ) -> None:
        """seeds/000:76-89: data.sms.code and data.sms.fullText; orderId a str there, an int
        in the SDK's types.py."""
        smspva.shapes = shapes
        order_id = await buy(pva)
        smspva.deliver_sms(order_id, code="1234", text="Your activation code is 1234")
        clock.advance(20)
        response = await pva.get(f"/activation/sms/{order_id}/")
        assert response.json() == {
            "statusCode": 200,
            "data": {
                "sms": {"code": "1234", "fullText": "Your activation code is 1234"},
                "orderId": int(order_id) if shapes == "sdk" else order_id,
                "orderExpireIn": 580,
            },
        }

    async def test_sms_arrive_by_themselves_and_again_after_clearsms(
        self, clock: FakeClock
    ) -> None:
        """With sms_delay, a code comes after purchase, and a different one after clearsms."""
        smspva = SmspvaEmulator(sms_delay=3.0, clock=clock, seed=1)
        async with asgi_client(smspva, headers={"apikey": "test-key"}) as pva:
            order_id = await buy(pva)
            sms = f"/activation/sms/{order_id}"
            assert (await pva.get(sms)).status_code == 202
            clock.advance(3)
            first = (await pva.get(sms)).json()["data"]["sms"]["code"]
            cleared = await pva.put(f"/activation/clearsms/{order_id}")
            assert cleared.json()["data"] == {"orderId": int(order_id), "orderExpireIn": 597}
            clock.advance(2.9)
            assert (await pva.get(sms)).status_code == 202
            clock.advance(0.1)
            second = (await pva.get(sms)).json()["data"]["sms"]["code"]
        assert first != second
        assert smspva.orders[order_id].codes == [first, second]

    async def test_clearsms_needs_an_sms_to_clear(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """Before any SMS, and while the next one is awaited, clearsms is refused with 405."""
        order_id = await buy(pva)
        assert error_status(await pva.put(f"/activation/clearsms/{order_id}")) == 405
        smspva.deliver_sms(order_id)
        assert (await pva.put(f"/activation/clearsms/{order_id}")).status_code == 200
        assert error_status(await pva.put(f"/activation/clearsms/{order_id}")) == 405
        assert (await pva.get(f"/activation/sms/{order_id}")).status_code == 202

    async def test_expiry_is_410_and_refunds_without_sms(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """seeds/000:59, 239: after 600 s the order is gone (410) and the money is back."""
        order_id = await buy(pva)
        clock.advance(599)
        assert (await pva.get(f"/activation/sms/{order_id}")).json()["data"]["orderExpireIn"] == 1
        clock.advance(1)
        assert error_status(await pva.get(f"/activation/sms/{order_id}")) == 410
        assert smspva.balances["test-key"] == Decimal("1000")
        assert smspva.orders[order_id].state is OrderState.EXPIRED

    async def test_an_sms_due_after_expiry_never_arrives(self, clock: FakeClock) -> None:
        """Arrivals are judged against the order's lifetime, however late the next poll is."""
        smspva = SmspvaEmulator(sms_delay=700.0, clock=clock)
        async with asgi_client(smspva, headers={"apikey": "test-key"}) as pva:
            order_id = await buy(pva)
            clock.advance(800)
            assert error_status(await pva.get(f"/activation/sms/{order_id}")) == 410
        assert smspva.orders[order_id].messages == []

    @pytest.mark.parametrize("order_id", ["42", "abc"])
    async def test_unknown_order_is_404(self, pva: httpx.AsyncClient, order_id: str) -> None:
        """seeds/000:235: order not found, also for ids that are not numbers."""
        assert error_status(await pva.get(f"/activation/sms/{order_id}")) == 404

    async def test_another_accounts_order_is_404(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """An order is visible only to the key that bought it."""
        order_id = await buy(pva)
        smspva.set_balance("other-key", 10)
        async with asgi_client(smspva, headers={"apikey": "other-key"}) as other:
            for response in (
                await other.get(f"/activation/sms/{order_id}"),
                await other.put(f"/activation/cancelorder/{order_id}"),
            ):
                assert error_status(response) == 404
        assert smspva.orders[order_id].state is OrderState.ACTIVE


class TestStopAndStatus:
    async def test_stopsms_finishes_an_order_that_got_its_code(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """PUT stopsms (smspva-sdk _contracts.json): FINISHED, paid, gone from orders, 410 after."""
        order_id = await buy(pva)
        assert error_status(await pva.put(f"/activation/stopsms/{order_id}")) == 405
        smspva.deliver_sms(order_id)
        response = await pva.put(f"/activation/stopsms/{order_id}")
        assert response.json() == {"statusCode": 200, "data": {"orderId": int(order_id)}}
        order = smspva.orders[order_id]
        assert order.state is OrderState.FINISHED and not order.refunded
        assert smspva.stock("opt20", "US") == 99  # a used number is not resold
        assert (await pva.get("/activation/orders")).json()["data"]["orders"] == []
        assert error_status(await pva.get(f"/activation/sms/{order_id}")) == 410
        with pytest.raises(ValueError, match="finished"):
            smspva.deliver_sms(order_id)

    async def test_numberstatus_finds_the_callers_order_on_a_number(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """types.py ActivationGetNumberStatusResponseData: number, orderId, countryCode."""
        order_id = await buy(pva)
        phone = smspva.orders[order_id].phone
        expected = {"number": phone, "orderId": int(order_id), "countryCode": "US"}
        for number in (phone, "1" + phone):
            response = await pva.get(f"/activation/numberstatus/{number}/opt20")
            assert response.json() == {"statusCode": 200, "data": expected}
        assert error_status(await pva.get(f"/activation/numberstatus/{phone}/opt1")) == 404
        assert error_status(await pva.get(f"/activation/numberstatus/{phone}/nope")) == 405


class TestCancelAndBlock:
    async def test_cancel_refunds_and_returns_the_number(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """seeds/000:131-134: a PUT that refunds; the order is closed (410) afterwards."""
        order_id = await buy(pva)
        response = await pva.put(f"/activation/cancelorder/{order_id}")
        assert response.json() == {"statusCode": 200, "data": {"orderId": int(order_id)}}
        assert smspva.balances["test-key"] == Decimal("1000")
        assert smspva.stock("opt20", "US") == 100
        assert smspva.orders[order_id].state is OrderState.CANCELLED
        assert error_status(await pva.get(f"/activation/sms/{order_id}")) == 410
        assert error_status(await pva.put(f"/activation/cancelorder/{order_id}")) == 410

    async def test_cancel_after_an_sms_is_refused(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """A number that received a code is paid for: cancel answers 405 and keeps the charge."""
        order_id = await buy(pva)
        smspva.deliver_sms(order_id)
        assert error_status(await pva.put(f"/activation/cancelorder/{order_id}")) == 405
        assert smspva.orders[order_id].state is OrderState.ACTIVE
        assert not smspva.orders[order_id].refunded

    @pytest.mark.parametrize("with_sms", [False, True])
    async def test_block_refunds_only_without_sms(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, with_sms: bool
    ) -> None:
        """seeds/000:139-142: the number is marked bad; refunded if nothing came."""
        order_id = await buy(pva)
        if with_sms:
            smspva.deliver_sms(order_id)
        response = await pva.put(f"/activation/blocknumber/{order_id}")
        assert response.json() == {"statusCode": 200, "data": {"orderId": int(order_id)}}
        order = smspva.orders[order_id]
        assert order.state is OrderState.BLOCKED and order.refunded is not with_sms
        assert smspva.stock("opt20", "US") == 99  # a bad number does not go back on sale

    async def test_order_actions_are_put(self, pva: httpx.AsyncClient) -> None:
        """seeds/000:123, 131, 139: GET on these paths is not the API."""
        order_id = await buy(pva)
        for action in ("clearsms", "cancelorder", "blocknumber"):
            assert (await pva.get(f"/activation/{action}/{order_id}")).status_code == 405
            assert (await pva.get(f"/activation/{action}/{order_id}")).text == "Method Not Allowed"


class TestAccount:
    @pytest.mark.parametrize(("shapes", "shown"), [("sdk", "10.50"), ("seed", 10.5)])
    async def test_balance_and_userinfo(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, shapes: Shapes, shown: object
    ) -> None:
        """data.balance: a str in smspva-sdk types.py, a float in docs.smspva.com; userinfo adds
        name and karma."""
        smspva.shapes = shapes
        smspva.set_balance("test-key", "10.5")
        assert (await pva.get("/activation/balance")).json() == {
            "statusCode": 200,
            "data": {"balance": shown},
        }
        info = (await pva.get("/activation/userinfo/")).json()["data"]
        assert info["balance"] == shown
        assert isinstance(info["name"], str) and isinstance(info["karma"], float)

    async def test_serviceprice(self, smspva: SmspvaEmulator, pva: httpx.AsyncClient) -> None:
        """types.py ActivationGetServicePriceResponseData: a str price, per operator too."""
        smspva.set_stock("opt131", "US", 4, price="0.5", operator="verizon")
        smspva.set_stock("opt131", "US", 0, operator="tmobile")
        response = await pva.get("/activation/serviceprice/US/opt131")
        assert response.json()["data"] == {
            "service": "opt131",
            "serviceDescription": "Apple",
            "country": "US",
            "price": "0.50",
            "priceByOperators": {"verizon": "0.50"},
        }
        assert error_status(await pva.get("/activation/serviceprice/US/nope")) == 405

    async def test_serviceprice_in_seed_shapes(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """docs.smspva.com: service, serviceDescription and a float price of one pair."""
        smspva.shapes = "seed"
        response = await pva.get("/activation/serviceprice/US/opt131")
        assert response.json()["data"] == {
            "service": "opt131",
            "serviceDescription": "Apple",
            "price": float(smspva.price("opt131", "US")),
        }

    async def test_price_lists(self, smspva: SmspvaEmulator, pva: httpx.AsyncClient) -> None:
        """types.py: serviceprice/{country} (s, sd, c, p, po), serviceprices/{service} (clist
        of countries with operators, a float price) and servicesprices (every pair)."""
        smspva.set_stock("opt131", "US", 3, price="1.25")
        country = (await pva.get("/activation/serviceprice/US")).json()["data"]
        assert len(country) == len(smspva.services)
        [apple] = [item for item in country if item["s"] == "opt131"]
        assert apple == {
            "s": "opt131",
            "sd": "Apple",
            "c": "US",
            "p": "1.25",
            "po": {"tmobile": "1.25", "verizon": "1.25"},
        }
        service = (await pva.get("/activation/serviceprices/opt131")).json()["data"]
        assert (service["scode"], service["sname"]) == ("opt131", "Apple")
        assert len(service["clist"]) == len(smspva.country_iso)
        [us] = [item for item in service["clist"] if item["ccode"] == "US"]
        assert us == {
            "ccode": "US",
            "cname": "United States",
            "opers": [
                {"opcode": "tmobile", "price": 1.25, "count": 2},
                {"opcode": "verizon", "price": 1.25, "count": 1},
            ],
        }
        every = (await pva.get("/activation/servicesprices")).json()["data"]
        assert len(every) == len(smspva.services) * len(smspva.country_iso)
        assert {"service": "opt131", "serviceDescription": "Apple", "country": "US"} | {
            "price": "1.25"
        } in every
        assert error_status(await pva.get("/activation/serviceprice/XX")) == 405
        assert error_status(await pva.get("/activation/serviceprices/opt99999")) == 405

    async def test_orders_lists_the_callers_active_orders(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """Closed orders and other accounts' orders are not listed."""
        kept, cancelled = await buy(pva), await buy(pva, "DE", "opt1")
        await pva.put(f"/activation/cancelorder/{cancelled}")
        smspva.deliver_sms(kept, code="777777", text="code 777777")
        smspva.set_balance("other-key", 10)
        async with asgi_client(smspva, headers={"apikey": "other-key"}) as other:
            await buy(other)
        [item] = (await pva.get("/activation/orders")).json()["data"]["orders"]
        assert item == {
            "orderId": int(kept),
            "phoneNumber": int(smspva.orders[kept].phone),
            "countryCode": "US",
            "service": "opt20",
            "orderExpireIn": 600,
            "country": "US",
            "status": "received",
            "sms": {"code": "777777", "fullText": "code 777777"},
        }

    async def test_orders_items_per_shapes(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """types.py types `sms` as an object, so it is left out while none is shown; the seed
        shapes keep our earlier item with "sms": null."""
        order_id = await buy(pva)
        [item] = (await pva.get("/activation/orders")).json()["data"]["orders"]
        assert (item["status"], "sms" in item) == ("waiting", False)
        smspva.shapes = "seed"
        [item] = (await pva.get("/activation/orders")).json()["data"]["orders"]
        assert item == {
            "orderId": int(order_id),
            "phoneNumber": int(smspva.orders[order_id].phone),
            "countryCode": "US",
            "service": "opt20",
            "orderExpireIn": 600,
            "sms": None,
        }


class TestShapes:
    def test_shapes_are_checked_and_survive_reset(self) -> None:
        """`shapes` is how the emulator was built: reset keeps it."""
        with pytest.raises(ValueError, match="shapes"):
            SmspvaEmulator(shapes="v1")  # type: ignore[arg-type]
        emulator = SmspvaEmulator(shapes="seed")
        emulator.reset()
        assert emulator.shapes == "seed"

    def test_cli_passes_shapes_through(self) -> None:
        """`smsproxy emulate smspva --shapes seed`; the SDK's shapes by default."""
        parse = build_parser().parse_args
        assert parse(["emulate", "smspva", "--port", "1", "--shapes", "seed"]).shapes == "seed"
        assert parse(["emulate", "smspva", "--port", "1"]).shapes == "sdk"

    async def test_shapes_and_operator_stock_over_http(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """POST /_emulator/shapes and /_emulator/stock with an operator."""
        assert (await pva.post("/_emulator/shapes", json={"shapes": "seed"})).status_code == 200
        assert smspva.shapes == "seed"
        assert (await pva.post("/_emulator/shapes", json={"shapes": "x"})).status_code == 400
        stock = {"service": "opt20", "country": "US", "count": 9, "operator": "verizon"}
        assert (await pva.post("/_emulator/stock", json=stock)).status_code == 200
        assert smspva.stock("opt20", "US", "verizon") == 9


class TestRateLimit:
    async def test_more_than_50_requests_per_second_is_502(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """seeds/000:16, 243: the 51st request within a second on one key is refused."""
        for _ in range(50):
            assert (await pva.get("/activation/balance")).status_code == 200
        assert error_status(await pva.get("/activation/balance")) == 502
        smspva.set_balance("other-key", 1)
        async with asgi_client(smspva, headers={"apikey": "other-key"}) as other:
            assert (await other.get("/activation/balance")).status_code == 200
        clock.advance(1.0)
        assert (await pva.get("/activation/balance")).status_code == 200

    async def test_rate_limit_can_be_changed_or_disabled(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """With a frozen clock, tests that poll a lot switch the limit off."""
        await pva.post("/_emulator/rate_limit", json={"per_second": 2})
        statuses = [(await pva.get("/activation/balance")).status_code for _ in range(3)]
        assert statuses == [200, 200, 502]
        smspva.rate_limit = None
        statuses = [(await pva.get("/activation/balance")).status_code for _ in range(60)]
        assert set(statuses) == {200}
        smspva.reset()
        assert smspva.rate_limit == 50
