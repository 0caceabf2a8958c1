"""The upstream interface: one small Protocol, its typed results, and the error tree.

Errors::

    ProviderError
      ProviderUnavailable     network failure, timeout, 5xx, slow-down: try elsewhere later
        RequestNotSent        connect/pool failure: the upstream never saw it, safe to fail over
          ProviderResting     held back by the provider's health rules; `reason` says which rest
        OutcomeUnknown        sent, no usable answer: a purchase may have happened
      ProviderRefused         the upstream answered no; `refusal` says which no
      ProviderAnswerInvalid   an answer we could not parse (treated like OutcomeUnknown for buys)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Protocol


class Refusal(enum.StrEnum):
    """Why an upstream said no, in provider-neutral words (fixtures use these values)."""

    NO_NUMBERS = "no_numbers"
    NO_BALANCE = "no_balance"
    BAD_KEY = "bad_key"
    BAD_SERVICE = "bad_service"
    BAD_COUNTRY = "bad_country"
    BAD_OPERATOR = "bad_operator"
    ORDER_NOT_FOUND = "order_not_found"
    ORDER_EXPIRED = "order_expired"
    SMS_RECEIVED = "sms_received"
    WAIT_SMS = "wait_sms"
    BAD_STATUS = "bad_status"
    BAD_REQUEST = "bad_request"
    RATE_LIMITED = "rate_limited"


class ProviderError(Exception):
    """Base of every error an adapter raises; nothing from httpx leaves `providers/`."""

    def __init__(self, provider: str, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.retry_after = retry_after  # seconds the upstream asked us to wait (Retry-After)

    def __str__(self) -> str:
        return f"{self.provider}: {type(self).__name__}: {self.message}".rstrip(": ")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, message={self.message!r})"


class ProviderUnavailable(ProviderError):
    """The upstream could not answer now (network, timeout, 5xx, rate limit)."""


class RequestNotSent(ProviderUnavailable):
    """The request never reached the upstream: failing over cannot double-buy."""


class ProviderResting(RequestNotSent):
    """Not sent: a rest held it back (any rest a purchase, a slow-down one routine calls too) or
    the request budget is spent; `reason` tells "no money" and "no numbers here" from an outage."""

    NO_BALANCE: ClassVar[str] = "no_balance"  # it answered "no money"; a balance ends the rest
    RATE_LIMITED: ClassVar[str] = "rate_limited"  # it said "slow down"
    FAILURES: ClassVar[str] = "failures"  # its breaker opened after consecutive failures
    PAIR_NO_NUMBERS: ClassVar[str] = "pair_no_numbers"  # this service and country had none
    OVER_BUDGET: ClassVar[str] = "over_budget"  # the account's requests per second are spent

    def __init__(self, provider: str, reason: str, message: str = "") -> None:
        super().__init__(provider, message or f"not sent: {reason}")
        self.reason = reason


class OutcomeUnknown(ProviderUnavailable):
    """The request was sent but no answer came back: the action may have happened."""


class ProviderRefused(ProviderError):
    """The upstream answered with a definite refusal."""

    def __init__(
        self, provider: str, refusal: Refusal, message: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(provider, message or refusal.value, retry_after)
        self.refusal = refusal


class ProviderAnswerInvalid(ProviderError):
    """The upstream answered something we cannot parse."""


@dataclass(frozen=True, slots=True)
class Balance:
    """An account balance in the provider's own currency."""

    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class BuyRequest:
    """A purchase in the provider's own codes (already mapped from SMS-Activate's)."""

    service: str
    country: str
    operator: str | None = None


@dataclass(frozen=True, slots=True)
class MultiBuyRequest:
    """One number for several services, in the provider's own codes."""

    services: tuple[str, ...]
    country: str
    operator: str | None = None


@dataclass(frozen=True, slots=True)
class Purchase:
    """A number the upstream sold us; `phone` is digits only, as the upstream gave it."""

    order_id: str
    phone: str
    cost: Decimal | None = None
    currency: str | None = None
    operator: str | None = None
    expires_in: float | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    """What an upstream offers for one service in one country; count None: not reported."""

    count: int | None
    price: Decimal


@dataclass(frozen=True, slots=True)
class UpstreamOrder:
    """An order as the upstream lists it: enough to recognise a purchase we never heard back."""

    purchase: Purchase
    service: str
    country: str


class PollState(enum.StrEnum):
    """What the upstream says about an order's SMS."""

    WAITING = "waiting"
    RECEIVED = "received"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Sms:
    """One received message: the code and, where the upstream gives it, the full text."""

    code: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Poll:
    """The upstream's view of an order: the SMS it lists now, oldest first: every one so far
    (VAK-SMS `all`, seeds/003:1199-1205), or only the one since the last clear (SMSPVA,
    seeds/000:120-126)."""

    state: PollState
    messages: tuple[Sms, ...] = field(default_factory=tuple)
    expires_in: float | None = None


class RentState(enum.StrEnum):
    """Where a rented number is in the upstream's activation cycle (SMSPVA seeds/001:140-144)."""

    INACTIVE = "inactive"  # must be activated before it receives SMS (seeds/001:23, 54)
    ACTIVATING = "activating"
    ACTIVE = "active"
    UNLISTED = "unlisted"  # not among the open orders: expired, deleted or unknown


@dataclass(frozen=True, slots=True)
class RentPurchase:
    """A rented number; `phone` carries the calling code, `until` is a Unix time."""

    order_id: str
    phone: str
    until: float


@dataclass(frozen=True, slots=True)
class RentOrder:
    """One rental the upstream account holds (SMSPVA `orders`, seeds/001:125-156)."""

    order_id: str
    service: str  # the provider's rental service code
    country: str  # the provider's country code
    until: float
    phone: str = ""  # digits with the calling code
    state: RentState = RentState.ACTIVE  # where SMSPVA lists it in the activation cycle
    # Whether and how far it may be prolonged now (`canprolong`, `canprolongmax` in days,
    # `canprolonguntil` a Unix time, seeds/001:150-152); None where the upstream does not say.
    can_prolong: bool | None = None
    prolong_max_days: int | None = None
    prolong_until: float | None = None


@dataclass(frozen=True, slots=True)
class RentMessage:
    """One SMS that reached a rented number; `date` is a Unix time."""

    text: str
    sender: str
    date: float


class Provider(Protocol):
    """Protocol: one upstream account; every method is a single upstream request."""

    name: str
    kind: str
    currency: str
    poll_interval: float
    order_lifetime: float
    national_phones: bool  # True when `Purchase.phone` lacks the country calling code
    lists_whole_country: bool  # True when `offers` answers every service of a country at once
    sells_multi_service: bool  # one number for two services (VAK-SMS, seeds/003:858-865)
    reissues_numbers: bool  # a used number again, for a new order (VAK prolongNumber)
    max_rent_hours: int  # the longest rental sold (VAK: 4 h, seeds/003:451; SMSPVA: 90 days)
    extends_rents: bool  # a rental can be prolonged (SMSPVA prolong, seeds/001:196-215)

    async def balance(self) -> Balance:
        """The account balance."""
        ...

    async def buy(self, request: BuyRequest) -> Purchase:
        """Buy one number; raises ProviderRefused(NO_NUMBERS/NO_BALANCE/...) on a definite no."""
        ...

    async def offers(
        self, country: str, service: str | None, operator: str | None = None
    ) -> dict[str, Offer]:
        """Counts and prices in the account's currency, by provider service code.

        Providers that list a whole country ignore `service`; the others need it.
        """
        ...

    async def buy_multi(self, request: MultiBuyRequest) -> list[tuple[str, Purchase]]:
        """One number for several services: (service, purchase) per service."""
        ...

    async def reissue(self, service: str, phone: str) -> Purchase:
        """The same number again for `service`, after it received a code before."""
        ...

    async def poll(self, order_id: str) -> Poll:
        """Ask for the order's SMS."""
        ...

    async def request_another(self, order_id: str) -> None:
        """Ask for one more SMS on the same number (free on both upstreams)."""
        ...

    async def cancel(self, order_id: str) -> None:
        """Give the number back for a refund."""
        ...

    async def block(self, order_id: str) -> None:
        """Report the number as unusable (also a refund where no SMS came)."""
        ...

    async def open_orders(self) -> list[UpstreamOrder] | None:
        """The account's current orders, or None where the upstream cannot list them."""
        ...

    async def rent_offers(self, country: str, hours: int) -> dict[str, Offer]:
        """Stock and price of a rental of `hours`, by the provider's rental service code."""
        ...

    async def rent(
        self, service: str, country: str, hours: int, operator: str | None = None
    ) -> RentPurchase:
        """Rent a number for at least `hours`; ProviderRefused on a definite no."""
        ...

    async def rent_orders(self) -> list[RentOrder] | None:
        """The account's open rentals, or None where the upstream cannot list them."""
        ...

    async def rent_state(self, order_id: str) -> RentState:
        """Whether the rented number can receive SMS now."""
        ...

    async def rent_activate(self, order_id: str) -> None:
        """Wake the rented number up so that it receives SMS."""
        ...

    async def rent_messages(self, order_id: str) -> tuple[RentMessage, ...]:
        """Every SMS the rented number received, oldest first."""
        ...

    async def rent_prolong(self, order_id: str, hours: int) -> float:
        """Extend the rental by at least `hours`; the seconds actually added."""
        ...

    async def rent_end(self, order_id: str) -> None:
        """End the rental now (refunded upstream where no SMS came)."""
        ...

    async def aclose(self) -> None:
        """Release what the adapter holds (the shared http client is closed by its owner)."""
        ...
