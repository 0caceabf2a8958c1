"""Parse handler_api.php parameters once into one frozen request object per action.

Unknown actions become BAD_ACTION here, not deep inside a handler. Extra parameters (`ref`,
`softId`, `json`, `freePrice`, ...) are ignored, as SMS-Activate ignores them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from proxy.protocol.words import Word


class ProtocolError(Exception):
    """A request that answers with a bare protocol word before any work is done."""

    def __init__(self, word: Word, detail: str = "") -> None:
        super().__init__(word.value if not detail else f"{word.value}: {detail}")
        self.word = word


# Numbers: ASCII digits only, at most 18 of them. str.isdigit() also takes "²" (int() refuses
# it: an ERROR_SQL with a traceback), "١" (int() reads 1) and any length (int() refuses more
# than 4,300 digits); 10**18 - 1 fits a signed 64-bit integer, in Redis and everywhere after.
NUMBER_DIGITS = 18
NUMBER_MAX = 10**NUMBER_DIGITS - 1
_NUMBER = re.compile(rf"-?[0-9]{{1,{NUMBER_DIGITS}}}")  # [0-9], not \d: \d is any Unicode digit

# The free strings a client can make smsproxy keep (in Redis, in a log's context): longer ones
# answer BAD_ACTION, as a request beyond the server's limits does (README "Limits"); never cut.
ORDER_ID_CHARS = 128  # getNumberV2 orderId: a reseller's id (a UUID is 36)
URL_CHARS = 2048  # getRentNumber url: the webhook
OPERATOR_CHARS = 64  # each name in `operator` (the longest real one has under 20)


def number(value: str | None, *, signed: bool = False) -> int | None:
    """The integer `value` spells in ASCII digits (at most 18; a leading `-` when `signed`),
    surrounding blanks aside; None for anything else. The one reading of a number from a
    client: every numeric parameter goes through here, and each action answers its own word
    for None."""
    if value is None:
        return None
    text = value.strip()
    # The common case without the pattern: ASCII-only digits are exactly [0-9] (str.isdigit
    # alone also takes "²" and "١").
    if 0 < len(text) <= NUMBER_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    if len(text) > NUMBER_DIGITS + 1 or not _NUMBER.fullmatch(text):
        return None
    if text.startswith("-") and not signed:
        return None
    return int(text)


def _bounded(params: Params, name: str, most: int) -> str:
    """A free string the request keeps; BAD_ACTION when longer than `most` characters."""
    value = params.get(name, "").strip()
    if len(value) > most:
        raise ProtocolError(Word.BAD_ACTION, f"{name} longer than {most} characters")
    return value


TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})


def parse_bool(value: str | None, default: bool = False) -> bool:
    """true/false/True/False/1/0, as clients send them."""
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return default


@dataclass(frozen=True, slots=True)
class GetBalance:
    """getBalance and getBalanceAndCashBack (seeds/002:75-96, 004:46-54).

    getBalanceAndCashBack answers the balance plus the accumulated cashback in the same
    `ACCESS_BALANCE:<amount>` shape; smsproxy pays no cashback, so the two are equal.
    """


@dataclass(frozen=True, slots=True)
class GetNumber:
    """getNumber and getNumberV2 (seeds/004:103-152)."""

    service: str
    country: int
    operators: tuple[str, ...]
    max_price: Decimal | None
    v2: bool
    order_id: str | None
    # smsproxy extension (as several SMS-Activate clones accept): configured provider names
    only_providers: tuple[str, ...] = ()
    except_providers: tuple[str, ...] = ()
    # seeds/002:188, 004:110: number prefixes (calling code first) the client will not take
    phone_exceptions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GetStatus:
    """getStatus and getStatusV2 (seeds/004:223-264)."""

    activation_id: int
    v2: bool


@dataclass(frozen=True, slots=True)
class GetFullSms:
    """getFullSms (seeds/002:1144-1162: the activation id, answered with the SMS's whole text);
    on the wire `action=getFullSms&id=` as the official `smsactivate` module sends it (api.py
    getFullSms) and SMS-Activate's Java library, which seed 002 documents, reads it."""

    activation_id: int


@dataclass(frozen=True, slots=True)
class SetStatus:
    """setStatus (seeds/004:186-222)."""

    activation_id: int
    status: int


@dataclass(frozen=True, slots=True)
class GetActiveActivations:
    """getActiveActivations (seeds/004:77-102)."""


@dataclass(frozen=True, slots=True)
class GetHistory:
    """getHistory (seeds/002:432-462, 004:265-287): the tenant's activations, newest first."""

    start: float | None
    end: float | None
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class GetIncomingCallStatus:
    """getIncomingCallStatus (seeds/002:493-522, 004:305-318): call activations only."""


@dataclass(frozen=True, slots=True)
class CreateTaskForCall:
    """createTaskForCall (seeds/002:667-691): an outgoing call from the activation's number."""


@dataclass(frozen=True, slots=True)
class GetOutgoingCalls:
    """getOutgoingCalls (seeds/002:693-709): the call requests createTaskForCall made."""


@dataclass(frozen=True, slots=True)
class GetNumbersStatus:
    """getNumbersStatus (seeds/002:22-49): counts per service in one country."""

    country: int
    operator: str | None


@dataclass(frozen=True, slots=True)
class GetPrices:
    """getPrices (seeds/002:524-538): both filters optional."""

    service: str | None
    country: int | None


@dataclass(frozen=True, slots=True)
class GetTopCountriesByService:
    """getTopCountriesByService (seeds/004:18-45), with freePriceMap on freePrice=true."""

    service: str | None
    free_price: bool


@dataclass(frozen=True, slots=True)
class GetCountries:
    """getCountries (seeds/004:332-344)."""


@dataclass(frozen=True, slots=True)
class GetServicesList:
    """getServicesList (seeds/004:345-351)."""

    country: int | None
    lang: str


@dataclass(frozen=True, slots=True)
class GetOperators:
    """getOperators (seeds/004:55-76)."""

    country: int | None


@dataclass(frozen=True, slots=True)
class GetListOfTopCountriesByService:
    """getListOfTopCountriesByService (seeds/004:288-304)."""

    service: str


@dataclass(frozen=True, slots=True)
class GetPricesVerification:
    """getPricesVerification (seeds/002:540-552): service first, price as a string."""

    service: str | None


@dataclass(frozen=True, slots=True)
class GetMultiServiceNumber:
    """getMultiServiceNumber (seeds/002:272-322, 004:166-185): one number, several services."""

    services: tuple[str, ...]
    country: int
    operators: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GetExtraActivation:
    """getExtraActivation (seeds/004:366-378): the same number again, after a code."""

    activation_id: int


@dataclass(frozen=True, slots=True)
class CheckExtraActivation:
    """checkExtraActivation (seeds/004:379-388): whether, and at what cost."""

    activation_id: int


@dataclass(frozen=True, slots=True)
class GetAdditionalService:
    """getAdditionalService (seeds/004:352-365): only for numbers with call forwarding."""

    activation_id: int
    service: str


@dataclass(frozen=True, slots=True)
class GetRentServicesAndCountries:
    """getRentServicesAndCountries (seeds/002:712-736, 004:402-415); `operator` (002:714, 722)
    orders the providers as getRentNumber does, so the price shown is the one it charges."""

    hours: int
    country: int
    operators: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GetRentNumber:
    """getRentNumber (seeds/002:738-785): `operator` narrows where the upstream can (VAK-SMS);
    `url` receives a POST per SMS (the webhook, seeds/002:251-268)."""

    service: str
    hours: int
    country: int
    operators: tuple[str, ...] = ()
    url: str = ""


@dataclass(frozen=True, slots=True)
class GetRentStatus:
    """getRentStatus (seeds/002:787-825, 004:438-452): SMS pages, newest first."""

    rent_id: int
    page: int
    size: int


@dataclass(frozen=True, slots=True)
class SetRentStatus:
    """setRentStatus (seeds/002:827-867): 1 finish, 2 cancel."""

    rent_id: int
    status: int


@dataclass(frozen=True, slots=True)
class GetRentList:
    """getRentList (seeds/002:869-880, 004:472-485)."""


@dataclass(frozen=True, slots=True)
class ContinueRentNumber:
    """continueRentNumber (seeds/004:486-506)."""

    rent_id: int
    hours: int


@dataclass(frozen=True, slots=True)
class GetContinueRentPriceNumber:
    """getContinueRentPriceNumber (seeds/004:507-530)."""

    rent_id: int
    hours: int


@dataclass(frozen=True, slots=True)
class RentRefused:
    """A rent request that answers `{"status":"error","message":…}` before any work is done."""

    message: str


RentRequest = (
    GetRentServicesAndCountries
    | GetRentNumber
    | GetRentStatus
    | SetRentStatus
    | GetRentList
    | ContinueRentNumber
    | GetContinueRentPriceNumber
    | RentRefused
)

RepeatRequest = (
    GetMultiServiceNumber | GetExtraActivation | CheckExtraActivation | GetAdditionalService
)

CallRequest = GetIncomingCallStatus | CreateTaskForCall | GetOutgoingCalls

CatalogRequest = (
    GetNumbersStatus
    | GetPrices
    | GetTopCountriesByService
    | GetCountries
    | GetServicesList
    | GetOperators
    | GetListOfTopCountriesByService
    | GetPricesVerification
)
Request = (
    GetBalance
    | GetNumber
    | GetStatus
    | GetFullSms
    | SetStatus
    | GetActiveActivations
    | GetHistory
    | CallRequest
    | CatalogRequest
    | RepeatRequest
    | RentRequest
)

NO_SUCH_COUNTRY = -1  # a country parameter that is not a number: matches nothing
LANGUAGES = ("en", "ru", "es", "cn")  # seeds/004:348
Params = Mapping[str, str]


def _get_balance(params: Params) -> GetBalance:
    return GetBalance()


def _operators(params: Params) -> tuple[str, ...]:
    """`operator=a,b`, lower-cased; `any` means no filter (seeds/002:36). A name is kept with
    the activation it buys: one over OPERATOR_CHARS answers BAD_ACTION."""
    names = tuple(op.strip().lower() for op in params.get("operator", "").split(","))
    if any(len(name) > OPERATOR_CHARS for name in names):
        raise ProtocolError(Word.BAD_ACTION, f"operator longer than {OPERATOR_CHARS} characters")
    return tuple(name for name in names if name and name != "any")


def _get_number(params: Params, *, v2: bool) -> GetNumber:
    service = params.get("service", "").strip()
    if not service:
        raise ProtocolError(Word.BAD_SERVICE, "service is missing")
    # SPEC-NOTES "getNumber's activationType": only SMS can be served (seeds/004:112: 1 is
    # "by number", 2 "by voice"); no number of that kind exists here, hence NO_NUMBERS (004:133).
    if params.get("activationType", "0").strip() not in ("", "0"):
        raise ProtocolError(Word.NO_NUMBERS, "only SMS activations can be served")
    # seeds/002:182, 004:106-107: forward=1 asks for a number with call forwarding. No upstream
    # forwards, so there are no such numbers (getNumbersStatus lists only `_0`, 002:49).
    # NO_BALANCE_FORWARD (002:231) would wrongly send the client to top up.
    if parse_bool(params.get("forward")):
        raise ProtocolError(Word.NO_NUMBERS, "no upstream offers call forwarding")
    # Accepted and not needed here: `language` (004:113) only parses voice activations, which
    # are refused above; `userId` (004:114) lets SMS-Activate ban a reseller's end user, a rule
    # of its own that neither upstream has; `useCashBack` (004:119) spends cashback first,
    # and smsproxy pays none; `verification` (002:194) asks for a number that can also take a
    # call: the SMS side is served, and a number that gets no SMS is refunded anyway.
    country_text = params.get("country", "").strip() or "0"  # missing country means 0
    country = number(country_text)
    if country is None:
        raise ProtocolError(Word.NO_NUMBERS, "country is not a number")
    operators = _operators(params)
    order_id = (_bounded(params, "orderId", ORDER_ID_CHARS) or None) if v2 else None
    return GetNumber(
        service=service,
        country=country,
        operators=operators,
        max_price=_max_price(params.get("maxPrice")),
        v2=v2,
        order_id=order_id,
        only_providers=_names(params.get("providerIds")),
        except_providers=_names(params.get("exceptProviderIds")),
        phone_exceptions=_phone_exceptions(params.get("phoneException")),
    )


# seeds/002:188, 004:110: "country code and 3 to 6 digits of the mask (e.g. 7918, 7900111)",
# comma-separated (004's own example puts a space after the comma).
PHONE_EXCEPTION = re.compile(r"[0-9]{4,7}")


def _phone_exceptions(value: str | None) -> tuple[str, ...]:
    """The excluded prefixes; WRONG_EXCEPTION_PHONE (seeds/004:130) for a malformed one."""
    prefixes = _names(value)
    for prefix in prefixes:
        if not PHONE_EXCEPTION.fullmatch(prefix):
            raise ProtocolError(Word.WRONG_EXCEPTION_PHONE, f"phoneException {prefix!r}")
    return prefixes


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (value or "").split(",") if n.strip())


# A price as clients write one: ASCII digits, a point and decimals. Decimal() alone would also
# read "١٢" (12), "1e999999999" and numerals of any length.
PRICE = re.compile(r"[0-9]{1,18}(?:\.[0-9]{0,18})?|\.[0-9]{1,18}")


def _max_price(value: str | None) -> Decimal | None:
    """A positive price, or None: anything else means no Free Price cap (seeds/004:108-109)."""
    text = (value or "").strip()
    if not PRICE.fullmatch(text):
        return None
    price = Decimal(text)
    return price if price > 0 else None


def _activation_id(params: Params, bad: Word, *names: str) -> int:
    for name in names:
        value = params.get(name)
        if value is not None:
            activation_id = number(value)
            if activation_id is not None:
                return activation_id
            raise ProtocolError(bad, f"{name} is not a number")
    raise ProtocolError(bad, "id is missing")


_NO_ACTIVATION = Word.NO_ACTIVATION  # a global, not an enum lookup per poll (Python 3.11)


def _get_status(params: Params, *, v2: bool) -> GetStatus:
    return GetStatus(_activation_id(params, _NO_ACTIVATION, "id", "activationId"), v2=v2)


def _set_status(params: Params) -> SetStatus:
    # seeds/004:222: WRONG_ACTIVATION_ID for an id that is not a number.
    activation_id = _activation_id(params, Word.WRONG_ACTIVATION_ID, "id", "activationId")
    status = number(params.get("status"), signed=True)  # -1: SMSPVA's own cancel (000:363)
    if status is None:
        raise ProtocolError(Word.BAD_STATUS, "status is not a number")
    return SetStatus(activation_id, status)


def _get_active_activations(params: Params) -> GetActiveActivations:
    return GetActiveActivations()


HISTORY_LIMIT, HISTORY_MAX = 50, 100  # seeds/004:270: "at most 100, 50 by default"
# A page starts at most this deep (100 pages of 100): deeper offsets answer [] rather than make
# the server load every record of a month to skip them. Narrow with start/end instead.
HISTORY_OFFSET_MAX = 10_000


def _get_history(params: Params) -> GetHistory:
    # seeds/004:270 names the page size `limit`; herosms sends `size`, accepted when alone.
    limit = _natural(params, "limit", 0) or _natural(params, "size", 0) or HISTORY_LIMIT
    return GetHistory(
        start=_moment(params.get("start")),
        end=_moment(params.get("end")),
        offset=min(_natural(params, "offset", 0), HISTORY_OFFSET_MAX),
        limit=min(limit, HISTORY_MAX),
    )


MOMENT_CHARS = 64  # the longest ISO 8601 time is 32 characters


def _moment(value: str | None) -> float | None:
    """A Unix timestamp (seeds/002:439-441); an ISO 8601 time is taken too (herosms sends
    one). Anything else is no bound, as the seeds name no error word for it."""
    text = (value or "").strip()
    if not text or not text.isascii() or len(text) > MOMENT_CHARS:
        return None
    try:
        seconds = float(Decimal(text))
    except (InvalidOperation, ValueError):  # ValueError: a signalling NaN
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _optional(params: Params, name: str) -> str | None:
    value = params.get(name, "").strip()
    return value or None


def _optional_country(params: Params) -> int | None:
    value = _optional(params, "country")
    if value is None:
        return None
    country = number(value)
    return NO_SUCH_COUNTRY if country is None else country


def _numbers_status(params: Params) -> GetNumbersStatus:
    # SPEC-NOTES "missing country": 0 where a single country is needed.
    country = _optional_country(params)
    operator = _optional(params, "operator")
    if operator is not None and operator.lower() == "any":
        operator = None
    return GetNumbersStatus(0 if country is None else country, operator and operator.lower())


def _top_countries_list(params: Params) -> GetListOfTopCountriesByService:
    service = _optional(params, "service")
    if service is None:
        raise ProtocolError(Word.WRONG_SERVICE, "service is missing")
    return GetListOfTopCountriesByService(service)


def _services_list(params: Params) -> GetServicesList:
    lang = (_optional(params, "lang") or "en").lower()
    return GetServicesList(_optional_country(params), lang if lang in LANGUAGES else "en")


def _multi_service(params: Params) -> GetMultiServiceNumber:
    services = _names(params.get("multiService") or params.get("service"))
    if not services:
        raise ProtocolError(Word.BAD_SERVICE, "multiService is missing")
    forwards = _names(params.get("multiForward"))
    if any(parse_bool(f) for f in forwards):
        raise ProtocolError(Word.NO_NUMBERS, "no upstream offers call forwarding")
    # seeds/002:273 lists no phoneException for this action: not validated here
    single = {k: v for k, v in params.items() if k != "phoneException"}
    number = _get_number({**single, "service": services[0]}, v2=False)
    return GetMultiServiceNumber(services, number.country, number.operators)


def _parent(params: Params) -> int:
    # seeds/004:370 names it activationId; clients also send id
    return _activation_id(params, Word.WRONG_ACTIVATION_ID, "activationId", "id")


RENT_HOURS = 4  # seeds/002:720, 744: rent_time defaults to 4 hours, the shortest rental


class _RentInvalid(Exception):
    """A rent parameter that makes the request answer an error message at once."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _rent_id(params: Params) -> int:
    text = params.get("id", "").strip()
    if not text:
        raise _RentInvalid("NO_ID_RENT")
    rent_id = number(text)
    if rent_id is None:
        raise _RentInvalid("INVALID_PHONE")  # seeds/002:816: a wrong rental id
    return rent_id


def _rent_hours(params: Params) -> int:
    # seeds/002:713 names it rent_time; the official Python module sends `time` (002's `$time`)
    text = (params.get("rent_time") or params.get("time") or "").strip()
    if not text:
        return RENT_HOURS
    hours = number(text)
    if hours is None or hours < RENT_HOURS:
        raise _RentInvalid("INVALID_TIME")  # seeds/004:495: hours from 4 up
    return hours


def _rent_country(params: Params) -> int:
    # SPEC-NOTES "missing country": rent defaults to Russia (002:726, 004:407)
    country = number(params.get("country", "").strip() or "0")
    return NO_SUCH_COUNTRY if country is None else country


def _natural(params: Params, name: str, default: int) -> int:
    """A count or an offset: more ASCII digits than `number` reads are more than any page
    (each use caps it); anything else that is no number is the default (no error word)."""
    text = params.get(name, "").strip()
    value = number(text)
    if value is not None:
        return value
    return NUMBER_MAX if text.isascii() and text.isdigit() else default


def _rent_number(params: Params) -> GetRentNumber:
    service = params.get("service", "").strip()
    if not service:
        raise _RentInvalid("BAD_SERVICE")  # seeds/002:776: service not specified
    operators = _operators(params)
    url = _bounded(params, "url", URL_CHARS)
    return GetRentNumber(service, _rent_hours(params), _rent_country(params), operators, url)


def _set_rent_status(params: Params) -> SetRentStatus:
    rent_id = _rent_id(params)
    status = params.get("status", "").strip()
    if status not in ("1", "2"):
        raise _RentInvalid("INCORECT_STATUS")  # sic, seeds/002:859
    return SetRentStatus(rent_id, int(status))


def _rent(parse: Callable[[Params], RentRequest]) -> Callable[[Params], Request]:
    """A rent parser whose parameter errors become RentRefused, answered as JSON."""

    def parser(params: Params) -> Request:
        try:
            return parse(params)
        except _RentInvalid as exc:
            return RentRefused(exc.message)

    return parser


PARSERS: dict[str, Callable[[Params], Request]] = {
    "getbalance": _get_balance,
    "getbalanceandcashback": _get_balance,
    "getnumber": lambda p: _get_number(p, v2=False),
    "getnumberv2": lambda p: _get_number(p, v2=True),
    "getstatus": lambda p: _get_status(p, v2=False),
    "getstatusv2": lambda p: _get_status(p, v2=True),
    "setstatus": _set_status,
    "getfullsms": lambda p: GetFullSms(_activation_id(p, Word.NO_ACTIVATION, "id", "activationId")),
    "getactiveactivations": _get_active_activations,
    "gethistory": _get_history,
    "getincomingcallstatus": lambda p: GetIncomingCallStatus(),
    "createtaskforcall": lambda p: CreateTaskForCall(),
    "getoutgoingcalls": lambda p: GetOutgoingCalls(),
    "getnumbersstatus": _numbers_status,
    "getprices": lambda p: GetPrices(_optional(p, "service"), _optional_country(p)),
    "gettopcountriesbyservice": lambda p: GetTopCountriesByService(
        _optional(p, "service"), parse_bool(p.get("freePrice"))
    ),
    "getcountries": lambda p: GetCountries(),
    "getserviceslist": _services_list,
    "getoperators": lambda p: GetOperators(_optional_country(p)),
    "getlistoftopcountriesbyservice": _top_countries_list,
    "getpricesverification": lambda p: GetPricesVerification(_optional(p, "service")),
    "getmultiservicenumber": _multi_service,
    "getextraactivation": lambda p: GetExtraActivation(_parent(p)),
    "checkextraactivation": lambda p: CheckExtraActivation(_parent(p)),
    "getadditionalservice": lambda p: GetAdditionalService(
        _activation_id(p, Word.WRONG_ACTIVATION_ID, "id", "activationId"),
        _optional(p, "service") or "",
    ),
    "getrentservicesandcountries": _rent(
        lambda p: GetRentServicesAndCountries(_rent_hours(p), _rent_country(p), _operators(p))
    ),
    "getrentnumber": _rent(_rent_number),
    "getrentstatus": _rent(
        lambda p: GetRentStatus(_rent_id(p), _natural(p, "page", 0), _natural(p, "size", 10))
    ),
    "setrentstatus": _rent(_set_rent_status),
    "getrentlist": _rent(lambda p: GetRentList()),
    "continuerentnumber": _rent(lambda p: ContinueRentNumber(_rent_id(p), _rent_hours(p))),
    "getcontinuerentpricenumber": _rent(
        lambda p: GetContinueRentPriceNumber(_rent_id(p), _rent_hours(p))
    ),
}


def parse_request(params: Params) -> Request:
    """The request object for `params`; raises ProtocolError with the word to answer."""
    # Actions are matched without case: SMSPVA's own handler documents getstatus/setstatus
    # (seeds/000:357), and clients written against it send those.
    action = params.get("action", "").strip().lower()
    parser = PARSERS.get(action)
    if parser is None:
        raise ProtocolError(Word.BAD_ACTION, f"action {action!r}")
    return parser(params)
