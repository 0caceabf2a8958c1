"""Seed actions and parameters beyond the issues, end to end through real HTTP and Redis:
getBalanceAndCashBack, getHistory, getNumber's phoneException and the other getNumber
parameters, and the call actions, which no upstream can serve."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis

from proxy.emulators import OrderState
from proxy.store.keys import Keys
from tests.conftest import SMSPVA_KEY, Proxy, Upstream, deliver, order_for

# Every Russian number the emulators sell starts with 79 (the calling code, then 9).
EVERY_RUSSIAN_NUMBER = ",".join(f"79{n:02d}" for n in range(100))


def history(proxy: Proxy, tenant: str = "alice", **params: Any) -> list[dict[str, Any]]:
    response = proxy.call(tenant, action="getHistory", **params)
    assert response.headers["content-type"].startswith("application/json")
    body: list[dict[str, Any]] = response.json()
    return body


def redis_of(proxy: Proxy) -> tuple[redis.Redis, Keys]:
    client = redis.Redis.from_url(proxy.settings.redis.url, decode_responses=True)
    return client, Keys(proxy.settings.redis.key_prefix)


class TestBalanceAndCashBack:
    def test_same_as_balance(self, proxy: Proxy) -> None:
        """seeds/002:78-90: the balance with the cashback, which smsproxy never pays: 0."""
        balance = proxy.text(action="getBalance")
        assert re.fullmatch(r"ACCESS_BALANCE:\d+\.\d{2}", balance)
        assert proxy.text(action="getBalanceAndCashBack") == balance
        assert proxy.text(action="getbalanceandcashback") == balance

    def test_official_module(self, proxy: Proxy) -> None:
        """The official module slices the answer as it does getBalance's."""
        from smsactivate.api import SMSActivateAPI

        sa = SMSActivateAPI("alice-key")
        sa._SMSActivateAPI__api_url = proxy.endpoint
        assert sa.getBalanceAndCashBack() == sa.getBalance() == {"balance": "200.00"}


class TestHistory:
    def test_entries_newest_first(self, proxy: Proxy, smspva: Upstream) -> None:
        """Completed, cancelled and active activations with the seed's fields and types."""
        bought = proxy.call(action="getNumberV2", service="tg", country=0).json()
        done, done_phone = bought["activationId"], bought["phoneNumber"]
        code = deliver(smspva, done_phone, "4321")
        assert proxy.text(action="getStatus", id=done) == f"STATUS_OK:{code}"
        assert proxy.text(action="setStatus", id=done, status=6) == "ACCESS_ACTIVATION"
        cancelled, _ = proxy.buy()
        assert proxy.text(action="setStatus", id=cancelled, status=8) == "ACCESS_CANCEL"
        waiting, waiting_phone = proxy.buy()

        entries = history(proxy)
        assert [e["id"] for e in entries] == [waiting, cancelled, done]
        newest, _, oldest = entries
        assert newest["phone"] == waiting_phone
        assert (newest["status"], newest["cost"], json.loads(newest["sms"])) == ("4", 0, [])
        assert (entries[1]["status"], entries[1]["cost"]) == ("8", 0)
        assert oldest["status"] == "6"
        assert oldest["cost"] == bought["activationCost"] > 0
        assert len(json.loads(oldest["sms"])) == 1 and code in json.loads(oldest["sms"])[0]
        for entry in entries:
            assert set(entry) == {"id", "date", "phone", "sms", "cost", "status", "currency"}
            assert entry["currency"] == 840
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["date"])

    def test_offset_and_limit(self, proxy: Proxy) -> None:
        """seeds/004:269-270: offset skips the newest; limit caps the page."""
        ids = [proxy.buy()[0] for _ in range(3)]
        assert [e["id"] for e in history(proxy, limit=2)] == ids[:0:-1]
        assert [e["id"] for e in history(proxy, offset=2)] == ids[:1]
        assert [e["id"] for e in history(proxy, offset=1, limit=1)] == [ids[1]]
        assert history(proxy, offset=3) == []
        assert history(proxy, offset="9" * 30) == []
        assert len(history(proxy, limit=1000)) == 3  # capped at 100, more than there are

    def test_start_and_end(self, proxy: Proxy) -> None:
        """seeds/002:439-441: Unix timestamps bound the creation time; ISO 8601 works too."""
        first, _ = proxy.buy()
        time.sleep(1.1)
        between = time.time()
        time.sleep(0.1)
        second, _ = proxy.buy()
        assert [e["id"] for e in history(proxy, start=int(between))] == [second]
        assert [e["id"] for e in history(proxy, start=between)] == [second]
        assert [e["id"] for e in history(proxy, end=between)] == [first]
        iso = datetime.fromtimestamp(between, UTC).isoformat()
        assert [e["id"] for e in history(proxy, start=iso)] == [second]
        assert history(proxy, start=between + 3600) == []
        assert [e["id"] for e in history(proxy, start="soon", end="")] == [second, first]

    def test_only_the_tenants_own(self, proxy: Proxy) -> None:
        mine, _ = proxy.buy()
        theirs, _ = proxy.buy(tenant="bob")
        assert [e["id"] for e in history(proxy)] == [mine]
        assert [e["id"] for e in history(proxy, "bob")] == [theirs]
        assert history(proxy, "pva") == []

    def test_an_order_past_its_lifetime_shows_ended(self, make_proxy: Any) -> None:
        """No poll needed: the record's clock says the order is over (cancelled, no code)."""
        proxy = make_proxy(providers={"vaksms": {"order_lifetime": 0.5}})  # VAK names none
        activation_id, _ = proxy.buy("vak")
        time.sleep(0.6)
        assert [(e["id"], e["status"]) for e in history(proxy, "vak")] == [(activation_id, "8")]

    def test_expired_records_are_skipped(self, proxy: Proxy) -> None:
        """A record gone with its retention is skipped; offsets count only activations that
        exist."""
        ids = [proxy.buy()[0] for _ in range(3)]
        client, keys = redis_of(proxy)
        client.delete(keys.activation(ids[1]))
        assert [e["id"] for e in history(proxy, offset=1, limit=1)] == [ids[0]]
        assert [e["id"] for e in history(proxy)] == [ids[2], ids[0]]

    def test_index_is_bounded(self, proxy: Proxy) -> None:
        """One short string per hour, "id,id,", expiring a day after the retention; hours
        before the retention window are never read."""
        client, keys = redis_of(proxy)
        retention = proxy.settings.redis.retention_days * 86400
        activation_id, _ = proxy.buy()
        key = keys.tenant_history("alice", int(time.time() // 3600))
        assert client.get(key) == f"{activation_id},"
        assert retention < client.ttl(key) <= retention + 86400
        old_hour = int((time.time() - retention - 2 * 86400) // 3600)
        client.set(keys.tenant_history("alice", old_hour), f"{activation_id},")
        assert [e["id"] for e in history(proxy)] == [activation_id]

    def test_many_pages_across_hours(self, proxy: Proxy) -> None:
        """Ids indexed under earlier hours are read after the newer ones, newest first."""
        client, keys = redis_of(proxy)
        ids = [proxy.buy()[0] for _ in range(3)]
        hour = int(time.time() // 3600)
        # the first purchase as if made three hours earlier (its record says so too)
        client.set(keys.tenant_history("alice", hour), f"{ids[1]},{ids[2]},")
        client.set(keys.tenant_history("alice", hour - 3), f"{ids[0]},")
        client.hset(keys.activation(ids[0]), "created", repr(time.time() - 3 * 3600))
        assert [e["id"] for e in history(proxy)] == [ids[2], ids[1], ids[0]]
        assert [e["id"] for e in history(proxy, offset=2)] == [ids[0]]
        assert [e["id"] for e in history(proxy, start=time.time() - 3600)] == [ids[2], ids[1]]


class TestPhoneException:
    def test_excluded_numbers_are_given_back(self, proxy: Proxy, smspva: Upstream) -> None:
        """seeds/004:110: every number bought is excluded: each is cancelled upstream at once
        (refunded), at most three are tried, and the client hears NO_NUMBERS."""
        answer = proxy.text(
            action="getNumber", service="tg", country=0, phoneException=EVERY_RUSSIAN_NUMBER
        )
        assert answer == "NO_NUMBERS"
        orders = list(smspva.emulator.orders.values())
        assert len(orders) == 3
        assert all(o.state is OrderState.CANCELLED and o.refunded for o in orders)
        assert smspva.emulator.balances[SMSPVA_KEY] == Decimal("100")
        assert [e["status"] for e in history(proxy)] == ["8", "8", "8"]
        assert proxy.call(action="getActiveActivations").json()["error"] == "NO_ACTIVATIONS"
        metrics = proxy.client.get(proxy.url + "/metrics").text
        assert 'smsproxy_refunds_total{provider="smspva",why="phone_exception"} 3.0' in metrics

    def test_the_next_number_is_issued(
        self, proxy: Proxy, smspva: Upstream, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first number has an excluded prefix: given back, the second one is issued."""
        monkeypatch.setattr(smspva.emulator, "seed", 20240601)  # the same numbers after reset
        smspva.emulator.reset()
        learned, first_phone = proxy.buy()
        assert proxy.text(action="setStatus", id=learned, status=8) == "ACCESS_CANCEL"
        smspva.emulator.reset()
        body = proxy.call(
            action="getNumberV2", service="tg", country=0, orderId="o-1",
            phoneException=f"7000, {first_phone[:7]}",
        ).json()  # fmt: skip
        assert not body["phoneNumber"].startswith(first_phone[:7])
        excluded = order_for(smspva, first_phone)
        assert excluded.state is OrderState.CANCELLED and excluded.refunded
        assert order_for(smspva, body["phoneNumber"]).state is OrderState.ACTIVE
        statuses = {e["id"]: e["status"] for e in history(proxy)}
        assert statuses[body["activationId"]] == "4"
        assert sorted(statuses.values()) == ["4", "8", "8"]
        again = proxy.text(action="getNumberV2", service="tg", country=0, orderId="o-1")
        assert again == "ORDER_ALREADY_EXISTS"

    def test_a_number_not_taken_back_is_issued(self, proxy: Proxy, smspva: Upstream) -> None:
        """The upstream fails the cancel: the number is paid, so the client gets it (and can
        still give it back with setStatus 8) rather than it being dropped."""
        smspva.emulator.inject_error("cancelorder", status=503)
        answer = proxy.text(
            action="getNumber", service="tg", country=0, phoneException=EVERY_RUSSIAN_NUMBER
        )
        word, activation_id, phone = answer.split(":")
        assert word == "ACCESS_NUMBER" and phone.startswith("79")
        assert proxy.text(action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
        assert proxy.text(action="setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"
        assert order_for(smspva, phone).refunded

    @pytest.mark.parametrize("value", ["79", "7abc", "79180000", "7918;7900", "+7918"])
    def test_malformed_prefix(self, proxy: Proxy, smspva: Upstream, value: str) -> None:
        """seeds/004:130: WRONG_EXCEPTION_PHONE, before anything is bought."""
        answer = proxy.text(action="getNumber", service="tg", phoneException=value)
        assert answer == "WRONG_EXCEPTION_PHONE"
        assert not smspva.emulator.orders


class TestGetNumberParameters:
    def test_accepted_parameters(self, proxy: Proxy) -> None:
        """language, userId, useCashBack and verification do not stop an SMS purchase."""
        answer = proxy.text(
            action="getNumber", service="tg", country=0, language="en", userId="user-7",
            useCashBack="true", verification="true", activationType="0", forward="0",
        )  # fmt: skip
        assert answer.startswith("ACCESS_NUMBER:")

    @pytest.mark.parametrize(
        "params", [{"activationType": "1"}, {"activationType": "2", "language": "ru"},
                   {"forward": "1"}, {"forward": "true"}],
    )  # fmt: skip
    def test_what_no_upstream_sells(
        self, proxy: Proxy, smspva: Upstream, params: dict[str, str]
    ) -> None:
        """Calls and forwarding: no such numbers (seeds/004:133), and nothing bought."""
        for action in ("getNumber", "getNumberV2"):
            assert proxy.text(action=action, service="tg", **params) == "NO_NUMBERS"
        assert not smspva.emulator.orders


class TestCallActions:
    def test_incoming_call_status(self, proxy: Proxy) -> None:
        """seeds/002:522: no activation of ours is a call activation."""
        mine, _ = proxy.buy()
        for params in ({"activationId": mine}, {"id": mine}, {"activationId": "x"}, {}):
            answer = proxy.text(action="getIncomingCallStatus", **params)
            assert answer == "INVALID_ACTIVATION_ID"

    def test_create_task_for_call(self, proxy: Proxy) -> None:
        """seeds/002:689: the activation cannot place a call."""
        mine, _ = proxy.buy()
        answer = proxy.text(action="createTaskForCall", activationId=mine, phone="78006007664")
        assert answer == "WRONG_ACTIVATION_ID"

    def test_outgoing_calls(self, proxy: Proxy) -> None:
        """seeds/002:709: no call request exists: the empty object, with or without filters."""
        mine, _ = proxy.buy()
        for params in ({}, {"date": "2022-07-27"}, {"activationId": mine}):
            assert proxy.call(action="getOutgoingCalls", **params).json() == {}

    def test_official_module(self, proxy: Proxy) -> None:
        """The official module reads each answer as the error it knows, never crashing."""
        from smsactivate.api import SMSActivateAPI

        sa = SMSActivateAPI("alice-key")
        sa._SMSActivateAPI__api_url = proxy.endpoint
        activation_id, _ = proxy.buy()
        assert sa.getIncomingCallStatus(activation_id)["error"] == "INVALID_ACTIVATION_ID"
        assert sa.createTaskForCall(activation_id)["error"] == "WRONG_ACTIVATION_ID"
        assert sa.getOutgoingCalls() == {}

    def test_bad_key_first(self, proxy: Proxy) -> None:
        for action in ("getIncomingCallStatus", "createTaskForCall", "getOutgoingCalls"):
            assert proxy.text("nobody", action=action) == "BAD_KEY"


class TestFullSms:
    """getFullSms (seeds/002:1144-1162): the SMS's whole text, as `FULL_SMS:<text>`, the word
    SMS-Activate's libraries read (smsactivate api.py; the Java library seed 002 documents)."""

    def test_whole_text_of_each_sms(self, proxy: Proxy, smspva: Upstream) -> None:
        """The text as the upstream gave it (SMSPVA `fullText`, seeds/000:83); while none, or
        no further one after setStatus 3, has come: STATUS_WAIT_CODE; cancelled: STATUS_CANCEL."""
        activation_id, phone = proxy.buy("pva")
        assert proxy.text("pva", action="getFullSms", id=activation_id) == "STATUS_WAIT_CODE"
        order = order_for(smspva, phone)
        smspva.emulator.deliver_sms(order.order_id, "4242", "Telegram code: 4242. Keep it secret")
        time.sleep(0.03)
        assert proxy.text("pva", action="getFullSms", id=activation_id) == (
            "FULL_SMS:Telegram code: 4242. Keep it secret"
        )
        assert proxy.text("pva", action="getStatus", id=activation_id) == "STATUS_OK:4242"
        assert proxy.text("pva", action="setStatus", id=activation_id, status=3) == (
            "ACCESS_RETRY_GET"
        )
        assert proxy.text("pva", action="getFullSms", id=activation_id) == "STATUS_WAIT_CODE"
        smspva.emulator.deliver_sms(order.order_id, "5353", "Telegram code: 5353")
        time.sleep(0.03)
        assert proxy.text("pva", action="getFullSms", id=activation_id) == (
            "FULL_SMS:Telegram code: 5353"
        )
        cancelled, _ = proxy.buy("pva")
        assert proxy.text("pva", action="setStatus", id=cancelled, status=8) == "ACCESS_CANCEL"
        assert proxy.text("pva", action="getFullSms", id=cancelled) == "STATUS_CANCEL"

    def test_code_only_upstream_and_unknown_ids(self, proxy: Proxy, vaksms: Upstream) -> None:
        """VAK-SMS gives the code alone (seeds/003:1199-1205): that is the whole text known.
        Unknown or another tenant's ids: NO_ACTIVATION, as getStatus."""
        activation_id, phone = proxy.buy("vak")
        deliver(vaksms, phone, "6161")
        assert proxy.text("vak", action="getFullSms", id=activation_id) == "FULL_SMS:6161"
        assert proxy.text("alice", action="getFullSms", id=activation_id) == "NO_ACTIVATION"
        assert proxy.text("vak", action="getFullSms", id="x") == "NO_ACTIVATION"
        assert proxy.text("vak", action="getfullsms", id=999_999_999) == "NO_ACTIVATION"

    def test_official_module(self, proxy: Proxy, smspva: Upstream) -> None:
        """The official module's getFullSms (api.py) sends `id` and reads the answer back."""
        from smsactivate.api import SMSActivateAPI

        sa = SMSActivateAPI("pva-only-key")
        sa._SMSActivateAPI__api_url = proxy.endpoint
        activation_id, phone = proxy.buy("pva")
        smspva.emulator.deliver_sms(order_for(smspva, phone).order_id, "7777", "Code 7777")
        time.sleep(0.03)
        assert sa.getFullSms(activation_id) == "FULL_SMS:Code 7777"
        assert sa.getFullSms(999_999_999) == {
            "error": "NO_ACTIVATION",
            "message": "The specified activation id does not exist",
        }
