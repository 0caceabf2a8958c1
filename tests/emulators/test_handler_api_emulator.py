"""The SMS-Activate-compatible emulator (proxy/emulators/handler_api.py) under every profile.

Each shipped profile runs the whole activation life, every situation it has a word for (its
aliases included), every fault knob; the canonical profile answers protocol_fixtures/smsactivate
as smsproxy does; the `herosms` client from PyPI drives the emulator under the herosms profile.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from herosms import HeroSMSClient
from herosms.exceptions import (
    ActivationNotFoundError,
    AuthenticationError,
    ConflictError,
    InsufficientFundsError,
    NoNumbersAvailableError,
    ServerError,
)

from proxy.emulators.common import OrderState
from proxy.emulators.handler_api import EMULATED, HandlerApiEmulator
from proxy.protocol.requests import PARSERS
from proxy.providers.profiles import SITUATIONS, Profile, load_profile, profile_names

from .support import FakeClock

PATH = "/stubs/handler_api.php"
KEYS = {"alice-key": Decimal("100"), "bob-key": Decimal("100")}
PROFILES = profile_names()
FIXTURES_DIR = Path(__file__).resolve().parents[2] / "protocol_fixtures" / "smsactivate"


class Wire:
    """A client of the emulator that speaks one profile: its action names, numbers and codes,
    and reads any answer back as the SMS-Activate word it means."""

    def __init__(self, emulator: HandlerApiEmulator, client: httpx.AsyncClient) -> None:
        self.emulator = emulator
        self.profile: Profile = emulator.profile
        self.client = client

    async def call(
        self, action: str, key: str | None = "alice-key", **params: Any
    ) -> httpx.Response:
        """`action` as SMS-Activate names it, sent as the service spells it."""
        query = {"action": self.profile.actions.wire_name(action), **params}
        if key is not None:
            query["api_key"] = key
        return await self.client.get(PATH, params={k: str(v) for k, v in query.items()})

    def word(self, response: httpx.Response) -> str:
        """The SMS-Activate word an answer means: a bare word, or a JSON error's word."""
        errors = self.profile.errors
        text = response.text
        if errors.shape == "json" and text.startswith("{"):
            body = json.loads(text)
            if errors.word_field in body:
                text = str(body[errors.word_field])
        return self.profile.canonical_word(text) or text

    def raw_word(self, response: httpx.Response) -> str:
        """The word exactly as the service sent it (alias spelling kept)."""
        errors = self.profile.errors
        if errors.shape == "json" and response.text.startswith("{"):
            return str(response.json()[errors.word_field])
        return response.text

    def expect_error(self, response: httpx.Response, word: str) -> None:
        """`response` is the error `word` (canonical) in the profile's error shape."""
        assert self.word(response) == word, response.text
        assert response.status_code == self.profile.errors.http_status(word)
        if self.profile.errors.shape == "json":
            assert response.headers["content-type"].startswith("application/json")
            assert set(response.json()) == {
                self.profile.errors.word_field,
                self.profile.errors.text_field,
            }

    async def buy(self, service: str = "tg", country: int = 0, key: str = "alice-key") -> str:
        """Buy through getNumber in the profile's codes; the activation id."""
        numbering = self.profile.numbering
        response = await self.call(
            "getNumber",
            key,
            service=numbering.service_code(service),
            country=numbering.service_country(country),
        )
        word, activation_id, _ = response.text.split(":")
        assert word == "ACCESS_NUMBER", response.text
        return activation_id

    async def status(self, activation_id: str) -> str:
        return str((await self.call("getStatus", id=activation_id)).text)

    async def step(self, activation_id: str, meaning: str) -> httpx.Response:
        """setStatus with the profile's number for `meaning`."""
        number = self.profile.set_status.number(meaning)
        assert number is not None, f"{self.profile.name} lacks {meaning}"
        return await self.call("setStatus", id=activation_id, status=number)


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


Factory = Callable[..., Awaitable[Wire]]


@pytest.fixture(name="make")
async def make_fixture(clock: FakeClock) -> AsyncIterator[Factory]:
    clients: list[httpx.AsyncClient] = []

    async def make(profile: str | Profile | Path, **options: Any) -> Wire:
        options = {"api_keys": dict(KEYS), "sms_delay": None, "seed": 7, "clock": clock, **options}
        loaded = profile if isinstance(profile, Profile) else load_profile(profile)
        emulator = HandlerApiEmulator(loaded, **options)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emulator.app), base_url="http://emulator.test"
        )
        clients.append(client)
        return Wire(emulator, client)

    yield make
    for client in clients:
        await client.aclose()


def supporting(action: str) -> list[str]:
    return [name for name in PROFILES if load_profile(name).supports(action)]


def lacking(action: str) -> list[str]:
    return [name for name in PROFILES if not load_profile(name).supports(action)]


# -- the activation life ------------------------------------------------------------------------


class TestLifecycle:
    @pytest.mark.parametrize("name", PROFILES)
    async def test_buy_code_retry_finish(self, make: Factory, name: str) -> None:
        """getBalance, getNumber, getStatus wait -> ok after deliver_sms, a retry where the
        service has one, and finish in the profile's numbering; the price is charged."""
        wire = await make(name)
        emulator, rules = wire.emulator, wire.profile.set_status
        if wire.profile.supports("getBalance"):
            assert (await wire.call("getBalance")).text == "ACCESS_BALANCE:100.00"
        activation_id = await wire.buy()
        order = emulator.orders[activation_id]
        assert await wire.status(activation_id) == "STATUS_WAIT_CODE"
        emulator.deliver_sms(activation_id, code="11111")
        assert await wire.status(activation_id) == "STATUS_OK:11111"
        if rules.retry is not None:
            assert (await wire.step(activation_id, "retry")).text == "ACCESS_RETRY_GET"
            assert await wire.status(activation_id) == "STATUS_WAIT_RETRY:11111"
            emulator.deliver_sms(activation_id, code="22222")
            assert await wire.status(activation_id) == "STATUS_OK:22222"
        if rules.finish is not None:
            assert (await wire.step(activation_id, "finish")).text == "ACCESS_ACTIVATION"
            assert emulator.orders[activation_id].state is OrderState.FINISHED
            assert (await wire.status(activation_id)).startswith("STATUS_OK:")
        assert emulator.balances["alice-key"] == Decimal("100") - order.price
        if wire.profile.supports("getBalance"):
            expected = f"ACCESS_BALANCE:{Decimal('100') - order.price:.2f}"
            assert (await wire.call("getBalance")).text == expected

    @pytest.mark.parametrize("name", PROFILES)
    async def test_cancel_refunds(self, make: Factory, name: str) -> None:
        """Cancel (as the profile numbers it) before any SMS: refunded, the number back in
        stock, STATUS_CANCEL from then on; a second cancel answers the same."""
        wire = await make(name)
        emulator = wire.emulator
        stock = emulator.stock("tg", "0")
        activation_id = await wire.buy()
        assert emulator.stock("tg", "0") == stock - 1
        assert emulator.balances["alice-key"] < Decimal("100")
        assert (await wire.step(activation_id, "cancel")).text == "ACCESS_CANCEL"
        assert emulator.balances["alice-key"] == Decimal("100")
        assert emulator.stock("tg", "0") == stock
        assert await wire.status(activation_id) == "STATUS_CANCEL"
        assert (await wire.step(activation_id, "cancel")).text == "ACCESS_CANCEL"
        assert emulator.balances["alice-key"] == Decimal("100")

    @pytest.mark.parametrize("name", PROFILES)
    async def test_cancel_after_a_code_is_refused(self, make: Factory, name: str) -> None:
        """seeds/002:363-367: a number that got its code is not given back."""
        wire = await make(name)
        activation_id = await wire.buy()
        wire.emulator.deliver_sms(activation_id, code="33333")
        wire.expect_error(await wire.step(activation_id, "cancel"), "BAD_STATUS")
        assert await wire.status(activation_id) == "STATUS_OK:33333"

    @pytest.mark.parametrize("name", PROFILES)
    async def test_the_window_ends(self, make: Factory, clock: FakeClock, name: str) -> None:
        """No code by the end of the window: cancelled and refunded; with a code: finished."""
        wire = await make(name, order_lifetime=600)
        empty, coded = await wire.buy(), await wire.buy()
        wire.emulator.deliver_sms(coded, code="4444")
        clock.advance(600)
        assert await wire.status(empty) == "STATUS_CANCEL"
        assert await wire.status(coded) == "STATUS_OK:4444"
        assert wire.emulator.orders[empty].refunded
        assert not wire.emulator.orders[coded].refunded

    @pytest.mark.parametrize("name", PROFILES)
    async def test_sms_arrives_by_itself(self, make: Factory, clock: FakeClock, name: str) -> None:
        """With sms_delay, the SMS comes that many seconds after the purchase."""
        wire = await make(name, sms_delay=30)
        activation_id = await wire.buy()
        clock.advance(29)
        assert await wire.status(activation_id) == "STATUS_WAIT_CODE"
        clock.advance(1)
        assert (await wire.status(activation_id)).startswith("STATUS_OK:")

    @pytest.mark.parametrize("name", PROFILES)
    async def test_unknown_and_foreign_activations(self, make: Factory, name: str) -> None:
        """Another account's activation looks like an unknown one."""
        wire = await make(name)
        foreign = await wire.buy(key="bob-key")
        for activation_id in ("999999999", foreign):
            response = await wire.call("getStatus", id=activation_id)
            wire.expect_error(response, "NO_ACTIVATION")
            assert wire.raw_word(response) == wire.profile.word_for("unknown_activation")

    @pytest.mark.parametrize("name", PROFILES)
    async def test_phone_form(self, make: Factory, name: str) -> None:
        """SMS-Activate's phone carries the calling code (seeds/004:142); SMSPVA's handler
        answers the national number (seeds/000:351)."""
        wire = await make(name)
        numbering = wire.profile.numbering
        response = await wire.call(
            "getNumber", service=numbering.service_code("tg"), country=numbering.service_country(0)
        )
        phone = response.text.split(":")[2]
        if numbering.phone == "national":
            assert re.fullmatch(r"9\d{9}", phone), phone
        else:
            assert re.fullmatch(r"79\d{9}", phone), phone


class TestSetStatusNumbering:
    @pytest.mark.parametrize("name", ["canonical", "grizzlysms"])
    async def test_minus_one_cancels(self, make: Factory, name: str) -> None:
        """seeds/000:363 (smsproxy accepts it); grizzly-sms-client 0.1.1 types.py:12."""
        wire = await make(name)
        activation_id = await wire.buy()
        response = await wire.call("setStatus", id=activation_id, status=-1)
        assert response.text == "ACCESS_CANCEL"

    async def test_smspva_alternative_has_only_minus_one(self, make: Factory) -> None:
        """seeds/000:360-364: -1 is the only status its handler documents."""
        wire = await make("smspva_alternative")
        activation_id = await wire.buy()
        for status in (1, 3, 6, 8):
            response = await wire.call("setStatus", id=activation_id, status=status)
            wire.expect_error(response, "BAD_STATUS")
        response = await wire.client.get(
            PATH, params={"api_key": "alice-key", "action": "setstatus", "id": activation_id,
                          "status": "-1"},
        )  # fmt: skip
        assert response.text == "ACCESS_CANCEL"
        assert await wire.status(activation_id) == "STATUS_CANCEL"

    async def test_herosms_separate_actions(self, make: Factory) -> None:
        """herosms 0.1.1 client.py:286-296: finishActivation and cancelActivation, by id."""
        wire = await make("herosms")
        emulator = wire.emulator
        done = await wire.buy()
        emulator.deliver_sms(done, code="5555")
        assert await wire.status(done) == "STATUS_OK:5555"
        answer = await wire.client.get(
            PATH, params={"api_key": "alice-key", "action": "finishActivation", "id": done}
        )
        assert answer.text == "ACCESS_ACTIVATION"
        assert emulator.orders[done].state is OrderState.FINISHED
        dropped = await wire.buy()
        answer = await wire.client.get(
            PATH, params={"api_key": "alice-key", "action": "cancelActivation", "id": dropped}
        )
        assert answer.text == "ACCESS_CANCEL"
        assert emulator.balances["alice-key"] == Decimal("100") - emulator.orders[done].price
        answer = await wire.client.get(
            PATH, params={"api_key": "alice-key", "action": "cancelActivation", "id": done}
        )
        wire.expect_error(answer, "BAD_STATUS")
        answer = await wire.client.get(
            PATH, params={"api_key": "alice-key", "action": "finishActivation", "id": "1"}
        )
        wire.expect_error(answer, "NO_ACTIVATION")
        answer = await wire.client.get(
            PATH, params={"api_key": "alice-key", "action": "finishActivation", "id": "x"}
        )
        wire.expect_error(answer, "WRONG_ACTIVATION_ID")
        assert emulator.stats()["requests"]["setStatus:finish"] == 3

    async def test_empty_answers(self, make: Factory, tmp_path: Path) -> None:
        """A profile whose setStatus answers an empty 204 (a profile given by path)."""
        path = tmp_path / "quiet.toml"
        path.write_text(
            '[profile]\nname = "quiet"\ntitle = "Quiet"\nsource = "test"\n'
            '[set_status]\nanswer = "empty"\nsource = "this test"\n',
            encoding="utf-8",
        )
        wire = await make(path)
        activation_id = await wire.buy()
        response = await wire.step(activation_id, "cancel")
        assert (response.status_code, response.text) == (204, "")
        wire.expect_error(await wire.step(activation_id, "retry"), "BAD_STATUS")

    async def test_the_steps_smsproxy_takes(self, make: Factory) -> None:
        """proxy/lifecycle.py plan_set_status: 1 any time, 3 again while waiting, 6 before any
        SMS gives the number back (refunded), 6 after a retry request completes."""
        wire = await make("canonical")
        emulator = wire.emulator
        early = await wire.buy()
        assert (await wire.step(early, "ready")).text == "ACCESS_READY"
        assert (await wire.step(early, "finish")).text == "ACCESS_ACTIVATION"
        assert emulator.orders[early].refunded
        assert await wire.status(early) == "STATUS_CANCEL"
        late = await wire.buy()
        emulator.deliver_sms(late, code="6666")
        assert (await wire.step(late, "retry")).text == "ACCESS_RETRY_GET"
        assert (await wire.step(late, "retry")).text == "ACCESS_RETRY_GET"
        assert (await wire.step(late, "finish")).text == "ACCESS_ACTIVATION"
        assert (await wire.step(late, "finish")).text == "ACCESS_ACTIVATION"
        assert await wire.status(late) == "STATUS_OK:6666"
        wire.expect_error(await wire.step(late, "ready"), "BAD_STATUS")
        wire.expect_error(await wire.call("setStatus", id=late, status=5), "BAD_STATUS")
        wire.expect_error(await wire.call("setStatus", id=late, status="٨"), "BAD_STATUS")
        for bad_id in ("abc", "١"):
            response = await wire.call("setStatus", id=bad_id, status=8)
            wire.expect_error(response, "WRONG_ACTIVATION_ID")


# -- JSON answers ---------------------------------------------------------------------------------


class TestActiveActivations:
    @pytest.mark.parametrize("name", supporting("getActiveActivations"))
    async def test_envelope_and_entries(self, make: Factory, name: str) -> None:
        """seeds/004:77-102 as the profile wraps them; only the caller's open activations."""
        wire = await make(name)
        answers = wire.profile.answers
        empty = (await wire.call("getActiveActivations")).json()
        assert (
            empty
            == {
                "wrapped": {"status": "error", "error": "NO_ACTIVATIONS"},
                "list": [],
                "data": {"data": []},
            }[answers.active_activations]
        )
        waiting, coded, dropped = await wire.buy(), await wire.buy(), await wire.buy()
        await wire.buy(key="bob-key")
        wire.emulator.deliver_sms(coded, code="7777", text="Your code is 7777")
        await wire.step(dropped, "cancel")
        await wire.step(waiting, "ready")
        body = (await wire.call("getActiveActivations")).json()
        entries = {
            "wrapped": lambda b: b["activeActivations"],
            "list": lambda b: b,
            "data": lambda b: b["data"],
        }[answers.active_activations](body)
        if answers.active_activations == "wrapped":
            assert body["status"] == "success"
        by_id = {entry["activationId"]: entry for entry in entries}
        assert set(by_id) == {waiting, coded}
        assert by_id[waiting]["activationStatus"] == "1"
        assert by_id[waiting]["smsCode"] is None
        assert by_id[coded]["activationStatus"] == "4"
        assert by_id[coded]["smsCode"] == (["7777"] if answers.sms_code == "list" else "7777")
        assert by_id[coded]["smsText"] == "[Your code is 7777]"
        assert by_id[coded]["currency"] == 840
        assert by_id[coded]["countryCode"] == "0"

    @pytest.mark.parametrize("name", lacking("getActiveActivations"))
    async def test_where_the_service_has_none(self, make: Factory, name: str) -> None:
        """Not documented for the service: answered as an unknown action."""
        wire = await make(name)
        wire.expect_error(await wire.call("getActiveActivations"), "BAD_ACTION")


class TestNumberV2:
    @pytest.mark.parametrize("name", supporting("getNumberV2"))
    async def test_fields(self, make: Factory, name: str) -> None:
        """seeds/004:140-149 with the seed's types, the profile's extra keys and currency."""
        wire = await make(name)
        body = (await wire.call("getNumberV2", service="tg", country=0, orderId="o-1")).json()
        order = wire.emulator.orders[str(body["activationId"])]
        assert isinstance(body["activationId"], int)
        assert body["phoneNumber"] == order.phone
        assert body["activationCost"] == float(order.price)
        assert body["currency"] == {"USD": 840, "RUB": 643}[wire.profile.currency]
        assert (body["countryCode"], body["canGetAnotherSms"]) == ("0", "1")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["activationTime"])
        extra = dict(wire.profile.answers.number_v2_fields)
        base = {"activationId", "phoneNumber", "activationCost", "currency", "countryCode",
                "canGetAnotherSms", "activationTime", "activationOperator"}  # fmt: skip
        assert set(body) == base | set(extra)
        for field, what in extra.items():
            if what == "calling_code":
                assert body[field] == 7
            else:
                assert body[field] > body["activationTime"]
        again = await wire.call("getNumberV2", service="tg", country=0, orderId="o-1")
        wire.expect_error(again, "ORDER_ALREADY_EXISTS")
        other = await wire.call("getNumberV2", "bob-key", service="tg", country=0, orderId="o-1")
        assert other.status_code == 200  # orderId is unique per account (seeds/004:137)

    @pytest.mark.parametrize("name", lacking("getNumberV2"))
    async def test_where_the_service_has_none(self, make: Factory, name: str) -> None:
        wire = await make(name)
        wire.expect_error(await wire.call("getNumberV2", service="tg", country=0), "BAD_ACTION")


class TestStatusV2:
    @pytest.mark.parametrize("name", supporting("getStatusV2"))
    async def test_waiting_code_cancelled(self, make: Factory, name: str) -> None:
        """seeds/004:238-259; the SMS's verificationType is the profile's."""
        wire = await make(name)
        kind = wire.profile.answers.verification_type_sms
        activation_id = await wire.buy()
        waiting = (await wire.call("getStatusV2", id=activation_id)).json()
        assert waiting == {"verificationType": kind, "sms": None, "call": None}
        wire.emulator.deliver_sms(activation_id, code="8888", text="code 8888")
        body = (await wire.call("getStatusV2", id=activation_id)).json()
        assert body["sms"]["code"] == "8888" and body["sms"]["text"] == "code 8888"
        assert body["verificationType"] == kind and body["call"] is None
        dropped = await wire.buy()
        await wire.step(dropped, "cancel")
        assert (await wire.call("getStatusV2", id=dropped)).text == "STATUS_CANCEL"
        wire.expect_error(await wire.call("getStatusV2", id="1"), "NO_ACTIVATION")


class TestPrices:
    @pytest.mark.parametrize("name", supporting("getPrices"))
    async def test_one_pair_and_filters(self, make: Factory, name: str) -> None:
        """seeds/002:524-538: {country: {service: {cost, count}}}."""
        wire = await make(name)
        wire.emulator.set_stock("tg", "0", 12, price="0.75")
        body = (await wire.call("getPrices", service="tg", country=0)).json()
        assert body == {"0": {"tg": {"cost": 0.75, "count": 12}}}
        assert (await wire.call("getPrices", service="no-such")).json() == {}
        everywhere = (await wire.call("getPrices", service="tg")).json()
        assert everywhere["0"] == {"tg": {"cost": 0.75, "count": 12}} and len(everywhere) > 100

    @pytest.mark.parametrize("name", lacking("getPrices"))
    async def test_where_the_service_has_none(self, make: Factory, name: str) -> None:
        wire = await make(name)
        wire.expect_error(await wire.call("getPrices", service="tg"), "BAD_ACTION")


# -- numbering ------------------------------------------------------------------------------------


class TestSmspvaAlternativeNumbering:
    """reference/smspva_alternative_api_map.json: the endpoint's own country and service codes."""

    async def test_its_codes_buy_the_right_pair(self, make: Factory) -> None:
        wire = await make("smspva_alternative")
        emulator = wire.emulator
        response = await wire.call("getNumber", service="mg", country="5")
        activation_id = response.text.split(":")[1]
        order = emulator.orders[activation_id]
        assert (order.service, order.country) == ("lb", "128")  # Mail.ru Group in Georgia
        assert order.phone.startswith("995")
        assert response.text.split(":")[2] == order.phone.removeprefix("995")
        response = await wire.call("getNumber", service="tg", country="12")
        assert emulator.orders[response.text.split(":")[1]].country == "187"

    async def test_codes_it_does_not_have(self, make: Factory) -> None:
        """SMS-Activate's own codes mean nothing there: lb is no code of its, 9 no country."""
        wire = await make("smspva_alternative")
        wire.expect_error(await wire.call("getNumber", service="lb", country="0"), "BAD_SERVICE")
        wire.expect_error(await wire.call("getNumber", service="tg", country="9"), "NO_NUMBERS")
        assert (await wire.call("getNumber", service="magnit", country="0")).text == "BAD_SERVICE"


# -- situations and alias words ---------------------------------------------------------------


async def trigger(wire: Wire, situation: str) -> httpx.Response:
    """Put the emulator in `situation` and make the request that meets it."""
    emulator = wire.emulator
    if situation == "missing_key":
        return await wire.call("getNumber", key=None, service="tg", country=0)
    if situation == "bad_key":
        return await wire.call("getNumber", key="nobody", service="tg", country=0)
    if situation == "unknown_action":
        return await wire.client.get(PATH, params={"api_key": "alice-key", "action": "getX"})
    if situation == "unknown_service":
        return await wire.call("getNumber", service="no-such-service", country=0)
    if situation == "unknown_country":
        return await wire.call("getNumber", service="tg", country=999999)
    if situation == "region_unavailable":
        emulator.set_unavailable("tg", "0")
    elif situation == "service_prohibited":
        emulator.prohibit("tg")
    elif situation == "no_numbers":
        emulator.set_stock("tg", "0", 0)
    elif situation == "no_balance":
        emulator.set_balance("alice-key", 0)
    elif situation == "unknown_activation":
        return await wire.call("getStatus", id=1)
    elif situation == "bad_status":
        return await wire.call("setStatus", id=await wire.buy(), status=5)
    elif situation == "early_cancel":
        emulator.early_cancel_window = 120
        return await wire.step(await wire.buy(), "cancel")
    elif situation == "server_error":
        emulator.inject_error("getNumber", status=200)
    return await wire.call("getNumber", service="tg", country=0)


ALIASES = [
    pytest.param(name, alias.when, id=f"{name}-{alias.word}")
    for name in PROFILES
    for alias in load_profile(name).aliases
]


class TestWords:
    @pytest.mark.parametrize("name", PROFILES)
    @pytest.mark.parametrize("situation", sorted(SITUATIONS))
    async def test_every_situation(self, make: Factory, name: str, situation: str) -> None:
        """Each situation answers the profile's word (its alias, else SMS-Activate's), in its
        error shape, and means SMS-Activate's word for it."""
        wire = await make(name)
        response = await trigger(wire, situation)
        assert wire.raw_word(response) == wire.profile.word_for(situation), response.text
        assert wire.word(response) == SITUATIONS[situation]
        if situation != "server_error":  # its status is the knob's
            wire.expect_error(response, SITUATIONS[situation])

    def test_every_alias_is_reached(self) -> None:
        """Issue 16: every alias word the profiles ship is answered by the emulator."""
        assert {param.values[1] for param in ALIASES} <= set(SITUATIONS)
        assert len(ALIASES) == sum(len(load_profile(n).aliases) for n in PROFILES) >= 6

    @pytest.mark.parametrize(("name", "situation"), ALIASES)
    async def test_alias(self, make: Factory, name: str, situation: str) -> None:
        wire = await make(name)
        alias = next(a for a in wire.profile.aliases if a.when == situation)
        response = await trigger(wire, situation)
        assert alias.matches(wire.raw_word(response))
        assert wire.profile.canonical_word(wire.raw_word(response)) == alias.means

    @pytest.mark.parametrize("name", PROFILES)
    async def test_unknown_actions(self, make: Factory, name: str) -> None:
        """An action the service lacks or nobody has: its unknown-action answer."""
        wire = await make(name)
        for action in ("getSomethingElse", "getHistory", *sorted(
            a for a in EMULATED if not wire.profile.supports(a)
        )):  # fmt: skip
            response = await wire.client.get(
                PATH, params={"api_key": "alice-key", "action": action}
            )
            wire.expect_error(response, "BAD_ACTION")
        assert wire.emulator.stats()["requests"]["unknown"] >= 2

    async def test_herosms_statuses(self, make: Factory) -> None:
        """herosms 0.1.1 exceptions.py:156-198: errors as HTTP statuses with a JSON body."""
        wire = await make("herosms")
        cases = {"bad_key": 401, "no_balance": 402, "no_numbers": 404,
                 "unknown_activation": 404, "bad_status": 409, "unknown_service": 400}  # fmt: skip
        for situation, status in cases.items():
            wire.emulator.reset()
            response = await trigger(wire, situation)
            assert response.status_code == status, (situation, response.text)
            assert response.json()["title"] == SITUATIONS[situation]
        response = await wire.call("getNumber", service="tg", country=0, maxPrice="0.01")
        assert response.status_code == 400
        assert response.json()["title"] == "WRONG_MAX_PRICE"
        assert re.search(r": \d+\.\d\d$", response.json()["details"])


# -- the request, as smsproxy reads it ----------------------------------------------------------


class TestRequests:
    async def test_post_form(self, make: Factory) -> None:
        """seeds/004:6: GET or POST; a form body overlays the query string."""
        wire = await make("canonical")
        response = await wire.client.post(
            PATH,
            params={"api_key": "nobody"},
            data={"api_key": "alice-key", "action": "getBalance"},
        )
        assert response.text == "ACCESS_BALANCE:100.00"

    async def test_too_many_parameters(self, make: Factory) -> None:
        """smsproxy's server.max_params (64): BAD_ACTION before the key is even read."""
        wire = await make("herosms")
        params = {f"p{i}": "1" for i in range(63)}
        response = await wire.call("getBalance", key="nobody", **params)
        wire.expect_error(response, "BAD_ACTION")

    async def test_get_number_checks(self, make: Factory) -> None:
        """proxy/protocol/requests.py _get_number and proxy/dispatch.py, in their order."""
        wire = await make("canonical")
        cases: list[tuple[dict[str, Any], str]] = [
            ({"country": 0}, "BAD_SERVICE"),
            ({"service": "tg", "activationType": 2}, "NO_NUMBERS"),
            ({"service": "tg", "forward": 1}, "NO_NUMBERS"),
            ({"service": "tg", "country": "x"}, "NO_NUMBERS"),
            ({"service": "tg", "operator": "o" * 65}, "BAD_ACTION"),
            ({"service": "tg", "phoneException": "79"}, "WRONG_EXCEPTION_PHONE"),
            ({"service": "tg", "maxPrice": "0.0001"}, "WRONG_MAX_PRICE"),
        ]
        for params, word in cases:
            assert (await wire.call("getNumber", **params)).text.split(":")[0] == word, params
        response = await wire.call("getNumberV2", service="tg", orderId="o" * 129)
        assert response.text == "BAD_ACTION"
        assert not wire.emulator.orders
        response = await wire.call("getNumber", service="tg", phoneException="7900,7901,7902")
        phone = response.text.split(":")[2]
        assert not phone.startswith(("7900", "7901", "7902"))
        assert (await wire.call("getnumber", service="tg")).text.startswith("ACCESS_NUMBER:")


# -- fault knobs -----------------------------------------------------------------------------------


def knobs(emulator: HandlerApiEmulator) -> tuple[int | None, float]:
    return emulator.rate_limit, emulator.early_cancel_window


class TestFaults:
    @pytest.mark.parametrize("name", PROFILES)
    async def test_inject_error(self, make: Factory, name: str) -> None:
        """A fault answers instead of the action and touches no state; `times` of them."""
        wire = await make(name)
        wire.emulator.inject_error("getNumber", status=503, times=2)
        for _ in range(2):
            response = await wire.call("getNumber", service="tg", country=0)
            assert response.status_code == 503
            if wire.profile.errors.shape == "json":
                assert response.json()["title"] == "ERROR_SQL"
            else:
                assert "Unavailable" in response.text
        assert not wire.emulator.orders
        await wire.buy()
        wire.emulator.inject_error("getStatus", status=500, body={"custom": True})
        response = await wire.call("getStatus", id=1)
        assert (response.status_code, response.json()) == (500, {"custom": True})

    @pytest.mark.parametrize("name", PROFILES)
    async def test_after_effect(self, make: Factory, name: str) -> None:
        """The sale is made and charged, and the answer is lost to the fault."""
        wire = await make(name)
        wire.emulator.inject_error("getNumber", status=502, after_effect=True)
        response = await wire.call("getNumber", service="tg", country=0)
        assert response.status_code == 502
        (order,) = wire.emulator.orders.values()
        assert wire.emulator.balances["alice-key"] == Decimal("100") - order.price

    @pytest.mark.parametrize("name", PROFILES)
    async def test_rate_limit(self, make: Factory, clock: FakeClock, name: str) -> None:
        wire = await make(name)
        wire.emulator.rate_limit = 2
        for _ in range(2):
            assert (await wire.call("getStatus", id=1)).status_code != 429
        response = await wire.call("getStatus", id=1)
        assert (response.status_code, response.text) == (429, "Too Many Requests")
        clock.advance(1)
        assert (await wire.call("getStatus", id=1)).status_code != 429

    async def test_stall_and_latency(self, make: Factory) -> None:
        wire = await make("canonical")
        wire.emulator.stall("getNumber", 0.1)
        started = time.monotonic()
        assert (await wire.call("getNumber", service="tg")).text.startswith("ACCESS_NUMBER:")
        assert time.monotonic() - started >= 0.1
        wire.emulator.latency = 0.05
        started = time.monotonic()
        await wire.call("getStatus", id=1)
        assert time.monotonic() - started >= 0.05

    async def test_unknown_endpoint(self, make: Factory) -> None:
        wire = await make("canonical")
        with pytest.raises(ValueError, match="unknown handler_api endpoint"):
            wire.emulator.inject_error("getHistory")

    @pytest.mark.parametrize("name", PROFILES)
    async def test_reset(self, make: Factory, name: str) -> None:
        wire = await make(name)
        emulator = wire.emulator
        await wire.buy()
        emulator.rate_limit, emulator.early_cancel_window = 5, 60
        emulator.set_unavailable("tg", "0")
        emulator.prohibit("wa")
        emulator.inject_error("getStatus")
        emulator.set_balance("alice-key", 3)
        emulator.reset()
        assert not emulator.orders and emulator.balances == KEYS
        assert knobs(emulator) == (None, 0.0)
        assert (await wire.call("getStatus", id=1)).status_code != 503
        assert (await wire.call("getNumber", service="wa", country=0)).status_code == 200
        assert (await wire.call("getNumber", service="tg", country=0)).status_code == 200

    async def test_control_endpoints(self, make: Factory) -> None:
        """The knobs over HTTP, as the other emulators have them under /_emulator/."""
        wire = await make("grizzlysms")
        http = wire.client

        async def post(name: str, **payload: Any) -> httpx.Response:
            return await http.post(f"/_emulator/{name}", json=payload)

        assert (await post("balance", api_key="carol-key", amount="5")).json() == {"ok": True}
        assert (await post("stock", service="tg", country="0", count=3, price="1.5")).is_success
        activation_id = await wire.buy()
        sms = (await post("sms", order_id=activation_id, code="9090")).json()
        assert sms["code"] == "9090"
        assert await wire.status(activation_id) == "STATUS_OK:9090"
        assert (await post("unavailable", service="tg", country="0")).is_success
        assert wire.word(await wire.call("getNumber", service="tg", country=0)) == "NO_NUMBERS"
        assert (await post("unavailable", service="tg", country="0", unavailable=False)).is_success
        assert (await post("prohibit", service="tg")).is_success
        response = await wire.call("getNumber", service="tg", country=0)
        assert response.text == "prohibited for sale"
        assert (await post("prohibit", service="tg", prohibited=False)).is_success
        assert (await post("early_cancel", seconds=30)).is_success
        early = await wire.buy()
        assert (await wire.step(early, "cancel")).text == "EARLY_CANCEL_DENIED"
        assert (await post("early_cancel", seconds=-1)).status_code == 400
        assert (await post("rate_limit", per_second=1)).is_success
        assert (await wire.call("getStatus", id=1)).status_code == 200
        assert (await wire.call("getStatus", id=1)).status_code == 429
        assert (await post("rate_limit", per_second=None)).is_success
        assert (await post("error", endpoint="getBalance", status=200)).is_success
        assert (await wire.call("getBalance")).text == "ERROR_SQL"
        assert (await post("error", endpoint="nope")).status_code == 400
        stats = (await http.get("/_emulator/stats")).json()
        assert stats["profile"] == "grizzlysms" and stats["provider"] == "handler_api"
        assert stats["requests"]["getNumber"] >= 4 and stats["balances"]["carol-key"] == "5"
        assert (await post("reset")).is_success
        assert (await http.get("/_emulator/stats")).json()["orders"] == []


# -- canonical = smsproxy: the recorded SMS-Activate exchanges ------------------------------------


Scenario = Callable[[Wire], Awaitable[str | None]]


async def fresh(wire: Wire) -> str | None:
    return None


async def no_stock(wire: Wire) -> str | None:
    wire.emulator.set_all_stock(0)
    return None


async def no_money(wire: Wire) -> str | None:
    wire.emulator.set_balance("alice-key", 0)
    return None


async def bought(wire: Wire) -> str | None:
    return await wire.buy()


async def code(wire: Wire) -> str | None:
    activation_id = await wire.buy()
    wire.emulator.deliver_sms(activation_id, code="123456", text="Your code is 123456")
    return activation_id


async def retry(wire: Wire) -> str | None:
    activation_id = await code(wire)
    assert activation_id is not None
    assert (await wire.step(activation_id, "retry")).text == "ACCESS_RETRY_GET"
    return activation_id


async def cancelled(wire: Wire) -> str | None:
    activation_id = await wire.buy()
    assert (await wire.step(activation_id, "cancel")).text == "ACCESS_CANCEL"
    return activation_id


async def finished(wire: Wire) -> str | None:
    activation_id = await code(wire)
    assert activation_id is not None
    assert (await wire.step(activation_id, "finish")).text == "ACCESS_ACTIVATION"
    return activation_id


async def foreign(wire: Wire) -> str | None:
    return await wire.buy(key="bob-key")


async def order_used(wire: Wire) -> str | None:
    response = await wire.call("getNumberV2", service="tg", country=0, orderId="order-1")
    assert "activationId" in response.json()
    return None


SCENARIOS: dict[str, Scenario] = {
    f.__name__: f
    for f in (fresh, no_stock, no_money, bought, code, retry, cancelled, finished, foreign,
              order_used)
}  # fmt: skip
_EMULATED = {a.lower() for a in EMULATED}


def overlapping() -> list[Path]:
    """The fixtures of the actions the emulator serves (or that no one serves), in a state the
    emulator can be put in."""
    chosen = []
    for path in sorted(FIXTURES_DIR.glob("*.json")):
        fixture = json.loads(path.read_text(encoding="utf-8"))
        action = fixture["request"]["query"].get("action", "").lower()
        if fixture["scenario"] in SCENARIOS and (action in _EMULATED or action not in PARSERS):
            chosen.append(path)
    return chosen


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def same_shape(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Differences in keys and JSON types, recursively (tests/e2e/test_protocol_fixtures.py)."""
    if json_type(expected) != json_type(actual):
        return [f"{where}: {json_type(expected)} expected, got {actual!r}"]
    if isinstance(expected, dict):
        problems = [] if set(expected) == set(actual) else [f"{where}: keys differ"]
        for key in set(expected) & set(actual):
            problems += same_shape(expected[key], actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list) and expected and actual:
        return same_shape(expected[0], actual[0], where)
    return []


FIXTURES = overlapping()
LOADED = {path: json.loads(path.read_text(encoding="utf-8")) for path in FIXTURES}


class TestCanonicalFixtures:
    def test_the_overlap_is_large(self) -> None:
        """Every activation exchange the emulator serves is recorded and replayed here."""
        assert len(FIXTURES) >= 40

    @pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
    async def test_fixture(self, make: Factory, path: Path) -> None:
        """The canonical emulator answers as smsproxy does (tests/e2e/test_protocol_fixtures.py
        replays the same files against smsproxy)."""
        fixture = LOADED[path]
        wire = await make("canonical")
        activation_id = await SCENARIOS[fixture["scenario"]](wire)
        query = {
            k: v.replace("{id}", str(activation_id)) if isinstance(v, str) else v
            for k, v in fixture["request"]["query"].items()
        }
        response = await wire.client.get(fixture["request"]["path"], params=query)
        expected = fixture["response"]
        assert response.status_code == expected["status"]
        assert response.headers["content-type"].startswith(expected["content_type"])
        if expected["content_type"] != "application/json":
            if "pattern" in expected:
                assert re.fullmatch(expected["pattern"], response.text), response.text
            else:
                assert response.text == expected["body"]
            return
        body = response.json()
        if not expected["body"] or set(expected["body"]) == {"status", "error"}:
            assert body == expected["body"]
            return
        assert same_shape(expected["body"], body) == []
        if isinstance(expected["body"], dict) and "status" in expected["body"]:
            assert body["status"] == expected["body"]["status"]


# -- an outside witness: the herosms client from PyPI ----------------------------------------


class TestHerosmsClient:
    """herosms 0.1.1, unchanged, against the emulator under the herosms profile."""

    @pytest.fixture(name="hero")
    async def hero_fixture(
        self, clock: FakeClock
    ) -> AsyncIterator[tuple[HandlerApiEmulator, HeroSMSClient]]:
        emulator = HandlerApiEmulator(
            "herosms", api_keys={"hero-key": Decimal("50")}, sms_delay=None, seed=3, clock=clock
        )
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app))
        client = HeroSMSClient(
            api_key="hero-key",
            base_url="http://emulator.test" + PATH,
            http_client=http,
            retry_attempts=1,
            poll_interval=0.01,
        )
        yield emulator, client
        await http.aclose()

    async def test_the_whole_activation(
        self, hero: tuple[HandlerApiEmulator, HeroSMSClient]
    ) -> None:
        emulator, client = hero
        balance = await client.get_balance()
        assert balance.amount == 50.0
        activation = await client.activations.create(service="tg", country=0)
        info = activation.info
        assert info.country_phone_code == 7 and info.activation_end_time is not None
        assert info.activation_time is not None and info.can_get_another_sms
        emulator.deliver_sms(str(info.activation_id), code="4242", text="Telegram code 4242")
        status = await activation.wait_for_sms(timeout=2, poll_interval=0.01)
        assert (status.code, status.verification_type) == ("4242", 1)
        assert status.sms is not None and status.sms.date_time is not None
        active = await client.activations.list_active()
        assert [(a.activation_id, a.sms_code) for a in active] == [(info.activation_id, "4242")]
        await activation.request_sms()
        assert await client.get_status_v1(info.activation_id) == "STATUS_WAIT_RETRY:4242"
        await activation.complete()
        assert await client.get_status_v1(info.activation_id) == "STATUS_OK:4242"
        spent = Decimal("50") - emulator.orders[str(info.activation_id)].price
        assert emulator.balances["hero-key"] == spent

    async def test_cancel_and_finish(self, hero: tuple[HandlerApiEmulator, HeroSMSClient]) -> None:
        emulator, client = hero
        first = await client.activations.create(service="tg", country=0)
        await first.cancel()  # setStatus 8
        second = await client.activations.create(service="wa", country=0)
        await client.activations.cancel(second.id)
        assert emulator.balances["hero-key"] == Decimal("50")
        third = await client.activations.create(service="tg", country=0)
        emulator.deliver_sms(str(third.id), code="777")
        await client.activations.finish(third.id)
        assert emulator.orders[str(third.id)].state is OrderState.FINISHED
        assert await client.activations.list_active() == []

    async def test_errors_raise_its_exceptions(
        self, hero: tuple[HandlerApiEmulator, HeroSMSClient]
    ) -> None:
        emulator, client = hero
        emulator.set_stock("tg", "0", 0)
        with pytest.raises(NoNumbersAvailableError):
            await client.activations.create(service="tg", country=0)
        emulator.set_balance("hero-key", 0)
        with pytest.raises(InsufficientFundsError):
            await client.activations.create(service="wa", country=0)
        emulator.set_balance("hero-key", 50)
        with pytest.raises(ActivationNotFoundError):
            await client.get_status_v1(1)
        coded = await client.activations.create(service="wa", country=0)
        emulator.deliver_sms(str(coded.id), code="1212")
        with pytest.raises(ConflictError):
            await coded.cancel()
        emulator.inject_error("getBalance", status=500)
        with pytest.raises(ServerError):
            await client.get_balance()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app)) as http:
            stranger = HeroSMSClient(
                api_key="nobody", base_url="http://emulator.test" + PATH, http_client=http
            )
            with pytest.raises(AuthenticationError):
                await stranger.get_balance()


# -- protocol_fixtures/handler_api: the profiles' own exchanges ------------------------------------

PROFILE_FIXTURES_DIR = FIXTURES_DIR.parent / "handler_api"
PROFILE_FIXTURES = sorted(PROFILE_FIXTURES_DIR.glob("*/*.json"))
PROFILE_LOADED = {path: json.loads(path.read_text(encoding="utf-8")) for path in PROFILE_FIXTURES}


async def unavailable(wire: Wire) -> str | None:
    wire.emulator.set_unavailable("tg", "0")
    return None


async def prohibited(wire: Wire) -> str | None:
    wire.emulator.prohibit("tg")
    return None


SETUPS: dict[str, Scenario] = {
    **SCENARIOS,
    "unavailable": unavailable,
    "prohibited": prohibited,
}


class TestProfileFixtures:
    def test_every_public_profile_has_fixtures(self) -> None:
        assert {p.parent.name for p in PROFILE_FIXTURES} == set(PROFILES) - {"canonical"}
        for path, fixture in PROFILE_LOADED.items():
            assert fixture["profile"] == path.parent.name
            assert fixture["source"] and fixture["setup"] in SETUPS

    @pytest.mark.parametrize(
        "path", PROFILE_FIXTURES, ids=[f"{p.parent.name}-{p.stem}" for p in PROFILE_FIXTURES]
    )
    async def test_fixture(self, make: Factory, path: Path) -> None:
        """The emulator answers each recorded exchange as recorded, and an error's `means` is
        what the profile reads the answer as."""
        fixture = PROFILE_LOADED[path]
        wire = await make(fixture["profile"])
        activation_id = await SETUPS[fixture["setup"]](wire)
        query = {
            k: v.replace("{id}", str(activation_id)) for k, v in fixture["request"]["query"].items()
        }
        response = await wire.client.get(fixture["request"]["path"], params=query)
        expected = fixture["response"]
        assert response.status_code == expected["status"]
        assert response.headers["content-type"].startswith(expected["content_type"])
        if expected["content_type"] == "application/json":
            body = response.json()
            if not expected["body"] or "title" in expected["body"]:
                assert body == expected["body"]
            else:
                assert same_shape(expected["body"], body) == []
        elif "pattern" in expected:
            assert re.fullmatch(expected["pattern"], response.text), response.text
        else:
            assert response.text == expected["body"]
        if "means" in fixture:
            assert wire.word(response) == fixture["means"]
