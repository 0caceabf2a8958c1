"""One number for two services, the same number again, additional services."""

from __future__ import annotations

import time

from tests.conftest import Proxy, Upstream, deliver, order_for


def test_multi_service_number(proxy: Proxy, smspva: Upstream, vaksms: Upstream) -> None:
    """SMSPVA cannot, so VAK-SMS sells one number for both; two activations, one phone."""
    answer = proxy.call("alice", action="getMultiServiceNumber", multiService="wa,vi", country=0)
    listing = answer.json()
    assert [entry["service"] for entry in listing] == ["wa", "vi"]
    assert listing[0]["phone"] == listing[1]["phone"]
    assert isinstance(listing[0]["activation"], int)
    assert listing[0]["activation"] != listing[1]["activation"]
    assert smspva.emulator.requests["number"] == 0
    whatsapp, viber = listing[0]["activation"], listing[1]["activation"]
    orders = [o for o in vaksms.emulator.orders.values() if o.service == "wa"]
    vaksms.emulator.deliver_sms(orders[0].order_id, "1212")
    time.sleep(0.05)
    assert proxy.text("alice", action="getStatus", id=whatsapp) == "STATUS_OK:1212"
    assert proxy.text("alice", action="getStatus", id=viber) == "STATUS_WAIT_CODE"


def test_multi_service_refusals(proxy: Proxy) -> None:
    """No provider of the tenant sells such numbers, or not for three services: BAD_SERVICE."""
    assert proxy.text("pva", action="getMultiServiceNumber", multiService="wa,vi") == (
        "BAD_SERVICE"
    )
    assert proxy.text("alice", action="getMultiServiceNumber", multiService="wa,vi,tg") == (
        "BAD_SERVICE"
    )
    assert proxy.text("alice", action="getMultiServiceNumber", multiService="wa,nope") == (
        "BAD_SERVICE"
    )


def test_extra_activation(proxy: Proxy, vaksms: Upstream) -> None:
    """A VAK-SMS number that received a code is had again once its order is over."""
    parent, phone = proxy.buy("vak")
    assert proxy.text("vak", action="getExtraActivation", activationId=parent) == (
        "RENEW_ACTIVATION_NOT_AVAILABLE"  # no code yet
    )
    deliver(vaksms, phone, "5151")
    assert proxy.text("vak", action="getStatus", id=parent) == "STATUS_OK:5151"
    assert proxy.text("vak", action="setStatus", id=parent, status=6) == "ACCESS_ACTIVATION"
    check = proxy.call("vak", action="checkExtraActivation", activationId=parent).json()
    assert check["status"] == "success" and check["service"] == "tg"
    assert check["phone"] == int(phone) and check["country"] == 0 and check["cost"] > 0
    # while its first order is still open upstream, VAK-SMS will not re-issue it
    assert proxy.text("vak", action="getExtraActivation", activationId=parent) == (
        "NEW_ACTIVATION_IMPOSSIBLE"
    )
    emulator = vaksms.emulator
    real_clock = emulator.clock
    emulator.clock = lambda: real_clock() + emulator.order_lifetime + 1
    try:
        answer = proxy.text("vak", action="getExtraActivation", activationId=parent)
    finally:
        emulator.clock = real_clock
    word, child, child_phone = answer.split(":")
    assert word == "ACCESS_NUMBER" and child_phone == phone and int(child) > parent
    deliver(vaksms, phone, "6262")
    assert proxy.text("vak", action="getStatus", id=child) == "STATUS_OK:6262"
    # the new order lists its own codes: a retry there is answered by its next SMS, same code
    assert proxy.text("vak", action="setStatus", id=child, status=3) == "ACCESS_RETRY_GET"
    deliver(vaksms, phone, "6262")
    assert proxy.text("vak", action="getStatus", id=child) == "STATUS_OK:6262"


def test_extra_activation_refusals(proxy: Proxy, smspva: Upstream) -> None:
    pva_id, phone = proxy.buy("pva")
    deliver(smspva, phone, "7373")
    assert proxy.text("pva", action="getStatus", id=pva_id) == "STATUS_OK:7373"
    # SMSPVA has no re-activation endpoint
    for action in ("getExtraActivation", "checkExtraActivation"):
        assert proxy.text("pva", action=action, activationId=pva_id) == (
            "RENEW_ACTIVATION_NOT_AVAILABLE"
        )
        assert proxy.text("bob", action=action, activationId=pva_id) == "WRONG_ACTIVATION_ID"
        assert proxy.text("pva", action=action, activationId="x") == "WRONG_ACTIVATION_ID"


def test_additional_service_needs_forwarding(proxy: Proxy) -> None:
    activation_id, _ = proxy.buy("alice")
    assert proxy.text("alice", action="getAdditionalService", id=activation_id, service="av") == (
        "WRONG_SECURITY"
    )
    assert proxy.text("alice", action="getAdditionalService", id=99999, service="av") == (
        "WRONG_ACTIVATION_ID"
    )


def test_a_client_library_buys_a_multi_service_number(proxy: Proxy, vaksms: Upstream) -> None:
    """The official smsactivate module's getMultiServiceNumber, unchanged but for its URL."""
    from smsactivate.api import SMSActivateAPI

    api = SMSActivateAPI("alice-key")
    api._SMSActivateAPI__api_url = proxy.endpoint
    listing = api.getMultiServiceNumber(service="wa,vi", country=0)
    assert listing[0]["phone"] == listing[1]["phone"]
    assert order_for(vaksms, listing[0]["phone"])


def test_multi_service_number_by_operator(proxy: Proxy, vaksms: Upstream) -> None:
    """`operator` (seeds/002:273, 004:171) reaches VAK-SMS's getNumber (seeds/003:863) in its
    own spelling: the official module's call, and Ukraine's `life`, VAK's `lifecell` (003:421).
    One no provider carries gets the first suitable operator, as getNumber (seeds/004:134)."""
    from smsactivate.api import SMSActivateAPI

    api = SMSActivateAPI("vak-only-key")
    api._SMSActivateAPI__api_url = proxy.endpoint
    listing = api.getMultiServiceNumber(service="wa,vi", operator="mts", country=0)
    assert [order_for(vaksms, e["phone"]).operator for e in listing] == ["mts", "mts"]
    ukraine = proxy.call(
        "vak", action="getMultiServiceNumber", multiService="wa,vi", country=1, operator="life"
    ).json()
    assert order_for(vaksms, ukraine[0]["phone"]).operator == "lifecell"
    anyone = proxy.call(
        "vak", action="getMultiServiceNumber", multiService="wa,vi", country=0, operator="aiva"
    ).json()
    assert anyone[0]["phone"] == anyone[1]["phone"]
    assert order_for(vaksms, anyone[0]["phone"]).operator is None
    # VAK-SMS refusing the operator (noOperator, seeds/003:1216): bought without one
    vaksms.emulator.inject_error("getNumber", status=200, body={"error": "noOperator"})
    again = proxy.call(
        "vak", action="getMultiServiceNumber", multiService="wa,vi", country=0, operator="mts"
    ).json()
    assert order_for(vaksms, again[0]["phone"]).operator is None
