"""SMSPVA Activation API v2 emulator: `apikey` header, JSON whose `statusCode` is the HTTP status.

The Rental API (`/api/rent.php`, smspva_rent.py) is mounted on the same app as `self.rent`,
sharing accounts, balances, counters, latency and injected faults.

Documented shapes (seeds/000, and docs.smspva.com where the seed only names the endpoint):

- number 200: ``{"statusCode":200,"data":{"orderId":int,"phoneNumber":int,"countryCode":str,
  "orderExpireIn":600}}`` (seeds/000:51-61); the phone is national, without calling code.
- sms 200: ``{"statusCode":200,"data":{"sms":{"code":str,"fullText":str},"orderId":str,
  "orderExpireIn":int}}`` (seeds/000:76-89); sms 202: ``{"statusCode":202,"data":{"orderId":str,
  "orderExpireIn":int}}`` (seeds/000:91-100). orderId is a string here, an int elsewhere.
- balance ``{"balance":10.5}``, userinfo ``{"balance","name","karma"}``, serviceprice
  ``{"service","serviceDescription","price"}``, clearsms ``{"orderId":int,"orderExpireIn":int}``,
  cancelorder / blocknumber ``{"orderId":int}``, orders ``{"orders":[...]}``, each inside
  ``{"statusCode":200,"data":...}`` (docs.smspva.com, "ACTIVATION API. V2", all requests).
- Status codes: seeds/000:231-244. The docs' per-endpoint lists disagree with the seed (e.g. 407
  "balance too low", 501 "number not found"); the seed wins.

Our choices (seed and docs silent):

- Error body: ``{"statusCode":N,"error":{"type":WORD,"description":text}}`` (the docs give 202/410
  an "error: object"; public clients read `error.type` / `error.description`).
- Unknown service or country code -> 405 "invalid parameters" (the docs' meaning of 405 on
  number). 411 "service unavailable" (read as: this optNN cannot be sold now; the docs say "low
  karma or ratelimits") is reachable only with `inject_error`.
- A malformed or unknown order id, or another account's order -> 404.
- A cancelled, blocked or expired order -> 410 on every order endpoint.
- clearsms with no SMS to clear (none yet, or the retry still pending) -> 405. The docs list 404
  "No SMS received" there, but 404 already means "order not found" (seeds/000:235).
- cancelorder after an SMS -> 405 (the refund is for numbers that got nothing, seeds/000:134).
  blocknumber after an SMS succeeds without refund.
- orders items: ``{"orderId":int,"phoneNumber":int,"countryCode","service","orderExpireIn",
  "sms":{"code","fullText"}|null}`` for the account's active orders.
- `operator` is recorded, not checked: the seed lists no SMSPVA operator names.
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
    RentSms,
    SmspvaRent,
    rent_fault_body,
)

# seeds/000:231-244, with the error `type` words we chose for each.
STATUS_TEXT: dict[int, tuple[str, str]] = {
    200: ("OK", "Success"),
    202: ("SMS_NOT_RECEIVED", "SMS not received yet, keep polling"),
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

Action = Callable[[str, Request], Answer]


def _error(status: int, description: str | None = None) -> Answer:
    word, text = STATUS_TEXT.get(status, ("ERROR", f"HTTP {status}"))
    return Answer(
        status, {"statusCode": status, "error": {"type": word, "description": description or text}}
    )


def _ok(data: object) -> Answer:
    return Answer(200, {"statusCode": 200, "data": data})


class SmspvaEmulator(EmulatorBase):
    """SMSPVA's Activation API v2 with real accounts, stock, orders and SMS."""

    provider: ClassVar[str] = "smspva"
    # "rent:<method>" are the rental API's (smspva_rent.py), served on the same app.
    endpoints: ClassVar[frozenset[str]] = RENT_ENDPOINTS | {
        "number",
        "sms",
        "balance",
        "userinfo",
        "serviceprice",
        "clearsms",
        "cancelorder",
        "blocknumber",
        "orders",
    }
    services: ClassVar[dict[str, str]] = {
        s["code"]: s["name"] for s in load_data("smspva_services.json")
    }
    # reference/SOURCES.md: SMSPVA country codes are ISO alpha-2 except UK (ISO GB).
    country_iso: ClassVar[dict[str, str]] = {
        c["code"]: "GB" if c["code"] == "UK" else c["code"]
        for c in load_data("smspva_countries.json")
    }
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
    ) -> None:
        self.rent = SmspvaRent(
            self, activation_delay=rent_activation_delay, active_window=rent_active_window
        )
        self.rate_limit: int | None = RATE_LIMIT
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)
        self._next_order_id = 0
        super().__init__(
            api_keys=api_keys,
            sms_delay=sms_delay,
            order_lifetime=order_lifetime,
            default_stock=default_stock,
            seed=seed,
            clock=clock,
        )

    def reset(self) -> None:
        """Back to the initial state, including the rate limit, order ids and rentals."""
        with self._lock:
            super().reset()
            self.rate_limit = RATE_LIMIT
            self._hits.clear()
            self._next_order_id = self._rng.randint(10_000_000, 89_999_999)
            self.rent.reset()

    def inject_error(
        self, endpoint: str, *, status: int = 503, body: object | None = None, times: int = 1
    ) -> None:
        """As the base, with the rental API's own error shape for "rent:<method>" endpoints."""
        if body is None and endpoint.startswith("rent:"):
            body = rent_fault_body(status)
        super().inject_error(endpoint, status=status, body=body, times=times)

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

        return {"rate_limit": rate_limit, **self.rent.controls()}

    # -- routes ---------------------------------------------------------------------------------

    def _routes(self) -> list[BaseRoute]:
        def by_order(request: Request) -> str:
            return str(request.path_params["order_id"])

        table: list[tuple[str, str, str, Action]] = [
            ("GET", "number", "/{country}/{service}", self._number),
            ("GET", "sms", "/{order_id}", self._sms),
            ("GET", "balance", "", self._balance),
            ("GET", "userinfo", "", self._userinfo),
            ("GET", "serviceprice", "/{country}/{service}", self._serviceprice),
            # seeds/000:123, 131, 139: these three are PUT.
            ("PUT", "clearsms", "/{order_id}", self._clearsms),
            ("PUT", "cancelorder", "/{order_id}", self._cancel),
            ("PUT", "blocknumber", "/{order_id}", self._block),
            ("GET", "orders", "", self._orders_list),
        ]
        routes: list[BaseRoute] = []
        for method, name, params, action in table:
            order_param = by_order if params == "/{order_id}" else None
            handler = self.endpoint(name, self._authorized(action), order_param)
            routes.extend(both_slashes(f"/activation/{name}{params}", handler, method))
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

    # -- actions --------------------------------------------------------------------------------

    def _number(self, key: str, request: Request) -> Answer:
        pair = self._catalog_pair(request)
        if isinstance(pair, Answer):
            return pair
        service, country = pair
        if self.stock(service, country) < 1:
            return _error(407)
        if self.balances[key] < self.price(service, country):
            return _error(501)
        _, national = self._new_phone(country)
        order_id = str(self._next_order_id)
        self._next_order_id += 1
        order = self._open_order(
            order_id=order_id,
            api_key=key,
            service=service,
            country=country,
            operator=request.query_params.get("operator") or None,
            phone=national,
            lifetime=self.order_lifetime,
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
        # seeds/000:85, 96: the order id is a string in the sms answers.
        data: dict[str, object] = {
            "orderId": order.order_id,
            "orderExpireIn": order.expires_in(self.clock()),
        }
        sms = self._current_sms(order)
        if sms is None:
            return Answer(202, {"statusCode": 202, "data": data})
        return _ok({"sms": sms, **data})

    def _clearsms(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        if not self._request_another(order):
            return _error(405, "No SMS to clear: none received yet, or a new one is awaited")
        return _ok(
            {"orderId": int(order.order_id), "orderExpireIn": order.expires_in(self.clock())}
        )

    def _cancel(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        if order.messages:
            return _error(405, "SMS already received: the order cannot be cancelled")
        self._close(order, OrderState.CANCELLED, release_number=True)
        return _ok({"orderId": int(order.order_id)})

    def _block(self, key: str, request: Request) -> Answer:
        order = self._active_order(key, request)
        if isinstance(order, Answer):
            return order
        self._close(order, OrderState.BLOCKED)
        return _ok({"orderId": int(order.order_id)})

    def _balance(self, key: str, request: Request) -> Answer:
        return _ok({"balance": float(self.balances[key])})

    def _userinfo(self, key: str, request: Request) -> Answer:
        name = "user" + str(sum(key.encode()) % 100_000)
        return _ok({"balance": float(self.balances[key]), "name": name, "karma": 100.0})

    def _serviceprice(self, key: str, request: Request) -> Answer:
        pair = self._catalog_pair(request)
        if isinstance(pair, Answer):
            return pair
        service, country = pair
        return _ok(
            {
                "service": service,
                "serviceDescription": self.services[service],
                "price": float(self.price(service, country)),
            }
        )

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

    # -- helpers --------------------------------------------------------------------------------

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

    @staticmethod
    def _current_sms(order: Order) -> dict[str, str] | None:
        """The SMS `sms` shows: the latest, unless clearsms asked for the next one."""
        if not order.messages or order.retry_pending:
            return None
        return {"code": order.messages[-1].code, "fullText": order.messages[-1].text}

    def _order_item(self, order: Order, now: float) -> dict[str, object]:
        return {
            "orderId": int(order.order_id),
            "phoneNumber": int(order.phone),
            "countryCode": order.country,
            "service": order.service,
            "orderExpireIn": order.expires_in(now),
            "sms": self._current_sms(order),
        }
