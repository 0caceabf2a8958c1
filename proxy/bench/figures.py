"""From what a run recorded to the reported figures: percentiles, upstream polls, SMS delays.

Activations are matched to upstream orders by phone number (the proxy answers it with the
calling code; SMSPVA's emulator keeps it national, VAK-SMS's with the code), which needs nothing
from the proxy but its protocol answers.

Clocks: the emulators stamp an SMS with `time.monotonic()` in their own process, the bots read
`time.monotonic()` in the bench process. On Linux that is CLOCK_MONOTONIC, one clock for the
whole machine (macOS and Windows monotonic clocks are system-wide too), so the two compare as
long as everything runs on one machine, which the managed mode guarantees.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from proxy.bench.cpu import Spent
from proxy.bench.hammer import Result
from proxy.bench.idle import IdlePurchases
from proxy.bench.load import BotActivation, Direct, Recorder

# The endpoint each emulator counts an order's status poll under.
POLL_ENDPOINTS = {"smspva": "sms", "vaksms": "getSmsCode"}
DIRECT_ENDPOINTS = {"smspva": "number", "vaksms": "getNumber"}
PROXY_UPSTREAM_KEY = "emulator-key"


@dataclass(frozen=True, slots=True)
class Memory:
    """`INFO memory`: all of it, and what client connections' buffers take of it."""

    used: int
    clients: int

    @property
    def data(self) -> int:
        """What does not depend on how many connections are open."""
        return self.used - self.clients


@dataclass(slots=True)
class TrackedActivation:
    """The activation polled in closed loop (monotonic times)."""

    activation_id: str
    phone: str
    bought_at: float
    ended_at: float | None = None
    client_requests: int = 0


@dataclass(slots=True)
class LogSummary:
    """Warnings and errors the proxies logged, and their own timing of the load's requests."""

    events: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )  # level -> event -> count
    server_seconds: defaultdict[str, list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )  # action -> durations the proxy logged
    unstructured: int = 0


@dataclass(slots=True)
class Raw:
    """Everything one run recorded; report.build_report turns it into the figures."""

    options: dict[str, Any]
    mode: str
    recorder: Recorder = field(default_factory=Recorder)
    activations: list[BotActivation] = field(default_factory=list)
    direct: Direct = field(default_factory=Direct)
    cleanup: Counter[str] = field(default_factory=Counter)
    load_wall: tuple[float, float] = (0.0, 0.0)
    memory_before: Memory | None = None
    memory_after: Memory | None = None
    keys: list[tuple[str, int]] | None = None
    activation_key_bytes: int | None = None
    tracked: TrackedActivation | None = None
    hammer: dict[str, Result] = field(default_factory=dict)
    upstream_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats_at: float | None = None
    proxy_log: LogSummary | None = None
    # activation id -> when the proxy recorded its first code (unix time, from its Redis
    # record), and the offset that turns the emulators' monotonic times into unix time
    code_seen_at: dict[str, float] = field(default_factory=dict)
    monotonic_to_unix: float = 0.0
    # What each server process cost (cpu.py): idle (the window in which nothing was asked of
    # them), during the bots' load, and the no-load purchases (idle.py).
    idle: Spent | None = None
    load_cpu: Spent | None = None
    purchases: IdlePurchases | None = None
    # The closed loop: which client drove it, the servers behind each target, and the HTTP
    # parser and event loop the bare endpoint reported (bare.STACK_PATH).
    client: str = "python"
    loop_servers: dict[str, list[str]] = field(default_factory=dict)
    stack: dict[str, Any] | None = None
    native: dict[str, list[str] | None] = field(default_factory=dict)  # server -> libraries
    # `serve --workers`: whether it could be measured, and if not, why.
    workers: dict[str, Any] = field(default_factory=dict)


# -- numbers ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 2)


def latency_ms(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50_ms": ms(percentile(values, 0.5)), "p99_ms": ms(percentile(values, 0.99))}


# -- upstream orders ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Order:
    """An upstream order as the emulator's stats list it."""

    provider: str
    order_id: str
    first_sms_at: float | None
    polls: int


def upstream_orders(stats: dict[str, dict[str, Any]]) -> dict[str, Order]:
    """The proxy's orders (not the direct buyers') by phone as the emulator stores it."""
    by_phone: dict[str, Order] = {}
    for provider, body in stats.items():
        poll_endpoint = POLL_ENDPOINTS[provider]
        polls: Counter[str] = Counter()
        for entry in body.get("order_requests", []):
            if entry["endpoint"] == poll_endpoint:
                polls[str(entry["order_id"])] += int(entry["count"])
        for order in body.get("orders", []):
            if order.get("api_key") != PROXY_UPSTREAM_KEY:
                continue
            messages = order.get("messages") or []
            order_id = str(order["order_id"])
            first = float(messages[0]["at"]) if messages else None
            by_phone[str(order["phone"])] = Order(provider, order_id, first, polls[order_id])
    return by_phone


def find_order(orders: dict[str, Order], phone: str) -> Order | None:
    """The order behind a phone the proxy answered, with or without its calling code."""
    for cut in range(4):
        found = orders.get(phone[cut:])
        if found is not None:
            return found
    return None


def intervals_touched(start: float, end: float, interval: float) -> int:
    """How many poll intervals a life of end - start seconds can overlap: the poll bound."""
    return math.floor(max(0.0, end - start) / interval) + 1


# -- proxy logs ---------------------------------------------------------------------------------


def summarize_logs(paths: Iterable[Path], window: tuple[float, float]) -> LogSummary:
    """Warnings/errors by event, and the proxies' own request durations within the load."""
    summary = LogSummary()
    start, end = window
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                summary.unstructured += bool(line.strip())
                continue
            if not isinstance(entry, dict):
                continue
            level = str(entry.get("level", ""))
            if level in ("warning", "error", "critical"):
                summary.events[level][str(entry.get("event"))] += 1
            timed = entry.get("event") == "request" and "duration_ms" in entry
            if timed and _within(entry.get("timestamp"), start, end):
                action = str(entry.get("action"))
                summary.server_seconds[action].append(float(entry["duration_ms"]) / 1000)
    return summary


def _within(stamp: object, start: float, end: float) -> bool:
    try:
        at = datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return False
    return start <= at <= end
