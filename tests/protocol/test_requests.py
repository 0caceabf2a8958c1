"""Parsing handler_api.php parameters into request objects and protocol words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.protocol.requests import (
    NO_SUCH_COUNTRY,
    NUMBER_MAX,
    OPERATOR_CHARS,
    ORDER_ID_CHARS,
    URL_CHARS,
    CreateTaskForCall,
    GetActiveActivations,
    GetBalance,
    GetHistory,
    GetIncomingCallStatus,
    GetMultiServiceNumber,
    GetNumber,
    GetOutgoingCalls,
    GetPrices,
    GetRentNumber,
    GetRentStatus,
    GetStatus,
    ProtocolError,
    RentRefused,
    SetStatus,
    number,
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

    @pytest.mark.parametrize("value", ["1", "true", "True"])
    def test_forwarding_cannot_be_served(self, value: str) -> None:
        """seeds/004:106-107: no upstream forwards calls, so there are no such numbers."""
        word = error_word({"action": "getNumberV2", "service": "tg", "forward": value})
        assert word is Word.NO_NUMBERS

    def test_phone_exceptions(self) -> None:
        """seeds/004:110: comma-separated, a space after the comma as in the seed's example."""
        request = parse_request(
            {"action": "getNumber", "service": "tg", "phoneException": "7918, 7900111,"}
        )
        assert isinstance(request, GetNumber)
        assert request.phone_exceptions == ("7918", "7900111")

    @pytest.mark.parametrize("value", ["791", "79181234", "7918x", "+7918", "٧٩١٨"])
    def test_malformed_phone_exception(self, value: str) -> None:
        """Country code and 3 to 6 digits (seeds/002:188); else WRONG_EXCEPTION_PHONE (004:130)."""
        params = {"action": "getNumber", "service": "tg", "phoneException": f"7900,{value}"}
        assert error_word(params) is Word.WRONG_EXCEPTION_PHONE

    def test_seed_parameters_are_accepted(self) -> None:
        """language, userId, useCashBack, verification: an SMS purchase like any other."""
        request = parse_request(
            {"action": "getNumber", "service": "tg", "language": "en", "userId": "9",
             "useCashBack": "true", "verification": "true", "activationType": "0"}
        )  # fmt: skip
        assert request == GetNumber("tg", 0, (), None, v2=False, order_id=None)

    def test_multi_service_ignores_phone_exception(self) -> None:
        """seeds/002:273 lists no phoneException for getMultiServiceNumber."""
        request = parse_request(
            {"action": "getMultiServiceNumber", "multiService": "wa,vi", "phoneException": "x"}
        )
        assert request == GetMultiServiceNumber(("wa", "vi"), 0, ())


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


class TestSeedActions:
    @pytest.mark.parametrize("action", ["getBalanceAndCashBack", "getbalanceandcashback"])
    def test_balance_and_cashback_is_the_balance(self, action: str) -> None:
        """seeds/002:78-90: the same ACCESS_BALANCE answer; smsproxy pays no cashback."""
        assert parse_request({"action": action}) == GetBalance()

    @pytest.mark.parametrize(
        ("action", "expected"),
        [("getIncomingCallStatus", GetIncomingCallStatus()),
         ("createTaskForCall", CreateTaskForCall()), ("getOutgoingCalls", GetOutgoingCalls())],
    )  # fmt: skip
    def test_call_actions_are_known(self, action: str, expected: object) -> None:
        """The call actions of seeds/002:493-709 are parsed, never BAD_ACTION."""
        assert parse_request({"action": action, "activationId": "x"}) == expected


class TestHistory:
    def test_defaults(self) -> None:
        """seeds/004:269-270: offset 0, limit 50; start and end optional."""
        assert parse_request({"action": "getHistory"}) == GetHistory(None, None, 0, 50)

    def test_parameters(self) -> None:
        params = {"action": "getHistory", "start": "1700000000", "end": "1700003600.5",
                  "offset": "20", "limit": "10"}  # fmt: skip
        assert parse_request(params) == GetHistory(1700000000.0, 1700003600.5, 20, 10)

    @pytest.mark.parametrize(
        ("limit", "expected"), [("100", 100), ("101", 100), ("5000", 100), ("0", 50), ("x", 50)]
    )
    def test_limit_at_most_100(self, limit: str, expected: int) -> None:
        request = parse_request({"action": "getHistory", "limit": limit})
        assert isinstance(request, GetHistory)
        assert request.limit == expected

    def test_size_when_no_limit(self) -> None:
        """herosms pages with `size`; `limit` (the seed's name) wins when both are sent."""
        assert parse_request({"action": "getHistory", "size": "7"}) == GetHistory(None, None, 0, 7)
        request = parse_request({"action": "getHistory", "size": "7", "limit": "3"})
        assert request == GetHistory(None, None, 0, 3)

    def test_iso_times(self) -> None:
        """herosms sends ISO 8601; a time without a zone is taken as UTC."""
        request = parse_request(
            {
                "action": "getHistory",
                "start": "2023-11-14T22:13:20",
                "end": "2023-11-14T23:13:20+01:00",
            }
        )
        assert request == GetHistory(1700000000.0, 1700000000.0, 0, 50)

    @pytest.mark.parametrize("value", ["", "soon", "nan", "sNaN", "inf", "1e999"])
    def test_unusable_time_is_no_bound(self, value: str) -> None:
        request = parse_request({"action": "getHistory", "start": value, "end": value})
        assert request == GetHistory(None, None, 0, 50)


class TestNumbers:
    """Issue 14: every numeric parameter is ASCII digits, at most 18 (proxy.protocol.requests
    .number); `str.isdigit()` took "²" (int() then failed: ERROR_SQL) and "١" (read as 1)."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("0", 0), ("17", 17), (" 42 ", 42), ("007", 7), ("9" * 18, 10**18 - 1)],
    )
    def test_ascii_digits(self, value: str, expected: int) -> None:
        assert number(value) == expected

    @pytest.mark.parametrize(
        "value",
        [None, "", " ", "²", "١", "１", "٣٤", "9" * 19, "9" * 4301, "-1", "+1", "1.0", "1e3",
         "1_000", "0x1", "1 2", "\x00", "৫"],
    )  # fmt: skip
    def test_anything_else_is_none(self, value: str | None) -> None:
        assert number(value) is None

    def test_signed(self) -> None:
        assert number("-1", signed=True) == -1
        assert number("-" + "9" * 18, signed=True) == -(10**18 - 1)
        assert number("-" + "9" * 19, signed=True) is None
        assert number("--1", signed=True) is None

    @pytest.mark.parametrize("value", ["²", "١", "9" * 4301, "9" * 19])
    def test_each_action_answers_its_word(self, value: str) -> None:
        cases = {
            "getStatus": ({"id": value}, Word.NO_ACTIVATION),
            "getFullSms": ({"id": value}, Word.NO_ACTIVATION),
            "setStatus": ({"id": value, "status": "8"}, Word.WRONG_ACTIVATION_ID),
            "getExtraActivation": ({"activationId": value}, Word.WRONG_ACTIVATION_ID),
            "checkExtraActivation": ({"activationId": value}, Word.WRONG_ACTIVATION_ID),
            "getAdditionalService": ({"id": value}, Word.WRONG_ACTIVATION_ID),
            "getNumber": ({"service": "tg", "country": value}, Word.NO_NUMBERS),
        }
        for action, (params, word) in cases.items():
            assert error_word({"action": action, **params}) is word, action
        assert error_word({"action": "setStatus", "id": "1", "status": value}) is Word.BAD_STATUS

    @pytest.mark.parametrize("value", ["²", "١", "9" * 4301])
    def test_rent_words(self, value: str) -> None:
        for action in ("getRentStatus", "setRentStatus", "continueRentNumber"):
            assert parse_request({"action": action, "id": value, "status": "1"}) == RentRefused(
                "INVALID_PHONE"
            )
        for action in ("getRentNumber", "getRentServicesAndCountries"):
            request = parse_request({"action": action, "service": "tg", "rent_time": value})
            assert request == RentRefused("INVALID_TIME")

    @pytest.mark.parametrize("value", ["²", "١", "9" * 4301])
    def test_no_word_means_the_default(self, value: str) -> None:
        """Paging has no error word (as before for `x`), a country none matches nothing."""
        paged = (
            GetHistory(None, None, 10_000, 100)
            if value.isascii()
            else GetHistory(None, None, 0, 50)
        )
        assert parse_request({"action": "getHistory", "limit": value, "offset": value}) == paged
        assert parse_request({"action": "getPrices", "country": value}) == GetPrices(
            None, NO_SUCH_COUNTRY
        )
        request = parse_request({"action": "getRentNumber", "service": "tg", "country": value})
        assert isinstance(request, GetRentNumber)
        assert request.country == NO_SUCH_COUNTRY

    def test_paging_past_18_digits_is_past_the_end(self) -> None:
        """A deeper offset than any history answers [] (as 10**30 did before), not page 1."""
        request = parse_request({"action": "getHistory", "offset": "9" * 30, "limit": "9" * 30})
        assert request == GetHistory(None, None, 10_000, 100)
        request = parse_request({"action": "getRentStatus", "id": "1", "page": "9" * 19})
        assert isinstance(request, GetRentStatus)
        assert request.page == NUMBER_MAX

    def test_negative_status_is_smspva_cancel(self) -> None:
        """seeds/000:363: -1 stays a status."""
        assert parse_request({"action": "setStatus", "id": "5", "status": "-1"}) == SetStatus(5, -1)

    @pytest.mark.parametrize("value", ["١٢", "1" * 19, "1e999999999", "1e3", "-1.5", "1,5"])
    def test_max_price_is_ascii_and_short(self, value: str) -> None:
        """A malformed cap is no cap, as before (seeds/004:108-109)."""
        request = parse_request({"action": "getNumber", "service": "tg", "maxPrice": value})
        assert isinstance(request, GetNumber)
        assert request.max_price is None

    @pytest.mark.parametrize(
        ("value", "price"),
        [("12.5", "12.5"), ("3", "3"), (".5", "0.5"), ("2.", "2"), (" 0.10 ", "0.10")],
    )
    def test_max_price(self, value: str, price: str) -> None:
        request = parse_request({"action": "getNumber", "service": "tg", "maxPrice": value})
        assert isinstance(request, GetNumber)
        assert request.max_price == Decimal(price)

    @pytest.mark.parametrize("value", ["١٧٠٠٠٠٠٠٠٠", "1" * 65, "２０２３-11-14"])
    def test_times_are_ascii_and_short(self, value: str) -> None:
        request = parse_request({"action": "getHistory", "start": value})
        assert request == GetHistory(None, None, 0, 50)


class TestStoredStrings:
    """Free strings smsproxy keeps: past their cap BAD_ACTION, never cut."""

    def test_order_id(self) -> None:
        longest = "o" * ORDER_ID_CHARS
        request = parse_request({"action": "getNumberV2", "service": "tg", "orderId": longest})
        assert isinstance(request, GetNumber)
        assert request.order_id == longest
        params = {"action": "getNumberV2", "service": "tg", "orderId": longest + "o"}
        assert error_word(params) is Word.BAD_ACTION

    def test_rent_url(self) -> None:
        longest = "https://example.com/" + "u" * (URL_CHARS - 20)
        request = parse_request({"action": "getRentNumber", "service": "tg", "url": longest})
        assert isinstance(request, GetRentNumber)
        assert request.url == longest
        params = {"action": "getRentNumber", "service": "tg", "url": longest + "u"}
        assert error_word(params) is Word.BAD_ACTION

    @pytest.mark.parametrize(
        "action",
        ["getNumber", "getNumberV2", "getRentNumber", "getMultiServiceNumber",
         "getRentServicesAndCountries"],
    )  # fmt: skip
    def test_operator_names(self, action: str) -> None:
        fine = {"action": action, "service": "tg", "multiService": "wa,vi"}
        parse_request({**fine, "operator": "mts," + "m" * OPERATOR_CHARS})
        assert error_word({**fine, "operator": "mts," + "m" * (OPERATOR_CHARS + 1)}) is (
            Word.BAD_ACTION
        )
