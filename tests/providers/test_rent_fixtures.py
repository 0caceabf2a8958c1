"""SMSPVA's rental answers (protocol_fixtures/smspva_rent) through the adapter's parse functions.

Every documented shape is read: seeds/001's, seeds/000's list answer to `create`, and the shapes
smspva-sdk 0.1.0a2 types. A refusal's `msg` must become a ProviderRefused, never a success.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from proxy.providers import smspva
from proxy.providers.base import ProviderRefused
from tests.conftest import FIXTURES_DIR

FIXTURES = sorted((FIXTURES_DIR / "smspva_rent").glob("*.json"))
# Rental endpoints the proxy has no use for (history, the country list, adding a service).
NOT_CALLED = {"get_rent_history", "getcountries", "add_service_to_order"}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def read(endpoint: str, body: Any, meaning: dict[str, Any]) -> dict[str, Any]:
    """The adapter's reading of one answer, in the fixtures' vocabulary."""
    if endpoint == "create":
        rent = smspva.parse_rent("p", body)
        return {"kind": "rent", "order_id": rent.order_id, "phone": rent.phone, "until": rent.until}
    if endpoint == "sms":
        return {"kind": "rent_sms", "texts": [m.text for m in smspva.parse_rent_sms("p", body)]}
    if endpoint in ("getdata", "getdataWithProviders"):
        offers = smspva.parse_rent_offers("p", body, 7)
        found: dict[str, Any] = {"kind": "catalog"}
        if "offers" in meaning:
            found["offers"] = {code: [o.count, str(o.price)] for code, o in offers.items()}
        return found
    if endpoint == "orders":
        smspva.parse_rent_orders("p", body)
        return {"kind": "rent_orders"}
    smspva.rent_data("p", endpoint, body)
    return {"kind": "ok"}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_adapter_reads_rent_fixture(path: Path) -> None:
    fixture = load(path)
    endpoint, meaning = fixture["endpoint"], fixture["meaning"]
    if endpoint in NOT_CALLED:
        pytest.skip("the proxy does not call this endpoint")
    body = fixture["response"]["body"]
    if meaning["kind"] == "refused":
        with pytest.raises(ProviderRefused):
            read(endpoint, body, meaning)
        return
    expected = dict(meaning)
    if expected["kind"] == "rent":
        code = expected.pop("calling_code", "")
        expected["phone"] = code + expected["phone"]
        expected["until"] = float(expected["until"])
    if "offers" in expected:
        expected["offers"] = {k: [n, str(Decimal(p))] for k, (n, p) in expected["offers"].items()}
    assert read(endpoint, body, meaning) == expected


def test_until_in_every_documented_form() -> None:
    """A number (001:122), a number in a string (sdk), a date without zone read as UTC (000:183)."""
    assert smspva.rent_time(1587633960) == 1587633960.0
    assert smspva.rent_time("1587633960") == 1587633960.0
    assert smspva.rent_time("2025-01-31 12:00:00") == 1738324800.0
    assert smspva.rent_time("2025-01-31T12:00:00+03:00") == 1738314000.0
    assert smspva.rent_time("soon") is None
    assert smspva.rent_time(True) is None
