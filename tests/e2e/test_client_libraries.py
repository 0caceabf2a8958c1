"""SMS-Activate client libraries from PyPI, unchanged but for their URL, against smsproxy.

Each library buys a number on each provider, reads the waiting status, reads a first code, asks
for another SMS, reads the second code and finishes; and cancels a second number. Assertions are on
what the library itself returns (its parsed objects), not on raw HTTP; the proxy is asked directly
only to confirm a side effect (nothing left active).

How each library is pointed at the proxy (a URL value only, none of their logic is touched):

- smsactivate 1.5 (the official module; sync, requests, GET): the URL is the instance attribute
  that ``SMSActivateAPI.__init__`` sets (``self.__api_url``, i.e. ``_SMSActivateAPI__api_url``);
  the module offers no argument or setter for it.
- smsactivateru 1.2.6 (sync, requests, GET): the plain ``Sms.url`` attribute.
- herosms 0.1.1 (async, httpx, GET, JSON V2 actions): the documented ``base_url`` argument.
- aiosmsactivate 1.5.1 (async, aiohttp, POST with query parameters, JSON V2 actions): the
  documented ``base_url`` argument.

What these libraries taught smsproxy: an empty getActiveActivations is the JSON error object
(smsactivate json-decodes it), getStatusV2 sends null for an absent sms/call (herosms), and
setStatus 6 after 3 completes the activation (aiosmsactivate).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from aiosmsactivate import SmsActivate
from aiosmsactivate.exceptions import SmsActivateException
from aiosmsactivate.models import (
    Number,
    SetActivationStatusResponse,
)
from aiosmsactivate.types import (
    ActivationStatus,
    SetActivationStatus,
)
from herosms import HeroSMSClient
from smsactivate.api import SMSActivateAPI
from smsactivateru import (
    GetBalance,
    GetNumber,
    GetStatus,
    SetStatus,
    Sms,
    SmsService,
    SmsTypes,
)
from smsactivateru.models import ErrorsModel

from tests.conftest import TENANT_KEYS, TEST_POLL_INTERVAL, Proxy, Upstream, deliver, order_for

FIRST_CODE = "1111"
SECOND_CODE = "2222"
WAIT = 5.0  # seconds a library may poll for a code that has already arrived upstream


@dataclass(frozen=True)
class Route:
    """A tenant whose only provider is `upstream`."""

    tenant: str
    upstream: Upstream

    @property
    def key(self) -> str:
        return TENANT_KEYS[self.tenant]


@pytest.fixture(name="route", params=["smspva", "vaksms"])
def fixture_route(request: pytest.FixtureRequest, smspva: Upstream, vaksms: Upstream) -> Route:
    return Route("pva", smspva) if request.param == "smspva" else Route("vak", vaksms)


def settle() -> None:
    """Let the proxy's upstream poll interval pass, so the next status asks the upstream."""
    time.sleep(TEST_POLL_INTERVAL * 3)


def nothing_active(proxy: Proxy, route: Route) -> bool:
    """The side effect of a finish or cancel, seen from the proxy itself (bare word or JSON)."""
    return "NO_ACTIVATIONS" in proxy.text(route.tenant, action="getActiveActivations")


# --- smsactivate 1.5 (the official module) -------------------------------------------------------


def official_api(proxy: Proxy, key: str) -> SMSActivateAPI:
    api = SMSActivateAPI(key)
    # The only place the module keeps its URL (smsactivate/api.py:8).
    api._SMSActivateAPI__api_url = proxy.endpoint
    return api


def test_smsactivate_lifecycle(proxy: Proxy, route: Route) -> None:
    """The official module buys, reads both codes around a retry, lists and finishes."""
    api = official_api(proxy, route.key)
    assert float(api.getBalance()["balance"]) > 0

    number = api.getNumber(service="tg", country=0)
    assert "error" not in number, number
    activation_id, phone = number["activation_id"], str(number["phone"])
    assert phone.startswith("7")
    status = api.getStatus(id=activation_id)
    assert status == "STATUS_WAIT_CODE"
    assert api.activationStatus(status)["message"] == "Waiting for sms"
    assert api.setStatus(id=activation_id, status=1) == "ACCESS_READY"

    deliver(route.upstream, phone, FIRST_CODE)
    assert api.getStatus(id=activation_id) == f"STATUS_OK:{FIRST_CODE}"
    (entry,) = api.getActiveActivations()["activeActivations"]
    assert entry["activationId"] == str(activation_id)
    assert entry["smsCode"] == [FIRST_CODE]

    assert api.setStatus(id=activation_id, status=3) == "ACCESS_RETRY_GET"
    settle()
    assert api.getStatus(id=activation_id) == f"STATUS_WAIT_RETRY:{FIRST_CODE}"

    deliver(route.upstream, phone, SECOND_CODE)
    assert api.getStatus(id=activation_id) == f"STATUS_OK:{SECOND_CODE}"
    assert api.setStatus(id=activation_id, status=6) == "ACCESS_ACTIVATION"
    assert api.getStatus(id=activation_id) == f"STATUS_OK:{SECOND_CODE}"
    assert nothing_active(proxy, route)


def test_smsactivate_cancel(proxy: Proxy, route: Route) -> None:
    """The official module cancels with status 8 and then sees STATUS_CANCEL."""
    api = official_api(proxy, route.key)
    number = api.getNumber(service="tg", country=0)
    activation_id, phone = number["activation_id"], str(number["phone"])
    assert api.setStatus(id=activation_id, status=8) == "ACCESS_CANCEL"
    # STATUS_CANCEL is in the module's error table (api.py:37): it comes back as an error dict.
    assert api.getStatus(id=activation_id)["error"] == "STATUS_CANCEL"
    assert order_for(route.upstream, phone).refunded


def test_smsactivate_no_active_activations(proxy: Proxy) -> None:
    """With nothing active the official module returns an error dict (seeds/002:1247)."""
    api = official_api(proxy, TENANT_KEYS["pva"])
    assert api.getActiveActivations()["error"] == "NO_ACTIVATIONS"


# --- smsactivateru 1.2.6 ------------------------------------------------------------------------


def smsactivateru_wrapper(proxy: Proxy, route: Route) -> Sms:
    wrapper = Sms(route.key)
    wrapper.url = proxy.endpoint
    return wrapper


def test_smsactivateru_lifecycle(proxy: Proxy, route: Route) -> None:
    """smsactivateru's actions and its SmsActivation worker run a whole activation."""
    wrapper = smsactivateru_wrapper(proxy, route)
    assert GetBalance().request(wrapper) > 0

    buy = GetNumber(service=SmsService().Telegram, country=SmsTypes.Country.RU)
    activation = buy.request(wrapper)
    assert activation.phone_number.startswith("7")
    waiting = GetStatus(id=activation.id).request(wrapper)
    assert waiting == {"status": "STATUS_WAIT_CODE", "code": None}
    assert activation.was_sent() == {"status": "ACCESS_READY"}

    deliver(route.upstream, activation.phone_number, FIRST_CODE)
    got = GetStatus(id=activation.id).request(wrapper)
    assert got == {"status": "STATUS_OK", "code": FIRST_CODE}

    another = SetStatus(id=activation.id, status=SmsTypes.Status.OneMoreCode).request(wrapper)
    assert another == {"status": "ACCESS_RETRY_GET"}
    settle()
    retry = GetStatus(id=activation.id).request(wrapper)
    assert retry == {"status": "STATUS_WAIT_RETRY", "code": FIRST_CODE}

    deliver(route.upstream, activation.phone_number, SECOND_CODE)
    # wait_code polls getStatus once a second and, on a new code, finishes with setStatus 6.
    assert activation.wait_code(timeout=WAIT) == SECOND_CODE
    final = GetStatus(id=activation.id).request(wrapper)
    assert final == {"status": "STATUS_OK", "code": SECOND_CODE}
    assert nothing_active(proxy, route)


def test_smsactivateru_cancel(proxy: Proxy, route: Route) -> None:
    """SmsActivation.cancel() (status -1) cancels; getStatus then raises CanceledActivation."""
    wrapper = smsactivateru_wrapper(proxy, route)
    buy = GetNumber(service=SmsService().Telegram, country=SmsTypes.Country.RU)
    activation = buy.request(wrapper)
    assert activation.cancel() == {"status": "ACCESS_CANCEL"}
    with pytest.raises(ErrorsModel) as raised:
        GetStatus(id=activation.id).request(wrapper)
    assert type(raised.value).__name__ == "CanceledActivation"
    assert order_for(route.upstream, activation.phone_number).refunded


# --- herosms 0.1.1 ------------------------------------------------------------------------------


def hero_client(proxy: Proxy, route: Route) -> HeroSMSClient:
    return HeroSMSClient(
        route.key, base_url=proxy.endpoint, retry_attempts=1, poll_interval=TEST_POLL_INTERVAL
    )


async def test_herosms_lifecycle(proxy: Proxy, route: Route) -> None:
    """herosms buys with getNumberV2, waits on getStatusV2 for both codes and completes."""
    async with hero_client(proxy, route) as client:
        balance = await client.get_balance()
        assert balance.amount > 0

        activation = await client.activations.create(service="tg", country=0)
        assert not isinstance(activation, dict | str)  # the model, not the json/raw formats
        assert activation.phone_number.startswith("7")
        assert activation.info.country_code == 0
        assert activation.info.currency == 840
        assert activation.can_resend
        assert await client.get_status_v1(activation.id) == "STATUS_WAIT_CODE"

        deliver(route.upstream, activation.phone_number, FIRST_CODE)
        first = await activation.wait_for_sms(timeout=WAIT, poll_interval=TEST_POLL_INTERVAL)
        assert first.code == FIRST_CODE

        await activation.request_sms()
        settle()
        assert await client.get_status_v1(activation.id) == f"STATUS_WAIT_RETRY:{FIRST_CODE}"

        deliver(route.upstream, activation.phone_number, SECOND_CODE)
        second = await activation.wait_for_sms(timeout=WAIT, poll_interval=TEST_POLL_INTERVAL)
        assert second.code == SECOND_CODE

        await activation.complete()
        assert activation.is_finished
        assert await client.get_status_v1(activation.id) == f"STATUS_OK:{SECOND_CODE}"
    assert nothing_active(proxy, route)


async def test_herosms_cancel(proxy: Proxy, route: Route) -> None:
    """herosms cancels with setStatus 8; its legacy status call then reads STATUS_CANCEL."""
    async with hero_client(proxy, route) as client:
        activation = await client.activations.create(service="tg", country=0)
        assert not isinstance(activation, dict | str)  # the model, not the json/raw formats
        assert await client.get_status_v1(activation.id) == "STATUS_WAIT_CODE"
        await activation.cancel()
        assert activation.is_finished
        assert await client.get_status_v1(activation.id) == "STATUS_CANCEL"
    assert order_for(route.upstream, activation.phone_number).refunded


async def test_aiosmsactivate_lifecycle(proxy: Proxy, route: Route) -> None:
    """aiosmsactivate (POST) buys with getNumberV2, reads both codes, lists and completes."""
    client = SmsActivate(route.key, base_url=proxy.endpoint)
    assert await client.get_balance() > 0

    number = await client.purchase("tg", country=0)
    assert isinstance(number, Number)
    assert number.phone_number.startswith("7")
    assert number.country_code == "0"
    assert number.can_get_another_sms
    activation_id = number.activation_id
    assert await client.get_activation_status_v1(activation_id) == (ActivationStatus.WAIT, None)
    waiting = await client.get_activation_status(activation_id)
    assert not isinstance(waiting, str)
    assert waiting.sms is None or not waiting.sms.code
    ready = await client.set_activation_status(activation_id, SetActivationStatus.READY)
    assert ready is SetActivationStatusResponse.READY

    deliver(route.upstream, number.phone_number, FIRST_CODE)
    got = await client.get_activation_status(activation_id)
    assert not isinstance(got, str) and got.sms is not None
    assert got.sms.code == FIRST_CODE
    listing = await client.get_active_activations()
    assert [entry["activationId"] for entry in listing["activeActivations"]] == [str(activation_id)]
    # wait_sms_code returns the code and then asks for another SMS itself (client.py:270-275).
    code = await client.wait_sms_code(activation_id, timeout=WAIT, per_attempt=TEST_POLL_INTERVAL)
    assert code == FIRST_CODE
    settle()
    retry = await client.get_activation_status_v1(activation_id)
    assert retry == (ActivationStatus.RETRY, FIRST_CODE)

    deliver(route.upstream, number.phone_number, SECOND_CODE)
    second = await client.get_activation_status_v1(activation_id)
    assert second == (ActivationStatus.OK, SECOND_CODE)
    done = await client.set_activation_status(activation_id, SetActivationStatus.COMPLETE)
    assert done is SetActivationStatusResponse.ACTIVATED
    final = await client.get_activation_status_v1(activation_id)
    assert final == (ActivationStatus.OK, SECOND_CODE)
    with pytest.raises(SmsActivateException) as raised:
        await client.get_active_activations()
    assert raised.value.code == "NO_ACTIVATIONS"
    assert nothing_active(proxy, route)


async def test_aiosmsactivate_cancel(proxy: Proxy, route: Route) -> None:
    """aiosmsactivate cancels with status 8; both status actions then report the cancel."""
    client = SmsActivate(route.key, base_url=proxy.endpoint)
    number = await client.purchase("tg", country=0)
    assert isinstance(number, Number)
    cancelled = await client.set_activation_status(number.activation_id, SetActivationStatus.CANCEL)
    assert cancelled is SetActivationStatusResponse.CANCEL
    status = await client.get_activation_status_v1(number.activation_id)
    assert status == (ActivationStatus.CANCEL, None)
    assert await client.get_activation_status(number.activation_id) == "STATUS_CANCEL"
    assert order_for(route.upstream, number.phone_number).refunded


async def test_aiosmsactivate_wait_then_complete(proxy: Proxy, route: Route) -> None:
    """The library's own flow, wait_sms_code then COMPLETE, closes the activation with its code."""
    client = SmsActivate(route.key, base_url=proxy.endpoint)
    number = await client.purchase("tg", country=0)
    assert isinstance(number, Number)
    deliver(route.upstream, number.phone_number, FIRST_CODE)
    code = await client.wait_sms_code(number, timeout=WAIT, per_attempt=TEST_POLL_INTERVAL)
    assert code == FIRST_CODE
    done = await client.set_activation_status(number.activation_id, SetActivationStatus.COMPLETE)
    assert done is SetActivationStatusResponse.ACTIVATED
    final = await client.get_activation_status_v1(number.activation_id)
    assert final == (ActivationStatus.OK, FIRST_CODE)


async def test_aiosmsactivate_cost_is_what_the_balance_lost(proxy: Proxy, route: Route) -> None:
    """The activationCost a library reads is what the purchase took from the balance."""
    client = SmsActivate(route.key, base_url=proxy.endpoint)
    before = await client.get_balance()
    number = await client.purchase("tg", country=0)
    assert isinstance(number, Number)
    after = await client.get_balance()
    assert before > after
    assert number.activation_cost == pytest.approx(before - after, abs=0.01)
