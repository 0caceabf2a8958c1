"""SMSPVA Activation API v2 (seeds/000): pure build/parse functions and one thin adapter.

Auth is the `apikey` header; every answer is JSON whose `statusCode` repeats the HTTP status
(seeds/000:54, 94). Status codes (seeds/000:231-244, SPEC-NOTES) map onto our errors below.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from proxy.config import ProviderSettings
from proxy.providers.base import (
    Balance,
    BuyRequest,
    MultiBuyRequest,
    Offer,
    Poll,
    PollState,
    ProviderAnswerInvalid,
    ProviderError,
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
from proxy.providers.http import json_body, loose_json, retry_after_of, send
from proxy.rent.periods import MAX_HOURS, covering

# seeds/000:231-244 (HTTP status / body statusCode -> our error)
REFUSALS: dict[int, Refusal] = {
    404: Refusal.ORDER_NOT_FOUND,
    405: Refusal.BAD_REQUEST,
    406: Refusal.BAD_KEY,
    407: Refusal.NO_NUMBERS,
    410: Refusal.ORDER_EXPIRED,
    411: Refusal.BAD_SERVICE,  # "service unavailable": this upstream cannot sell it now
    501: Refusal.NO_BALANCE,
    502: Refusal.RATE_LIMITED,  # "limit exceeded"
}
# 405 "bad request" means something specific where the request itself was well formed
# (our emulator's reading of seeds/000:123-139; the real API documents no finer word).
ENDPOINT_REFUSALS: dict[tuple[str, int], Refusal] = {
    ("cancelorder", 405): Refusal.SMS_RECEIVED,  # an SMS came: no refund any more
    ("blocknumber", 405): Refusal.SMS_RECEIVED,
    ("clearsms", 405): Refusal.WAIT_SMS,  # nothing to clear: the next SMS is still awaited
}
UNAVAILABLE = frozenset({500, 503})


def status_of(http_status: int, body: Any) -> int:
    """The body's statusCode wins over the HTTP status when both are present."""
    if isinstance(body, dict):
        code = body.get("statusCode")
        if isinstance(code, int):
            return code
        if isinstance(code, str) and code.isdigit():
            return int(code)
    return http_status


def error_for(
    provider: str, endpoint: str, status: int, body: Any, retry_after: float | None = None
) -> ProviderError:
    """The error an answer that is not a success stands for."""
    detail = f"{endpoint}: {status}"
    if (endpoint, status) in ENDPOINT_REFUSALS:
        return ProviderRefused(provider, ENDPOINT_REFUSALS[endpoint, status], detail)
    if status in REFUSALS:
        return ProviderRefused(provider, REFUSALS[status], detail, retry_after)
    if status in UNAVAILABLE or status >= 500:
        return ProviderUnavailable(provider, detail, retry_after)
    return ProviderAnswerInvalid(provider, f"{detail}: unexpected answer {str(body)[:80]!r}")


def _data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def parse_number(provider: str, status: int, body: Any) -> Purchase:
    """seeds/000:52-61: orderId (int), phoneNumber (national, int), countryCode, orderExpireIn."""
    if status != 200:
        raise error_for(provider, "number", status, body)
    data = _data(body)
    order_id, phone = data.get("orderId"), data.get("phoneNumber")
    if order_id in (None, "") or phone in (None, ""):
        raise ProviderAnswerInvalid(provider, f"number: no orderId/phoneNumber in {body!r:.80}")
    expires = data.get("orderExpireIn")
    return Purchase(
        order_id=str(order_id),
        phone="".join(ch for ch in str(phone) if ch.isdigit()),
        expires_in=float(expires) if isinstance(expires, int | float) else None,
    )


def parse_sms(provider: str, status: int, body: Any) -> Poll:
    """seeds/000:74-102: 200 with data.sms, 202 while waiting, 410 once expired."""
    data = _data(body)
    expires = data.get("orderExpireIn")
    expires_in = float(expires) if isinstance(expires, int | float) else None
    if status == 202:
        return Poll(PollState.WAITING, expires_in=expires_in)
    if status == 410:
        return Poll(PollState.EXPIRED)
    if status != 200:
        raise error_for(provider, "sms", status, body)
    sms = data.get("sms")
    if not isinstance(sms, dict) or not sms.get("code"):
        return Poll(PollState.WAITING, expires_in=expires_in)
    text = sms.get("fullText")
    message = Sms(code=str(sms["code"]), text=str(text) if text else None)
    return Poll(PollState.RECEIVED, (message,), expires_in=expires_in)


def parse_balance(provider: str, status: int, body: Any, currency: str) -> Balance:
    if status != 200:
        raise error_for(provider, "balance", status, body)
    data = _data(body)
    raw = data.get("balance", body.get("balance") if isinstance(body, dict) else None)
    try:
        return Balance(Decimal(str(raw)), currency)
    except InvalidOperation as exc:
        raise ProviderAnswerInvalid(provider, f"balance: {body!r:.80}") from exc


def parse_price(provider: str, status: int, body: Any) -> Decimal:
    """serviceprice: data.price, in the account's currency (docs.smspva.com)."""
    if status != 200:
        raise error_for(provider, "serviceprice", status, body)
    try:
        return Decimal(str(_data(body)["price"]))
    except (KeyError, InvalidOperation) as exc:
        raise ProviderAnswerInvalid(provider, f"serviceprice: {body!r:.80}") from exc


def parse_orders(provider: str, status: int, body: Any) -> list[UpstreamOrder]:
    """orders: data.orders, each like a `number` answer plus its service (docs.smspva.com)."""
    if status != 200:
        raise error_for(provider, "orders", status, body)
    items = _data(body).get("orders")
    if not isinstance(items, list):
        raise ProviderAnswerInvalid(provider, f"orders: {body!r:.80}")
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        purchase = parse_number(provider, 200, {"data": item})
        found.append(
            UpstreamOrder(purchase, str(item.get("service", "")), str(item.get("countryCode", "")))
        )
    return found


# The rental API's `msg` words (seeds/001:53, 329-331; the emulator's for the rest), by prefix.
RENT_REFUSALS: tuple[tuple[str, Refusal], ...] = (
    ("wrong apikey", Refusal.BAD_KEY),
    ("service not found", Refusal.BAD_SERVICE),
    ("country not found", Refusal.BAD_COUNTRY),
    ("no free numbers", Refusal.NO_NUMBERS),
    ("balance is not enough", Refusal.NO_BALANCE),
    ("the user had not this order", Refusal.ORDER_NOT_FOUND),
    ("order is expired", Refusal.ORDER_EXPIRED),
    ("order is deleted", Refusal.ORDER_EXPIRED),
    ("prolongation is possible", Refusal.BAD_STATUS),  # too early: 7 days or more left
    ("the number is already", Refusal.WAIT_SMS),  # activate while activating or active
)
# seeds/001:140-144: an order's `state`
RENT_STATES = {0: RentState.INACTIVE, 1: RentState.ACTIVE, 2: RentState.ACTIVATING}


def rent_data(provider: str, method: str, body: Any) -> Any:
    """`data` of a `{"status":1}` answer; else the refusal its `msg` names (seeds/001:52-53)."""
    if not isinstance(body, dict) or "status" not in body:
        raise ProviderAnswerInvalid(provider, f"rent {method}: {body!r:.80}")
    if str(body["status"]) == "1":
        return body.get("data")
    msg = str(body.get("msg", ""))
    for prefix, refusal in RENT_REFUSALS:
        if msg.lower().startswith(prefix):
            raise ProviderRefused(provider, refusal, f"rent {method}: {msg}")
    raise ProviderRefused(provider, Refusal.BAD_REQUEST, f"rent {method}: {msg}")


def parse_rent(provider: str, body: Any) -> RentPurchase:
    """create: seeds/001:114-123's object, or seeds/000:176-186's list (SPEC-NOTES: accept both)."""
    data = rent_data(provider, "create", body)
    item = data[0] if isinstance(data, list) and data else data
    if not isinstance(item, dict):
        raise ProviderAnswerInvalid(provider, f"rent create: {body!r:.80}")
    digits = "".join(ch for ch in str(item.get("ccode", "")) if ch.isdigit())
    number = item.get("pnumber", item.get("number"))
    until = item.get("until", item.get("expireAt"))
    if item.get("id") in (None, "") or not number or not isinstance(until, int | float):
        raise ProviderAnswerInvalid(provider, f"rent create: {body!r:.80}")
    phone = digits + "".join(ch for ch in str(number) if ch.isdigit())
    return RentPurchase(str(item["id"]), phone, float(until))


def parse_rent_offers(provider: str, body: Any, days: int) -> dict[str, Offer]:
    """getdata (seeds/001:77-99): price_day per service; the period costs price_day x days."""
    data = rent_data(provider, "getdata", body)
    offers = {}
    for item in data if isinstance(data, list) else []:
        try:
            price = Decimal(str(item["price_day"])) * days
            offers[str(item["service"])] = Offer(int(item["count"]), price)
        except (KeyError, TypeError, ValueError, InvalidOperation):
            continue  # one malformed entry does not spoil the list
    return offers


def _state(item: dict[str, Any]) -> RentState:
    try:
        return RENT_STATES.get(int(item.get("state", 0)), RentState.UNLISTED)
    except (TypeError, ValueError):
        return RentState.UNLISTED


def parse_rent_orders(provider: str, body: Any) -> list[RentOrder]:
    """orders (seeds/001:125-156): every open rental and where it is in its activation cycle."""
    data = rent_data(provider, "orders", body)
    orders = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            continue
        until = item.get("until")
        digits = "".join(ch for ch in f"{item.get('ccode', '')}{item.get('pnumber', '')}"
                         if ch.isdigit())  # fmt: skip
        orders.append(
            RentOrder(str(item["id"]), str(item.get("scode", "")), str(item.get("cname", "")),
                      float(until) if isinstance(until, int | float) else 0.0, digits,
                      _state(item))
        )  # fmt: skip
    return orders


def parse_rent_sms(provider: str, body: Any) -> tuple[RentMessage, ...]:
    """sms (seeds/001:175-194): [{"text","sender","date"}], oldest first."""
    data = rent_data(provider, "sms", body)
    messages = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("date"), int | float):
            messages.append(
                RentMessage(str(item.get("text", "")), str(item.get("sender", "")), item["date"])
            )
    return tuple(sorted(messages, key=lambda m: m.date))


def parse_ok(provider: str, endpoint: str, status: int, body: Any) -> None:
    if status != 200:
        raise error_for(provider, endpoint, status, body)


class SmspvaProvider:
    """Adapter for one SMSPVA account."""

    def __init__(self, settings: ProviderSettings, client: httpx.AsyncClient) -> None:
        self.name = settings.name
        self.kind = "smspva"
        self.currency = settings.currency
        self.poll_interval = settings.poll_interval
        self.order_lifetime = settings.order_lifetime
        self.national_phones = True  # seeds/000:57: the number comes without calling code
        self.lists_whole_country = False
        self.sells_multi_service = False
        self.reissues_numbers = False
        self.max_rent_hours = MAX_HOURS
        self.extends_rents = True
        self._base = settings.base_url
        self._rent_url = settings.rent_url or f"{settings.base_url}/api/rent.php"
        self._key = settings.api_key
        self._headers = {"apikey": settings.api_key}
        self._client = client
        self._timeout = httpx.Timeout(
            settings.read_timeout, connect=settings.connect_timeout, pool=settings.connect_timeout
        )

    async def _call(self, endpoint: str, method: str, path: str, **params: str) -> tuple[int, Any]:
        response = await send(
            self._client,
            provider=self.name,
            endpoint=endpoint,
            method=method,
            url=f"{self._base}/activation/{path}",
            timeouts=self._timeout,
            headers=self._headers,
            params=params or None,
        )
        if response.status_code >= 500:
            # 500/503 (unavailable), 501 (no funds), 502 (limit exceeded): errors for every
            # endpoint, whatever the body is (a page, nothing, or the JSON error object).
            body = loose_json(response)
            status = status_of(response.status_code, body)
            raise error_for(self.name, endpoint, status, body, retry_after_of(response))
        body = json_body(self.name, endpoint, response)
        return status_of(response.status_code, body), body

    async def _rent_call(self, method: str, **params: str) -> Any:
        """One rental API request: GET, `apikey` in the query (seeds/001:52, 105)."""
        response = await send(
            self._client,
            provider=self.name,
            endpoint=f"rent:{method}",
            method="GET",
            url=self._rent_url,
            timeouts=self._timeout,
            params={"method": method, "apikey": self._key, **params},
        )
        if response.status_code >= 500:
            raise ProviderUnavailable(
                self.name, f"rent {method}: HTTP {response.status_code}", retry_after_of(response)
            )
        return json_body(self.name, f"rent:{method}", response)

    async def balance(self) -> Balance:
        status, body = await self._call("balance", "GET", "balance")
        return parse_balance(self.name, status, body, self.currency)

    async def buy(self, request: BuyRequest) -> Purchase:
        params = {"operator": request.operator} if request.operator else {}
        path = f"number/{request.country}/{request.service}"
        status, body = await self._call("number", "GET", path, **params)
        return parse_number(self.name, status, body)

    async def offers(
        self, country: str, service: str | None, operator: str | None = None
    ) -> dict[str, Offer]:
        """serviceprice, one pair at a time; the v2 API reports a price but no stock count."""
        if service is None:
            raise ValueError("SMSPVA prices one service at a time")
        status, body = await self._call("serviceprice", "GET", f"serviceprice/{country}/{service}")
        return {service: Offer(count=None, price=parse_price(self.name, status, body))}

    async def buy_multi(self, request: MultiBuyRequest) -> list[tuple[str, Purchase]]:
        """SMSPVA sells one service per number."""
        raise ProviderRefused(self.name, Refusal.BAD_SERVICE, "no multi-service numbers")

    async def reissue(self, service: str, phone: str) -> Purchase:
        """SMSPVA has no re-activation endpoint (SPEC-NOTES, rental section)."""
        raise ProviderRefused(self.name, Refusal.BAD_REQUEST, "no re-activation")

    async def poll(self, order_id: str) -> Poll:
        status, body = await self._call("sms", "GET", f"sms/{order_id}")
        return parse_sms(self.name, status, body)

    async def request_another(self, order_id: str) -> None:
        status, body = await self._call("clearsms", "PUT", f"clearsms/{order_id}")
        parse_ok(self.name, "clearsms", status, body)

    async def cancel(self, order_id: str) -> None:
        status, body = await self._call("cancelorder", "PUT", f"cancelorder/{order_id}")
        parse_ok(self.name, "cancelorder", status, body)

    async def block(self, order_id: str) -> None:
        """Mark the number as not working (also refunds, seeds/000:139)."""
        status, body = await self._call("blocknumber", "PUT", f"blocknumber/{order_id}")
        parse_ok(self.name, "blocknumber", status, body)

    async def open_orders(self) -> list[UpstreamOrder] | None:
        status, body = await self._call("orders", "GET", "orders")
        return parse_orders(self.name, status, body)

    async def rent_offers(self, country: str, hours: int) -> dict[str, Offer]:
        body = await self._rent_call("getdata", country=country)
        return parse_rent_offers(self.name, body, covering(hours).days)

    async def rent(
        self, service: str, country: str, hours: int, operator: str | None = None
    ) -> RentPurchase:
        """create has no operator parameter (seeds/001:101-112): `operator` cannot narrow it."""
        period = covering(hours)
        body = await self._rent_call(
            "create", dtype=period.dtype, dcount=str(period.dcount), country=country,
            service=service,
        )  # fmt: skip
        return parse_rent(self.name, body)

    async def rent_orders(self) -> list[RentOrder] | None:
        return parse_rent_orders(self.name, await self._rent_call("orders"))

    async def rent_state(self, order_id: str) -> RentState:
        """From `orders`, the only place SMSPVA tells it; UNLISTED when the order is not open."""
        orders = parse_rent_orders(self.name, await self._rent_call("orders"))
        return next((o.state for o in orders if o.order_id == order_id), RentState.UNLISTED)

    async def rent_activate(self, order_id: str) -> None:
        rent_data(self.name, "activate", await self._rent_call("activate", id=order_id))

    async def rent_messages(self, order_id: str) -> tuple[RentMessage, ...]:
        return parse_rent_sms(self.name, await self._rent_call("sms", id=order_id))

    async def rent_prolong(self, order_id: str, hours: int) -> float:
        period = covering(hours)
        body = await self._rent_call(
            "prolong", id=order_id, dtype=period.dtype, dcount=str(period.dcount)
        )
        rent_data(self.name, "prolong", body)
        return period.seconds

    async def rent_end(self, order_id: str) -> None:
        """delete: refunds what was paid unless an SMS came (seeds/001:42-44, 233-247)."""
        rent_data(self.name, "delete", await self._rent_call("delete", id=order_id))

    async def aclose(self) -> None:
        return None
