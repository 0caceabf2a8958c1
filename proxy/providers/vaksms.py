"""VAK-SMS API (seeds/003): pure build/parse functions and one thin adapter.

GET only, `apiKey` as a query parameter, paths `/api/<method>/` (seeds/003:6, 18). Errors come
as `{"error": word}` (seeds/003:1211-1220); setStatus answers `{"status": word}`
(seeds/003:1183-1190), where `smsReceived` and `waitSMS` are refusals, not errors.
"""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from proxy.config import ProviderSettings
from proxy.providers.base import (
    Balance,
    BuyRequest,
    MultiBuyRequest,
    Offer,
    OutcomeUnknown,
    Poll,
    PollState,
    ProviderAnswerInvalid,
    ProviderRefused,
    ProviderUnavailable,
    Purchase,
    Refusal,
    RentMessage,
    RentOrder,
    RentPurchase,
    RentState,
    Sms,
    UpstreamOrder,
)
from proxy.providers.http import json_body, retry_after_of, send
from proxy.providers.vaksms_lifetimes import VAKSMS_LIFETIMES

# seeds/003:1211-1220
ERRORS: dict[str, Refusal] = {
    "apiKeyNotFound": Refusal.BAD_KEY,
    "noService": Refusal.BAD_SERVICE,
    "noNumber": Refusal.NO_NUMBERS,
    "noMoney": Refusal.NO_BALANCE,
    "noCountry": Refusal.BAD_COUNTRY,
    "noOperator": Refusal.BAD_OPERATOR,
    "badStatus": Refusal.BAD_STATUS,
    "idNumNotFound": Refusal.ORDER_NOT_FOUND,
    "badService": Refusal.BAD_SERVICE,
    "badData": Refusal.BAD_REQUEST,
}
# vaksms 2.0 exceptions/bad_request.py knows one more word: "Not connect to domain".
UNAVAILABLE_WORDS = frozenset({"connectionError"})
# seeds/003:1183-1190: setStatus answers
STATUS_OK = frozenset({"ready", "update"})
STATUS_REFUSALS = {"smsReceived": Refusal.SMS_RECEIVED, "waitSMS": Refusal.WAIT_SMS}


def check_error(provider: str, endpoint: str, http_status: int, body: Any) -> None:
    """Raise the error an answer carries, if any."""
    if http_status >= 500:
        raise ProviderUnavailable(provider, f"{endpoint}: HTTP {http_status}")
    if isinstance(body, dict) and body.get(
        "error"
    ):  # a falsy `error` is none (vaksms 2.0 client.py)
        word = str(body["error"])
        if word in UNAVAILABLE_WORDS:
            raise ProviderUnavailable(provider, f"{endpoint}: {word}")
        refusal = ERRORS.get(word)
        if refusal is None:
            raise ProviderAnswerInvalid(provider, f"{endpoint}: unknown error {word!r}")
        raise ProviderRefused(provider, refusal, f"{endpoint}: {word}")
    if http_status != 200:
        raise ProviderAnswerInvalid(provider, f"{endpoint}: HTTP {http_status}")


def parse_balance(provider: str, status: int, body: Any) -> Balance:
    """seeds/003:19-20: {"balance": 100.0}, in roubles."""
    check_error(provider, "getBalance", status, body)
    try:
        return Balance(Decimal(str(body["balance"])), "RUB")
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise ProviderAnswerInvalid(provider, f"getBalance: {body!r:.80}") from exc


def _purchase(provider: str, item: Any) -> Purchase:
    if not isinstance(item, dict) or not item.get("idNum") or not item.get("tel"):
        raise ProviderAnswerInvalid(provider, f"getNumber: {item!r:.80}")
    phone = "".join(ch for ch in str(item["tel"]) if ch.isdigit())
    return Purchase(order_id=str(item["idNum"]), phone=phone)


def parse_number(provider: str, status: int, body: Any) -> Purchase:
    """seeds/003:856: {"tel": 79991112233, "idNum": "..."}; tel carries the calling code."""
    check_error(provider, "getNumber", status, body)
    return _purchase(provider, body)


def parse_numbers(provider: str, status: int, body: Any) -> list[tuple[str, Purchase]]:
    """seeds/003:862-865: one number for two services, as [{tel, service, idNum}, ...]."""
    check_error(provider, "getNumber", status, body)
    if not isinstance(body, list) or not body:
        raise ProviderAnswerInvalid(provider, f"getNumber: {body!r:.80}")
    return [(str(item.get("service", "")), _purchase(provider, item)) for item in body]


def parse_sms(provider: str, status: int, body: Any) -> Poll:
    """seeds/003:1199-1205: smsCode null while waiting, a code, or (with `all`) a list."""
    check_error(provider, "getSmsCode", status, body)
    if not isinstance(body, dict) or "smsCode" not in body:
        raise ProviderAnswerInvalid(provider, f"getSmsCode: {body!r:.80}")
    raw = body["smsCode"]
    codes = [raw] if isinstance(raw, str) else [str(c) for c in raw or [] if c]
    if not codes or not codes[-1]:
        return Poll(PollState.WAITING)
    return Poll(PollState.RECEIVED, tuple(Sms(code=c) for c in codes))


def parse_price(provider: str, status: int, body: Any) -> Decimal:
    """seeds/003:438: getCountNumber with `price` -> {"<service>": count, "price": 2.0}."""
    check_error(provider, "getCountNumber", status, body)
    try:
        return Decimal(str(body["price"]))
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise ProviderAnswerInvalid(provider, f"getCountNumber: {body!r:.80}") from exc


def parse_count(provider: str, status: int, body: Any, service: str) -> int:
    """seeds/003:436: getCountNumber -> {"<service>": 332}."""
    check_error(provider, "getCountNumber", status, body)
    try:
        return int(body[service])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderAnswerInvalid(provider, f"getCountNumber: {body!r:.80}") from exc


def parse_count_list(provider: str, status: int, body: Any) -> dict[str, Offer]:
    """seeds/003:440-442: {"vk": {"code": "vk", "count": 403, "price": 20.0}, ...}."""
    check_error(provider, "getCountNumberList", status, body)
    if not isinstance(body, dict):
        raise ProviderAnswerInvalid(provider, f"getCountNumberList: {body!r:.80}")
    offers = {}
    for code, item in body.items():
        try:
            offers[str(code)] = Offer(int(item["count"]), Decimal(str(item["price"])))
        except (KeyError, TypeError, ValueError, InvalidOperation):
            continue  # one malformed entry does not spoil the country's list
    return offers


def parse_rent_price_list(provider: str, status: int, body: Any) -> dict[str, Offer]:
    """getCountNumbersList&rent=True (vaksms 2.0 client.py get_count_number_list, "not in
    official docs"): {"tg": [{"name", "icon", "info", "cost", "rent", "quantity", "private"}]},
    the fields of vaksms 2.0 models/services.py. `cost` is the rent's price; an entry marked
    `"rent": false` prices no rent, so it is no offer."""
    check_error(provider, "getCountNumbersList", status, body)
    if not isinstance(body, dict):
        raise ProviderAnswerInvalid(provider, f"getCountNumbersList: {body!r:.80}")
    offers = {}
    for code, entries in body.items():
        item = entries[0] if isinstance(entries, list) and entries else entries
        try:
            if item.get("rent") is False:
                continue
            count = item.get("quantity")
            offers[str(code)] = Offer(
                None if count is None else int(count), Decimal(str(item["cost"]))
            )
        except (AttributeError, KeyError, TypeError, ValueError, InvalidOperation):
            continue  # one malformed entry does not spoil the country's list
    return offers


def parse_set_status(provider: str, status: int, body: Any) -> None:
    check_error(provider, "setStatus", status, body)
    word = body.get("status") if isinstance(body, dict) else None
    if word in STATUS_OK:
        return
    if word in STATUS_REFUSALS:
        raise ProviderRefused(provider, STATUS_REFUSALS[word], f"setStatus: {word}")
    raise ProviderAnswerInvalid(provider, f"setStatus: {body!r:.80}")


RENT_HOURS = 4  # seeds/003:451: getNumber with rent=true holds the number for 4 hours


class VaksmsProvider:
    """Adapter for one VAK-SMS account."""

    def __init__(self, settings: ProviderSettings, client: httpx.AsyncClient) -> None:
        self.name = settings.name
        self.kind = "vaksms"
        self.currency = settings.currency
        self.poll_interval = settings.poll_interval
        self.order_lifetime = settings.order_lifetime
        self.national_phones = False
        self.lists_whole_country = True
        self.sells_multi_service = True
        self.reissues_numbers = True
        self.max_rent_hours = RENT_HOURS
        self.extends_rents = False  # prolongNumber re-orders a used number, it extends nothing
        self._base = settings.base_url
        self._key = settings.api_key
        self._lifetimes = dict(settings.order_lifetimes)
        self._client = client
        self._timeout = httpx.Timeout(
            settings.read_timeout, connect=settings.connect_timeout, pool=settings.connect_timeout
        )

    async def _call(self, method: str, **params: str) -> tuple[int, Any]:
        response = await send(
            self._client,
            provider=self.name,
            endpoint=method,
            method="GET",
            url=f"{self._base}/api/{method}/",
            timeouts=self._timeout,
            params={"apiKey": self._key, **params},
        )
        if response.status_code >= 500:  # sent: a 5xx may come after VAK-SMS has sold
            raise OutcomeUnknown(
                self.name, f"{method}: HTTP {response.status_code}", retry_after_of(response)
            )
        return response.status_code, json_body(self.name, method, response)

    async def balance(self) -> Balance:
        status, body = await self._call("getBalance")
        balance = parse_balance(self.name, status, body)
        return Balance(balance.amount, self.currency)

    def lifetime(self, service: str) -> float:
        """How long VAK-SMS keeps an order for `service` open: the configured override, else the
        client libraries' table (vaksms_lifetimes.py), else the provider's order_lifetime."""
        if service in self._lifetimes:
            return self._lifetimes[service]
        return float(VAKSMS_LIFETIMES.get(service, self.order_lifetime))

    def _lasting(self, purchase: Purchase, service: str) -> Purchase:
        return replace(purchase, expires_in=self.lifetime(service))

    async def buy(self, request: BuyRequest) -> Purchase:
        params = {"service": request.service, "country": request.country}
        if request.operator:
            params["operator"] = request.operator
        status, body = await self._call("getNumber", **params)
        return self._lasting(parse_number(self.name, status, body), request.service)

    async def offers(
        self, country: str, service: str | None, operator: str | None = None
    ) -> dict[str, Offer]:
        """getCountNumberList: every service of a country, with count and price (003:440)."""
        params = {"country": country}
        if operator:
            params["operator"] = operator
        status, body = await self._call("getCountNumberList", **params)
        return parse_count_list(self.name, status, body)

    async def buy_multi(self, request: MultiBuyRequest) -> list[tuple[str, Purchase]]:
        """seeds/003:858-865: getNumber with two services separated by a comma."""
        params = {"service": ",".join(request.services), "country": request.country}
        if request.operator:
            params["operator"] = request.operator
        status, body = await self._call("getNumber", **params)
        return [
            (service, self._lasting(purchase, service))
            for service, purchase in parse_numbers(self.name, status, body)
        ]

    async def reissue(self, service: str, phone: str) -> Purchase:
        """seeds/003:867-874, 1156-1160: prolongNumber re-orders a number that got a code."""
        status, body = await self._call("prolongNumber", service=service, tel=phone)
        return self._lasting(parse_number(self.name, status, body), service)

    async def poll(self, order_id: str) -> Poll:
        # `all` lists every code, so a second SMS with a new code is told from the first.
        status, body = await self._call("getSmsCode", idNum=order_id, all="")
        return parse_sms(self.name, status, body)

    async def request_another(self, order_id: str) -> None:
        status, body = await self._call("setStatus", idNum=order_id, status="send")
        parse_set_status(self.name, status, body)

    async def cancel(self, order_id: str) -> None:
        status, body = await self._call("setStatus", idNum=order_id, status="end")
        parse_set_status(self.name, status, body)

    async def block(self, order_id: str) -> None:
        """status=bad: the number was already used or banned (seeds/003:1168)."""
        status, body = await self._call("setStatus", idNum=order_id, status="bad")
        parse_set_status(self.name, status, body)

    async def open_orders(self) -> list[UpstreamOrder] | None:
        """VAK-SMS has no endpoint that lists orders (SPEC-NOTES "VAK-SMS order list")."""
        return None

    async def rent_offers(self, country: str, hours: int) -> dict[str, Offer]:
        """The 4-hour rent's own prices: getCountNumbersList with rent=True (vaksms 2.0
        client.py get_count_number_list). Seed 003 names no rent price (003:451), and the
        activation price is not what a rent costs: no listing, no offer."""
        if hours > RENT_HOURS:
            return {}
        status, body = await self._call("getCountNumbersList", country=country, rent="True")
        return parse_rent_price_list(self.name, status, body)

    async def rent(
        self, service: str, country: str, hours: int, operator: str | None = None
    ) -> RentPurchase:
        """getNumber&rent=true (seeds/003:451), with getNumber's `operator` where one is asked."""
        if hours > RENT_HOURS:
            raise ProviderRefused(self.name, Refusal.BAD_REQUEST, f"rents last {RENT_HOURS} h")
        params = {"service": service, "country": country, "rent": "true"}
        if operator:
            params["operator"] = operator
        status, body = await self._call("getNumber", **params)
        purchase = parse_number(self.name, status, body)
        return RentPurchase(purchase.order_id, purchase.phone, time.time() + RENT_HOURS * 3600)

    async def rent_orders(self) -> list[RentOrder] | None:
        """VAK-SMS lists no orders (SPEC-NOTES "VAK-SMS order list")."""
        return None

    async def rent_state(self, order_id: str) -> RentState:
        """A VAK number receives SMS for its whole order: no upstream request."""
        return RentState.ACTIVE

    async def rent_activate(self, order_id: str) -> None:
        return None

    async def rent_messages(self, order_id: str) -> tuple[RentMessage, ...]:
        """getSmsCode&all: codes only, no sender or time (seeds/003:1199-1205)."""
        poll = await self.poll(order_id)
        if poll.state is PollState.EXPIRED:
            raise ProviderRefused(self.name, Refusal.ORDER_EXPIRED, "getSmsCode: expired")
        return tuple(RentMessage(m.text or m.code, "", 0.0) for m in poll.messages)

    async def rent_prolong(self, order_id: str, hours: int) -> float:
        raise ProviderRefused(self.name, Refusal.BAD_REQUEST, "VAK-SMS rents cannot be extended")

    async def rent_end(self, order_id: str) -> None:
        """setStatus=end; smsReceived means the rent simply runs out (seeds/003:1185)."""
        await self.cancel(order_id)

    async def aclose(self) -> None:
        return None
