"""VAK-SMS API emulator: GET only, `apiKey` query parameter, HTTP 200 with JSON for every answer.

Two witnesses of the wire format: seed 003 (the API document) and the VAK-SMS client libraries on
PyPI, `vaksms` 2.0 (sync, requests), `aiovaksms` 3.0.2 (async, aiohttp), `synkvaksms` 1.0.0 and
`VakSmsApi` 2.0, one code base (cited as "vaksms 2.0 client.py" / "models/..."). Where they
differ, both requests are accepted and the answer is the seed's where the seed documents one.

Documented shapes (seeds/003 unless marked):

- getBalance ``{"balance": 100.0}`` (003:18-20), in roubles (003:12).
- getCountNumber ``{"<service>": 332}``, with `price` present ``{"<service>": 332, "price": 2.0}``
  (003:434-438); the service key always comes first (vaksms 2.0 client.py get_count_number reads
  ``list(response.keys())[0]``, and sends ``price=1``).
- getCountNumberList ``{"<code>": {"code","count","price"}, ...}`` (003:440-442).
- getCountNumbersList (plural; vaksms 2.0 client.py get_count_number_list, "not in official
  docs"): ``{"<code>": [{"name","icon","info","cost","rent","quantity","private"}], ...}``, the
  fields of vaksms 2.0 models/services.py; no API key needed (``api_key_required=False``).
- getCountryList (vaksms 2.0 client.py get_country_list, not in the seed): a list of
  ``{"countryName","countryCode","operatorList"}`` (vaksms 2.0 models/country.py), the seed's
  33 countries and operators (003:312-433); no API key needed (``api_key_required=False``).
- getNumber ``{"tel": 79991112233, "idNum": "<32 hex>"}`` (003:858-860); two services on one
  number ``[{"tel","service","idNum"}, ...]`` (003:862-865); `rent=true` gives a 4-hour order
  (003:451). No `rent` or `service` key in the single answer: vaksms 2.0 client.py get_number
  builds ``Number(self, **response, rent=rent)``.
- prolongNumber ``{"tel","idNum"}`` (003:1158-1160), only for a number that got a code (003:1156).
- setStatus ``{"status": ready|smsReceived|waitSMS|update}`` (003:1181-1190).
- getSmsCode ``{"smsCode": null}`` / ``"CODE"`` / with `all` ``["CODE1","CODE2"]`` (003:1200-1205).
- Errors ``{"error": word}`` (003:1211-1220). `tel` carries the country calling code.

Order windows (vaksms 2.0 models/number.py, via proxy/providers/vaksms_lifetimes.py): each order
stays open as long as its service's entry says (tf 7200 s; otk, cs, strh, cp, mg 3600 s; otp, mkb
2400 s; ai, ig, tw 1800 s; any other 1200 s), a rent 14400 s (also 003:451). Two services on one
number: each order keeps its own service's window. At its end the order closes (refund if no
code) and, like a cancelled or banned order, is answered `idNumNotFound` from then on. The
`order_lifetime` argument, when given, replaces the table for every order but a rent.

Flags, as both witnesses spell them:

- `all` of getSmsCode is "boolean, Default = None" (003:1199), shown as a bare ``&all`` (003:1200);
  the libraries always send ``all=str(get_all_numbers)``, i.e. ``True``, ``False`` or ``None``
  (vaksms 2.0 client.py get_sms_code). Absent, ``false``, ``0`` or ``none`` (any case) -> the
  latest code; present with any other value, the bare flag included -> every code.
- `rent` of getNumber: ``true``/``false`` (003:451; the libraries send ``'true'``/``'false'``);
  of getCountNumbersList: ``'True'``/``'False'``, sent by vaksms 2.0 client.py from a one-element
  tuple (a trailing comma), which requests and aiohttp both send as the plain value. Either
  endpoint takes any case of true/false/1/0; anything else -> badData.
- `country` in any case: vaksms 2.0 client.py get_count_number_list defaults to ``'RU'``, the
  other calls to ``'ru'`` (the seed's codes are lowercase, 003:312-433).

Our choices (both witnesses silent):

- Service checks: missing -> badData; not a 2-5 character lowercase code -> badService; well
  formed but not in the catalog -> noService. Country defaults to `ru` (003:28, 452); an unknown
  country -> noCountry; an operator not listed for it -> noOperator (empty means any).
- getNumber with more than two services, or the same one twice -> badData; a non-numeric
  `softId` -> badData.
- After `setStatus=send`, getSmsCode answers null until the further code arrives; with `all` it
  lists the codes so far (null while there are none). `send` before any code, or while a further
  SMS is already awaited -> ``{"status":"waitSMS"}``.
- setStatus with a status other than send/end/bad -> badStatus (checked before the idNum).
- prolongNumber of a number that never got a code for that service on this account, or is in an
  active order for it now -> noNumber; it does not take from stock.
- getCountNumbersList: `icon` is a site-relative path, ``/static/services/<code>.png`` (the
  library prefixes its base URL); `info` is empty, `private` false, `rent` echoes the request,
  `cost` and `quantity` are getNumber's price and stock (VAK prices a rent no differently,
  003:451). A wrong API key on the two key-free endpoints is ignored.
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
from proxy.providers.vaksms_lifetimes import (
    VAKSMS_DEFAULT_LIFETIME,
    VAKSMS_RENT_LIFETIME,
    vaksms_lifetime,
)

RENT_LIFETIME = float(VAKSMS_RENT_LIFETIME)  # seeds/003:451 "rent=true ... for 4 (four) hours"
DEFAULT_COUNTRY = "ru"  # seeds/003:28, 452
_TRUE, _FALSE = ("true", "1"), ("false", "0")  # a `rent` flag, in any case
_NOT_ALL = ("false", "0", "none")  # getSmsCode `all`: str(False) / str(None), vaksms 2.0 client.py
ICON_PATH = "/static/services/{code}.png"  # our choice: the library prefixes its base URL
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


def _flag(value: str) -> bool | None:
    """A `rent` flag: true/1 or false/0 in any case, absent or empty is false; None if neither."""
    word = value.strip().lower()
    if word in _TRUE:
        return True
    return False if word in ("", *_FALSE) else None


class VaksmsEmulator(EmulatorBase):
    """VAK-SMS's API with real accounts, stock, orders and SMS."""

    provider: ClassVar[str] = "vaksms"
    endpoints: ClassVar[frozenset[str]] = frozenset(
        {
            "getBalance",
            "getCountNumber",
            "getCountNumberList",
            "getCountNumbersList",  # vaksms 2.0 client.py, "not in official docs"
            "getCountryList",  # vaksms 2.0 client.py, not in the seed
            "getNumber",
            "prolongNumber",
            "setStatus",
            "getSmsCode",
        }
    )
    services: ClassVar[dict[str, str]] = {
        s["code"]: s["name"] for s in load_data("vaksms_services.json")
    }
    country_names: ClassVar[dict[str, str]] = {c["code"]: c["name"] for c in _COUNTRIES}
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
        order_lifetime: float | None = None,
        default_stock: int = 100,
        seed: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        """`order_lifetime`: None for VAK's per-service windows; seconds for every order but a rent.

        `self.order_lifetime` is then that value, or the table's default (1200 s) without one.
        """
        self._lifetime_override = order_lifetime
        super().__init__(
            api_keys=api_keys,
            sms_delay=sms_delay,
            order_lifetime=float(
                VAKSMS_DEFAULT_LIFETIME if order_lifetime is None else order_lifetime
            ),
            default_stock=default_stock,
            seed=seed,
            clock=clock,
        )

    def lifetime(self, service: str, rent: bool = False) -> float:
        """Seconds an order for `service` stays open (vaksms 2.0 models/number.py)."""
        if rent:
            return RENT_LIFETIME
        if self._lifetime_override is not None:
            return self._lifetime_override
        return float(vaksms_lifetime(service))

    def _fault_body(self, status: int) -> object:
        return {"error": "badData"} if status == 200 else UNAVAILABLE_PAGE

    # -- routes ---------------------------------------------------------------------------------

    def _routes(self) -> list[BaseRoute]:
        def by_id_num(request: Request) -> str:
            return request.query_params.get("idNum", "")

        table: list[tuple[str, Action, Callable[[Request], str] | None, bool]] = [
            ("getBalance", self._get_balance, None, True),
            ("getCountNumber", self._get_count_number, None, True),
            ("getCountNumberList", self._get_count_number_list, None, True),
            # vaksms 2.0 client.py: both with api_key_required=False.
            ("getCountNumbersList", self._get_count_numbers_list, None, False),
            ("getCountryList", self._get_country_list, None, False),
            ("getNumber", self._get_number, None, True),
            ("prolongNumber", self._prolong_number, None, True),
            ("setStatus", self._set_status, by_id_num, True),
            ("getSmsCode", self._get_sms_code, by_id_num, True),
        ]
        routes: list[BaseRoute] = []
        for name, action, order_param, needs_key in table:
            work = self._authorized(action) if needs_key else self._public(action)
            handler = self.endpoint(name, work, order_param)
            # seeds/003:6, 18: GET only, paths /api/<name>/ (the slash-less form works too; the
            # libraries send /api/getNumber/ and /api/getSmsCode/ with it, the rest without).
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

    @staticmethod
    def _public(action: Action) -> Callable[[Request], Answer]:
        """Wrap an action that needs no key; a key sent anyway is ignored."""

        def work(request: Request) -> Answer:
            return action("", request.query_params)

        return work

    # -- actions --------------------------------------------------------------------------------

    def _get_balance(self, key: str, query: QueryParams) -> Answer:
        return Answer(200, {"balance": float(self.balances[key])})

    def _get_count_number(self, key: str, query: QueryParams) -> Answer:
        service = query.get("service", "")
        country = self._country(query)
        refusal = self._service_error(service) or self._place_error(country, query)
        if refusal:
            return _error(refusal)
        body: dict[str, object] = {service: self.stock(service, country)}
        if "price" in query:  # seeds/003:437: a bare `&price` asks for the price too
            body["price"] = float(self.price(service, country))
        return Answer(200, body)

    def _get_count_number_list(self, key: str, query: QueryParams) -> Answer:
        country = self._country(query)
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

    def _get_count_numbers_list(self, key: str, query: QueryParams) -> Answer:
        """vaksms 2.0 client.py get_count_number_list, fields of models/services.py."""
        rent = _flag(query.get("rent", ""))
        if rent is None:
            return _error("badData")
        country = self._country(query)
        refusal = self._place_error(country, query)
        if refusal:
            return _error(refusal)
        return Answer(
            200,
            {
                code: [
                    {
                        "name": name,
                        "icon": ICON_PATH.format(code=code),
                        "info": "",
                        "cost": float(self.price(code, country)),
                        "rent": rent,
                        "quantity": self.stock(code, country),
                        "private": False,
                    }
                ]
                for code, name in self.services.items()
            },
        )

    def _get_country_list(self, key: str, query: QueryParams) -> Answer:
        """vaksms 2.0 client.py get_country_list, fields of models/country.py."""
        return Answer(
            200,
            [
                {
                    "countryName": self.country_names[code],
                    "countryCode": code,
                    "operatorList": list(operators),
                }
                for code, operators in self.operators.items()
            ],
        )

    def _get_number(self, key: str, query: QueryParams) -> Answer:
        raw = query.get("service", "")
        wanted = raw.split(",") if raw else []
        rent = _flag(query.get("rent", ""))
        soft_id = query.get("softId", "")
        # seeds/003:862: one number for *two* services at most.
        too_many = not wanted or len(wanted) > 2 or len(set(wanted)) != len(wanted)
        bad_soft_id = bool(soft_id) and not soft_id.isdigit()
        if too_many or rent is None or bad_soft_id:
            return _error("badData")
        country = self._country(query)
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
        orders = [
            self._open_order(
                order_id=self._new_id_num(),
                api_key=key,
                service=service,
                country=country,
                operator=self._operator(query),
                phone=tel,
                lifetime=self.lifetime(service, rent),
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
            lifetime=self.lifetime(service),
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
        if "all" in query and query["all"].strip().lower() not in _NOT_ALL:
            # seeds/003:1199-1205: `all` (a bare flag) lists every code received; the libraries'
            # all=False / all=None (vaksms 2.0 client.py get_sms_code) ask for the latest only.
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
    def _country(query: QueryParams) -> str:
        """The `country` parameter in the seed's lowercase (vaksms 2.0 client.py sends 'RU')."""
        return (query.get("country") or DEFAULT_COUNTRY).strip().lower()

    @staticmethod
    def _operator(query: QueryParams) -> str | None:
        return query.get("operator", "").strip().lower() or None

    def _new_id_num(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"
