"""The generic `handler_api` adapter against the SMS-Activate-compatible emulator, over real HTTP.

Each shipped profile: every Provider call; every situation the profile has a word for (its alias
words included), in both error shapes (a bare word on HTTP 200, the profile's JSON object under
its HTTP status, and SMS-Activate's own `{"status":"error"}`), read as the right refusal; the
faults (injected 5xx and pages, lost answers after a sale, stalls past the read timeout, a
refused connection, a rate limit) as the right ProviderError. Also the `profile` setting.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest

from proxy.config import ConfigError, ProviderSettings, settings_from_dict
from proxy.emulators.common import OrderState
from proxy.emulators.handler_api import HandlerApiEmulator
from proxy.providers import REGISTRY, build_provider
from proxy.providers.base import (
    BuyRequest,
    MultiBuyRequest,
    OutcomeUnknown,
    PollState,
    ProviderAnswerInvalid,
    ProviderError,
    ProviderRefused,
    Refusal as R,
    RequestNotSent,
)
from proxy.providers.handler_api import HandlerApiProvider
from proxy.providers.profiles import SITUATIONS, Profile, load_profile, profile_names
from proxy.serving import ThreadedServer

KEY = "upstream-key"
PROFILES = profile_names()
RATES = {"RUB": "0.01"}
# What each situation's word means to smsproxy (proxy/providers/handler_api.py REFUSALS);
# None: sent without a usable answer (OutcomeUnknown).
EXPECTED: dict[str, R | None] = {
    "missing_key": R.BAD_KEY,
    "bad_key": R.BAD_KEY,
    "unknown_action": R.BAD_REQUEST,
    "unknown_service": R.BAD_SERVICE,
    "unknown_country": R.NO_NUMBERS,
    "region_unavailable": R.NO_NUMBERS,
    "service_prohibited": R.NO_NUMBERS,
    "no_numbers": R.NO_NUMBERS,
    "no_balance": R.NO_BALANCE,
    "unknown_activation": R.ORDER_NOT_FOUND,
    "bad_status": R.BAD_STATUS,
    "early_cancel": R.WAIT_SMS,
    "server_error": None,
}


class Served:
    """An emulator under one profile, served on loopback."""

    def __init__(self, profile: Profile | str) -> None:
        self.emulator = HandlerApiEmulator(profile, api_keys={KEY: Decimal("100")}, sms_delay=None)
        self.server = ThreadedServer(self.emulator.app).start()
        self.url = self.server.url
        self.profile = self.emulator.profile

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def _servers() -> Iterator[dict[str, Served]]:
    servers = {name: Served(name) for name in PROFILES}
    yield servers
    for served in servers.values():
        served.stop()


@pytest.fixture(name="http")
async def http_fixture() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def settings(url: str, profile: str, **extra: Any) -> ProviderSettings:
    """One handler_api provider as the configuration reads it."""
    body = {"kind": "handler_api", "profile": profile, "base_url": url, "api_key": KEY, **extra}
    return settings_from_dict({"money": {"rates": RATES}, "providers": {"h": body}}).providers["h"]


def adapter(
    served: Served, http: httpx.AsyncClient, profile: str | None = None, **extra: Any
) -> HandlerApiProvider:
    provider = build_provider(settings(served.url, profile or served.profile.name, **extra), http)
    assert isinstance(provider, HandlerApiProvider)
    return provider


def their(profile: Profile, service: str = "tg", country: int = 0) -> tuple[str, str]:
    found = profile.numbering.service_code(service), profile.numbering.service_country(country)
    assert found[0] is not None and found[1] is not None
    return found[0], found[1]


@pytest.fixture(name="served", params=PROFILES)
def served_fixture(request: pytest.FixtureRequest, _servers: dict[str, Served]) -> Served:
    served = _servers[request.param]
    served.emulator.reset()
    served.emulator.set_balance(KEY, "100")
    return served


@pytest.fixture(name="make")
def make_fixture(served: Served, http: httpx.AsyncClient) -> HandlerApiProvider:
    return adapter(served, http)


# -- every call ---------------------------------------------------------------------------------


class TestCalls:
    async def test_registered(self) -> None:
        assert REGISTRY["handler_api"] is HandlerApiProvider

    async def test_flags(self, make: HandlerApiProvider, served: Served) -> None:
        profile = served.profile
        assert make.kind == "handler_api"
        assert make.currency == profile.currency
        assert make.national_phones is (profile.numbering.phone == "national")
        assert make.lists_whole_country
        assert (make.sells_multi_service, make.reissues_numbers) == (False, False)
        assert (make.max_rent_hours, make.extends_rents) == (0, False)

    async def test_balance(self, make: HandlerApiProvider, served: Served) -> None:
        if not served.profile.supports("getBalance"):
            with pytest.raises(ProviderRefused) as refused:
                await make.balance()
            assert refused.value.refusal is R.BAD_REQUEST
            assert served.emulator.requests["getBalance"] == 0  # nothing sent
            return
        balance = await make.balance()
        assert (balance.amount, balance.currency) == (Decimal("100.00"), served.profile.currency)

    async def test_buy_poll_code_cancel(self, make: HandlerApiProvider, served: Served) -> None:
        emulator = served.emulator
        purchase = await make.buy(BuyRequest("tg", "0"))
        order = emulator.orders[purchase.order_id]
        assert (order.service, order.country) == ("tg", "0")  # SMS-Activate's, inside
        assert purchase.phone == emulator.wire_phone(order)
        if make.national_phones:
            assert not purchase.phone.startswith("7")
        else:
            assert purchase.phone == order.phone
        assert (await make.poll(purchase.order_id)).state is PollState.WAITING
        emulator.deliver_sms(purchase.order_id, code="4321")
        poll = await make.poll(purchase.order_id)
        assert poll.state is PollState.RECEIVED
        assert [m.code for m in poll.messages] == ["4321"]
        with pytest.raises(ProviderRefused) as refused:  # a cancel after a code
            await make.cancel(purchase.order_id)
        assert refused.value.refusal is R.BAD_STATUS
        second = await make.buy(BuyRequest("tg", "0"))
        balance = emulator.balances[KEY]
        await make.cancel(second.order_id)
        assert emulator.orders[second.order_id].state is OrderState.CANCELLED
        assert emulator.balances[KEY] == balance + order.price  # refunded upstream
        assert (await make.poll(second.order_id)).state is PollState.CANCELLED
        third = await make.buy(BuyRequest("tg", "0"))
        await make.block(third.order_id)  # no "bad number" status: a cancel, refunded
        assert emulator.orders[third.order_id].refunded

    async def test_retry(self, make: HandlerApiProvider, served: Served) -> None:
        emulator = served.emulator
        purchase = await make.buy(BuyRequest("tg", "0"))
        emulator.deliver_sms(purchase.order_id, code="1111")
        assert (await make.poll(purchase.order_id)).messages[0].code == "1111"
        if served.profile.set_status.number("retry") is None:
            sent = emulator.requests["setStatus"]
            with pytest.raises(ProviderRefused) as refused:
                await make.request_another(purchase.order_id)
            assert refused.value.refusal is R.BAD_STATUS
            assert emulator.requests["setStatus"] == sent
            return
        await make.request_another(purchase.order_id)
        # STATUS_WAIT_RETRY:1111 is no new SMS: the listing starts again (Listing.CLEARED)
        assert (await make.poll(purchase.order_id)).state is PollState.WAITING
        emulator.deliver_sms(purchase.order_id, code="1111")
        poll = await make.poll(purchase.order_id)
        assert (poll.state, [m.code for m in poll.messages]) == (PollState.RECEIVED, ["1111"])

    async def test_open_orders(self, make: HandlerApiProvider, served: Served) -> None:
        if not served.profile.supports("getActiveActivations"):
            assert await make.open_orders() is None  # the VAK-SMS rule: never buy elsewhere
            return
        assert await make.open_orders() == []
        first = await make.buy(BuyRequest("tg", "0"))
        second = await make.buy(BuyRequest("wa", "187"))
        served.emulator.deliver_sms(second.order_id)
        orders = {o.purchase.order_id: o for o in await make.open_orders() or []}
        assert set(orders) == {first.order_id, second.order_id}
        assert (orders[first.order_id].service, orders[first.order_id].country) == ("tg", "0")
        assert (orders[second.order_id].service, orders[second.order_id].country) == ("wa", "187")
        assert orders[first.order_id].purchase.phone == first.phone
        price = served.emulator.orders[first.order_id].price
        assert orders[first.order_id].purchase.cost == price

    async def test_offers(self, make: HandlerApiProvider, served: Served) -> None:
        served.emulator.set_stock("tg", "0", 7, price="0.42")
        offers = await make.offers("0", None)
        if not served.profile.supports("getPrices"):
            assert offers == {}
            assert served.emulator.requests["getPrices"] == 0
            return
        assert offers["tg"].count == 7
        assert offers["tg"].price == Decimal("0.42")
        assert await make.offers("9999", "tg") == {}  # no such country: nothing sent

    async def test_unsupported_calls_are_refused_unsent(self, make: HandlerApiProvider) -> None:
        with pytest.raises(ProviderRefused):
            await make.buy_multi(MultiBuyRequest(("tg", "wa"), "0"))
        with pytest.raises(ProviderRefused):
            await make.reissue("tg", "79990001122")
        with pytest.raises(ProviderRefused):
            await make.rent("tg", "0", 4)
        assert await make.rent_offers("0", 4) == {}
        assert await make.rent_orders() is None


class TestNumbering:
    """SMSPVA's Alternative API numbers countries and services its own way."""

    @pytest.fixture(name="alt")
    def alt_fixture(
        self, _servers: dict[str, Served], http: httpx.AsyncClient
    ) -> tuple[Served, HandlerApiProvider]:
        served = _servers["smspva_alternative"]
        served.emulator.reset()
        return served, adapter(served, http)

    async def test_codes_are_translated(self, alt: tuple[Served, HandlerApiProvider]) -> None:
        served, provider = alt
        purchase = await provider.buy(BuyRequest("lb", "33"))  # its mg, its country 86
        order = served.emulator.orders[purchase.order_id]
        assert (order.service, order.country) == ("lb", "33")
        assert their(served.profile, "lb", 33) == ("mg", "86")
        assert provider.national_phones
        assert order.phone.endswith(purchase.phone) and order.phone != purchase.phone

    async def test_what_it_does_not_sell_is_refused_unsent(
        self, alt: tuple[Served, HandlerApiProvider]
    ) -> None:
        served, provider = alt
        with pytest.raises(ProviderRefused) as refused:
            await provider.buy(BuyRequest("full", "0"))
        assert refused.value.refusal is R.BAD_SERVICE
        with pytest.raises(ProviderRefused) as refused:
            await provider.buy(BuyRequest("tg", "3"))
        assert refused.value.refusal is R.BAD_COUNTRY
        assert served.emulator.requests["getNumber"] == 0


class TestSetStatusVariants:
    """Profiles (as files an operator may write) with a separate cancel and empty answers."""

    async def test_separate_cancel_and_empty_answers(
        self, http: httpx.AsyncClient, tmp_path: Any
    ) -> None:
        path = tmp_path / "separate.toml"
        path.write_text(SEPARATE_PROFILE)
        served = Served(load_profile(path))
        try:
            provider = adapter(served, http, profile=str(path))
            purchase = await provider.buy(BuyRequest("tg", "0"))
            await provider.cancel(purchase.order_id)
            assert served.emulator.requests["setStatus:cancel"] == 1
            assert served.emulator.requests["setStatus"] == 0
            assert served.emulator.orders[purchase.order_id].refunded
            done = await provider.buy(BuyRequest("tg", "0"))
            served.emulator.deliver_sms(done.order_id)
            await provider.poll(done.order_id)
            await provider.request_another(done.order_id)  # 204, empty: accepted
            assert served.emulator.orders[done.order_id].retry_pending
        finally:
            served.stop()


SEPARATE_PROFILE = """
[profile]
name = "separate"
title = "a service with its own cancel action"
source = "test"

[set_status]
lacks = ["cancel"]
also_cancel = []
answer = "empty"
separate = { cancel = "cancelActivation" }
source = "test"
"""


# -- every word, every shape --------------------------------------------------------------------


def shapes(profile: Profile, word: str) -> list[tuple[int, Any]]:
    """The error `word` in every shape the adapter reads: a bare word on 200, SMS-Activate's
    JSON error object, and the profile's own JSON (word field, HTTP status) where it has one."""
    canonical = profile.canonical_word(word) or word
    forms: list[tuple[int, Any]] = [(200, word), (200, {"status": "error", "error": word})]
    errors = profile.errors
    if errors.shape == "json":
        forms.append((errors.http_status(canonical), {errors.word_field: word, "details": "x"}))
        forms.append((200, {errors.word_field: word, errors.text_field: "x"}))
    return forms


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
async def test_every_word_in_every_shape(
    served: Served, make: HandlerApiProvider, situation: str
) -> None:
    word = served.profile.word_for(situation)  # the alias where the profile has one
    for status, body in shapes(served.profile, word):
        served.emulator.inject_error("getNumber", status=status, body=body)
        with pytest.raises(ProviderError) as raised:
            await make.buy(BuyRequest("tg", "0"))
        expected = EXPECTED[situation]
        if expected is None:
            assert isinstance(raised.value, OutcomeUnknown), (status, body)
        else:
            assert isinstance(raised.value, ProviderRefused), (status, body, raised.value)
            assert raised.value.refusal is expected, (status, body)


def test_every_alias_is_covered() -> None:
    """Each shipped alias answers a situation the test above runs."""
    for name in PROFILES:
        for alias in load_profile(name).aliases:
            assert alias.when in EXPECTED


class TestRealSituations:
    """The emulator's own answers, not injected ones."""

    async def test_bad_key(self, served: Served, http: httpx.AsyncClient) -> None:
        provider = adapter(served, http, api_key="nobody")
        with pytest.raises(ProviderRefused) as refused:
            await provider.buy(BuyRequest("tg", "0"))
        assert refused.value.refusal is R.BAD_KEY

    async def test_no_numbers_and_no_balance(
        self, make: HandlerApiProvider, served: Served
    ) -> None:
        served.emulator.set_stock("tg", "0", 0)
        with pytest.raises(ProviderRefused) as refused:
            await make.buy(BuyRequest("tg", "0"))
        assert refused.value.refusal is R.NO_NUMBERS
        served.emulator.set_balance(KEY, "0")
        with pytest.raises(ProviderRefused) as refused:
            await make.buy(BuyRequest("wa", "0"))
        assert refused.value.refusal is R.NO_BALANCE

    async def test_region_and_prohibited(self, make: HandlerApiProvider, served: Served) -> None:
        served.emulator.set_unavailable("tg", "0")
        with pytest.raises(ProviderRefused) as refused:
            await make.buy(BuyRequest("tg", "0"))
        assert refused.value.refusal is R.NO_NUMBERS
        served.emulator.prohibit("wa")
        with pytest.raises(ProviderRefused) as refused:
            await make.buy(BuyRequest("wa", "0"))
        assert refused.value.refusal is R.NO_NUMBERS

    async def test_unknown_activation(self, make: HandlerApiProvider) -> None:
        with pytest.raises(ProviderRefused) as refused:
            await make.poll("123")
        assert refused.value.refusal is R.ORDER_NOT_FOUND
        with pytest.raises(ProviderRefused) as refused:
            await make.cancel("123")
        assert refused.value.refusal is R.ORDER_NOT_FOUND

    async def test_early_cancel(self, make: HandlerApiProvider, served: Served) -> None:
        served.emulator.early_cancel_window = 60.0
        purchase = await make.buy(BuyRequest("tg", "0"))
        with pytest.raises(ProviderRefused) as refused:
            await make.cancel(purchase.order_id)
        assert refused.value.refusal is R.WAIT_SMS
        assert not served.emulator.orders[purchase.order_id].refunded

    async def test_rate_limited(self, make: HandlerApiProvider, served: Served) -> None:
        served.emulator.rate_limit = 1
        with pytest.raises(ProviderRefused):
            await make.poll("1")  # NO_ACTIVATION: the one request of the second
        with pytest.raises(ProviderRefused) as refused:
            await make.poll("1")
        assert refused.value.refusal is R.RATE_LIMITED


# -- faults -------------------------------------------------------------------------------------


class TestFaults:
    @pytest.mark.parametrize("status", [500, 502, 503])
    async def test_5xx_is_an_unknown_outcome(
        self, make: HandlerApiProvider, served: Served, status: int
    ) -> None:
        served.emulator.inject_error("getNumber", status=status)
        with pytest.raises(OutcomeUnknown):
            await make.buy(BuyRequest("tg", "0"))
        served.emulator.inject_error("getNumber", status=status, body="<html>Bad Gateway</html>")
        with pytest.raises(OutcomeUnknown):
            await make.buy(BuyRequest("tg", "0"))

    async def test_a_sale_behind_a_lost_answer_is_listed(
        self, make: HandlerApiProvider, served: Served
    ) -> None:
        served.emulator.inject_error("getNumber", status=502, after_effect=True)
        with pytest.raises(OutcomeUnknown):
            await make.buy(BuyRequest("tg", "0"))
        (sold,) = served.emulator.orders.values()
        orders = await make.open_orders()
        if orders is None:
            assert not served.profile.supports("getActiveActivations")
            return
        assert [(o.purchase.order_id, o.service, o.country) for o in orders] == [
            (sold.order_id, "tg", "0")
        ]

    async def test_unreadable_answers(self, make: HandlerApiProvider, served: Served) -> None:
        served.emulator.inject_error("getNumber", status=200, body="<html>maintenance</html>")
        with pytest.raises(ProviderAnswerInvalid):
            await make.buy(BuyRequest("tg", "0"))
        served.emulator.inject_error("getNumber", status=404, body="Not Found")
        with pytest.raises(ProviderAnswerInvalid):
            await make.buy(BuyRequest("tg", "0"))
        served.emulator.inject_error("getStatus", status=200, body="STATUS_SOMETHING")
        with pytest.raises(ProviderAnswerInvalid):
            await make.poll("1")

    async def test_timeout_is_an_unknown_outcome(
        self, served: Served, http: httpx.AsyncClient
    ) -> None:
        provider = adapter(served, http, read_timeout=0.2)
        served.emulator.stall("getNumber", 1.0, after_effect=True)
        with pytest.raises(OutcomeUnknown):
            await provider.buy(BuyRequest("tg", "0"))

    async def test_refused_connection_is_not_sent(
        self, served: Served, http: httpx.AsyncClient
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        provider = build_provider(
            replace(settings(served.url, served.profile.name), base_url=f"http://127.0.0.1:{port}"),
            http,
        )
        with pytest.raises(RequestNotSent):
            await provider.buy(BuyRequest("tg", "0"))


# -- the configuration --------------------------------------------------------------------------


class TestConfig:
    def config(self, **body: Any) -> dict[str, Any]:
        provider = {"kind": "handler_api", "api_key": "k", **body}
        return {"money": {"rates": RATES}, "providers": {"hero": provider}}

    def test_profile_and_currency(self) -> None:
        loaded = settings_from_dict(self.config(profile="smsbower", base_url="http://x/"))
        hero = loaded.providers["hero"]
        assert (hero.profile, hero.currency, hero.base_url) == ("smsbower", "RUB", "http://x")
        assert (hero.poll_interval, hero.order_lifetime, hero.refund_after) == (5, 1200, 1160)
        given = settings_from_dict(self.config(profile="smsbower", base_url="x", currency="USD"))
        assert given.providers["hero"].currency == "USD"

    def test_a_profile_file(self, tmp_path: Any) -> None:
        path = tmp_path / "mine.toml"
        path.write_text('[profile]\nname = "mine"\ntitle = "Mine"\nsource = "its docs"\n')
        loaded = settings_from_dict(self.config(profile=str(path), base_url="http://x"))
        assert loaded.providers["hero"].profile == str(path)

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"base_url": "http://x"}, "providers.hero.profile is missing"),
            ({"base_url": "http://x", "profile": "nosuch"}, "providers.hero.profile: "),
            ({"base_url": "http://x", "profile": "/no/such.toml"}, "providers.hero.profile: "),
            ({"profile": "herosms"}, "providers.hero.base_url is missing"),
        ],
    )
    def test_errors(self, body: dict[str, Any], message: str) -> None:
        with pytest.raises(ConfigError) as error:
            settings_from_dict(self.config(**body))
        assert message in str(error.value)
        assert "\n" not in str(error.value)

    def test_profile_only_for_handler_api(self) -> None:
        config = {
            "money": {"rates": RATES},
            "providers": {"smspva": {"api_key": "k", "profile": "canonical"}},
        }
        with pytest.raises(ConfigError, match=r"providers\.smspva\.profile"):
            settings_from_dict(config)
