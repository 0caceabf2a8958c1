"""An SMS-Activate-compatible service (``/stubs/handler_api.php``) that answers as a profile says.

The same state and knobs as the other emulators (proxy/emulators/common.py: accounts, stock,
prices, orders, SMS timing, `inject_error`, `stall`, latency, `reset`, ``/_emulator/*``), with
the wire format of one quirk profile (proxy/providers/profiles): its error shape (bare words
on HTTP 200, or JSON objects under HTTP statuses), its alias words, its setStatus numbers and
separate actions, its country and service numbering, its phone form, the actions it serves and
the shapes of its JSON answers. Under ``canonical`` it answers as smsproxy itself does (the
state machine of proxy/lifecycle.py, the renderings of proxy/protocol/answers.py), so that one
smsproxy can use another, or this emulator, as its upstream.

Inside, everything is kept in SMS-Activate's codes (service code, country id as a string):
`set_stock("tg", "0", 5)` and `deliver_sms(order_id)` work alike under every profile, and only
the wire speaks the service's numbering.

Served actions: getBalance, getBalanceAndCashBack, getNumber, getNumberV2, getStatus,
getStatusV2, setStatus, getActiveActivations, getPrices, and the profile's separate finish and
cancel actions; each only where the profile says the service has it. Any other action, or one
the profile does not list, answers as the service answers an unknown action (BAD_ACTION, or its
alias, in its error shape). The profile's other actions (history, catalogs, rent, calls) are
not emulated. Fault knobs and counters name actions as SMS-Activate does (``getNumber``,
``setStatus``, ...), and the separate ones ``setStatus:finish`` and ``setStatus:cancel``.

Knobs beyond the base's: `set_unavailable(service, country)` and `prohibit(service)` (the
profile's answers for a service a region lacks or a prohibited one), `rate_limit`,
`early_cancel_window`; over HTTP ``/_emulator/unavailable``, ``prohibit``, ``rate_limit``
(``per_second``) and ``early_cancel`` (``seconds``).

smsproxy's own rules followed under every profile (proxy/protocol/requests.py,
proxy/dispatch.py, proxy/lifecycle.py): the api key is checked before the action; more than 64
parameters answer BAD_ACTION before anything else (smsproxy's `server.max_params`); ids and
statuses are ASCII digits (`number`); getNumber without a service is BAD_SERVICE, with
activationType 1 or 2, or forward=1, NO_NUMBERS; a missing country is 0; a malformed
phoneException is WRONG_EXCEPTION_PHONE; an orderId (getNumberV2) is unique per account; a
price over maxPrice answers WRONG_MAX_PRICE:<price>; status 6 before any SMS gives the number
back (refunded) and answers ACCESS_ACTIVATION; 6 after a retry request completes; a cancel
after a code is BAD_STATUS; an order whose window ends with no code is cancelled and refunded,
with a code it is finished.

Our choices (no source for them):

- Prices are in the profile's currency, between 0.10 and 2.00, derived from a hash of the pair
  unless set; orders stay open `order_lifetime` seconds (1200 by default).
- Phones follow proxy/emulators/data/phone_plans.json where it has the country, else random
  digits of the country's longest national length (proxy/mapping/data/countries.json).
- JSON errors carry the word in the profile's `word_field` and SMS-Activate's English
  description of it (seeds/002) in its `text_field`, with a word's argument after a colon.
- `rate_limit` (None: off) requests per second per key, over it HTTP 429 "Too Many Requests":
  none of the profiled services documents a limit of its own.
- `early_cancel_window` (0: off) seconds after a purchase in which a cancel answers
  EARLY_CANCEL_DENIED (SMS-Activate's two minutes, seeds/004:215); smsproxy never answers it.
- `inject_error` bodies: at HTTP 200, ERROR_SQL in the profile's error shape; at any other
  status, a text page, or for a JSON-error profile {word_field: "ERROR_SQL", ...}.
- An empty getActiveActivations is `[]` for a "list" envelope and {"data": []} for a "data" one.
- A "data" envelope holds the list only; getStatusV2 of a cancelled activation is the bare
  STATUS_CANCEL under every profile (seeds/004:259).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import proxy.mapping
from proxy.emulators.common import (
    PHONE_PLANS,
    Answer,
    Clock,
    Control,
    EmulatorBase,
    Order,
    OrderState,
    PhonePlan,
)
from proxy.mapping import load_code_map
from proxy.protocol.answers import currency_number, money, timestamp
from proxy.protocol.requests import (
    OPERATOR_CHARS,
    ORDER_ID_CHARS,
    PHONE_EXCEPTION,
    PRICE,
    number,
    parse_bool,
)
from proxy.protocol.words import Word
from proxy.providers.profiles import SEPARATE, Profile, load_profile

EMULATED = (
    "getBalance", "getBalanceAndCashBack", "getNumber", "getNumberV2", "getStatus",
    "getStatusV2", "setStatus", "getActiveActivations", "getPrices",
)  # fmt: skip
FINISH, CANCEL = SEPARATE + "finish", SEPARATE + "cancel"
MAX_PARAMS = 64  # smsproxy's server.max_params (protocol_fixtures/smsactivate/too_many_parameters)
RATE_WINDOW = 1.0
TOO_MANY = "Too Many Requests"
UNAVAILABLE_PAGE = "<html><body><h1>Service Temporarily Unavailable</h1></body></html>"
# SMS-Activate's English descriptions of its words (seeds/002, 004:152, 222), for JSON errors.
DESCRIPTIONS: dict[str, str] = {
    Word.BAD_KEY: "invalid API key",  # seeds/002:94
    Word.ERROR_SQL: "sql-server error",  # 002:96
    Word.WRONG_MAX_PRICE: "the specified maximum price is less than the allowed one",  # 002:215
    Word.BAD_ACTION: "incorrect action",  # 002:219
    Word.BAD_SERVICE: "incorrect service name",  # 002:221
    Word.WRONG_EXCEPTION_PHONE: "incorrect exclusion prefixes",  # 002:229
    Word.NO_NUMBERS: "no numbers",  # 002:304
    Word.NO_BALANCE: "balance has ended",  # 002:306
    Word.EARLY_CANCEL_DENIED: "You can't cancel the number within the first 2 minutes",  # 002:385
    Word.NO_ACTIVATION: "activation id does not exist",  # 002:389
    Word.BAD_STATUS: "incorrect status",  # 002:393
    Word.ORDER_ALREADY_EXISTS: "order already created",  # 004:152
    Word.WRONG_ACTIVATION_ID: "invalid id, or the id is not a number",  # 004:222
}
ACTIVE_STATES = ("wait_code", "code", "wait_retry")

_CODES = load_code_map()
_MAPPING_DATA = Path(proxy.mapping.__file__).resolve().parent / "data" / "countries.json"
_MAX_DIGITS: dict[str, int] = {
    str(c["id"]): int(c["max_national_digits"])
    for c in json.loads(_MAPPING_DATA.read_text(encoding="utf-8"))
}

Action = Callable[[str, dict[str, str]], Answer]


def _plan(country: str) -> PhonePlan:
    """How an SMS-Activate country's numbers look: the emulators' plan, else its longest length."""
    found = _CODES.country(int(country))
    if found is None:
        raise KeyError(f"unknown SMS-Activate country {country!r}")
    plan = PHONE_PLANS.get(found.iso2)
    if plan is not None and plan.calling_code == found.calling_code:
        return plan
    return PhonePlan(found.calling_code, _MAX_DIGITS.get(country, 9), "")


class HandlerApiEmulator(EmulatorBase):
    """A compatible service with real accounts, stock and orders, speaking one profile."""

    provider: ClassVar[str] = "handler_api"
    endpoints: ClassVar[frozenset[str]] = frozenset({*EMULATED, FINISH, CANCEL})
    services: ClassVar[dict[str, str]] = {s.code: s.name for s in _CODES.services}
    country_iso: ClassVar[dict[str, str]] = {str(c.id): c.iso2 for c in _CODES.countries}
    country_names: ClassVar[dict[str, str]] = {str(c.id): c.eng for c in _CODES.countries}
    price_range: ClassVar[tuple[Decimal, Decimal]] = (Decimal("0.10"), Decimal("2.00"))
    price_step: ClassVar[Decimal] = Decimal("0.01")

    def __init__(
        self,
        profile: Profile | str = "canonical",
        *,
        api_keys: dict[str, Decimal] | None = None,
        sms_delay: float | None = 3.0,
        order_lifetime: float = 1200.0,
        default_stock: int = 100,
        seed: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        """`profile`: a Profile, a shipped profile's name or a profile file's path."""
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.rate_limit: int | None = None
        self.early_cancel_window = 0.0
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)
        self._ready: set[str] = set()
        self._calling: dict[str, str] = {}  # order id -> the calling code of its phone
        self._client_orders: dict[tuple[str, str], str] = {}  # (key, orderId) -> order id
        self._unavailable: set[tuple[str, str]] = set()
        self._prohibited: set[str] = set()
        self._next_id = 0
        self._wall = time.time() - clock()  # shown times: the clock's seconds as Unix time
        self._actions: dict[str, Action] = {
            "getBalance": self._get_balance,
            "getBalanceAndCashBack": self._get_balance,
            "getNumber": lambda key, p: self._get_number(key, p, v2=False),
            "getNumberV2": lambda key, p: self._get_number(key, p, v2=True),
            "getStatus": self._get_status,
            "getStatusV2": self._get_status_v2,
            "setStatus": self._set_status,
            "getActiveActivations": self._active_activations,
            "getPrices": self._get_prices,
            FINISH: lambda key, p: self._separate(key, p, "finish"),
            CANCEL: lambda key, p: self._separate(key, p, "cancel"),
        }
        super().__init__(
            api_keys=api_keys,
            sms_delay=sms_delay,
            order_lifetime=order_lifetime,
            default_stock=default_stock,
            seed=seed,
            clock=clock,
        )

    # -- knobs ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the initial state, the rate limit, early-cancel window and closures too."""
        with self._lock:
            super().reset()
            self.rate_limit = None
            self.early_cancel_window = 0.0
            self._hits.clear()
            self._ready.clear()
            self._calling.clear()
            self._client_orders.clear()
            self._unavailable.clear()
            self._prohibited.clear()
            self._next_id = self._rng.randint(100_000_000, 899_999_999)

    def set_unavailable(self, service: str, country: str, unavailable: bool = True) -> None:
        """Stop (or resume) selling `service` in `country` (SMS-Activate codes), whatever the
        stock: the profile's answer for a service the region lacks."""
        pair = self._pair(service, country)
        with self._lock:
            if unavailable:
                self._unavailable.add(pair)
            else:
                self._unavailable.discard(pair)

    def prohibit(self, service: str, prohibited: bool = True) -> None:
        """Stop (or resume) selling `service` anywhere: the profile's prohibited-service answer."""
        if service not in self.services:
            raise KeyError(f"not in the catalog: {service!r}")
        with self._lock:
            if prohibited:
                self._prohibited.add(service)
            else:
                self._prohibited.discard(service)

    def stats(self) -> dict[str, Any]:
        """The base's counters and orders, with the profile's name."""
        return {**super().stats(), "profile": self.profile.name}

    def wire_phone(self, order: Order) -> str:
        """The order's phone as the profile's service shows it."""
        if self.profile.numbering.phone == "national":
            return order.phone.removeprefix(self._calling.get(order.order_id, ""))
        return order.phone

    def _fault_body(self, status: int) -> object:
        word = self.profile.word_for("server_error")
        errors = self.profile.errors
        if errors.shape == "json":
            text = DESCRIPTIONS.get(word, word) if status == 200 else f"HTTP {status}"
            return {errors.word_field: word, errors.text_field: text}
        return word if status == 200 else UNAVAILABLE_PAGE

    def _extra_controls(self) -> dict[str, Control]:
        def rate_limit(p: dict[str, Any]) -> None:
            value = p.get("per_second")
            self.rate_limit = None if value is None else int(value)

        def unavailable(p: dict[str, Any]) -> None:
            self.set_unavailable(
                str(p["service"]), str(p["country"]), bool(p.get("unavailable", True))
            )

        def prohibit(p: dict[str, Any]) -> None:
            self.prohibit(str(p["service"]), bool(p.get("prohibited", True)))

        def early_cancel(p: dict[str, Any]) -> None:
            seconds = float(p["seconds"])
            if seconds < 0:
                raise ValueError(f"the window cannot be negative: {seconds}")
            self.early_cancel_window = seconds

        return {
            "rate_limit": rate_limit,
            "unavailable": unavailable,
            "prohibit": prohibit,
            "early_cancel": early_cancel,
        }

    # -- the endpoint ---------------------------------------------------------------------------

    def _routes(self) -> list[BaseRoute]:
        # seeds/002:12-14, 004:5-6: GET or POST
        return [Route(self.profile.handler_path, self._handle, methods=["GET", "POST"])]

    async def _handle(self, request: Request) -> Response:
        params = await self._params(request)
        if params is None:  # over smsproxy's parameter limit: refused before the key is read
            return await self.serve("unknown", None, lambda: self._error(Word.BAD_ACTION))
        resolved = self.profile.resolve_action(params.get("action", ""))
        name = resolved if resolved in self.endpoints else "unknown"
        order_id = params.get("id", params.get("activationId")) if name != "unknown" else None
        return await self.serve(name, order_id, lambda: self._work(name, params))

    @staticmethod
    async def _params(request: Request) -> dict[str, str] | None:
        """Query string, overlaid by a form body on POST; None past MAX_PARAMS parameters."""
        query: bytes = request.scope["query_string"]
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
            body = await request.body()
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return dict(pairs) if len(pairs) <= MAX_PARAMS else None

    def _work(self, name: str, params: dict[str, str]) -> Answer:
        key = params.get("api_key", "")
        if not key.strip():
            return self._fail("missing_key")
        if key not in self.balances:
            return self._fail("bad_key")
        if self._over_limit(key):
            return Answer(429, TOO_MANY)
        action = self._actions.get(name)
        if action is None:
            return self._fail("unknown_action")
        return action(key, params)

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

    # -- answers --------------------------------------------------------------------------------

    def _error(self, word: str, *args: str) -> Answer:
        """An error word (and its arguments) in the profile's error shape."""
        text = ":".join([word, *args])
        errors = self.profile.errors
        if errors.shape == "word":
            return Answer(200, text)
        canonical = self.profile.canonical_word(text) or word
        details = DESCRIPTIONS.get(canonical, canonical)
        if args:
            details = f"{details}: {':'.join(args)}"
        return Answer(
            errors.http_status(canonical), {errors.word_field: word, errors.text_field: details}
        )

    def _fail(self, situation: str, *args: str) -> Answer:
        """The profile's answer in a situation: its alias word, else SMS-Activate's."""
        return self._error(self.profile.word_for(situation), *args)

    def _done(self, word: Word) -> Answer:
        """A setStatus success: the ACCESS_* word, or an empty 204 where the profile says so."""
        if self.profile.set_status.answer == "empty":
            return Answer(204, "")
        return Answer(200, word.value)

    def _time(self, moment: float) -> str:
        return timestamp(self._wall + moment)

    def _wire_country(self, country: str) -> str:
        return self.profile.numbering.service_country(int(country)) or country

    def _wire_service(self, service: str) -> str:
        return self.profile.numbering.service_code(service) or service

    # -- account and purchase -------------------------------------------------------------------

    def _get_balance(self, key: str, params: dict[str, str]) -> Answer:
        return Answer(200, f"{Word.ACCESS_BALANCE}:{money(self.balances[key])}")  # 004:51

    def _get_number(self, key: str, params: dict[str, str], *, v2: bool) -> Answer:
        """getNumber / getNumberV2, checked in smsproxy's order (requests.py, dispatch.py)."""
        numbering = self.profile.numbering
        service_text = params.get("service", "").strip()
        if not service_text:
            return self._fail("unknown_service")
        if params.get("activationType", "0").strip() not in ("", "0") or parse_bool(
            params.get("forward")
        ):
            return self._fail("no_numbers")  # only SMS numbers, none with forwarding
        country_text = params.get("country", "").strip() or "0"
        if not numbering.countries and number(country_text) is None:
            return self._fail("unknown_country")
        if any(len(op.strip()) > OPERATOR_CHARS for op in params.get("operator", "").split(",")):
            return self._error(Word.BAD_ACTION)
        order_ref = params.get("orderId", "").strip() if v2 else ""
        if len(order_ref) > ORDER_ID_CHARS:
            return self._error(Word.BAD_ACTION)
        exceptions = [p.strip() for p in params.get("phoneException", "").split(",") if p.strip()]
        if not all(PHONE_EXCEPTION.fullmatch(p) for p in exceptions):
            return self._error(Word.WRONG_EXCEPTION_PHONE)
        if order_ref and (key, order_ref) in self._client_orders:
            return self._error(Word.ORDER_ALREADY_EXISTS)
        service = numbering.canonical_service(service_text)
        if service is None or service not in self.services:
            return self._fail("unknown_service")
        found = numbering.canonical_country(country_text)
        country = None if found is None else str(found)
        if country is None or country not in self.country_iso:
            return self._fail("unknown_country")
        if service in self._prohibited:
            return self._fail("service_prohibited")
        if (service, country) in self._unavailable:
            return self._fail("region_unavailable")
        price = self.price(service, country)
        cap = _max_price(params.get("maxPrice"))
        if cap is not None and price > cap:
            return self._error(Word.WRONG_MAX_PRICE, money(price))
        if self.stock(service, country) < 1:
            return self._fail("no_numbers")
        if self.balances[key] < price:
            return self._fail("no_balance")
        phone = self._phone_avoiding(country, exceptions)
        if phone is None:
            return self._fail("no_numbers")
        calling_code, national = phone
        order_id = str(self._next_id)
        self._next_id += 1
        order = self._open_order(
            order_id=order_id,
            api_key=key,
            service=service,
            country=country,
            operator=None,
            phone=calling_code + national,
            lifetime=self.order_lifetime,
        )
        self._calling[order_id] = calling_code
        if order_ref:
            self._client_orders[(key, order_ref)] = order_id
        if not v2:
            return Answer(200, f"{Word.ACCESS_NUMBER}:{order_id}:{self.wire_phone(order)}")
        return Answer(200, self._number_v2(order))

    def _number_v2(self, order: Order) -> dict[str, Any]:
        """getNumberV2's object (proxy/protocol/answers.py number_v2) and the profile's extras."""
        body: dict[str, Any] = {
            "activationId": int(order.order_id),
            "phoneNumber": self.wire_phone(order),
            "activationCost": float(money(order.price)),
            "currency": currency_number(self.profile.currency),
            "countryCode": self._wire_country(order.country),
            "canGetAnotherSms": "1",
            "activationTime": self._time(order.created),
            "activationOperator": "any",
        }
        for field, what in self.profile.answers.number_v2_fields.items():
            if what == "end_time":
                body[field] = self._time(order.expires_at)
            else:
                body[field] = int(self._calling[order.order_id])
        return body

    def _phone_avoiding(self, country: str, prefixes: list[str]) -> tuple[str, str] | None:
        """A free number of the country that starts with none of `prefixes` (calling code first)."""
        for _ in range(100):
            calling_code, national = self._new_phone(country)
            if not any((calling_code + national).startswith(p) for p in prefixes):
                return calling_code, national
        return None

    def _new_phone(self, country: str) -> tuple[str, str]:
        plan = _plan(country)
        while True:
            national = plan.national(self._rng)
            if not {national, plan.calling_code + national} & self._busy_phones.keys():
                return plan.calling_code, national

    # -- activations ----------------------------------------------------------------------------

    def _owned(self, key: str, params: dict[str, str]) -> Order | None:
        """The caller's order named by `id` (or `activationId`), up to date; None if none."""
        raw = params.get("id", params.get("activationId"))
        activation_id = number(raw)
        if activation_id is None:
            return None
        return self._own_order(key, str(activation_id))

    @staticmethod
    def _parsed_id(params: dict[str, str]) -> int | None:
        """setStatus's id: the first of id / activationId given, as ASCII digits."""
        for name in ("id", "activationId"):
            if name in params:
                return number(params[name])
        return None

    @staticmethod
    def _state(order: Order) -> str:
        """smsproxy's state of an order (proxy/lifecycle.py State)."""
        if order.state is OrderState.ACTIVE:
            if not order.messages:
                return "wait_code"
            return "wait_retry" if order.retry_pending else "code"
        if order.state is OrderState.FINISHED:
            return "finished"
        if order.state is OrderState.EXPIRED and order.messages:
            return "finished"  # smsproxy: a window that ends after a code finishes the activation
        return "cancelled"

    def _get_status(self, key: str, params: dict[str, str]) -> Answer:
        """getStatus (seeds/004:227-232; proxy/protocol/answers.py status)."""
        order = self._owned(key, params)
        if order is None:
            return self._fail("unknown_activation")
        state = self._state(order)
        if state == "wait_code":
            return Answer(200, Word.STATUS_WAIT_CODE.value)
        if state == "cancelled":
            return Answer(200, Word.STATUS_CANCEL.value)
        word = Word.STATUS_WAIT_RETRY if state == "wait_retry" else Word.STATUS_OK
        return Answer(200, f"{word}:{order.codes[-1]}")

    def _get_status_v2(self, key: str, params: dict[str, str]) -> Answer:
        """getStatusV2 (seeds/004:238-259; proxy/protocol/answers.py status_v2)."""
        order = self._owned(key, params)
        if order is None:
            return self._fail("unknown_activation")
        state = self._state(order)
        if state == "cancelled":
            return Answer(200, Word.STATUS_CANCEL.value)
        sms = None
        if state in ("code", "finished"):
            latest = order.messages[-1]
            sms = {"dateTime": self._time(latest.at), "code": latest.code, "text": latest.text}
        kind = self.profile.answers.verification_type_sms
        return Answer(200, {"verificationType": kind, "sms": sms, "call": None})

    def _set_status(self, key: str, params: dict[str, str]) -> Answer:
        """setStatus through the profile's numbers (seeds/004:186-222; proxy/lifecycle.py)."""
        if self._parsed_id(params) is None:
            return self._error(Word.WRONG_ACTIVATION_ID)  # seeds/004:222
        status = number(params.get("status"), signed=True)
        if status is None:
            return self._fail("bad_status")
        order = self._owned(key, params)
        if order is None:
            return self._fail("unknown_activation")
        meaning = self.profile.set_status.meaning(status)
        if meaning is None:
            return self._fail("bad_status")
        return self._change(order, meaning)

    def _separate(self, key: str, params: dict[str, str], meaning: str) -> Answer:
        """The profile's own finish or cancel action, taking `id`."""
        if self._parsed_id(params) is None:
            return self._error(Word.WRONG_ACTIVATION_ID)
        order = self._owned(key, params)
        if order is None:
            return self._fail("unknown_activation")
        return self._change(order, meaning)

    def _change(self, order: Order, meaning: str) -> Answer:
        """One step of proxy/lifecycle.py plan_set_status, on the emulator's order."""
        state = self._state(order)
        if meaning == "ready" and state in ACTIVE_STATES:
            self._ready.add(order.order_id)
            return self._done(Word.ACCESS_READY)
        if meaning == "retry" and state in ("code", "wait_retry"):
            if state == "code":
                self._request_another(order)
            return self._done(Word.ACCESS_RETRY_GET)
        if meaning == "finish":
            if state in ("code", "wait_retry"):
                self._close(order, OrderState.FINISHED)
            elif state == "wait_code":
                self._close(order, OrderState.CANCELLED, release_number=True)  # 004:196, refunded
            if state != "cancelled":
                return self._done(Word.ACCESS_ACTIVATION)
        if meaning == "cancel":
            if state == "wait_code":
                if self.clock() - order.created < self.early_cancel_window:
                    return self._fail("early_cancel")
                self._close(order, OrderState.CANCELLED, release_number=True)
                return self._done(Word.ACCESS_CANCEL)
            if state == "cancelled":
                return self._done(Word.ACCESS_CANCEL)  # again: the same answer, nothing to do
        return self._fail("bad_status")

    def _active_activations(self, key: str, params: dict[str, str]) -> Answer:
        """getActiveActivations (seeds/004:77-102) in the profile's envelope."""
        entries = [
            self._active_entry(order)
            for order in self.orders.values()
            if order.api_key == key and order.state is OrderState.ACTIVE
        ]
        envelope = self.profile.answers.active_activations
        if envelope == "list":
            return Answer(200, entries)
        if envelope == "data":
            return Answer(200, {"data": entries})
        if not entries:  # proxy/protocol/answers.py active_activations
            return Answer(200, {"status": "error", "error": Word.NO_ACTIVATIONS.value})
        return Answer(200, {"status": "success", "activeActivations": entries})

    def _active_entry(self, order: Order) -> dict[str, Any]:
        """One entry, as proxy/protocol/answers.py active_activation writes it."""
        state = self._state(order)
        if state == "wait_retry":
            status = "3"
        else:
            status = "1" if state == "wait_code" and order.order_id in self._ready else "4"
        codes = order.codes
        texts = [m.text for m in order.messages]
        if self.profile.answers.sms_code == "list":
            sms_code: object = codes or None
        else:
            sms_code = codes[-1] if codes else None
        return {
            "activationId": order.order_id,
            "serviceCode": self._wire_service(order.service),
            "phoneNumber": self.wire_phone(order),
            "activationCost": float(money(order.price)),
            "activationStatus": status,
            "smsCode": sms_code,
            "smsText": f"[{', '.join(texts)}]" if texts else None,
            "activationTime": self._time(order.created),
            "discount": "0.00",
            "repeated": "0",
            "countryCode": self._wire_country(order.country),
            "countryName": self.country_names[order.country],
            "canGetAnotherSms": "1",
            "currency": currency_number(self.profile.currency),
        }

    # -- prices ---------------------------------------------------------------------------------

    def _get_prices(self, key: str, params: dict[str, str]) -> Answer:
        """getPrices (seeds/002:524-538): {country: {service: {cost, count}}}, both optional."""
        numbering = self.profile.numbering
        services = list(numbering.services) if numbering.services else list(self.services)
        countries = list(numbering.countries) if numbering.countries else list(self.country_iso)
        service_text = params.get("service", "").strip()
        if service_text:
            service = numbering.canonical_service(service_text)
            services = [service] if service in self.services else []
        country_text = params.get("country", "").strip()
        if country_text:
            found = numbering.canonical_country(country_text)
            countries = [str(found)] if str(found) in self.country_iso else []
        body: dict[str, dict[str, dict[str, float | int]]] = {}
        for country in countries if services else []:
            body[self._wire_country(country)] = {
                self._wire_service(service): {
                    "cost": float(money(self.price(service, country))),
                    "count": self.stock(service, country),
                }
                for service in services
            }
        return Answer(200, body)


def _max_price(value: str | None) -> Decimal | None:
    """A positive Free Price cap, or None (proxy/protocol/requests.py _max_price)."""
    text = (value or "").strip()
    if not PRICE.fullmatch(text):
        return None
    price = Decimal(text)
    return price if price > 0 else None


__all__ = ["EMULATED", "HandlerApiEmulator"]
