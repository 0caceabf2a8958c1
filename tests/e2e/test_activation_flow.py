"""Every setStatus transition end to end, on each provider, through real HTTP and Redis."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest

from proxy.emulators import OrderState
from tests.conftest import TEST_POLL_INTERVAL, Proxy, Upstream, deliver, order_for

PROVIDERS = ["smspva", "vaksms"]
NO_ACTIVATIONS = {"status": "error", "error": "NO_ACTIVATIONS"}
TENANT = {"smspva": "pva", "vaksms": "vak"}


@pytest.fixture(name="upstream")
def fixture_upstream(
    request: pytest.FixtureRequest, smspva: Upstream, vaksms: Upstream
) -> Upstream:
    return smspva if request.param == "smspva" else vaksms


pytestmark = pytest.mark.parametrize("upstream", PROVIDERS, indirect=True)


def tenant_of(upstream: Upstream, smspva: Upstream) -> str:
    return TENANT["smspva"] if upstream is smspva else TENANT["vaksms"]


def test_full_lifecycle(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """Buy, wait, code, ask for another, a new SMS (whatever its code: issue 12), finish."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    assert phone.startswith("7")  # country 0: the calling code is part of the phone
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=1) == "ACCESS_READY"

    first = deliver(upstream, phone, "1111")
    assert proxy.text(tenant, action="getStatus", id=activation_id) == f"STATUS_OK:{first}"

    assert proxy.text(tenant, action="setStatus", id=activation_id, status=3) == "ACCESS_RETRY_GET"
    assert (
        order_for(upstream, phone).retry_pending
        or upstream.emulator.requests["clearsms" if upstream is smspva else "setStatus"]
    )
    time.sleep(TEST_POLL_INTERVAL * 3)
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_WAIT_RETRY:1111"

    second = deliver(upstream, phone, "2222")
    assert proxy.text(tenant, action="getStatus", id=activation_id) == f"STATUS_OK:{second}"
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=3) == "ACCESS_RETRY_GET"
    time.sleep(TEST_POLL_INTERVAL * 3)
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_WAIT_RETRY:2222"
    deliver(upstream, phone, "2222")  # the same code again is the new SMS
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_OK:2222"
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=6) == "ACCESS_ACTIVATION"
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_OK:2222"
    assert proxy.call(tenant, action="getActiveActivations").json() == NO_ACTIVATIONS


def test_cancel_refunds_upstream(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """setStatus 8 before any SMS cancels the upstream order, which refunds it."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"
    order = order_for(upstream, phone)
    assert order.refunded
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_CANCEL"
    assert proxy.text(tenant, action="getStatusV2", id=activation_id) == "STATUS_CANCEL"
    # cancelling again is harmless and asks nothing upstream
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"


def test_legacy_cancel(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """status=-1 (SMSPVA's handler spelling) cancels like 8."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    answer = proxy.text(tenant, action="setstatus", id=activation_id, status=-1)
    assert answer == "ACCESS_CANCEL"
    assert order_for(upstream, phone).refunded


def test_finish_before_sms_closes_with_refund(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """setStatus 6 with no SMS: closed as an error (seeds/004:196) and refunded upstream."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=6) == "ACCESS_ACTIVATION"
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_CANCEL"
    assert order_for(upstream, phone).refunded


def test_cancel_after_code_is_refused(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """After a code the number is used: cancel answers BAD_STATUS and nothing is refunded."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "4321")
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_OK:4321"
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=8) == "BAD_STATUS"
    assert not order_for(upstream, phone).refunded


def test_cancel_when_code_arrived_unseen(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """A code that reached the upstream but not yet us: the upstream refuses the cancel."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    deliver(upstream, phone, "9999")
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=8) == "BAD_STATUS"
    assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_OK:9999"


def test_retry_before_code_is_bad_status(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    tenant = tenant_of(upstream, smspva)
    activation_id, _ = proxy.buy(tenant)
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=3) == "BAD_STATUS"
    assert proxy.text(tenant, action="setStatus", id=activation_id, status=5) == "BAD_STATUS"


def test_upstream_expiry_is_cancel(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """An order that expires upstream (SMSPVA 410, VAK's window) answers STATUS_CANCEL."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    emulator = upstream.emulator
    real_clock = emulator.clock
    emulator.clock = lambda: real_clock() + emulator.order_lifetime + 1
    try:
        assert proxy.text(tenant, action="getStatus", id=activation_id) == "STATUS_CANCEL"
        assert order_for(upstream, phone).state is not OrderState.ACTIVE
    finally:
        emulator.clock = real_clock
    assert proxy.call(tenant, action="getActiveActivations").json() == NO_ACTIVATIONS


def test_status_v2_and_active_list(proxy: Proxy, upstream: Upstream, smspva: Upstream) -> None:
    """getStatusV2 is JSON while waiting and with the code; the active list shows the code."""
    tenant = tenant_of(upstream, smspva)
    activation_id, phone = proxy.buy(tenant)
    waiting = proxy.call(tenant, action="getStatusV2", id=activation_id).json()
    assert waiting == {"verificationType": 0, "sms": None, "call": None}
    deliver(upstream, phone, "55555")
    got = proxy.call(tenant, action="getStatusV2", id=activation_id).json()
    assert got["sms"]["code"] == "55555"
    assert "55555" in got["sms"]["text"]
    listing = proxy.call(tenant, action="getActiveActivations").json()
    (entry,) = listing["activeActivations"]
    assert entry["activationId"] == str(activation_id)
    assert entry["phoneNumber"] == phone
    assert entry["smsCode"] == ["55555"]


def test_number_v2_shows_the_upstream_price(
    proxy: Proxy, upstream: Upstream, smspva: Upstream
) -> None:
    """activationCost is the provider's price in the client currency (RUB at 0.01 USD)."""
    tenant = tenant_of(upstream, smspva)
    answer = proxy.call(tenant, action="getNumberV2", service="tg", country=0).json()
    order = order_for(upstream, answer["phoneNumber"])
    rate = Decimal(1) if upstream is smspva else Decimal("0.01")
    expected = (order.price * rate).quantize(Decimal("0.01"))
    assert Decimal(str(answer["activationCost"])) == expected
    assert answer["currency"] == 840
    assert answer["countryCode"] == "0"
    assert answer["canGetAnotherSms"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", answer["activationTime"])
