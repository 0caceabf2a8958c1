"""Parsing handler_api.php parameters into request objects and protocol words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.protocol.requests import (
    GetActiveActivations,
    GetBalance,
    GetNumber,
    GetStatus,
    ProtocolError,
    SetStatus,
    parse_bool,
    parse_request,
)
from proxy.protocol.words import Word


def error_word(params: dict[str, str]) -> Word:
    with pytest.raises(ProtocolError) as info:
        parse_request(params)
    return info.value.word


class TestActions:
    @pytest.mark.parametrize("action", ["getBalance", "getbalance", "GETBALANCE"])
    def test_action_names_ignore_case(self, action: str) -> None:
        """SMSPVA's handler documents lowercase names (seeds/000:357)."""
        assert parse_request({"action": action}) == GetBalance()

    @pytest.mark.parametrize("action", ["", "getSomething", "getRentNumbers"])
    def test_unknown_action_is_bad_action(self, action: str) -> None:
        assert error_word({"action": action}) is Word.BAD_ACTION

    def test_missing_action_is_bad_action(self) -> None:
        assert error_word({}) is Word.BAD_ACTION

    def test_active_activations(self) -> None:
        assert parse_request({"action": "getActiveActivations"}) == GetActiveActivations()


class TestGetNumber:
    def test_defaults(self) -> None:
        """Missing country means 0; extra parameters are ignored."""
        request = parse_request({"action": "getNumber", "service": "tg", "ref": "x", "softId": "5"})
        assert request == GetNumber("tg", 0, (), None, v2=False, order_id=None)

    def test_operators_and_max_price(self) -> None:
        request = parse_request(
            {"action": "getNumberV2", "service": "go", "country": "16",
             "operator": "mts, Beeline,any", "maxPrice": "12.5", "orderId": "o-1"}
        )  # fmt: skip
        assert request == GetNumber(
            "go", 16, ("mts", "beeline"), Decimal("12.5"), v2=True, order_id="o-1"
        )

    @pytest.mark.parametrize("price", ["abc", "-1", "0", "nan", ""])
    def test_unusable_max_price_means_no_cap(self, price: str) -> None:
        request = parse_request({"action": "getNumber", "service": "tg", "maxPrice": price})
        assert isinstance(request, GetNumber)
        assert request.max_price is None

    def test_order_id_only_on_v2(self) -> None:
        request = parse_request({"action": "getNumber", "service": "tg", "orderId": "o"})
        assert isinstance(request, GetNumber)
        assert request.order_id is None

    def test_missing_service_is_bad_service(self) -> None:
        assert error_word({"action": "getNumber"}) is Word.BAD_SERVICE

    @pytest.mark.parametrize("kind", ["1", "2"])
    def test_call_activations_cannot_be_served(self, kind: str) -> None:
        word = error_word({"action": "getNumber", "service": "tg", "activationType": kind})
        assert word is Word.NO_NUMBERS

    def test_bad_country(self) -> None:
        assert (
            error_word({"action": "getNumber", "service": "tg", "country": "x"}) is Word.NO_NUMBERS
        )


class TestStatus:
    def test_get_status(self) -> None:
        assert parse_request({"action": "getStatus", "id": "17"}) == GetStatus(17, v2=False)
        assert parse_request({"action": "getStatusV2", "id": "17"}) == GetStatus(17, v2=True)

    @pytest.mark.parametrize("value", ["abc", "-3", "1.5", ""])
    def test_get_status_bad_id_is_no_activation(self, value: str) -> None:
        assert error_word({"action": "getStatus", "id": value}) is Word.NO_ACTIVATION

    def test_set_status(self) -> None:
        params = {"action": "setStatus", "id": "5", "status": "-1"}
        assert parse_request(params) == SetStatus(5, -1)

    def test_set_status_non_numeric_id(self) -> None:
        """seeds/004:222: WRONG_ACTIVATION_ID."""
        word = error_word({"action": "setStatus", "id": "x", "status": "8"})
        assert word is Word.WRONG_ACTIVATION_ID

    def test_set_status_bad_status(self) -> None:
        word = error_word({"action": "setStatus", "id": "5", "status": "cancel"})
        assert word is Word.BAD_STATUS


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("False", False),
     ("0", False), (None, False)],
)  # fmt: skip
def test_booleans(value: str | None, expected: bool) -> None:
    assert parse_bool(value) is expected
