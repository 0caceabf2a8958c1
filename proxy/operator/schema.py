"""The JSON twin's shape (`/admin/api/overview`, and one section of it per
`/admin/api/<section>`): what the page renders and scripts read, the same numbers.

Times are Unix seconds; durations seconds; money a decimal string in the currency named
beside it; a rate a fraction 0..1 (None when nothing was there to divide). Phones are masked
(`mask_phone`); no key, token or secret is ever in it.
"""

from __future__ import annotations

from typing import TypedDict

SECTIONS = ("providers", "windows", "charts", "activations", "rentals", "intents", "errors",
            "tenants")  # fmt: skip


class Latency(TypedDict):
    """Upstream request latency over the last hour, from every replica's histograms
    (milliseconds, interpolated within the bucket the quantile falls in: exact to its width)."""

    p50_ms: float | None
    p99_ms: float | None
    calls: int


class Stock(TypedDict):
    """What the offers cache last saw of one service the tenants buy most."""

    service: str
    country: int
    count: int | None
    price: str | None
    seen_at: float | None


class Provider(TypedDict):
    name: str
    kind: str
    state: str  # closed | open | half_open (the breaker, as every replica sees it)
    resting: bool
    rest_reason: str  # "" when not resting
    rest_until: float | None
    failures: int
    last_error: str | None  # scrubbed of keys
    balance: str | None  # as last seen (a client's getBalance, the poller's refresh)
    balance_at: float | None
    currency: str
    latency: Latency
    error_rate: float | None  # errors / calls sent over the last hour
    errors: int
    stock: list[Stock]


class Window(TypedDict):
    """One scope's totals over a window (the last hour or the last day)."""

    bought: int
    coded: int
    success_rate: float | None  # coded / bought
    cancelled: int  # given back by the client (setStatus 8)
    refunded: int  # every number given back upstream (client cancels, expiries, orphans)
    code_seconds_p50: float | None  # time from purchase to first code
    code_seconds_p90: float | None
    polls: int  # upstream polls
    # polls / bought; None for services and countries (a poll names its provider only)
    polls_per_activation: float | None


class Windows(TypedDict):
    """Totals per scope: "all", "provider:<name>", "service:<code>", "country:<id>"."""

    hour: dict[str, Window]
    day: dict[str, Window]


class Series(TypedDict):
    """One value per step, oldest first (a step with nothing in it counts 0, or None for a
    quantile or ratio with nothing to compute it from)."""

    bought: list[int]
    coded: list[int]
    cancelled: list[int]
    refunded: list[int]
    code_seconds_p50: list[float | None]
    polls_per_activation: list[float | None]


class Chart(TypedDict):
    start: float  # the first step's start
    step_seconds: int  # 60 for the hour, 3600 for the day
    points: int
    series: dict[str, Series]  # same scopes as Windows


class Charts(TypedDict):
    hour: Chart
    day: Chart


class Held(TypedDict):
    """A number a tenant holds now: an activation or a rental."""

    id: int
    tenant: str
    provider: str
    service: str
    country: int
    phone: str  # masked
    state: str  # the state's name: WAIT_CODE, CODE_RECEIVED, WAIT_RETRY; ACTIVE (rentals)
    age_seconds: float


class ActiveActivation(Held):
    codes: int


class Activations(TypedDict):
    active: int  # all of them
    shown: list[ActiveActivation]  # the newest, at most SHOWN


class ActiveRental(Held):
    left_seconds: float
    messages: int


class Rentals(TypedDict):
    active: int
    shown: list[ActiveRental]


class Intent(TypedDict):
    """A purchase sent upstream whose outcome is not recorded: the operator looks first."""

    id: int
    kind: str  # activation | rental
    tenant: str
    provider: str
    service: str
    country: str
    status: str  # sending | unknown | not_listed
    age_seconds: float
    error: str  # scrubbed


class Intents(TypedDict):
    unknown: int  # awaiting reconciliation: status unknown/not_listed, or sending for long
    shown: list[Intent]


class ErrorGroup(TypedDict):
    """Upstream errors of the last hour, one row per provider, endpoint and kind."""

    provider: str
    endpoint: str
    # the failure's class in snake case (provider_unavailable, request_not_sent, outcome_unknown,
    # provider_answer_invalid, ...) or the refusal an operator acts on (bad_key, no_balance,
    # rate_limited, bad_request)
    kind: str
    count: int
    last_at: float | None
    message: str  # the last one, scrubbed of keys


class Tenant(TypedDict):
    name: str
    currency: str
    active: int
    bought_hour: int
    bought_day: int
    spend_day: str  # what the tenant paid over the day, refunds taken off
    refunded_day: str
    success_rate_day: float | None
    rented_day: int  # rentals taken over the day (their price is not recorded: not in spend)


class Overview(TypedDict):
    generated_at: float
    refresh_seconds: int
    attention: list[str]  # what an operator must see first, in words, most urgent first
    providers: list[Provider]
    windows: Windows
    charts: Charts
    activations: Activations
    rentals: Rentals
    intents: Intents
    errors: list[ErrorGroup]
    tenants: list[Tenant]


def mask_phone(phone: str) -> str:
    """A phone as the page may show it: the first 2 and last 2 digits, the rest starred
    (`79123456789` -> `79*******89`); 4 digits or fewer are all starred."""
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]
