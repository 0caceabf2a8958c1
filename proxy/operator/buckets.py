"""Reading the tally's time buckets back: windows (totals), chart series and quantiles.

Pure functions over what `read` returns, so the arithmetic is tested without Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from proxy.operator.schema import Series, Window
from proxy.operator.tally import CODE_SECONDS, HOUR, LATENCY_MS, MINUTE
from proxy.store.keys import Keys

Counts = dict[str, int]  # name -> amount, one scope
Scoped = dict[str, Counts]  # scope -> its counts

HOUR_POINTS, DAY_POINTS = 60, 24


@dataclass(frozen=True, slots=True)
class Buckets:
    """The last hour by minute and the last day by hour, oldest first, each bucket by scope;
    the last message of each upstream error group."""

    hour_start: float
    minutes: list[Scoped]
    day_start: float
    hours: list[Scoped]
    last_errors: dict[str, tuple[float, str]]


async def read(redis: aioredis.Redis, keys: Keys, now: float | None = None) -> Buckets:
    """The buckets of the 60 minutes and 24 hours up to now (the current ones included)."""
    now = time.time() if now is None else now
    minute, hour = int(now // MINUTE), int(now // HOUR)
    minutes = range(minute - HOUR_POINTS + 1, minute + 1)
    hours = range(hour - DAY_POINTS + 1, hour + 1)
    async with redis.pipeline(transaction=False) as pipe:
        for m in minutes:
            pipe.hgetall(keys.tally_minute(m))
        for h in hours:
            pipe.hgetall(keys.tally_hour(h))
        pipe.hgetall(keys.tally_errors())
        replies = cast("list[dict[str, str]]", await pipe.execute())
    last: dict[str, tuple[float, str]] = {}
    for field, raw in replies[-1].items():
        at, message = _decode_error(raw)
        last[field] = (at, message)
    return Buckets(
        hour_start=float(minutes[0] * MINUTE),
        minutes=[parse(r) for r in replies[:HOUR_POINTS]],
        day_start=float(hours[0] * HOUR),
        hours=[parse(r) for r in replies[HOUR_POINTS:-1]],
        last_errors=last,
    )


def _decode_error(raw: str) -> tuple[float, str]:
    try:
        at, message = json.loads(raw)
        return float(at), str(message)
    except (ValueError, TypeError):
        return 0.0, ""


def parse(fields: Mapping[str, str]) -> Scoped:
    """A bucket's `scope|name` fields by scope; error groups under the scope `error`, named
    `provider|endpoint|kind`."""
    scoped: Scoped = {}
    for field, value in fields.items():
        # A name never holds "|"; a scope may (a tenant or provider named so): the last "|"
        # ends the scope. An error group's name is the rest after "error|".
        if field.startswith("error|"):
            scope, name = "error", field[len("error|") :]
        else:
            scope, _, name = field.rpartition("|")
        counts = scoped.setdefault(scope, {})
        counts[name] = counts.get(name, 0) + int(value)
    return scoped


def merge(buckets: Sequence[Scoped]) -> Scoped:
    """Several buckets summed, scope by scope."""
    total: Scoped = {}
    for scoped in buckets:
        for scope, counts in scoped.items():
            into = total.setdefault(scope, {})
            for name, amount in counts.items():
                into[name] = into.get(name, 0) + amount
    return total


def histogram(counts: Counts, prefix: str) -> dict[int, int]:
    """The histogram fields `<prefix>:<i>` of one scope, by bucket index."""
    found: dict[int, int] = {}
    for name, amount in counts.items():
        if name.startswith(prefix + ":"):
            found[int(name[len(prefix) + 1 :])] = amount
    return found


def quantile(hist: Mapping[int, int], bounds: Sequence[int], q: float) -> float | None:
    """The q-quantile, linearly interpolated within the bucket that holds it (as Prometheus'
    histogram_quantile does; the first bucket starts at 0), the last bound when it falls
    above it; None for an empty histogram."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for index in sorted(hist):
        count = hist[index]
        if count and seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1])
            low = float(bounds[index - 1]) if index else 0.0
            return round(low + (bounds[index] - low) * (rank - seen) / count, 3)
        seen += count
    return float(bounds[-1])


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def polled(scope: str) -> bool:
    """Whether a scope counts upstream polls (a poll names its provider, not its service)."""
    return scope == "all" or scope.startswith("provider:")


def window(counts: Counts, scope: str = "all") -> Window:
    """One scope's totals over the buckets `counts` was merged from."""
    codes = histogram(counts, "code")
    bought = counts.get("bought", 0)
    return Window(
        bought=bought,
        coded=counts.get("coded", 0),
        success_rate=ratio(counts.get("coded", 0), bought),
        cancelled=counts.get("cancelled", 0),
        refunded=counts.get("refunded", 0),
        code_seconds_p50=quantile(codes, CODE_SECONDS, 0.5),
        code_seconds_p90=quantile(codes, CODE_SECONDS, 0.9),
        polls=counts.get("polls", 0),
        polls_per_activation=ratio(counts.get("polls", 0), bought) if polled(scope) else None,
    )


def series(buckets: Sequence[Scoped], scope: str) -> Series:
    """One scope's values per bucket, oldest first."""
    steps = [b.get(scope, {}) for b in buckets]
    return Series(
        bought=[s.get("bought", 0) for s in steps],
        coded=[s.get("coded", 0) for s in steps],
        cancelled=[s.get("cancelled", 0) for s in steps],
        refunded=[s.get("refunded", 0) for s in steps],
        code_seconds_p50=[quantile(histogram(s, "code"), CODE_SECONDS, 0.5) for s in steps],
        polls_per_activation=[
            ratio(s.get("polls", 0), s.get("bought", 0)) if polled(scope) else None for s in steps
        ],
    )


def latency(counts: Counts) -> tuple[float | None, float | None, int]:
    """(p50, p99) upstream latency in ms and the calls sent, for one provider scope."""
    hist = histogram(counts, "lat")
    return (quantile(hist, LATENCY_MS, 0.5), quantile(hist, LATENCY_MS, 0.99),
            counts.get("calls", 0))  # fmt: skip


def top(scoped: Scoped, prefix: str, most: int) -> list[str]:
    """The scopes named `<prefix>:...` that bought most (ties by name), at most `most`."""
    found = [(counts.get("bought", 0), scope) for scope, counts in scoped.items()
             if scope.startswith(prefix + ":") and counts.get("bought", 0)]  # fmt: skip
    found.sort(key=lambda item: (-item[0], item[1]))
    return [scope for _, scope in found[:most]]
