"""SMSPVA Activation API v2 (seeds/000): pure build/parse functions and one thin adapter.

Auth is the `apikey` header; every answer is JSON whose `statusCode` repeats the HTTP status
(seeds/000:54, 94). Status codes (seeds/000:231-244, SPEC-NOTES) map onto our errors below.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx
import structlog

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

log = structlog.get_logger("upstream")

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
# A 404/405 without the API's JSON body (`statusCode`) comes from no endpoint at all: a route the
# SDK knows and this server lacks. Nothing ran upstream, so the seed's form may be tried instead.
ROUTE_MISSING_STATUSES = frozenset({404, 405})
OPERATORS_TTL = 3600.0  # a country's operator list is asked again after an hour


class RouteMissing(ProviderAnswerInvalid):
    """The server has no such endpoint (see ROUTE_MISSING_STATUSES)."""


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


def parse_price(provider: str, status: int, body: Any, operator: str | None = None) -> Decimal:
    """serviceprice: data.price, in the account's currency (docs.smspva.com); with an operator,
    its price from data.priceByOperators where listed (smspva-sdk types.py)."""
    if status != 200:
        raise error_for(provider, "serviceprice", status, body)
    data = _data(body)
    by_operator = data.get("priceByOperators")
    if operator and isinstance(by_operator, dict):
        wanted = operator.strip().lower()
        found = next((v for k, v in by_operator.items() if str(k).lower() == wanted), None)
        if found is not None:
            data = {"price": found}
    try:
        return Decimal(str(data["price"]))
    except (KeyError, InvalidOperation) as exc:
        raise ProviderAnswerInvalid(provider, f"serviceprice: {body!r:.80}") from exc


def _order_items(body: Any) -> list[Any] | None:
    """`orders` as `data.orders` (smspva-sdk types.py), `data` or the body itself as a bare list."""
    data = body.get("data") if isinstance(body, dict) else body
    if isinstance(data, dict):
        data = data.get("orders")
    return data if isinstance(data, list) else None


def parse_orders(provider: str, status: int, body: Any) -> list[UpstreamOrder]:
    """orders: each item like a `number` answer plus its service (smspva-sdk types.py).

    Both shapes are read (issue: a bare list must not make the recovery of a paid number fail).
    """
    if status != 200:
        raise error_for(provider, "orders", status, body)
    items = _order_items(body)
    if items is None:
        raise ProviderAnswerInvalid(provider, f"orders: {body!r:.80}")
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        purchase = parse_number(provider, 200, {"data": item})
        country = item.get("countryCode", item.get("country", ""))
        found.append(UpstreamOrder(purchase, str(item.get("service", "")), str(country)))
    return found


def parse_operators(provider: str, status: int, body: Any) -> tuple[str, ...]:
    """operators/{country}: data.operators, a list of names (smspva-sdk types.py)."""
    if status != 200:
        raise error_for(provider, "operators", status, body)
    names = _data(body).get("operators")
    if not isinstance(names, list):
        raise ProviderAnswerInvalid(provider, f"operators: {body!r:.80}")
    return tuple(str(name) for name in names if isinstance(name, str) and name.strip())


def parse_country_prices(
    provider: str, status: int, body: Any, operator: str | None = None
) -> dict[str, Decimal]:
    """serviceprice/{country}: [{"s": optNN, "p": price, "po": {operator: price}}] (smspva-sdk
    types.py). With an operator, that operator's price where it has one."""
    if status != 200:
        raise error_for(provider, "serviceprice", status, body)
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ProviderAnswerInvalid(provider, f"serviceprice: {body!r:.80}")
    wanted = operator.strip().lower() if operator else None
    prices: dict[str, Decimal] = {}
    for item in items:
        if not isinstance(item, dict) or not item.get("s"):
            continue
        raw = item.get("p")
        by_operator = item.get("po")
        if wanted and isinstance(by_operator, dict):
            raw = next((v for k, v in by_operator.items() if str(k).lower() == wanted), raw)
        try:
            prices[str(item["s"])] = Decimal(str(raw))
        except InvalidOperation:
            continue  # one malformed entry does not spoil the country
    return prices


def parse_counts(
    provider: str, status: int, body: Any, operator: str | None = None
) -> dict[str, int]:
    """countnumbers/{country}: [{"operator", "country", "services": [{"service", "total"}]}]
    (smspva-sdk types.py): numbers in stock per service, summed over operators (or one)."""
    if status != 200:
        raise error_for(provider, "countnumbers", status, body)
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ProviderAnswerInvalid(provider, f"countnumbers: {body!r:.80}")
    wanted = operator.strip().lower() if operator else None
    counts: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("services"), list):
            continue
        if wanted and str(item.get("operator", "")).lower() != wanted:
            continue
        for entry in item["services"]:
            if not isinstance(entry, dict) or not entry.get("service"):
                continue
            total = entry.get("total")
            if isinstance(total, int) and not isinstance(total, bool):
                code = str(entry["service"])
                counts[code] = counts.get(code, 0) + total
    return counts


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


def rent_time(value: Any) -> float | None:
    """A rental's end as a Unix time: a number (seeds/001:122), a number in a string (smspva-sdk
    types.py types `until` as a string) or a date "YYYY-MM-DD HH:MM:SS" (seeds/000:183), which
    names no zone and is read as UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_rent(provider: str, body: Any) -> RentPurchase:
    """create: seeds/001:114-123's object (`pnumber`, `ccode`, `until`), or seeds/000:176-186's
    list (`number` with the calling code, `expireAt` a date); smspva-sdk types `until` as a
    string. Every shape is read (SPEC-NOTES "Turn 2")."""
    data = rent_data(provider, "create", body)
    item = data[0] if isinstance(data, list) and data else data
    if not isinstance(item, dict):
        raise ProviderAnswerInvalid(provider, f"rent create: {body!r:.80}")
    digits = "".join(ch for ch in str(item.get("ccode", "")) if ch.isdigit())
    number = item.get("pnumber", item.get("number"))
    until = rent_time(item.get("until", item.get("expireAt")))
    if item.get("id") in (None, "") or not number or until is None:
        raise ProviderAnswerInvalid(provider, f"rent create: {body!r:.80}")
    phone = digits + "".join(ch for ch in str(number) if ch.isdigit())
    return RentPurchase(str(item["id"]), phone, until)


def _stock(value: Any) -> int:
    """A rental count: a number (getdata), or per operator (getdataWithProviders, smspva-sdk)."""
    if isinstance(value, dict):
        return sum(int(v) for v in value.values() if isinstance(v, int | float))
    return int(value)


def parse_rent_offers(provider: str, body: Any, days: int) -> dict[str, Offer]:
    """getdata: seeds/001:77-99's list, or smspva-sdk's {"services": [...], "totalAmount"};
    price_day per service, so the period costs price_day x days."""
    data = rent_data(provider, "getdata", body)
    if isinstance(data, dict):
        data = data.get("services")
    offers = {}
    for item in data if isinstance(data, list) else []:
        try:
            price = Decimal(str(item["price_day"])) * days
            offers[str(item["service"])] = Offer(_stock(item["count"]), price)
        except (KeyError, TypeError, ValueError, InvalidOperation):
            continue  # one malformed entry does not spoil the list
    return offers


def _state(item: dict[str, Any]) -> RentState:
    try:
        return RENT_STATES.get(int(item.get("state", 0)), RentState.UNLISTED)
    except (TypeError, ValueError):
        return RentState.UNLISTED


def _prolong_flag(value: Any) -> bool | None:
    """`canprolong`: a JSON boolean (seeds/001:150, smspva-sdk types.py), or 1/0, "true"/"false"."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"1": True, "true": True, "0": False, "false": False}.get(text)


def _prolong_days(value: Any) -> int | None:
    """`canprolongmax`: whole days (seeds/001:151), as a number or a numeric string."""
    try:
        return None if isinstance(value, bool) or value is None else int(float(value))
    except (TypeError, ValueError):
        return None


def parse_rent_orders(provider: str, body: Any) -> list[RentOrder]:
    """orders (seeds/001:125-156): every open rental, where it is in its activation cycle, and
    whether it may be prolonged (`canprolong`, `canprolongmax`, `canprolonguntil`, 150-152)."""
    data = rent_data(provider, "orders", body)
    orders = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            continue
        until = rent_time(item.get("until"))
        digits = "".join(ch for ch in f"{item.get('ccode', '')}{item.get('pnumber', '')}"
                         if ch.isdigit())  # fmt: skip
        orders.append(
            RentOrder(str(item["id"]), str(item.get("scode", "")), str(item.get("cname", "")),
                      until or 0.0, digits,
                      _state(item),
                      can_prolong=_prolong_flag(item.get("canprolong")),
                      prolong_max_days=_prolong_days(item.get("canprolongmax")),
                      prolong_until=rent_time(item.get("canprolonguntil")))
        )  # fmt: skip
    return orders


def parse_rent_sms(provider: str, body: Any) -> tuple[RentMessage, ...]:
    """sms: seeds/001:175-194's list of {"text","sender","date"}, or smspva-sdk's
    {"SmsList": [...], "OtherSms": [...]}; every message to the number, oldest first."""
    data = rent_data(provider, "sms", body)
    if isinstance(data, dict):
        data = [*(data.get("SmsList") or []), *(data.get("OtherSms") or [])]
    messages: dict[RentMessage, None] = {}  # in the upstream's order, each message once
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and (date := rent_time(item.get("date"))) is not None:
            text, sender = str(item.get("text", "")), str(item.get("sender", ""))
            messages[RentMessage(text, sender, date)] = None
    # Stable: messages of the same second keep the order the upstream listed them in.
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
        self.lists_whole_country = True  # serviceprice/{country} + countnumbers/{country}
        self.sells_multi_service = False
        self.reissues_numbers = False
        self.max_rent_hours = MAX_HOURS
        self.extends_rents = True
        self._base = settings.base_url
        self._rent_url = settings.rent_url
        self._key = settings.api_key
        self._headers = {"apikey": settings.api_key}
        self._operator_lists: dict[str, tuple[float, tuple[str, ...]]] = {}
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
            # 501 (no funds) and 502 (limit exceeded) are SMSPVA's own refusals only in its JSON
            # (`statusCode`, seeds/000:54); a 5xx without it comes from whatever stands in front
            # (a gateway's 502 Bad Gateway), which may answer after the API has already sold.
            body = loose_json(response)
            if not (isinstance(body, dict) and isinstance(body.get("statusCode"), int)):
                raise OutcomeUnknown(self.name, f"{endpoint}: HTTP {response.status_code}")
            status = status_of(response.status_code, body)
            raise error_for(self.name, endpoint, status, body, retry_after_of(response))
        if response.status_code in ROUTE_MISSING_STATUSES:
            body = loose_json(response)
            if not (isinstance(body, dict) and isinstance(body.get("statusCode"), int)):
                raise RouteMissing(
                    self.name, f"{endpoint}: HTTP {response.status_code}, no API answer"
                )
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
        if response.status_code >= 500:  # sent; the rental API answers status 0, not 5xx
            raise OutcomeUnknown(
                self.name, f"rent {method}: HTTP {response.status_code}", retry_after_of(response)
            )
        return json_body(self.name, f"rent:{method}", response)

    async def balance(self) -> Balance:
        status, body = await self._call("balance", "GET", "balance")
        return parse_balance(self.name, status, body, self.currency)

    async def buy(self, request: BuyRequest) -> Purchase:
        """The operator goes in the path, as smspva-sdk's getNumberByOperator sends it; where
        that route is missing (an answer that is not the API's JSON, so nothing was sold), the
        seed's `?operator=` (seeds/000:43) is tried once."""
        path = f"number/{request.country}/{request.service}"
        if not request.operator:
            status, body = await self._call("number", "GET", path)
            return parse_number(self.name, status, body)
        operator = quote(await self._spelling(request.country, request.operator), safe="")
        try:
            status, body = await self._call("number", "GET", f"{path}/{operator}")
        except RouteMissing:
            log.warning("smspva_fallback", endpoint="number/{country}/{service}/{operator}")
            status, body = await self._call("number", "GET", path, operator=request.operator)
        return parse_number(self.name, status, body)

    async def offers(
        self, country: str, service: str | None, operator: str | None = None
    ) -> dict[str, Offer]:
        """A whole country: prices from serviceprice/{country} and stock from
        countnumbers/{country} (smspva-sdk). One pair (service given): serviceprice/{c}/{s}, the
        only price endpoint the seed shows (seeds/000:117), with the same stock. When the stock
        listing fails, counts are None (assumed_stock) and the fallback is logged."""
        counts = asyncio.ensure_future(self._counts(country, operator))
        try:
            if service is None:
                status, body = await self._call("serviceprice", "GET", f"serviceprice/{country}")
                prices = parse_country_prices(self.name, status, body, operator)
            else:
                path = f"serviceprice/{country}/{service}"
                status, body = await self._call("serviceprice", "GET", path)
                prices = {service: parse_price(self.name, status, body, operator)}
        except BaseException:
            counts.cancel()
            raise
        stock = await counts
        return {
            code: Offer(count=None if stock is None else stock.get(code, 0), price=price)
            for code, price in prices.items()
        }

    async def _counts(self, country: str, operator: str | None) -> dict[str, int] | None:
        try:
            status, body = await self._call("countnumbers", "GET", f"countnumbers/{country}")
            return parse_counts(self.name, status, body, operator)
        except ProviderError as exc:
            log.warning(
                "smspva_fallback", endpoint="countnumbers/{country}", using="assumed_stock",
                error=str(exc),
            )  # fmt: skip
            return None

    async def operators(self, country: str) -> tuple[str, ...]:
        """The operators SMSPVA sells from in a country (operators/{country}, smspva-sdk)."""
        status, body = await self._call("operators", "GET", f"operators/{country}")
        return parse_operators(self.name, status, body)

    async def _spelling(self, country: str, operator: str) -> str:
        """SMSPVA's own spelling of an operator, from its list for the country (asked at most
        once an hour); BAD_OPERATOR, before anything is bought, when the list lacks it; the
        name as asked when no list can be had (the seed publishes none, seeds/000:43)."""
        now = time.monotonic()
        known = self._operator_lists.get(country)
        if known is None or now - known[0] > OPERATORS_TTL:
            try:
                known = (now, await self.operators(country))
            except ProviderError as exc:
                log.warning("smspva_fallback", endpoint="operators/{country}", error=str(exc))
                return operator
            self._operator_lists[country] = known
        wanted = operator.strip().lower()
        found = next((name for name in known[1] if name.lower() == wanted), None)
        if found is None:
            raise ProviderRefused(self.name, Refusal.BAD_OPERATOR, f"no {operator!r} in {country}")
        return found

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
        period = covering(hours)
        body = await self._rent_call(
            "getdata", country=country, dtype=period.dtype, dcount=str(period.dcount)
        )
        return parse_rent_offers(self.name, body, period.days)

    async def rent(
        self, service: str, country: str, hours: int, operator: str | None = None
    ) -> RentPurchase:
        """create, with the operator as `provider` (seeds/000:168, smspva-sdk)."""
        period = covering(hours)
        params = {
            "dtype": period.dtype, "dcount": str(period.dcount), "country": country,
            "service": service,
        }  # fmt: skip
        if operator:
            params["provider"] = operator
        return parse_rent(self.name, await self._rent_call("create", **params))

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
