"""SMSPVA Rental API (`/api/rent.php`) emulator, mounted on `SmspvaEmulator`'s app and accounts.

Also home of SMSPVA's operator table and per-operator stock (`OperatorStock`), which the
activation desk (smspva.py, which imports this module) uses too.

Answer shapes follow the host's `shapes`: "sdk" (default; smspva-sdk 0.1.0a2 `types.py`, the
newer official source) or "seed" (seeds/000 and seeds/001). Where they differ:

- create: sdk ``{"status":1,"data":{"id":int,"pnumber":national str,"ccode":"+7","service",
  "until":"1587633960"}}`` (types.py RentalCreateResponseData types `until` as a str: the Unix
  time as a decimal string); seed ``{"status":1,"data":[{"id":int,"number":calling code +
  national,"expireAt":"YYYY-MM-DD HH:MM:SS"}]}`` (seeds/000:176-186; the time is UTC, our choice).
  seeds/001:114-123's object with an int `until` is neither: SPEC-NOTES "Turn 2" says clients
  must parse both seed shapes, and the SDK's is that object with a string `until`.
- getdata: sdk ``{"data":{"services":[{"name","service","price_day","count","img":"",
  "procent_days":0,"procent":0,"day_step":1}],"totalAmount":sum of counts}}`` (types.py
  RentalGetDataResponseData); seed ``{"data":[{"name","service","price_day","count"}]}``
  (seeds/001:89-99).
- sms: sdk ``{"data":{"SmsList":[{"text","sender","date":int}],"OtherSms":[]}}`` (types.py
  RentalGetSmsResponseData; we never have SMS for other services); seed ``{"data":[{"text",
  "sender","date"}]}`` (seeds/001:185-194).
- activate: sdk ``{"data":[{"id":int}]}`` (types.py RentalActivateResponse); seed
  ``{"data":{"id":int}}`` (seeds/001:225-230).
- prolong: sdk ``{"status":1}`` (types.py RentalProlongResponse); seed ``{"data":{"id":int}}``
  (seeds/001:208-213).
- get_rent_history items: sdk adds ``"isAvailForRestore": false`` (types.py
  RentalGetHistoryResponseDataItem; restoring is not emulated); seed seeds/001:264-271.

The same in both:

- GET only; `status` 1 on success, else 0 and the reason in `msg` (seeds/001:52-53). `apikey`
  is a query parameter (seeds/001:105, 129); the catalog methods need none (seeds/001:63, 81;
  _contracts.json marks getcount "none", getdataWithProviders/getCountWithProviders "optional").
- getcountries ``[{"name","code"}]`` (seeds/001:59-75). orders ``[{"id","scode","sname","state",
  "pnumber","ccode","cname","hasnewsms","until":int,"canprolong":bool,"canprolongmax",
  "canprolonguntil","lastonline"}]`` (seeds/001:125-156 = types.py RentalGetOrdersResponseDataItem);
  state 0 not active, 1 active, 2 activating, -1 number gone. delete ``{"data":{"id":int}}``
  (seeds/001:232-247 = types.py RentalDeleteOrderResponse). add_service_to_order (id, service,
  pnumber with calling code, no "+") ``{"status":1}`` (seeds/001:158-173; types.py's data is
  optional). get_rent_history (skip, take) (seeds/001:249-271).
- SDK-only methods, no seed shows them: getdataWithProviders ``{"data":{"services":[{"name",
  "service","price_day","img","procent_days","procent","day_step","count":{operator:n},
  "totalCount"}],"totalAmount","allOperators":[...]}}``; getcount ``{"data":{service:n}}``;
  getCountWithProviders ``{"data":{service:{"Amount":{operator:n},"Total":n}}}``; prolong_max
  ``{"status":1}``, which is prolong that also takes dtype=day (_contracts.json example).
- Rules: prolong only with less than 7 days left (seeds/001:25-27), 90 days at most (29-31); a
  number must be activated before it receives SMS (23, 54), activation takes time and the
  number then stays active 10-30 minutes (39-40); no refund once an SMS came (42-44).

Our choices (seeds and SDK silent):

- Services: SMSPVA's activation codes (SPEC-NOTES "Turn 2": rentals use the activation
  numbering), the subset in data/smspva_rent_services.json, each row citing where it is rented;
  names come from the activation catalog data/smspva_services.json.
- Providers: create takes `provider` (seeds/000:168; _contracts.json rental.create) and then
  sells only that operator's numbers; an operator the country lacks -> "Provider not found".
  Without one, the operator with the most numbers left sells. Stock is per (service, country,
  operator); the operator names are data/smspva_operators.json's (invented, matched without
  regard to case).
- Every answer is HTTP 200, errors included. `msg` words: the seed's restore errors where one
  fits ("the user had not this order", seeds/001:329; "Service not found", 330; "Balance is not
  enough", 331), plain English otherwise ("Wrong apikey", "Unknown method", ...).
- dtype week = 7 days, month = 30 (prolong_max also day = 1); dcount 1-99; a period longer
  than 90 days is refused. The price is linear: `price_day` x days (per service on the order,
  for prolong); getdata ignores dtype/dcount. `price_day` comes from `set_stock` or a hash of
  the pair, 0.30-6.00.
- activate: state 0 -> 2 for `activation_delay` seconds (default 5; the real 10-15 minutes would
  only slow tests) -> 1 for `active_window` seconds (default 20 min) -> 0. activate while 2 or 1
  is refused. SMS arrive only through `deliver_sms` and only in state 1. State -1 never occurs.
- `canprolongmax` = whole days until now + 90 days; `canprolonguntil` = until + that many days;
  `canprolong` = less than 7 days left and at least a week addable.
- delete with no SMS received refunds everything paid; with one, nothing. The number goes back
  to its operator's stock either way; expiry does not return it (restorable in principle).
- Orders past `until` leave `orders`; sms/activate/prolong/add_service/delete answer
  "Order is expired"; deleted ones "Order is deleted". Both are listed by get_rent_history,
  newest first (skip 0, take 10 by default); `branchId` (meaning unknown) is the catalog index of
  the order's country.
- restore_user_precalc / restore_user are not emulated: ``{"status":0,"msg":"Not emulated: ..."}``.
- Unix timestamps are `clock()` + `unix_offset`, set at reset so they read as today's dates.
- Counters `requests["rent:<method>"]` (unknown methods as "rent:unknown"), `order_requests`
  by (endpoint, id), `latency`, `stall` and `inject_error("rent:<method>")` are the host's. The
  activation API's rate limit does not apply here. A stalled rent request cut short by `reset`
  gets the activation API's 503 body: `EmulatorBase.serve` picks it without knowing the endpoint.
"""

from __future__ import annotations

import enum
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from proxy.emulators.common import (
    SMS_TEMPLATES,
    Answer,
    Control,
    PhonePlan,
    both_slashes,
    load_data,
)

if TYPE_CHECKING:
    from proxy.emulators.smspva import SmspvaEmulator

Shapes = Literal["sdk", "seed"]
SHAPES: tuple[Shapes, ...] = ("sdk", "seed")

DAY = 86_400.0
PERIOD_DAYS = {"week": 7, "month": 30}
PROLONG_MAX_DAYS = {"day": 1, **PERIOD_DAYS}  # _contracts.json rental.prolongByDays: dtype "day"
MAX_DAYS = 90  # seeds/001:29-31
PROLONG_WINDOW_DAYS = 7  # seeds/001:25-27
MAX_DCOUNT = 99
ACTIVATION_DELAY = 5.0
ACTIVE_WINDOW = 20 * 60.0  # seeds/001:40: active 10 to 30 minutes
HISTORY_TAKE = 10
PRICE_RANGE = (Decimal("0.30"), Decimal("6.00"))
# seeds/001:63, 81: no apikey; _contracts.json: auth "none" or "optional" for the other three.
PUBLIC_METHODS = frozenset(
    {"getcountries", "getdata", "getdataWithProviders", "getcount", "getCountWithProviders"}
)
ORDER_METHODS = frozenset(
    {
        "add_service_to_order",
        "sms",
        "prolong",
        "prolong_max",
        "activate",
        "delete",
        "restore_user_precalc",
        "restore_user",
    }
)
METHODS = PUBLIC_METHODS | {"create", "orders", "get_rent_history"}
RENT_ENDPOINTS = frozenset(f"rent:{m}" for m in METHODS | ORDER_METHODS)

_ACTIVATION_NAMES: dict[str, str] = {
    s["code"]: s["name"] for s in load_data("smspva_services.json")
}
SERVICES: dict[str, str] = {
    row["code"]: _ACTIVATION_NAMES[row["code"]] for row in load_data("smspva_rent_services.json")
}
_COUNTRIES: list[dict[str, Any]] = load_data("smspva_rent_countries.json")
COUNTRY_NAMES: dict[str, str] = {c["code"]: c["name"] for c in _COUNTRIES}
PLANS: dict[str, PhonePlan] = {
    c["code"]: PhonePlan(c["calling_code"], c["digits"], c["prefix"]) for c in _COUNTRIES
}
_OPERATOR_ROWS: dict[str, tuple[str, ...]] = {
    row["country"]: tuple(row["operators"]) for row in load_data("smspva_operators.json")
}
DEFAULT_OPERATORS = _OPERATOR_ROWS.pop("*")
OPERATORS: dict[str, tuple[str, ...]] = _OPERATOR_ROWS  # country -> operators (invented data)

Action = Callable[[str, QueryParams], Answer]


def operators_of(country: str) -> tuple[str, ...]:
    """The operators a country's numbers come from (data/smspva_operators.json)."""
    return OPERATORS.get(country, DEFAULT_OPERATORS)


def find_operator(country: str, name: str) -> str | None:
    """The catalog spelling of one of `country`'s operators, matched without case; else None."""
    wanted = name.strip().lower()
    return next((op for op in operators_of(country) if op.lower() == wanted), None)


def _share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split as evenly as whole numbers allow, the first parts larger."""
    return total // parts + (1 if index < total % parts else 0)


class OperatorStock:
    """Numbers left per (service, country, operator); a pair's stock is the sum over its operators.

    Unset entries split `base` (the per-pair default) evenly over the country's operators, so a
    pair starts with exactly `base` numbers. Validating codes is the caller's job.
    """

    def __init__(self, base: int) -> None:
        self.base = base
        self._counts: dict[tuple[str, str, str], int] = {}

    def reset(self, base: int) -> None:
        """Forget every count; unset entries split `base` again."""
        self._counts.clear()
        self.base = base

    def get(self, service: str, country: str, operator: str | None = None) -> int:
        """One operator's numbers, or the pair's total when `operator` is None."""
        names = operators_of(country)
        if operator is not None:
            return self._one(service, country, names, names.index(operator))
        return sum(self._one(service, country, names, i) for i in range(len(names)))

    def by_operator(self, service: str, country: str) -> dict[str, int]:
        """Every operator of the country with its numbers for the service, in catalog order."""
        names = operators_of(country)
        return {op: self._one(service, country, names, i) for i, op in enumerate(names)}

    def set(self, service: str, country: str, count: int, operator: str | None = None) -> None:
        """One operator's count, or the pair's total split evenly over its operators."""
        if operator is not None:
            self._counts[(service, country, operator)] = count
            return
        names = operators_of(country)
        for i, op in enumerate(names):
            self._counts[(service, country, op)] = _share(count, len(names), i)

    def set_all(self, count: int) -> None:
        """Every pair holds `count` numbers (per-entry counts are forgotten)."""
        self.reset(count)

    def add(self, service: str, country: str, operator: str, delta: int) -> None:
        """Take (-1) or return (+1) one operator's number."""
        self._counts[(service, country, operator)] = self.get(service, country, operator) + delta

    def pick(self, service: str, country: str) -> str | None:
        """The operator with the most numbers left (catalog order on ties); None when sold out."""
        counts = self.by_operator(service, country)
        best = max(counts, key=lambda op: counts[op])
        return best if counts[best] > 0 else None

    def _one(self, service: str, country: str, names: tuple[str, ...], index: int) -> int:
        explicit = self._counts.get((service, country, names[index]))
        return _share(self.base, len(names), index) if explicit is None else explicit


class RentState(enum.IntEnum):
    """seeds/001:140-144: the `state` of a rental order."""

    GONE = -1
    INACTIVE = 0
    ACTIVE = 1
    ACTIVATING = 2


@dataclass(frozen=True, slots=True)
class RentSms:
    """One SMS that reached a rented number."""

    text: str
    sender: str
    date: float


@dataclass(slots=True)
class RentOrder:
    """One rented number: what tests inspect and what the answers are rendered from."""

    order_id: str
    api_key: str
    services: list[str]
    country: str
    provider: str
    phone: str
    created: float
    until: float
    paid: Decimal
    days: int
    activated_at: float | None = None
    last_online: float = 0.0
    messages: list[RentSms] = field(default_factory=list)
    seen: int = 0
    closed_at: float | None = None
    deleted: bool = False
    refunded: bool = False

    @property
    def live(self) -> bool:
        """Still rented: neither deleted nor (as last refreshed) expired."""
        return self.closed_at is None

    @property
    def calling_code(self) -> str:
        """The country's calling code, without "+"."""
        return PLANS[self.country].calling_code


def rent_fault_body(status: int) -> object:
    """The rental API's error shape for an injected fault (seeds/001:53)."""
    return {"status": 0, "msg": f"Service temporarily unavailable (HTTP {status})"}


def _refuse(msg: str) -> Answer:
    return Answer(200, {"status": 0, "msg": msg})  # seeds/001:53


def _ok(data: object) -> Answer:
    return Answer(200, {"status": 1, "data": data})


def _period(params: QueryParams, units: dict[str, int] = PERIOD_DAYS) -> int | Answer:
    """Days asked for by dtype/dcount, or the refusal."""
    unit = units.get(params.get("dtype", ""))
    if unit is None:
        return _refuse("Wrong dtype: " + " or ".join(units))
    raw = params.get("dcount", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DCOUNT:
        return _refuse("Wrong dcount")
    return unit * int(raw)


class SmspvaRent:
    """SMSPVA's rental desk: rented numbers with activation windows, sharing the host's accounts."""

    def __init__(
        self,
        host: SmspvaEmulator,
        *,
        activation_delay: float = ACTIVATION_DELAY,
        active_window: float = ACTIVE_WINDOW,
    ) -> None:
        self.host = host
        self.activation_delay = activation_delay
        self.active_window = active_window
        self.unix_offset = 0.0
        self._orders: dict[str, RentOrder] = {}
        self._numbers = OperatorStock(0)
        self._prices: dict[tuple[str, str], Decimal] = {}
        self._next_id = 0
        self._actions: dict[str, Action] = {
            "getcountries": self._getcountries,
            "getdata": self._getdata,
            "getdataWithProviders": self._getdata_with_providers,
            "getcount": self._getcount,
            "getCountWithProviders": self._getcount_with_providers,
            "create": self._create,
            "orders": self._orders_list,
            "add_service_to_order": self._add_service,
            "sms": self._sms,
            "prolong": self._prolong,
            "prolong_max": self._prolong_max,
            "activate": self._activate,
            "delete": self._delete,
            "get_rent_history": self._history,
            "restore_user_precalc": self._not_emulated,
            "restore_user": self._not_emulated,
        }

    # -- knobs ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget orders, stock and prices; called from the host's reset (under its lock)."""
        self._orders.clear()
        self._numbers.reset(self.host.default_stock)
        self._prices.clear()
        self._next_id = self.host._rng.randint(100_000, 899_999)
        # Not rounded: a rounded offset ran the emulated Unix clock up to 0.5 s ahead of the
        # real one, and a week's rental checked at once then had "more than 7 days left".
        self.unix_offset = time.time() - self.host.clock()

    def set_stock(
        self,
        service: str,
        country: str,
        count: int,
        price_day: Decimal | float | str | None = None,
        *,
        provider: str | None = None,
    ) -> None:
        """Numbers of one rental pair (split over its operators), or of one `provider` only."""
        pair = self._pair(service, country)
        operator = None if provider is None else self._operator(country, provider)
        if count < 0:
            raise ValueError(f"stock cannot be negative: {count}")
        with self.host._lock:
            self._numbers.set(service, country, count, operator)
            if price_day is not None:
                self._prices[pair] = Decimal(str(price_day))

    def set_all_stock(self, count: int) -> None:
        """Give every rental pair `count` numbers (forgets per-pair counts, not prices)."""
        if count < 0:
            raise ValueError(f"stock cannot be negative: {count}")
        with self.host._lock:
            self._numbers.set_all(count)

    def stock(self, service: str, country: str, provider: str | None = None) -> int:
        """Numbers left for a rental pair, or for one of its operators."""
        self._pair(service, country)
        operator = None if provider is None else self._operator(country, provider)
        return self._numbers.get(service, country, operator)

    def price_day(self, service: str, country: str) -> Decimal:
        """A pair's price per day: set by `set_stock`, else derived from a hash of the pair."""
        pair = self._pair(service, country)
        override = self._prices.get(pair)
        if override is not None:
            return override
        digest = hashlib.sha256(f"smspva-rent:{service}:{country}".encode()).digest()
        fraction = Decimal(int.from_bytes(digest[:8], "big")) / Decimal(2**64)
        low, high = PRICE_RANGE
        return (low + (high - low) * fraction).quantize(Decimal("0.01"))

    def deliver_sms(
        self, order_id: str, text: str | None = None, sender: str | None = None
    ) -> RentSms:
        """An SMS reaches the rented number now; ValueError unless the order is live and active."""
        with self.host._lock:
            order = self._orders[str(order_id)]
            now = self._refresh(order)
            state = self.state(order)
            if not order.live or state is not RentState.ACTIVE:
                raise ValueError(
                    f"rent order {order_id} cannot receive SMS now (state {int(state)})"
                )
            # SMSPVA prefixes some names with "1 " to sort them first (reference/SOURCES.md).
            brand = SERVICES[order.services[0]].removeprefix("1 ").split(" (")[0]
            if text is None:
                code = str(self.host._rng.randint(100_000, 999_999))
                text = self.host._rng.choice(SMS_TEMPLATES).format(service=brand, code=code)
            sms = RentSms(text, sender or brand.upper()[:11], now)
            order.messages.append(sms)
            return sms

    def state(self, order: RentOrder) -> RentState:
        """Where the number is in its activation cycle now (seeds/001:140-144)."""
        now = self.host.clock()
        if order.activated_at is None:
            return RentState.INACTIVE
        online = order.activated_at + self.activation_delay
        if now < online:
            return RentState.ACTIVATING
        if now < online + self.active_window:
            return RentState.ACTIVE
        return RentState.INACTIVE

    @property
    def orders(self) -> dict[str, RentOrder]:
        """Every rental order by id, brought up to date with the clock (expiry)."""
        with self.host._lock:
            for order in self._orders.values():
                self._refresh(order)
            return self._orders

    def unix(self, moment: float) -> int:
        """A clock reading as the Unix timestamp the API shows."""
        return math.floor(moment + self.unix_offset)

    # -- wiring ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """`/api/rent.php` (both slash spellings, like the activation routes)."""
        return [*both_slashes("/api/rent.php", self._handle, "GET")]

    def controls(self) -> dict[str, Control]:
        """`POST /_emulator/rent/{stock,sms,timing}`: the knobs over HTTP."""

        def stock(p: dict[str, Any]) -> None:
            if "all" in p:
                self.set_all_stock(int(p["all"]))
            else:
                provider = None if p.get("provider") is None else str(p["provider"])
                self.set_stock(
                    str(p["service"]),
                    str(p["country"]),
                    int(p["count"]),
                    p.get("price_day"),
                    provider=provider,
                )

        def sms(p: dict[str, Any]) -> dict[str, Any]:
            message = self.deliver_sms(str(p["order_id"]), p.get("text"), p.get("sender"))
            return {"text": message.text, "sender": message.sender, "date": message.date}

        def timing(p: dict[str, Any]) -> None:
            delay = float(p.get("activation_delay", self.activation_delay))
            window = float(p.get("active_window", self.active_window))
            if delay < 0 or window < 0:
                raise ValueError("activation_delay and active_window cannot be negative")
            self.activation_delay, self.active_window = delay, window

        return {"rent/stock": stock, "rent/sms": sms, "rent/timing": timing}

    async def _handle(self, request: Request) -> Response:
        params = request.query_params
        method = params.get("method", "")
        name = f"rent:{method}" if method in self._actions else "rent:unknown"
        order_id = params.get("id") if method in ORDER_METHODS else None
        return await self.host.serve(name, order_id, lambda: self._dispatch(method, params))

    def _dispatch(self, method: str, params: QueryParams) -> Answer:
        action = self._actions.get(method)
        if action is None:
            return _refuse("Unknown method")
        key = params.get("apikey", "")
        if method not in PUBLIC_METHODS and key not in self.host.balances:
            return _refuse("Wrong apikey")
        return action(key, params)

    @property
    def _sdk(self) -> bool:
        return self.host.shapes == "sdk"

    # -- catalog --------------------------------------------------------------------------------

    def _getcountries(self, key: str, params: QueryParams) -> Answer:
        return _ok([{"name": name, "code": code} for code, name in COUNTRY_NAMES.items()])

    def _getdata(self, key: str, params: QueryParams) -> Answer:
        country = params.get("country", "").upper()
        if country not in COUNTRY_NAMES:
            return _refuse("Country not found")
        counts = {code: self._numbers.get(code, country) for code in SERVICES}
        items: list[dict[str, object]] = []
        for code, name in SERVICES.items():
            item: dict[str, object] = {
                "name": name,
                "service": code,
                "price_day": float(self.price_day(code, country)),
                "count": counts[code],
            }
            if self._sdk:  # types.py RentalGetDataResponseDataServicesItem; no discounts here
                item |= {"img": "", "procent_days": 0, "procent": 0, "day_step": 1}
            items.append(item)
        if not self._sdk:
            return _ok(items)  # seeds/001:89-99
        return _ok({"services": items, "totalAmount": sum(counts.values())})

    def _getdata_with_providers(self, key: str, params: QueryParams) -> Answer:
        """types.py RentalGetDataWithProvidersResponseData (no seed shows this method)."""
        country = params.get("country", "").upper()
        if country not in COUNTRY_NAMES:
            return _refuse("Country not found")
        items: list[dict[str, object]] = []
        total = 0
        for code, name in SERVICES.items():
            counts = self._numbers.by_operator(code, country)
            total += sum(counts.values())
            items.append(
                {
                    "name": name,
                    "service": code,
                    "price_day": float(self.price_day(code, country)),
                    "img": "",
                    "procent_days": 0,
                    "procent": 0,
                    "day_step": 1,
                    "count": counts,
                    "totalCount": sum(counts.values()),
                }
            )
        return _ok(
            {
                "services": items,
                "totalAmount": total,
                "allOperators": list(operators_of(country)),
            }
        )

    def _getcount(self, key: str, params: QueryParams) -> Answer:
        """types.py RentalGetCountResponse: data as {service: count} (no seed shows this)."""
        country = params.get("country", "").upper()
        if country not in COUNTRY_NAMES:
            return _refuse("Country not found")
        return _ok({code: self._numbers.get(code, country) for code in SERVICES})

    def _getcount_with_providers(self, key: str, params: QueryParams) -> Answer:
        """types.py RentalGetCountWithProvidersResponse: {service: {Amount, Total}}."""
        country = params.get("country", "").upper()
        if country not in COUNTRY_NAMES:
            return _refuse("Country not found")
        data: dict[str, dict[str, object]] = {}
        for code in SERVICES:
            counts = self._numbers.by_operator(code, country)
            data[code] = {"Amount": counts, "Total": sum(counts.values())}
        return _ok(data)

    # -- orders ---------------------------------------------------------------------------------

    def _create(self, key: str, params: QueryParams) -> Answer:
        country, service = params.get("country", "").upper(), params.get("service", "")
        days = _period(params)
        if isinstance(days, Answer):
            return days
        # seeds/000:168; _contracts.json rental.create
        provider = self._seller(key, service, country, days, params.get("provider", ""))
        if isinstance(provider, Answer):
            return provider
        order = self._open(key, service, country, provider, days)
        if not self._sdk:  # seeds/000:176-186
            expire = datetime.fromtimestamp(self.unix(order.until), UTC)
            number = order.calling_code + order.phone
            return _ok(
                [
                    {
                        "id": int(order.order_id),
                        "number": number,
                        "expireAt": expire.strftime("%Y-%m-%d %H:%M:%S"),
                    }
                ]
            )
        return _ok(
            {
                "id": int(order.order_id),
                "pnumber": order.phone,
                "ccode": "+" + order.calling_code,
                "service": service,
                "until": str(self.unix(order.until)),  # types.py RentalCreateResponseData: str
            }
        )

    def _seller(self, key: str, service: str, country: str, days: int, asked: str) -> str | Answer:
        """The operator to sell from (the `asked` one, else the fullest), or the refusal."""
        if country not in COUNTRY_NAMES:
            return _refuse("Country not found")
        if service not in SERVICES:
            return _refuse("Service not found")  # seeds/001:330
        if days > MAX_DAYS:
            return _refuse(f"Maximum rental period is {MAX_DAYS} days")
        if asked:
            provider = find_operator(country, asked)
            if provider is None:
                return _refuse("Provider not found")
        else:
            provider = self._numbers.pick(service, country)
        if provider is None or self._numbers.get(service, country, provider) < 1:
            return _refuse("No free numbers")
        if self.host.balances[key] < self.price_day(service, country) * days:
            return _refuse("Balance is not enough")  # seeds/001:331
        return provider

    def _open(self, key: str, service: str, country: str, provider: str, days: int) -> RentOrder:
        """Sell a rental: charge it, take it from stock, give it a number not rented now."""
        now = self.host.clock()
        cost = self.price_day(service, country) * days
        self.host.balances[key] -= cost
        self._numbers.add(service, country, provider, -1)
        order = RentOrder(
            order_id=str(self._next_id),
            api_key=key,
            services=[service],
            country=country,
            provider=provider,
            phone=self._free_phone(country),
            created=now,
            until=now + days * DAY,
            paid=cost,
            days=days,
            last_online=now,
        )
        self._next_id += 1
        self._orders[order.order_id] = order
        return order

    def _free_phone(self, country: str) -> str:
        taken = {o.phone for o in self._orders.values() if o.live}
        while True:
            phone = PLANS[country].national(self.host._rng)
            if phone not in taken:
                return phone

    def _orders_list(self, key: str, params: QueryParams) -> Answer:
        items = []
        for order in self._orders.values():
            if order.api_key == key:
                now = self._refresh(order)
                if order.live:
                    items.append(self._order_item(order, now))
        return _ok(items)

    def _order_item(self, order: RentOrder, now: float) -> dict[str, object]:
        service = order.services[0]
        room = self._room_days(order, now)
        return {
            "id": int(order.order_id),
            "scode": service,
            "sname": SERVICES[service],
            "state": int(self.state(order)),
            "pnumber": order.phone,
            "ccode": "+" + order.calling_code,
            "cname": order.country,
            "hasnewsms": len(order.messages) > order.seen,
            "until": self.unix(order.until),
            "canprolong": self._can_prolong(order, now),
            "canprolongmax": room,
            "canprolonguntil": self.unix(order.until + room * DAY),
            "lastonline": self.unix(self._last_online(order, now)),
        }

    def _add_service(self, key: str, params: QueryParams) -> Answer:
        order = self._live_order(key, params)
        if isinstance(order, Answer):
            return order
        service = params.get("service", "")
        if service not in SERVICES:
            return _refuse("Service not found")  # seeds/001:330
        if params.get("pnumber", "").lstrip("+") != order.calling_code + order.phone:
            return _refuse("Wrong pnumber for this order")
        if service in order.services:
            return _refuse("The service is already in this order")
        days = math.ceil((order.until - self.host.clock()) / DAY)
        cost = self.price_day(service, order.country) * days
        if self.host.balances[key] < cost:
            return _refuse("Balance is not enough")  # seeds/001:331
        self.host.balances[key] -= cost
        order.paid += cost
        order.services.append(service)
        return Answer(200, {"status": 1})  # seeds/001:171-173: no data

    def _sms(self, key: str, params: QueryParams) -> Answer:
        order = self._live_order(key, params)
        if isinstance(order, Answer):
            return order
        order.seen = len(order.messages)
        listing = [
            {"text": m.text, "sender": m.sender, "date": self.unix(m.date)} for m in order.messages
        ]
        if not self._sdk:
            return _ok(listing)  # seeds/001:185-194
        return _ok({"SmsList": listing, "OtherSms": []})  # types.py RentalGetSmsResponseData

    def _prolong(self, key: str, params: QueryParams) -> Answer:
        return self._extend(key, params, PERIOD_DAYS, seed_data=True)

    def _prolong_max(self, key: str, params: QueryParams) -> Answer:
        """_contracts.json rental.prolongByDays: prolong with dtype day, week or month."""
        return self._extend(key, params, PROLONG_MAX_DAYS, seed_data=False)

    def _extend(
        self, key: str, params: QueryParams, units: dict[str, int], *, seed_data: bool
    ) -> Answer:
        order = self._live_order(key, params)
        if isinstance(order, Answer):
            return order
        days = _period(params, units)
        if isinstance(days, Answer):
            return days
        now = self.host.clock()
        if order.until - now >= PROLONG_WINDOW_DAYS * DAY:
            return _refuse(
                f"Prolongation is possible when less than {PROLONG_WINDOW_DAYS} days left"
            )
        room = self._room_days(order, now)
        if days > room:
            return _refuse(f"Maximum rental period is {MAX_DAYS} days: {room} days can be added")
        cost = sum((self.price_day(s, order.country) for s in order.services), Decimal(0)) * days
        if self.host.balances[key] < cost:
            return _refuse("Balance is not enough")  # seeds/001:331
        self.host.balances[key] -= cost
        order.paid += cost
        order.days += days
        order.until += days * DAY
        if seed_data and not self._sdk:
            return _ok({"id": int(order.order_id)})  # seeds/001:208-213
        return Answer(200, {"status": 1})  # types.py RentalProlongResponse

    def _activate(self, key: str, params: QueryParams) -> Answer:
        order = self._live_order(key, params)
        if isinstance(order, Answer):
            return order
        state = self.state(order)
        if state is RentState.ACTIVATING:
            return _refuse("The number is already being activated")
        if state is RentState.ACTIVE:
            return _refuse("The number is already active")
        order.last_online = self._last_online(order, self.host.clock())
        order.activated_at = self.host.clock()
        if not self._sdk:
            return _ok({"id": int(order.order_id)})  # seeds/001:225-230
        return _ok([{"id": int(order.order_id)}])  # types.py RentalActivateResponse

    def _delete(self, key: str, params: QueryParams) -> Answer:
        order = self._live_order(key, params)
        if isinstance(order, Answer):
            return order
        order.closed_at, order.deleted = self.host.clock(), True
        if not order.messages:  # seeds/001:42-44: no refund once an SMS came
            self.host.balances[key] += order.paid
            order.refunded = True
        self._numbers.add(order.services[0], order.country, order.provider, +1)
        return _ok({"id": int(order.order_id)})

    def _history(self, key: str, params: QueryParams) -> Answer:
        skip, take = params.get("skip", "0"), params.get("take", str(HISTORY_TAKE))
        if not (skip.isdigit() and take.isdigit()):
            return _refuse("Wrong skip or take")
        mine = [o for o in self.orders.values() if o.api_key == key and not o.live]
        mine.sort(key=lambda o: (o.closed_at or 0.0, int(o.order_id)), reverse=True)
        return _ok([self._history_item(o) for o in mine[int(skip) : int(skip) + int(take)]])

    def _history_item(self, order: RentOrder) -> dict[str, object]:
        item: dict[str, object] = {
            "orderId": int(order.order_id),
            "resourceCode": order.services[0],
            "number": order.calling_code + order.phone,
            "branchId": list(COUNTRY_NAMES).index(order.country) + 1,
            "haveSms": bool(order.messages),
            "days": order.days,
            "country": order.country,
            "begin": self.unix(order.created),
            "end": self.unix(order.until),
            "closed": self.unix(order.closed_at or order.until),
        }
        if self._sdk:  # types.py RentalGetHistoryResponseDataItem; restoring is not emulated
            item["isAvailForRestore"] = False
        return item

    def _not_emulated(self, key: str, params: QueryParams) -> Answer:
        return _refuse(f"Not emulated: {params.get('method')} (restoring an expired rental)")

    # -- helpers --------------------------------------------------------------------------------

    def _live_order(self, key: str, params: QueryParams) -> RentOrder | Answer:
        """The caller's order that is still rented, or the refusal."""
        order = self._orders.get(params.get("id", ""))
        if order is None or order.api_key != key:
            return _refuse("the user had not this order")  # seeds/001:329
        self._refresh(order)
        if order.deleted:
            return _refuse("Order is deleted")
        if not order.live:
            return _refuse("Order is expired")
        return order

    def _refresh(self, order: RentOrder) -> float:
        """Close the order if its time is up; the clock reading it used."""
        now = self.host.clock()
        if order.live and now >= order.until:
            order.closed_at = order.until
        return now

    @staticmethod
    def _room_days(order: RentOrder, now: float) -> int:
        """Whole days prolongation may add before the 90-day cap from now (seeds/001:29-31)."""
        return max(0, math.floor((now + MAX_DAYS * DAY - order.until) / DAY))

    def _can_prolong(self, order: RentOrder, now: float) -> bool:
        """Within the last 7 days and at least a week addable (seeds/001:25-27)."""
        in_window = order.until - now < PROLONG_WINDOW_DAYS * DAY
        return in_window and self._room_days(order, now) >= PERIOD_DAYS["week"]

    def _last_online(self, order: RentOrder, now: float) -> float:
        """Now while active; else the end of the last active window; else the rental's start."""
        if order.activated_at is None:
            return order.last_online
        online = order.activated_at + self.activation_delay
        if now < online:
            return order.last_online
        return min(now, online + self.active_window)

    def _pair(self, service: str, country: str) -> tuple[str, str]:
        if service not in SERVICES or country not in COUNTRY_NAMES:
            raise KeyError(f"not in the SMSPVA rental catalog: {service!r}, {country!r}")
        return service, country

    @staticmethod
    def _operator(country: str, provider: str) -> str:
        found = find_operator(country, provider)
        if found is None:
            raise KeyError(f"{country} has no operator {provider!r}: {operators_of(country)}")
        return found
