"""SMSPVA Activation API v2 emulator (proxy/emulators/smspva.py): wire format and order life."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from proxy.emulators import OrderState, SmspvaEmulator

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

    async def test_operator_is_recorded(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """seeds/000:43: the optional operator query parameter."""
        response = await pva.get("/activation/number/RU/opt29", params={"operator": "mts"})
        order = smspva.orders[str(response.json()["data"]["orderId"])]
        assert order.operator == "mts"


class TestSms:
    async def test_waiting_is_202_with_a_string_order_id(self, pva: httpx.AsyncClient) -> None:
        """seeds/000:91-100: statusCode 202, orderId as a string, seconds left."""
        order_id = await buy(pva)
        response = await pva.get(f"/activation/sms/{order_id}")
        assert response.status_code == 202
        assert response.json() == {
            "statusCode": 202,
            "data": {"orderId": order_id, "orderExpireIn": 600},
        }

    async def test_received_sms_carries_code_and_full_text(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """seeds/000:76-89: data.sms.code and data.sms.fullText."""
        order_id = await buy(pva)
        smspva.deliver_sms(order_id, code="1234", text="Your activation code is 1234")
        clock.advance(20)
        response = await pva.get(f"/activation/sms/{order_id}/")
        assert response.json() == {
            "statusCode": 200,
            "data": {
                "sms": {"code": "1234", "fullText": "Your activation code is 1234"},
                "orderId": order_id,
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
    async def test_balance_and_userinfo(
        self, smspva: SmspvaEmulator, pva: httpx.AsyncClient
    ) -> None:
        """docs.smspva.com: data.balance; userinfo adds name and karma."""
        smspva.set_balance("test-key", "10.5")
        assert (await pva.get("/activation/balance")).json() == {
            "statusCode": 200,
            "data": {"balance": 10.5},
        }
        info = (await pva.get("/activation/userinfo/")).json()["data"]
        assert info["balance"] == 10.5
        assert isinstance(info["name"], str) and isinstance(info["karma"], float)

    async def test_serviceprice(self, smspva: SmspvaEmulator, pva: httpx.AsyncClient) -> None:
        """docs.smspva.com: service, serviceDescription and price of one pair."""
        response = await pva.get("/activation/serviceprice/US/opt131")
        assert response.json()["data"] == {
            "service": "opt131",
            "serviceDescription": "Apple",
            "price": float(smspva.price("opt131", "US")),
        }
        assert error_status(await pva.get("/activation/serviceprice/US/nope")) == 405

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
            "sms": {"code": "777777", "fullText": "code 777777"},
        }


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
