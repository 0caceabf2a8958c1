"""VAK-SMS API emulator: GET only, `apiKey` query parameter, HTTP 200 with JSON for every answer.

Documented shapes (seeds/003):

- getBalance ``{"balance": 100.0}`` (003:18-20), in roubles (003:12).
- getCountNumber ``{"<service>": 332}``, with `price` present ``{"<service>": 332, "price": 2.0}``
  (003:434-438); getCountNumberList ``{"<code>": {"code","count","price"}, ...}`` (003:440-442).
- getNumber ``{"tel": 79991112233, "idNum": "<32 hex>"}`` (003:858-860); two services on one number
  ``[{"tel","service","idNum"}, ...]`` (003:862-865); `rent=true` gives a 4-hour order (003:451).
- prolongNumber ``{"tel","idNum"}`` (003:1158-1160), only for a number that got a code (003:1156).
- setStatus ``{"status": ready|smsReceived|waitSMS|update}`` (003:1181-1190).
- getSmsCode ``{"smsCode": null}`` / ``"CODE"`` / with `all` ``["CODE1","CODE2"]`` (003:1200-1205).
- Errors ``{"error": word}`` (003:1211-1220). `tel` carries the country calling code.

Our choices (seed silent):

- Order window: `order_lifetime` (default 1200 s); at its end the order closes (refund if no code)
  and, like a cancelled or banned order, is answered `idNumNotFound` from then on.
- Service checks: missing -> badData; not a 2-5 character lowercase code -> badService; well
  formed but not in the catalog -> noService. Country defaults to `ru` (003:28, 452); an unknown
  country -> noCountry; an operator not listed for it -> noOperator (empty means any).
- getNumber with more than two services, or the same one twice -> badData; a `rent` other than
  true/false/1/0 or a non-numeric `softId` -> badData.
- After `setStatus=send`, getSmsCode answers null until the further code arrives; with `all` it
  lists the codes so far (null while there are none). `send` before any code, or while a further
  SMS is already awaited -> ``{"status":"waitSMS"}``.
- setStatus with a status other than send/end/bad -> badStatus (checked before the idNum).
- prolongNumber of a number that never got a code for that service on this account, or is in an
  active order for it now -> noNumber; it does not take from stock.
- `inject_error` default body: status 200 -> ``{"error":"badData"}``; any other status -> the
  site's "service temporarily unavailable" page as text (003:1225-1227).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import ClassVar

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.routing import BaseRoute

from proxy.emulators.common import (
    Answer,
    Clock,
    EmulatorBase,
    Order,
    OrderState,
    both_slashes,
    load_data,
)

RENT_LIFETIME = 4 * 3600.0  # seeds/003:451 "rent=true ... for 4 (four) hours"
DEFAULT_COUNTRY = "ru"  # seeds/003:28, 452
UNAVAILABLE_PAGE = (  # seeds/003:1225-1227
    "<html><body><h1>Сервис временно недоступен!</h1>"
    "<p>Пожалуйста, попробуйте позже или напишите нам!</p></body></html>"
)
_SERVICE_CODE = re.compile(r"[a-z0-9]{2,5}")
_COUNTRIES = load_data("vaksms_countries.json")

Action = Callable[[str, QueryParams], Answer]


def _error(word: str) -> Answer:
    return Answer(200, {"error": word})  # seeds/003:1209-1220


def _status(word: str) -> Answer:
    return Answer(200, {"status": word})  # seeds/003:1182-1190


class VaksmsEmulator(EmulatorBase):
    """VAK-SMS's API with real accounts, stock, orders and SMS."""

    provider: ClassVar[str] = "vaksms"
    endpoints: ClassVar[frozenset[str]] = frozenset(
        {
            "getBalance",
            "getCountNumber",
            "getCountNumberList",
            "getNumber",
            "prolongNumber",
            "setStatus",
            "getSmsCode",
        }
    )
    services: ClassVar[dict[str, str]] = {
        s["code"]: s["name"] for s in load_data("vaksms_services.json")
    }
    country_iso: ClassVar[dict[str, str]] = {c["code"]: c["code"].upper() for c in _COUNTRIES}
    operators: ClassVar[dict[str, tuple[str, ...]]] = {
        c["code"]: tuple(c["operators"]) for c in _COUNTRIES
    }
    price_range: ClassVar[tuple[Decimal, Decimal]] = (Decimal("5"), Decimal("150"))
    price_step: ClassVar[Decimal] = Decimal("1")

    def __init__(
        self,
        *,
        api_keys: dict[str, Decimal] | None = None,
        sms_delay: float | None = 3.0,
        order_lifetime: float = 1200.0,
        default_stock: int = 100,
        seed: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(
            api_keys=api_keys,
            sms_delay=sms_delay,
            order_lifetime=order_lifetime,
            default_stock=default_stock,
            seed=seed,
            clock=clock,
        )

    def _fault_body(self, status: int) -> object:
        return {"error": "badData"} if status == 200 else UNAVAILABLE_PAGE

    # -- routes ---------------------------------------------------------------------------------

    def _routes(self) -> list[BaseRoute]:
        def by_id_num(request: Request) -> str:
            return request.query_params.get("idNum", "")

        table: list[tuple[str, Action, Callable[[Request], str] | None]] = [
            ("getBalance", self._get_balance, None),
            ("getCountNumber", self._get_count_number, None),
            ("getCountNumberList", self._get_count_number_list, None),
            ("getNumber", self._get_number, None),
            ("prolongNumber", self._prolong_number, None),
            ("setStatus", self._set_status, by_id_num),
            ("getSmsCode", self._get_sms_code, by_id_num),
        ]
        routes: list[BaseRoute] = []
        for name, action, order_param in table:
            handler = self.endpoint(name, self._authorized(action), order_param)
            # seeds/003:6, 18: GET only, paths /api/<name>/ (the slash-less form works too).
            routes.extend(both_slashes(f"/api/{name}", handler, "GET"))
        return routes

    def _authorized(self, action: Action) -> Callable[[Request], Answer]:
        """Wrap an action with the `apiKey` query parameter check (seeds/003:7, 17)."""

        def work(request: Request) -> Answer:
            key = request.query_params.get("apiKey", "")
            if key not in self.balances:
                return _error("apiKeyNotFound")
            return action(key, request.query_params)

        return work

    # -- actions --------------------------------------------------------------------------------

    def _get_balance(self, key: str, query: QueryParams) -> Answer:
        return Answer(200, {"balance": float(self.balances[key])})

    def _get_count_number(self, key: str, query: QueryParams) -> Answer:
        service = query.get("service", "")
        country = query.get("country") or DEFAULT_COUNTRY
        refusal = self._service_error(service) or self._place_error(country, query)
        if refusal:
            return _error(refusal)
        body: dict[str, object] = {service: self.stock(service, country)}
        if "price" in query:  # seeds/003:437: a bare `&price` asks for the price too
            body["price"] = float(self.price(service, country))
        return Answer(200, body)

    def _get_count_number_list(self, key: str, query: QueryParams) -> Answer:
        country = query.get("country") or DEFAULT_COUNTRY
        refusal = self._place_error(country, query)
        if refusal:
            return _error(refusal)
        return Answer(
            200,
            {
                code: {
                    "code": code,
                    "count": self.stock(code, country),
                    "price": float(self.price(code, country)),
                }
                for code in self.services
            },
        )

    def _get_number(self, key: str, query: QueryParams) -> Answer:
        raw = query.get("service", "")
        wanted = raw.split(",") if raw else []
        rent = query.get("rent", "").lower()
        soft_id = query.get("softId", "")
        # seeds/003:862: one number for *two* services at most.
        too_many = not wanted or len(wanted) > 2 or len(set(wanted)) != len(wanted)
        bad_rent = rent not in ("", "true", "false", "1", "0")
        bad_soft_id = bool(soft_id) and not soft_id.isdigit()
        if too_many or bad_rent or bad_soft_id:
            return _error("badData")
        country = query.get("country") or DEFAULT_COUNTRY
        refusal = next(filter(None, map(self._service_error, wanted)), None)
        refusal = refusal or self._place_error(country, query)
        if refusal:
            return _error(refusal)
        if any(self.stock(service, country) < 1 for service in wanted):
            return _error("noNumber")
        if self.balances[key] < sum(self.price(service, country) for service in wanted):
            return _error("noMoney")
        calling_code, national = self._new_phone(country)
        tel = calling_code + national
        lifetime = RENT_LIFETIME if rent in ("true", "1") else self.order_lifetime
        orders = [
            self._open_order(
                order_id=self._new_id_num(),
                api_key=key,
                service=service,
                country=country,
                operator=self._operator(query),
                phone=tel,
                lifetime=lifetime,
            )
            for service in wanted
        ]
        if len(orders) == 1:
            return Answer(200, {"tel": int(tel), "idNum": orders[0].order_id})
        return Answer(
            200, [{"tel": int(tel), "service": o.service, "idNum": o.order_id} for o in orders]
        )

    def _prolong_number(self, key: str, query: QueryParams) -> Answer:
        service = query.get("service", "")
        tel = query.get("tel", "").removeprefix("+")
        refusal = self._service_error(service) or (None if tel.isdigit() else "badData")
        if refusal:
            return _error(refusal)
        same_number = [o for o in self._orders.values() if o.phone == tel and o.service == service]
        for order in same_number:
            self._refresh(order)
        used = [o for o in same_number if o.api_key == key and o.messages]
        if not used or any(o.state is OrderState.ACTIVE for o in same_number):
            return _error("noNumber")
        last = used[-1]
        if self.balances[key] < self.price(service, last.country):
            return _error("noMoney")
        order = self._open_order(
            order_id=self._new_id_num(),
            api_key=key,
            service=service,
            country=last.country,
            operator=last.operator,
            phone=tel,
            lifetime=self.order_lifetime,
            take_stock=False,
        )
        return Answer(200, {"tel": int(tel), "idNum": order.order_id})

    def _set_status(self, key: str, query: QueryParams) -> Answer:
        status = query.get("status", "")
        if status not in ("send", "end", "bad"):
            return _error("badStatus")
        order = self._live_order(key, query)
        if order is None:
            return _error("idNumNotFound")
        if status == "send":
            # seeds/003:1178: a further SMS is asked for after a code came, free of charge.
            return _status("ready") if self._request_another(order) else _status("waitSMS")
        if order.retry_pending:
            return _status("waitSMS")  # seeds/003:1186, 1190
        if status == "end":
            if order.messages:
                return _status("smsReceived")  # seeds/003:1185
            self._close(order, OrderState.CANCELLED, release_number=True)
            return _status("update")
        self._close(order, OrderState.BLOCKED)
        return _status("update")  # seeds/003:1189

    def _get_sms_code(self, key: str, query: QueryParams) -> Answer:
        order = self._live_order(key, query)
        if order is None:
            return _error("idNumNotFound")
        codes = order.codes
        if "all" in query and query["all"].lower() not in ("false", "0"):
            # seeds/003:1199-1205: `all` (a bare flag) lists every code received.
            return Answer(200, {"smsCode": codes or None})
        waiting = not codes or order.retry_pending
        return Answer(200, {"smsCode": None if waiting else codes[-1]})

    # -- helpers --------------------------------------------------------------------------------

    def _live_order(self, key: str, query: QueryParams) -> Order | None:
        order = self._own_order(key, query.get("idNum", ""))
        if order is None or order.state is not OrderState.ACTIVE:
            return None
        return order

    def _service_error(self, service: str) -> str | None:
        if not service:
            return "badData"
        if not _SERVICE_CODE.fullmatch(service):
            return "badService"
        if service not in self.services:
            return "noService"
        return None

    def _place_error(self, country: str, query: QueryParams) -> str | None:
        if country not in self.country_iso:
            return "noCountry"
        operator = self._operator(query)
        if operator is not None and operator not in self.operators[country]:
            return "noOperator"
        return None

    @staticmethod
    def _operator(query: QueryParams) -> str | None:
        return query.get("operator", "").strip().lower() or None

    def _new_id_num(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"
