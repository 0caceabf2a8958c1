"""SMSPVA Activation API v2 emulator: `apikey` header, JSON whose `statusCode` is the HTTP status.

The Rental API (`/api/rent.php`, smspva_rent.py) is mounted on the same app as `self.rent`,
sharing accounts, balances, counters, latency, injected faults and the `shapes` switch.

`shapes` picks the answer shapes: "sdk" (default) follows smspva-sdk 0.1.0a2, the newer official
source (`_transport.py` parse_response, `types.py`); "seed" keeps the older shapes of seeds/000
and our earlier reading of docs.smspva.com. Where they differ:

- sms while waiting: sdk HTTP 202 ``{"statusCode":202,"error":{"type":"SMS_NOT_YET_RECEIVED",
  "description":...},"data":{"orderId":int,"orderExpireIn":int}}`` (parse_response returns a
  202 only with that error type, else raises; types.py ActivationPending); seed HTTP 202
  ``{"statusCode":202,"data":{"orderId":str,"orderExpireIn":int}}`` (seeds/000:91-100).
- sms received: ``{"statusCode":200,"data":{"sms":{"code":str,"fullText":str},"orderId":...,
  "orderExpireIn":int}}``; orderId an int in sdk (types.py ActivationReceiveSmsResponseData), a
  str in seed (seeds/000:76-89).
- balance ``{"balance":...}`` and userinfo ``{"balance","name","karma":float}``: balance a str
  such as "10.50" in sdk (types.py ActivationGetBalanceResponseData), a float in seed.
- serviceprice/{country}/{service}: sdk ``{"service","serviceDescription","country","price":str,
  "priceByOperators":{operator:str}}`` (types.py ActivationGetServicePriceResponseData); seed
  ``{"service","serviceDescription","price":float}`` (docs.smspva.com).
- orders ``{"orders":[...]}``: sdk items ``{"orderId":int,"phoneNumber":int,"countryCode",
  "orderExpireIn","service","country","status","sms"?}`` (types.py
  ActivationGetOrdersResponseDataOrdersItem; `sms` left out while none is shown, `status` is
  "waiting" or "received", our words); seed items without country/status and ``"sms": null``.

The same in both:

- number (GET /activation/number/{country}/{service}, seeds/000:35-61; or .../{operator}, the
  SDK's get_number_by_operator): ``{"orderId":int,"phoneNumber":int,"countryCode":str,
  "orderExpireIn":600}``, the phone national, without calling code (seeds/000:57). clearsms
  ``{"orderId":int,"orderExpireIn":int}``, cancelorder / blocknumber ``{"orderId":int}``
  (seeds/000:120-142 name them; shapes from docs.smspva.com and types.py agree).
- SDK-only endpoints (no seed shows them; _contracts.json, types.py): operators/{country}
  ``{"country","operators":[str]}``; countnumbers and countnumbers/{country} ``[{"operator",
  "country","services":[{"service","total":int}]}]``, one item per operator, services with
  numbers only; serviceprice/{country} ``[{"s","sd","c","p":str,"po":{operator:str}}]`` for
  every service; serviceprices/{service} ``{"scode","sname","clist":[{"ccode","cname",
  "opers":[{"opcode","price":float,"count":int}]}]}`` for every country; servicesprices
  ``[{"service","serviceDescription","country","price":str}]`` for every pair; PUT
  stopsms/{id} ``{"orderId":int}``; numberstatus/{number}/{service} ``{"number":str,
  "orderId":int,"countryCode":str}``. Not emulated: conversions, countryservicesettings.
- Status codes: seeds/000:231-244. The docs' per-endpoint lists disagree with the seed (e.g. 407
  "balance too low", 501 "number not found"); the seed wins.

Our choices (seeds, docs and SDK silent):

- Error body: ``{"statusCode":N,"error":{"type":WORD,"description":text}}`` (the docs give 202/410
  an "error: object"; the SDK reads `error.type`). 202's word is the SDK's SMS_NOT_YET_RECEIVED.
- Operators: a few invented names per country (data/smspva_operators.json), matched without
  regard to case, asked for in the path or as ``?operator=`` (seeds/000:43); both given and
  different -> 405. A number bought for an operator comes from that operator's stock; stock is
  per (service, country, operator), and a pair's stock is the sum over its operators. Without
  an operator, the one with the most numbers left sells (seeds/000:43 says "random", 000:384
  "cheapest"; all operators cost the same here, and this keeps runs reproducible). An operator
  the country does not have -> 405 "invalid parameters" (seeds/000:236), as for unknown
  service or country codes; a known operator with no numbers -> 407 (seeds/000:238).
- Prices are per (service, country); every operator sells at that price. `po` and
  `priceByOperators` list the operators that have numbers now.
- `voice` (an SDK query parameter) is accepted and ignored: only SMS numbers are sold.
- Unknown service or country code -> 405 "invalid parameters" (the docs' meaning of 405 on
  number). 411 "service unavailable" (the docs say "low karma or ratelimits") is reachable only
  with `inject_error`.
- A malformed or unknown order id, or another account's order -> 404.
- A cancelled, blocked, expired or finished order -> 410 on every order endpoint.
- clearsms with no SMS to clear (none yet, or the retry still pending) -> 405. The docs list 404
  "No SMS received" there, but 404 already means "order not found" (seeds/000:235).
- cancelorder after an SMS -> 405 (the refund is for numbers that got nothing, seeds/000:134).
  blocknumber after an SMS succeeds without refund.
- stopsms ends an order whose code came: state FINISHED, no refund, the number is not resold,
  and the order leaves `orders` (410 afterwards). Before any SMS it answers 405: cancelorder is
  the way to end an order that got nothing, with its refund.
- numberstatus: the caller's latest order (any state) for that service on that number, given
  national or with the calling code; none -> 404.
- More than `rate_limit` (50, seeds/000:16) requests within one second of `clock()` on one key
  -> 502 "limit exceeded" (seeds/000:243). Rejected requests do not fill the window.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.routing import BaseRoute

from proxy.emulators.common import (
    PHONE_PLANS,
    Answer,
    Clock,
    Control,
    EmulatorBase,
    Order,
    OrderState,
    both_slashes,
    load_data,
)
from proxy.emulators.smspva_rent import (
    ACTIVATION_DELAY,
    ACTIVE_WINDOW,
    RENT_ENDPOINTS,
    SHAPES,
    OperatorStock,
    RentSms,
    Shapes,
    SmspvaRent,
    find_operator,
    operators_of,
    rent_fault_body,
)

# seeds/000:231-244, with the error `type` words we chose for each (202's is the SDK's).
STATUS_TEXT: dict[int, tuple[str, str]] = {
    200: ("OK", "Success"),
    202: ("SMS_NOT_YET_RECEIVED", "SMS not yet received"),  # smspva-sdk _transport.py
    404: ("ORDER_NOT_FOUND", "Order not found"),
    405: ("BAD_REQUEST", "Invalid parameters"),
    406: ("AUTH_ERROR", "Authorization error"),
    407: ("NO_NUMBERS", "Numbers are not available"),
    410: ("ORDER_EXPIRED", "This order is closed and unavailable"),
    411: ("SERVICE_UNAVAILABLE", "Service unavailable"),
    500: ("INTERNAL_ERROR", "Internal server error"),
    501: ("NO_FUNDS", "Not enough funds"),
    502: ("LIMIT_EXCEEDED", "Limit exceeded"),
    503: ("TEMPORARILY_UNAVAILABLE", "Service temporarily unavailable"),
}
RATE_LIMIT, RATE_WINDOW = 50, 1.0  # seeds/000:16 "up to 50 connections per second"
CENT = Decimal("0.01")

Action = Callable[[str, Request], Answer]
_COUNTRIES: list[dict[str, str]] = load_data("smspva_countries.json")


def _error(status: int, description: str | None = None) -> Answer:
    word, text = STATUS_TEXT.get(status, ("ERROR", f"HTTP {status}"))
    return Answer(
        status, {"statusCode": status, "error": {"type": word, "description": description or text}}
    )


def _ok(data: object) -> Answer:
    return Answer(200, {"statusCode": 200, "data": data})


def _money(amount: Decimal) -> str:
    """An amount as the SDK's strings: two decimals ("10.50"), more only if it has them."""
    return format(amount.quantize(CENT) if amount == amount.quantize(CENT) else amount, "f")


class SmspvaEmulator(EmulatorBase):
    """SMSPVA's Activation API v2 with real accounts, per-operator stock, orders and SMS."""

    provider: ClassVar[str] = "smspva"
    # "rent:<method>" are the rental API's (smspva_rent.py), served on the same app.
    endpoints: ClassVar[frozenset[str]] = RENT_ENDPOINTS | {
        "number",
        "sms",
        "balance",
        "userinfo",
        "operators",
        "countnumbers",
        "serviceprice",
        "serviceprice_country",
        "serviceprices",
        "servicesprices",
        "clearsms",
        "stopsms",
        "cancelorder",
        "blocknumber",
        "orders",
        "numberstatus",
    }
    services: ClassVar[dict[str, str]] = {
        s["code"]: s["name"] for s in load_data("smspva_services.json")
    }
    # reference/SOURCES.md: SMSPVA country codes are ISO alpha-2 except UK (ISO GB).
    country_iso: ClassVar[dict[str, str]] = {
        c["code"]: "GB" if c["code"] == "UK" else c["code"] for c in _COUNTRIES
    }
    country_names: ClassVar[dict[str, str]] = {c["code"]: c["name"] for c in _COUNTRIES}
    price_range: ClassVar[tuple[Decimal, Decimal]] = (Decimal("0.10"), Decimal("2.50"))
    price_step: ClassVar[Decimal] = Decimal("0.01")

    def __init__(
        self,
        *,
        api_keys: dict[str, Decimal] | None = None,
        sms_delay: float | None = 3.0,
        order_lifetime: float = 600.0,
        default_stock: int = 100,
        seed: int | None = None,
        clock: Clock = time.monotonic,
        rent_activation_delay: float = ACTIVATION_DELAY,
        rent_active_window: float = ACTIVE_WINDOW,
        shapes: Shapes = "sdk",
    ) -> None:
        if shapes not in SHAPES:
            raise ValueError(f"shapes must be one of {SHAPES}: {shapes!r}")
        self.shapes: Shapes = shapes
        self.rent = SmspvaRent(
            self, activation_delay=rent_activation_delay, active_window=rent_active_window
        )
        self.rate_limit: int | None = RATE_LIMIT
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)
        self._next_order_id = 0
        self._numbers = OperatorStock(default_stock)
        super().__init__(
            api_keys=api_keys,
            sms_delay=sms_delay,
            order_lifetime=order_lifetime,
            default_stock=default_stock,
            seed=seed,
            clock=clock,
        )

    def reset(self) -> None:
        """Back to the initial state, including the rate limit, order ids and rentals.

        `shapes` is kept: it is how the emulator was built, not state.
        """
        with self._lock:
            super().reset()
            self._numbers.reset(self.default_stock)
            self.rate_limit = RATE_LIMIT
            self._hits.clear()
            self._next_order_id = self._rng.randint(10_000_000, 89_999_999)
            self.rent.reset()

    # -- stock per operator -------------------------------------------------------------------

    def set_stock(
        self,
        service: str,
        country: str,
        count: int,
        price: Decimal | float | str | None = None,
        *,
        operator: str | None = None,
    ) -> None:
        """Numbers of one pair (split evenly over its operators), or of one `operator` only."""
        pair = self._pair(service, country)
        name = None if operator is None else self._operator(country, operator)
        if count < 0:
            raise ValueError(f"stock cannot be negative: {count}")
        with self._lock:
            self._numbers.set(service, country, count, name)
            if price is not None:
                self._prices[pair] = Decimal(str(price))

    def set_all_stock(self, count: int) -> None:
        """Give every pair of the catalog `count` numbers (forgets per-pair counts, not prices)."""
        if count < 0:
            raise ValueError(f"stock cannot be negative: {count}")
        with self._lock:
            self._numbers.set_all(count)

    def stock(self, service: str, country: str, operator: str | None = None) -> int:
        """Numbers left for a pair (the sum over its operators), or for one operator."""
        self._pair(service, country)
        name = None if operator is None else self._operator(country, operator)
        return self._numbers.get(service, country, name)

    @staticmethod
    def operators(country: str) -> tuple[str, ...]:
        """A country's operators, as `/activation/operators/{country}` lists them."""
        return operators_of(country)

    # -- other knobs --------------------------------------------------------------------------

    def inject_error(
        self,
        endpoint: str,
        *,
        status: int = 503,
        body: object | None = None,
        times: int = 1,
        after_effect: bool = False,
    ) -> None:
        """As the base, with the rental API's own error shape for "rent:<method>" endpoints."""
        if body is None and endpoint.startswith("rent:"):
            body = rent_fault_body(status)
        super().inject_error(
            endpoint, status=status, body=body, times=times, after_effect=after_effect
        )

    def deliver_rent_sms(
        self, order_id: str, text: str | None = None, sender: str | None = None
    ) -> RentSms:
        """An SMS reaches a rented number now; ValueError unless its order is active (state 1)."""
        return self.rent.deliver_sms(order_id, text, sender)

    def _fault_body(self, status: int) -> object:
        return _error(status).body

    def _extra_controls(self) -> dict[str, Control]:
        def rate_limit(p: dict[str, Any]) -> None:
            value = p.get("per_second")
            self.rate_limit = None if value is None else int(value)

        def shapes(p: dict[str, Any]) -> None:
            value = p.get("shapes")
            if value not in SHAPES:
                raise ValueError(f"shapes must be one of {SHAPES}: {value!r}")
            self.shapes = "sdk" if value == "sdk" else "seed"

        def stock(p: dict[str, Any]) -> None:  # the base's knob, plus an optional operator
            if "all" in p:
                self.set_all_stock(int(p["all"]))
                return
            operator = None if p.get("operator") is None else str(p["operator"])
            self.set_stock(
                str(p["service"]),
                str(p["country"]),
                int(p["count"]),
                p.get("price"),
                operator=operator,
            )

        return {"rate_limit": rate_limit, "shapes": shapes, "stock": stock, **self.rent.controls()}

    # -- routes ---------------------------------------------------------------------------------

    def _routes(self) -> list[BaseRoute]:
        def by_order(request: Request) -> str:
            return str(request.path_params["order_id"])

        table: list[tuple[str, str, str, Action]] = [
            ("GET", "number", "/activation/number/{country}/{service}", self._number),
            # smspva-sdk _contracts.json activation.getNumberByOperator
            ("GET", "number", "/activation/number/{country}/{service}/{operator}", self._number),
            ("GET", "sms", "/activation/sms/{order_id}", self._sms),
            ("GET", "balance", "/activation/balance", self._balance),
            ("GET", "userinfo", "/activation/userinfo", self._userinfo),
            ("GET", "operators", "/activation/operators/{country}", self._operators),
            ("GET", "countnumbers", "/activation/countnumbers", self._countnumbers),
            ("GET", "countnumbers", "/activation/countnumbers/{country}", self._countnumbers),
            ("GET", "serviceprice", "/activation/serviceprice/{country}/{service}", self._price),
            (
                "GET",
                "serviceprice_country",
                "/activation/serviceprice/{country}",
                self._country_prices,
            ),
            ("GET", "serviceprices", "/activation/serviceprices/{service}", self._service_prices),
            ("GET", "servicesprices", "/activation/servicesprices", self._all_prices),
            # seeds/000:123, 131, 139 (and _contracts.json for stopsms): these are PUT.
            ("PUT", "clearsms", "/activation/clearsms/{order_id}", self._clearsms),
            ("PUT", "stopsms", "/activation/stopsms/{order_id}", self._stopsms),
            ("PUT", "cancelorder", "/activation/cancelorder/{order_id}", self._cancel),
            ("PUT", "blocknumber", "/activation/blocknumber/{order_id}", self._block),
            ("GET", "orders", "/activation/orders", self._orders_list),
            (
                "GET",
                "numberstatus",
                "/activation/numberstatus/{number}/{service}",
                self._numberstatus,
            ),
        ]
        routes: list[BaseRoute] = []
        for method, name, path, action in table:
            order_param = by_order if "{order_id}" in path else None
            handler = self.endpoint(name, self._authorized(action), order_param)
            routes.extend(both_slashes(path, handler, method))
        return [*routes, *self.rent.routes()]

    def _authorized(self, action: Action) -> Callable[[Request], Answer]:
        """Wrap an action with the `apikey` header check (406) and the rate limit (502)."""

        def work(request: Request) -> Answer:
            key = request.headers.get("apikey", "")  # seeds/000:26-29
            if key not in self.balances:
                return _error(406)
            if self._over_limit(key):
                return _error(502)
            return action(key, request)

        return work

    def _over_limit(self, key: str) -> bool:
        if self.rate_limit is None:
            return False
        now = self.clock()
        hits = self._hits[key]
        while hits and hits[0] <= now - RATE_WINDOW:
            hits.popleft()
        if len(hits) >= self.rate_limit:
            return True
        hits.append(now)
        return False

    @property
    def _sdk(self) -> bool:
        return self.shapes == "sdk"

    # -- orders ---------------------------------------------------------------------------------

    def _number(self, key: str, request: Request) -> Answer:
        pair = self._catalog_pair(request)
        if isinstance(pair, Answer):
            return pair
        service, country = pair
        asked = self._asked_operator(request, country)
        if isinstance(asked, Answer):
            return asked
        operator = self._numbers.pick(service, country) if asked is None else asked
        if operator is None or self._numbers.get(service, country, operator) < 1:
            return _error(407)
        if self.balances[key] < self.price(service, country):
            return _error(501)
        _, national = self._new_phone(country)
        order_id = str(self._next_order_id)
        self._next_order_id += 1
        self._numbers.add(service, country, operator, -1)
        order = self._open_order(
            order_id=order_id,
            api_key=key,
            service=service,
            country=country,
            operator=operator,
            phone=national,
            lifetime=self.order_lifetime,
            take_stock=False,  # taken from the operator's stock above
        )
        return _ok(
            {
                "orderId": int(order_id),
                "phoneNumber": int(national),
                "countryCode": country,
                "orderExpireIn": order.expires_in(self.clock()),
            }
        )

    def _sms(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        data: dict[str, object] = {
            # types.py ActivationReceiveSmsResponseData: int; seeds/000:85, 96: a string.
            "orderId": int(order.order_id) if self._sdk else order.order_id,
            "orderExpireIn": order.expires_in(self.clock()),
        }
        sms = self._current_sms(order)
        if sms is not None:
            return _ok({"sms": sms, **data})
        if not self._sdk:
            return Answer(202, {"statusCode": 202, "data": data})  # seeds/000:91-100
        # smspva-sdk _transport.py parse_response: a 202 is "pending" only with this error type.
        body = _error(202).body
        assert isinstance(body, dict)
        return Answer(202, {**body, "data": data})

    def _clearsms(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        if not self._request_another(order):
            return _error(405, "No SMS to clear: none received yet, or a new one is awaited")
        return _ok(
            {"orderId": int(order.order_id), "orderExpireIn": order.expires_in(self.clock())}
        )

    def _stopsms(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        if not order.messages:
            return _error(405, "No SMS received yet: cancel the order instead")
        self._close(order, OrderState.FINISHED)
        return _ok({"orderId": int(order.order_id)})

    def _cancel(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        if order.messages:
            return _error(405, "SMS already received: the order cannot be cancelled")
        self._close(order, OrderState.CANCELLED)
        if order.operator is not None:  # the number goes back to its operator's stock
            self._numbers.add(order.service, order.country, order.operator, +1)
        return _ok({"orderId": int(order.order_id)})

    def _block(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        self._close(order, OrderState.BLOCKED)
        return _ok({"orderId": int(order.order_id)})

    def _orders_list(self, key: str, request: Request) -> Answer:
        now = self.clock()
        items = []
        for order in list(self._orders.values()):
            if order.api_key != key:
                continue
            self._refresh(order)
            if order.state is OrderState.ACTIVE:
                items.append(self._order_item(order, now))
        return _ok({"orders": items})

    def _numberstatus(self, key: str, request: Request) -> Answer:
        service = str(request.path_params["service"]).lower()
        if service not in self.services:
            return _error(405, f"Unknown service: {service}")
        number = str(request.path_params["number"])
        mine = [
            order
            for order in self._orders.values()
            if order.api_key == key
            and order.service == service
            and number in {order.phone, self._calling_code(order.country) + order.phone}
        ]
        if not mine:
            return _error(404)
        order = max(mine, key=lambda o: o.created)
        return _ok(
            {"number": order.phone, "orderId": int(order.order_id), "countryCode": order.country}
        )

    # -- account and catalog --------------------------------------------------------------------

    def _balance(self, key: str, request: Request) -> Answer:
        return _ok({"balance": self._amount(self.balances[key])})

    def _userinfo(self, key: str, request: Request) -> Answer:
        name = "user" + str(sum(key.encode()) % 100_000)
        return _ok({"balance": self._amount(self.balances[key]), "name": name, "karma": 100.0})

    def _operators(self, key: str, request: Request) -> Answer:
        country = self._country(request)
        if isinstance(country, Answer):
            return country
        return _ok({"country": country, "operators": list(operators_of(country))})

    def _countnumbers(self, key: str, request: Request) -> Answer:
        if "country" in request.path_params:
            country = self._country(request)
            if isinstance(country, Answer):
                return country
            countries = [country]
        else:
            countries = list(self.country_iso)
        items = []
        for country in countries:
            per_operator: dict[str, list[dict[str, object]]] = {
                op: [] for op in operators_of(country)
            }
            for service in self.services:
                for op, total in self._numbers.by_operator(service, country).items():
                    if total > 0:
                        per_operator[op].append({"service": service, "total": total})
            items += [
                {"operator": op, "country": country, "services": listed}
                for op, listed in per_operator.items()
            ]
        return _ok(items)

    def _price(self, key: str, request: Request) -> Answer:
        pair = self._catalog_pair(request)
        if isinstance(pair, Answer):
            return pair
        service, country = pair
        price = self.price(service, country)
        if not self._sdk:
            description = self.services[service]
            return _ok(
                {"service": service, "serviceDescription": description, "price": float(price)}
            )
        return _ok(
            {
                "service": service,
                "serviceDescription": self.services[service],
                "country": country,
                "price": _money(price),
                "priceByOperators": self._operator_prices(service, country),
            }
        )

    def _country_prices(self, key: str, request: Request) -> Answer:
        country = self._country(request)
        if isinstance(country, Answer):
            return country
        return _ok(
            [
                {
                    "s": service,
                    "sd": name,
                    "c": country,
                    "p": _money(self.price(service, country)),
                    "po": self._operator_prices(service, country),
                }
                for service, name in self.services.items()
            ]
        )

    def _service_prices(self, key: str, request: Request) -> Answer:
        service = str(request.path_params["service"]).lower()
        if service not in self.services:
            return _error(405, f"Unknown service: {service}")
        clist = []
        for country, cname in self.country_names.items():
            price = float(self.price(service, country))  # a float here (types.py)
            opers = [
                {"opcode": op, "price": price, "count": count}
                for op, count in self._numbers.by_operator(service, country).items()
            ]
            clist.append({"ccode": country, "cname": cname, "opers": opers})
        return _ok({"scode": service, "sname": self.services[service], "clist": clist})

    def _all_prices(self, key: str, request: Request) -> Answer:
        return _ok(
            [
                {
                    "service": service,
                    "serviceDescription": name,
                    "country": country,
                    "price": _money(self.price(service, country)),
                }
                for country in self.country_iso
                for service, name in self.services.items()
            ]
        )

    # -- helpers --------------------------------------------------------------------------------

    def _amount(self, amount: Decimal) -> str | float:
        """A balance: the SDK's string (types.py), or the seed-era float."""
        return _money(amount) if self._sdk else float(amount)

    def _operator_prices(self, service: str, country: str) -> dict[str, str]:
        """Operators that have numbers now, each at the pair's price."""
        price = _money(self.price(service, country))
        counts = self._numbers.by_operator(service, country)
        return {op: price for op, count in counts.items() if count > 0}

    def _active_order(self, key: str, request: Request) -> Order | Answer:
        """The caller's live order, or the refusal: 404 unknown, 410 closed."""
        order = self._own_order(key, str(request.path_params["order_id"]))
        if order is None:
            return _error(404)
        if order.state is not OrderState.ACTIVE:
            return _error(410)
        return order

    def _catalog_pair(self, request: Request) -> tuple[str, str] | Answer:
        """(service, country) from the path, or 405 when either is not in the catalog."""
        country = str(request.path_params["country"]).upper()
        service = str(request.path_params["service"]).lower()
        if service not in self.services or country not in self.country_iso:
            return _error(405, f"Unknown country or service: {country}/{service}")
        return service, country

    def _country(self, request: Request) -> str | Answer:
        country = str(request.path_params["country"]).upper()
        if country not in self.country_iso:
            return _error(405, f"Unknown country: {country}")
        return country

    @staticmethod
    def _asked_operator(request: Request, country: str) -> str | Answer | None:
        """The operator asked for in the path or the query (seeds/000:43), or None; 405 if
        the country has no such operator or the two disagree."""
        asked = [
            name
            for name in (request.path_params.get("operator"), request.query_params.get("operator"))
            if name
        ]
        found = {find_operator(country, name) for name in asked}
        if None in found:
            return _error(405, f"Unknown operator for {country}: {', '.join(asked)}")
        if len(found) > 1:
            return _error(405, f"Two different operators asked for: {', '.join(asked)}")
        return found.pop() if found else None

    @staticmethod
    def _operator(country: str, operator: str) -> str:
        found = find_operator(country, operator)
        if found is None:
            raise KeyError(f"{country} has no operator {operator!r}: {operators_of(country)}")
        return found

    def _calling_code(self, country: str) -> str:
        return PHONE_PLANS[self.country_iso[country]].calling_code

    @staticmethod
    def _current_sms(order: Order) -> dict[str, str] | None:
        """The SMS `sms` shows: the latest, unless clearsms asked for the next one."""
        if not order.messages or order.retry_pending:
            return None
        return {"code": order.messages[-1].code, "fullText": order.messages[-1].text}

    def _order_item(self, order: Order, now: float) -> dict[str, object]:
        sms = self._current_sms(order)
        item: dict[str, object] = {
            "orderId": int(order.order_id),
            "phoneNumber": int(order.phone),
            "countryCode": order.country,
            "service": order.service,
            "orderExpireIn": order.expires_in(now),
        }
        if not self._sdk:
            return {**item, "sms": sms}
        # types.py ActivationGetOrdersResponseDataOrdersItem: country, status, sms (a dict, so
        # absent rather than null while none is shown); the status words are ours.
        item |= {"country": order.country, "status": "waiting" if sms is None else "received"}
        return item if sms is None else {**item, "sms": sms}
