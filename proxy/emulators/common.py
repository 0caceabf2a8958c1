"""What both provider emulators share: accounts, stock, prices, orders, SMS timing, faults, knobs.

A subclass adds one provider's wire format: its routes (`_routes`), its default error body
(`_fault_body`) and its catalog (`services`, `country_iso`). Everything stateful lives here, so
the knobs (`set_stock`, `inject_error`, `stall`, `deliver_sms`, ...) and their HTTP twins under
`/_emulator/` behave the same on both.

Time: order lifetimes and SMS arrivals are measured with the injected `clock` and evaluated
lazily whenever an order is looked at, so no background task runs. `latency` and `stall` are
real waits (asyncio.sleep), since their point is to make a client wait.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

Clock = Callable[[], float]
Handler = Callable[[Request], Awaitable[Response]]
Control = Callable[[dict[str, Any]], dict[str, Any] | None]

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_API_KEYS: dict[str, Decimal] = {"test-key": Decimal("100")}

# Realistic message texts; every one contains the code.
SMS_TEMPLATES = (
    "Your {service} verification code is {code}",
    "{code} is your {service} code. Do not share it with anyone.",
    "<#> {service}: your code is {code}",
    "{service} code: {code}. It expires in 10 minutes.",
    "Код подтверждения {service}: {code}. Никому его не сообщайте.",
)
_CODE_IN_TEXT = re.compile(r"\d{4,8}")


def load_data(name: str) -> Any:
    """One of the emulators' own catalog files from `data/` (parsed JSON)."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class PhonePlan:
    """How a country's mobile numbers look: calling code, national length, leading digits."""

    calling_code: str
    digits: int
    prefix: str

    def national(self, rng: random.Random) -> str:
        """A random national mobile number (never starting with 0)."""
        head = self.prefix or str(rng.randint(2, 9))
        tail = "".join(str(rng.randint(0, 9)) for _ in range(self.digits - len(head)))
        return head + tail


PHONE_PLANS: dict[str, PhonePlan] = {
    iso: PhonePlan(**plan) for iso, plan in load_data("phone_plans.json").items()
}


class OrderState(enum.StrEnum):
    """Where an order is in its life; only ACTIVE orders receive SMS."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    FINISHED = "finished"  # ended by the buyer after its code came (SMSPVA stopsms)


@dataclass(slots=True)
class Message:
    """One SMS that reached an order's number."""

    code: str
    text: str
    at: float


@dataclass(slots=True)
class Order:
    """One sold number: what tests inspect and what the provider views are rendered from."""

    order_id: str
    api_key: str
    service: str
    country: str
    operator: str | None
    phone: str
    price: Decimal
    created: float
    expires_at: float
    state: OrderState = OrderState.ACTIVE
    messages: list[Message] = field(default_factory=list)
    refunded: bool = False
    next_sms_at: float | None = None
    retry_pending: bool = False

    @property
    def codes(self) -> list[str]:
        """Every code received so far, oldest first."""
        return [message.code for message in self.messages]

    def expires_in(self, now: float) -> int:
        """Whole seconds left, as the providers count them."""
        return max(0, math.ceil(self.expires_at - now))

    def to_json(self) -> dict[str, Any]:
        """The order for `/_emulator/stats`."""
        return {
            "order_id": self.order_id,
            "api_key": self.api_key,
            "service": self.service,
            "country": self.country,
            "operator": self.operator,
            "phone": self.phone,
            "price": str(self.price),
            "created": self.created,
            "expires_at": self.expires_at,
            "state": self.state.value,
            "messages": [{"code": m.code, "text": m.text, "at": m.at} for m in self.messages],
            "refunded": self.refunded,
            "retry_pending": self.retry_pending,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer before rendering: JSON for any body except a str, which is sent as text."""

    status: int
    body: object

    def render(self) -> Response:
        """The starlette response."""
        if isinstance(self.body, str):
            media = "text/html" if self.body.lstrip().startswith("<") else "text/plain"
            return Response(self.body, status_code=self.status, media_type=media)
        return JSONResponse(self.body, status_code=self.status)


@dataclass(slots=True)
class _Fault:
    status: int
    body: object | None
    remaining: int
    after_effect: bool = False


@dataclass(slots=True)
class _Stall:
    seconds: float
    after_effect: bool
    remaining: int


_Q = TypeVar("_Q", _Fault, _Stall)


def both_slashes(path: str, handler: Handler, method: str) -> list[Route]:
    """The route with and without a trailing slash: clients spell the providers' paths both ways."""
    return [Route(path, handler, methods=[method]), Route(path + "/", handler, methods=[method])]


class EmulatorBase(abc.ABC):
    """State and knobs common to both emulators; subclasses speak one provider's wire format."""

    provider: ClassVar[str]
    endpoints: ClassVar[frozenset[str]]
    services: ClassVar[dict[str, str]]  # service code -> name
    country_iso: ClassVar[dict[str, str]]  # provider's country code -> ISO alpha-2 (phone plan)
    price_range: ClassVar[tuple[Decimal, Decimal]]
    price_step: ClassVar[Decimal]

    def __init__(
        self,
        *,
        api_keys: dict[str, Decimal] | None,
        sms_delay: float | None,
        order_lifetime: float,
        default_stock: int,
        seed: int | None,
        clock: Clock,
    ) -> None:
        self.sms_delay = sms_delay
        self.order_lifetime = order_lifetime
        self.default_stock = default_stock
        self.seed = seed
        self.clock = clock
        self._initial_keys = dict(DEFAULT_API_KEYS if api_keys is None else api_keys)
        self._lock = threading.RLock()
        self._generation = 0
        self.balances: dict[str, Decimal] = {}
        self.requests: Counter[str] = Counter()
        self.order_requests: Counter[tuple[str, str]] = Counter()
        self.latency = 0.0
        self._orders: dict[str, Order] = {}
        self._busy_phones: Counter[str] = Counter()  # phones of active orders, for new numbers
        self._stock: dict[tuple[str, str], int] = {}
        self._prices: dict[tuple[str, str], Decimal] = {}
        self._base_stock = default_stock
        self._faults: defaultdict[str, deque[_Fault]] = defaultdict(deque)
        self._stalls: defaultdict[str, deque[_Stall]] = defaultdict(deque)
        self._rng = random.Random(seed)
        self.reset()
        self.app = Starlette(routes=[*self._routes(), *self._control_routes()])

    # -- what a subclass provides -------------------------------------------------------------

    @abc.abstractmethod
    def _routes(self) -> list[BaseRoute]:
        """The provider's own API routes."""

    @abc.abstractmethod
    def _fault_body(self, status: int) -> object:
        """The provider's own error body for an injected HTTP status."""

    # -- knobs ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the state right after construction; wakes stalled requests early."""
        with self._lock:
            self._generation += 1
            self.balances.clear()
            self.balances.update(self._initial_keys)
            self.requests.clear()
            self.order_requests.clear()
            self.latency = 0.0
            self._orders.clear()
            self._busy_phones.clear()
            self._stock.clear()
            self._prices.clear()
            self._base_stock = self.default_stock
            self._faults.clear()
            self._stalls.clear()
            self._rng.seed(self.seed)

    def set_stock(
        self, service: str, country: str, count: int, price: Decimal | float | str | None = None
    ) -> None:
        """How many numbers one (service, country) pair has, and optionally its price."""
        pair = self._pair(service, country)
        if count < 0:
            raise ValueError(f"stock cannot be negative: {count}")
        with self._lock:
            self._stock[pair] = count
            if price is not None:
                self._prices[pair] = Decimal(str(price))

    def set_all_stock(self, count: int) -> None:
        """Give every pair of the catalog `count` numbers (forgets per-pair counts, not prices)."""
        if count < 0:
            raise ValueError(f"stock cannot be negative: {count}")
        with self._lock:
            self._stock.clear()
            self._base_stock = count

    def stock(self, service: str, country: str) -> int:
        """Numbers left for a pair."""
        pair = self._pair(service, country)
        return self._stock.get(pair, self._base_stock)

    def price(self, service: str, country: str) -> Decimal:
        """A pair's price: set by `set_stock`, else derived from a hash of the pair."""
        pair = self._pair(service, country)
        override = self._prices.get(pair)
        if override is not None:
            return override
        digest = hashlib.sha256(f"{self.provider}:{service}:{country}".encode()).digest()
        fraction = Decimal(int.from_bytes(digest[:8], "big")) / Decimal(2**64)
        low, high = self.price_range
        return (low + (high - low) * fraction).quantize(self.price_step)

    def set_balance(self, api_key: str, amount: Decimal | float | str) -> None:
        """Set an account's balance, creating the account (a valid API key) if it is new."""
        with self._lock:
            self.balances[api_key] = Decimal(str(amount))

    def inject_error(
        self,
        endpoint: str,
        *,
        status: int = 503,
        body: object | None = None,
        times: int = 1,
        after_effect: bool = False,
    ) -> None:
        """The next `times` calls to `endpoint` answer `status` with `body`, touching no state;
        with `after_effect`, the call does its work first (a sale is made and charged) and the
        answer is lost to the fault, as a gateway's 5xx after its backend committed."""
        self._check_endpoint(endpoint, times)
        with self._lock:
            self._faults[endpoint].append(_Fault(status, body, times, after_effect))

    def stall(
        self, endpoint: str, seconds: float, *, after_effect: bool = True, times: int = 1
    ) -> None:
        """The next `times` calls sleep after their work (or before it, if not after_effect)."""
        self._check_endpoint(endpoint, times)
        with self._lock:
            self._stalls[endpoint].append(_Stall(seconds, after_effect, times))

    def deliver_sms(
        self, order_id: str, code: str | None = None, text: str | None = None
    ) -> Message:
        """An SMS reaches the order's number now (a random code and text unless given)."""
        with self._lock:
            order = self._orders[order_id]
            self._refresh(order)
            if order.state is not OrderState.ACTIVE:
                raise ValueError(f"order {order_id} is {order.state.value}")
            return self._arrive(order, self.clock(), code, text)

    @property
    def orders(self) -> dict[str, Order]:
        """Every order by id, brought up to date with the clock (arrivals, expiry)."""
        with self._lock:
            for order in self._orders.values():
                self._refresh(order)
            return self._orders

    def stats(self) -> dict[str, Any]:
        """Counters, balances and orders as JSON, for `GET /_emulator/stats`."""
        with self._lock:
            return {
                "provider": self.provider,
                "requests": dict(self.requests),
                "order_requests": [
                    {"endpoint": endpoint, "order_id": order_id, "count": count}
                    for (endpoint, order_id), count in self.order_requests.items()
                ],
                "balances": {key: str(amount) for key, amount in self.balances.items()},
                "latency": self.latency,
                "orders": [order.to_json() for order in self.orders.values()],
            }

    # -- helpers for subclasses -----------------------------------------------------------------

    def endpoint(
        self,
        name: str,
        work: Callable[[Request], Answer],
        order_param: Callable[[Request], str] | None = None,
    ) -> Handler:
        """A route handler that runs `work` inside `serve`; `order_param` reads the order id."""

        async def handle(request: Request) -> Response:
            order_id = None if order_param is None else order_param(request)
            return await self.serve(name, order_id, lambda: work(request))

        return handle

    async def serve(self, name: str, order_id: str | None, work: Callable[[], Answer]) -> Response:
        """Count, delay, answer an injected fault or stall, else run `work` under the lock."""
        with self._lock:
            self.requests[name] += 1
            if order_id is not None:
                self.order_requests[(name, order_id)] += 1
            fault = self._take(self._faults, name)
            stall = None if fault is not None else self._take(self._stalls, name)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if fault is not None:
            if fault.after_effect:
                with self._lock:
                    work()  # done and charged; its answer never reaches the client
            body = self._fault_body(fault.status) if fault.body is None else fault.body
            return Answer(fault.status, body).render()
        if stall is not None and not stall.after_effect and not await self._pause(stall.seconds):
            # reset() ran during the stall: the request belongs to a state that no longer exists.
            return Answer(503, self._fault_body(503)).render()
        with self._lock:
            answer = work()
        if stall is not None and stall.after_effect:
            await self._pause(stall.seconds)
        return answer.render()

    def _open_order(
        self,
        *,
        order_id: str,
        api_key: str,
        service: str,
        country: str,
        operator: str | None,
        phone: str,
        lifetime: float,
        take_stock: bool = True,
    ) -> Order:
        """Sell a number: charge the price, take it from stock, schedule its first SMS."""
        now = self.clock()
        price = self.price(service, country)
        if take_stock:
            self._stock[(service, country)] = self.stock(service, country) - 1
        self.balances[api_key] -= price
        order = Order(
            order_id=order_id,
            api_key=api_key,
            service=service,
            country=country,
            operator=operator,
            phone=phone,
            price=price,
            created=now,
            expires_at=now + lifetime,
            next_sms_at=None if self.sms_delay is None else now + self.sms_delay,
        )
        self._orders[order_id] = order
        self._busy_phones[phone] += 1
        return order

    def _own_order(self, api_key: str, order_id: str) -> Order | None:
        """The caller's order, up to date; None when unknown or another account's."""
        order = self._orders.get(order_id)
        if order is None or order.api_key != api_key:
            return None
        self._refresh(order)
        return order

    def _request_another(self, order: Order) -> bool:
        """Ask for a further SMS; only after a code came and while none is already awaited."""
        if not order.messages or order.retry_pending:
            return False
        order.retry_pending = True
        if self.sms_delay is not None:
            order.next_sms_at = self.clock() + self.sms_delay
        return True

    def _close(self, order: Order, state: OrderState, *, release_number: bool = False) -> None:
        """End an order; refund it when no code came, and put the number back if asked."""
        order.state = state
        order.next_sms_at = None
        order.retry_pending = False
        self._busy_phones[order.phone] -= 1
        if self._busy_phones[order.phone] <= 0:
            del self._busy_phones[order.phone]
        if not order.messages and not order.refunded:
            self.balances[order.api_key] += order.price
            order.refunded = True
        if release_number:
            pair = (order.service, order.country)
            self._stock[pair] = self.stock(*pair) + 1

    def _new_phone(self, country: str) -> tuple[str, str]:
        """(calling code, national number) for a provider country, not held by an active order."""
        plan = PHONE_PLANS[self.country_iso[country]]
        while True:
            national = plan.national(self._rng)
            if not {national, plan.calling_code + national} & self._busy_phones.keys():
                return plan.calling_code, national

    # -- internals ------------------------------------------------------------------------------

    def _pair(self, service: str, country: str) -> tuple[str, str]:
        if service not in self.services or country not in self.country_iso:
            raise KeyError(f"not in the {self.provider} catalog: {service!r}, {country!r}")
        return service, country

    def _check_endpoint(self, endpoint: str, times: int) -> None:
        if endpoint not in self.endpoints:
            raise ValueError(f"unknown {self.provider} endpoint {endpoint!r}")
        if times < 1:
            raise ValueError(f"times must be at least 1: {times}")

    @staticmethod
    def _take(queues: defaultdict[str, deque[_Q]], name: str) -> _Q | None:
        queue = queues.get(name)
        if not queue:
            return None
        item = queue[0]
        item.remaining -= 1
        if item.remaining <= 0:
            queue.popleft()
        return item

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds` of real time; False if `reset` interrupted it."""
        generation = self._generation
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._generation != generation:
                return False
            await asyncio.sleep(min(left, 0.05))
        return self._generation == generation

    def _refresh(self, order: Order) -> None:
        """Apply what the clock says happened since: a due SMS, then expiry."""
        if order.state is not OrderState.ACTIVE:
            return
        now = self.clock()
        due = order.next_sms_at
        if due is not None and due <= now and due < order.expires_at:
            self._arrive(order, due, None, None)
        if now >= order.expires_at:
            self._close(order, OrderState.EXPIRED)

    def _arrive(self, order: Order, at: float, code: str | None, text: str | None) -> Message:
        if code is None:
            found = _CODE_IN_TEXT.search(text) if text is not None else None
            code = found.group() if found else self._new_code(order)
        if text is None:
            template = self._rng.choice(SMS_TEMPLATES)
            text = template.format(service=self._display_name(order.service), code=code)
        message = Message(code, text, at)
        order.messages.append(message)
        order.next_sms_at = None
        order.retry_pending = False
        return message

    def _new_code(self, order: Order) -> str:
        used = set(order.codes)
        while True:
            length = self._rng.randint(4, 6)
            code = "".join(str(self._rng.randint(0, 9)) for _ in range(length))
            if code not in used:
                return code

    def _display_name(self, service: str) -> str:
        # SMSPVA prefixes a name with "1 " to sort it first (reference/SOURCES.md) and adds
        # details in parentheses; a sender would use just the brand.
        name = self.services.get(service, service).removeprefix("1 ")
        return name.split(" (")[0]

    # -- control routes -------------------------------------------------------------------------

    def _control_routes(self) -> list[BaseRoute]:
        def stock(p: dict[str, Any]) -> None:
            if "all" in p:
                self.set_all_stock(int(p["all"]))
            else:
                self.set_stock(
                    str(p["service"]), str(p["country"]), int(p["count"]), p.get("price")
                )

        def balance(p: dict[str, Any]) -> None:
            self.set_balance(str(p["api_key"]), p["amount"])

        def latency(p: dict[str, Any]) -> None:
            seconds = float(p["seconds"])
            if seconds < 0:
                raise ValueError(f"latency cannot be negative: {seconds}")
            self.latency = seconds

        def error(p: dict[str, Any]) -> None:
            status, times = int(p.get("status", 503)), int(p.get("times", 1))
            self.inject_error(
                str(p["endpoint"]), status=status, body=p.get("body"), times=times,
                after_effect=bool(p.get("after_effect", False)),
            )  # fmt: skip

        def stall(p: dict[str, Any]) -> None:
            self.stall(
                str(p["endpoint"]),
                float(p["seconds"]),
                after_effect=bool(p.get("after_effect", True)),
                times=int(p.get("times", 1)),
            )

        def sms(p: dict[str, Any]) -> dict[str, Any]:
            message = self.deliver_sms(str(p["order_id"]), p.get("code"), p.get("text"))
            return {"code": message.code, "text": message.text}

        def reset(p: dict[str, Any]) -> None:
            self.reset()

        posts: dict[str, Control] = {
            "stock": stock,
            "balance": balance,
            "latency": latency,
            "error": error,
            "stall": stall,
            "sms": sms,
            "reset": reset,
            **self._extra_controls(),
        }
        routes: list[BaseRoute] = [
            Route(f"/_emulator/{name}", _control(fn), methods=["POST"])
            for name, fn in posts.items()
        ]
        routes.append(Route("/_emulator/stats", self._stats_route, methods=["GET"]))
        return routes

    def _extra_controls(self) -> dict[str, Control]:
        """Provider-specific `POST /_emulator/<name>` knobs."""
        return {}

    async def _stats_route(self, request: Request) -> Response:
        return JSONResponse(self.stats())


def _control(fn: Control) -> Handler:
    """A control route: JSON object in, `{"ok": true}` (or fn's result) out, 400 on bad input."""

    async def handle(request: Request) -> Response:
        try:
            raw = await request.body()
            payload = json.loads(raw) if raw.strip() else {}
            if not isinstance(payload, dict):
                raise TypeError("expected a JSON object")
            result = fn(payload)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)
        return JSONResponse({"ok": True} if result is None else result)

    return handle
