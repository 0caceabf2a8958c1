"""What a rental costs and whether it may be prolonged, as the adapters read the upstreams.

SMSPVA's `orders` carries `canprolong`, `canprolongmax` and `canprolonguntil` (seeds/001:150-152,
smspva-sdk types.py RentalGetOrdersResponseDataItem); VAK-SMS prices its 4-hour rent in
getCountNumbersList with rent=True (vaksms 2.0 client.py get_count_number_list, the fields of
models/services.py), which seed 003 does not document.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from proxy.providers import smspva, vaksms
from proxy.providers.base import Offer, ProviderAnswerInvalid, ProviderRefused
from tests.conftest import FIXTURES_DIR


def seed_order(**fields: Any) -> dict[str, Any]:
    """seeds/001:133-156's orders answer, recorded in protocol_fixtures, with `fields` changed."""
    path = FIXTURES_DIR / "smspva_rent" / "orders_success.json"
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]
    body["data"][0].update(fields)
    return body


def test_prolongation_terms_of_the_seed_example() -> None:
    [order] = smspva.parse_rent_orders("p", seed_order())
    assert order.can_prolong is True
    assert order.prolong_max_days == 162
    assert order.prolong_until == 1634883780.0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"canprolong": False}, (False, 162, 1634883780.0)),
        ({"canprolong": 0, "canprolongmax": "3"}, (False, 3, 1634883780.0)),
        ({"canprolong": "true", "canprolonguntil": "1634883780"}, (True, 162, 1634883780.0)),
        ({"canprolong": None, "canprolongmax": None, "canprolonguntil": None}, (None, None, None)),
    ],
)
def test_prolongation_terms_in_other_spellings(
    fields: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    """Numbers and strings as the SDK's looser readings send them; absent says nothing."""
    [order] = smspva.parse_rent_orders("p", seed_order(**fields))
    assert (order.can_prolong, order.prolong_max_days, order.prolong_until) == expected


def test_an_order_without_the_terms() -> None:
    body = seed_order()
    for name in ("canprolong", "canprolongmax", "canprolonguntil"):
        del body["data"][0][name]
    [order] = smspva.parse_rent_orders("p", body)
    assert (order.can_prolong, order.prolong_max_days, order.prolong_until) == (None, None, None)


def vak_service(cost: Any, quantity: Any = 5, rent: Any = True) -> list[dict[str, Any]]:
    return [{"name": "Telegram", "icon": "/static/services/tg.png", "info": "", "cost": cost,
             "rent": rent, "quantity": quantity, "private": False}]  # fmt: skip


def test_vaksms_rent_prices() -> None:
    body = {
        "tg": vak_service(80.0),
        "wa": vak_service("45", quantity=None),  # quantity is optional (models/services.py)
        "ig": vak_service(20.0, rent=False),  # an activation price: no rent offer
        "vk": [{"name": "VK"}],  # no cost: no offer
    }
    assert vaksms.parse_rent_price_list("v", 200, body) == {
        "tg": Offer(5, Decimal("80.0")),
        "wa": Offer(None, Decimal("45")),
    }


def test_vaksms_rent_price_errors() -> None:
    with pytest.raises(ProviderRefused):
        vaksms.parse_rent_price_list("v", 200, {"error": "noCountry"})
    with pytest.raises(ProviderAnswerInvalid):
        vaksms.parse_rent_price_list("v", 200, ["tg"])
