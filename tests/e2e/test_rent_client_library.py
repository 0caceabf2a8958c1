"""The official smsactivate module's rent calls, unchanged but for its URL, on both providers."""

from __future__ import annotations

import time

import pytest
from smsactivate.api import SMSActivateAPI

from tests.conftest import TENANT_KEYS, Proxy, Upstream


def official(proxy: Proxy, tenant: str) -> SMSActivateAPI:
    api = SMSActivateAPI(TENANT_KEYS[tenant])
    api._SMSActivateAPI__api_url = proxy.endpoint  # the one value set: its URL (api.py:8)
    return api


@pytest.mark.parametrize("tenant", ["pva", "vak"])
def test_rent_lifecycle(proxy: Proxy, smspva: Upstream, vaksms: Upstream, tenant: str) -> None:
    """Rent, wait, receive an SMS, list, finish: through the library's own methods."""
    smspva.emulator.rent.activation_delay = 0
    api = official(proxy, tenant)
    rented = api.getRentNumber(service="tg", time=4, country=0)
    assert rented["status"] == "success", rented
    rent_id, number = rented["phone"]["id"], rented["phone"]["number"]
    assert number.startswith("7")
    waiting = api.getRentStatus(rent_id)
    assert waiting == {"status": "error", "message": "STATUS_WAIT_CODE"}
    if tenant == "pva":
        order_id = next(iter(smspva.emulator.rent.orders))
        smspva.emulator.deliver_rent_sms(order_id, text="Telegram code 4242")
    else:
        order = next(o for o in vaksms.emulator.orders.values() if number.endswith(str(o.phone)))
        vaksms.emulator.deliver_sms(order.order_id, "4242")
    time.sleep(0.05)
    status = api.getRentStatus(rent_id)
    assert status["status"] == "success", status
    assert "4242" in status["values"]["0"]["text"]
    listing = api.getRentList()
    assert listing["values"]["0"]["id"] == str(rent_id)
    finished = api.setRentStatus(id=rent_id, status=1)
    assert finished["status"] == "success"


def test_rent_time_from_the_library_is_honoured(proxy: Proxy, smspva: Upstream) -> None:
    """The module sends `time`, not `rent_time`: 200 hours buys two SMSPVA weeks."""
    api = official(proxy, "pva")
    rented = api.getRentNumber(service="tg", time=200, country=0)
    assert rented["status"] == "success", rented
    ((_, order),) = smspva.emulator.rent.orders.items()
    assert order.until - order.created >= 14 * 86400 - 5
