"""Rendering answers: the getHistory entry's fields, types and status codes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from proxy.lifecycle import Activation, Message, State
from proxy.protocol.answers import activation_status, history_entry

BOUGHT = Activation(
    id=17, tenant="alice", provider="smspva", order_id="o", phone="79180000000", service="tg",
    country=0, operator=None, cost=Decimal("0.25"), currency="USD", created=1700000000.0,
    expires=1700000600.0,
)  # fmt: skip
CODE = Message(code="1234", text="Your code is 1234", at=1700000100.0)


class TestHistoryEntry:
    def test_types(self) -> None:
        """seeds/004:273-283: id a number, phone and status strings, currency ISO 4217."""
        assert history_entry(BOUGHT) == {
            "id": 17, "date": "2023-11-14 22:13:20", "phone": "79180000000", "sms": "[]",
            "cost": 0.0, "status": "4", "currency": 840,
        }  # fmt: skip

    def test_cost_only_once_completed(self) -> None:
        """004:279 and 002:452: 0 while active or not completed; the cost once completed."""
        with_code = BOUGHT.evolve(1.0, state=State.CODE_RECEIVED, messages=(CODE,))
        assert history_entry(with_code)["cost"] == 0
        assert history_entry(with_code.evolve(2.0, state=State.FINISHED))["cost"] == 0.25
        assert history_entry(BOUGHT.evolve(1.0, state=State.CANCELLED))["cost"] == 0

    def test_sms_is_a_json_string_of_texts(self) -> None:
        entry = history_entry(BOUGHT.evolve(1.0, state=State.FINISHED, messages=(CODE,)))
        assert json.loads(entry["sms"]) == ["Your code is 1234"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [({}, "4"), ({"ready": True}, "1"), ({"state": State.CODE_RECEIVED}, "4"),
     ({"state": State.WAIT_RETRY}, "3"), ({"state": State.FINISHED}, "6"),
     ({"state": State.CANCELLED}, "8")],
)  # fmt: skip
def test_activation_status(changes: dict[str, object], code: str) -> None:
    """getActiveActivations' codes, and the setStatus numbers that end an activation."""
    assert activation_status(BOUGHT.evolve(0.0, **changes)) == code
