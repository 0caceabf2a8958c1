"""The report of `smsproxy bench`: one dict (printed by `--json`) and the table made from it.

`smsproxy bench --json` prints one object. Times are milliseconds (`_ms`), rates requests per
second (`rps`), memory bytes; a figure that the run could not measure is `null` (with `--url`:
everything that needs the emulators, Redis or the bare endpoint, listed in `unavailable`).

- `mode`: `managed` (the bench started everything) or `url` (`--url`: a running proxy).
- `settings`: `duration_s`, `bots`, `poll_s` (the bots' getStatus period), `poll_interval_s`
  (the providers' `poll_interval`; null with `--url`), `sms_delay_s` (the emulators'; null with
  `--url`), `hammer_s` (closed-loop seconds measured per target: wrk rounds its slices to whole
  seconds), `connections`, `cores`, `url`, `client` (the closed loop's load generator: `wrk`
  when on PATH, else `python`), `stack` (`http` parser and event `loop` the bare endpoint
  reported running on, e.g. `httptools`, `uvloop`; smsproxy is served by the same code),
  `native` (server → which of `httptools`, `uvloop` its processes have loaded, read from
  /proc: what `smsproxy serve` really runs on; null with `--url`), `idle_purchases` (rounds of
  the no-load purchases; null with `--url`).
- `actions.getNumber`, `actions.getStatus`, `actions.setStatus`: the bots' requests. `count`;
  `rps` (count / duration); `p50_ms`, `p99_ms` as the bots saw them (client time included);
  `server_p50_ms`, `server_p99_ms` as replica 0 logged them (`duration_ms`); `answers` (answer
  word → count, `HTTP_…` for transport failures).
- `activations`: `created` (ACCESS_NUMBER answers), `completed` (setStatus 6 after
  `STATUS_OK`), `left_open` (still waiting at the end, then ended by the bench: getStatus,
  setStatus 6 or 8; `cleanup` counts "<request> <answer>"), `not_ended` (neither the bots nor
  the bench managed to end them), `by_provider` (matched to the upstream orders by phone).
- `upstream.polls_per_activation`: upstream status polls (SMSPVA `sms`, VAK-SMS `getSmsCode`)
  per completed activation.
- `upstream.polls_per_interval_worst`: the largest, over all activations, of its upstream polls
  divided by the poll intervals its life overlapped (`floor(life / interval) + 1`); at most 1
  means never two polls in one interval.
- `upstream.activations_over_bound`: activations polled more often than that bound.
- `upstream.client_polls_per_upstream_poll`: the bots' getStatus requests per upstream poll.
- `upstream.closed_loop_activation`: the activation polled in closed loop: `client_requests`,
  `polls` (upstream), `allowed` (the bound for its life).
- `upstream.providers.smspva`, `upstream.providers.vaksms`: `activations` (completed), `polls`,
  `polls_per_activation`, `requests` (upstream endpoint → calls by the proxy over the whole
  run, the bench's direct purchases taken out), `requests_per_activation` (per activation
  created).
- `sms_to_ok_ms`: from the SMS reaching the emulated upstream to the bot's first `STATUS_OK`
  answer: `count`, `p50`, `p99`, `max`. The bots' own poll period is part of it; the proxy's
  part shows in `proxy_p50`, `proxy_p99`, `proxy_max` (from the SMS reaching the upstream to
  the proxy holding the code: the first message's time in its Redis record; the target uses
  `proxy_p99`, since the bots' own poll period is not the proxy's), and in `stale_wait_p50`,
  `stale_wait_p99`, `stale_wait_max`: how long after the SMS
  reached the upstream a getStatus was still sent that got a "wait" answer (0 when none was).
- `getnumber_added_ms`: proxy getNumber against direct upstream purchases made during the load
  with the same client settings: `p50`, `p99` (proxy percentile minus direct percentile),
  `proxy_p50`, `proxy_p99`, `direct_p50`, `direct_p99`, `direct_count`; the same purchases
  through the bare app's relay (one more uvicorn hop and one httpx call with the proxy's client
  settings, nothing else): `relay_p50`, `relay_p99`, `relay_count`, and the split of `p50` and
  `p99` into the stack's share, `relay_over_direct_p50`, `relay_over_direct_p99`, and
  smsproxy's own, `proxy_over_relay_p50`, `proxy_over_relay_p99`; the same per provider under
  `providers`; `direct_failed` (direct or relayed purchases that sold nothing: none expected).
- `redis`: `activations` (created); `used_memory_delta` (`INFO memory` used_memory after the
  load minus before, on a fresh Redis); `bytes_per_activation` (that delta less client
  connection buffers, `mem_clients_normal`, per activation); `keys_bytes_per_activation` (the
  sum of `MEMORY USAGE` over the proxy's keys, per activation); `activation_key_bytes`
  (`MEMORY USAGE` of one activation record); `keys` (key pattern → `count`, `bytes`).
- `throughput`: closed loop, `connections` keep-alive connections for `hammer_s` per target:
  `bare_rps`, `getstatus_rps` (one replica), `getstatus_two_replicas_rps` (two replicas on one
  Redis, connections alternating), `getstatus_workers_rps` (`serve --workers 2`; null when not
  measured, see `workers`), `bare_p50_ms`, `bare_p99_ms`, `getstatus_p50_ms`,
  `getstatus_p99_ms`, `getstatus_answers`, `errors`; `client` (`wrk` or `python`);
  `client_cpu_us_per_request` (target → the load generator's own CPU µs per request: wrk's
  from its rusage, the Python client's from the bench process); `server_busy_percent` (target
  → CPU its server processes used, net of idle, as % of one core over the measured time; 100
  per process is saturated, well below it means something else, the client or other load on
  the machine, was the limit); `client_limited` (targets where the client's CPU per request
  was at least the server's: their req/s measure the client).
- `getstatus_vs_bare`: `getstatus_rps / bare_rps` (the old ratio, kept for comparison); the
  bare endpoint is one starlette route answering a fixed word, no Redis, served with the same
  uvicorn settings.
- `two_replicas_ratio`: `getstatus_two_replicas_rps / getstatus_rps`.
- `two_replicas_per_core`: `two_replicas_ratio / 2`, throughput per core used relative to one
  replica.
- `cpu_us_per_request`: CPU microseconds per request, read from each server process's CPU time
  (/proc, its whole process tree, proxy/bench/cpu.py) over the phase, less what that process
  burns idle over the same wall time (`idle_cpu_percent`); so it does not depend on the load
  generator. `getStatus`: `bare`, `smsproxy` (one replica), `smsproxy_two_replicas` (both),
  `smsproxy_workers` (`serve --workers 2`), from the closed loop. `getNumber`: `smsproxy` (all
  smsproxy processes), `redis`, `relay` (the bare relay per relayed purchase),
  `smsproxy_over_relay`, `count`, from the no-load purchases. `setStatus`: `smsproxy`, `redis`,
  `count`, the cancels (status 8) of those purchases. `load`: `smsproxy`, `redis` per bot
  request (all actions mixed), `requests`. Null off Linux.
- `idle_cpu_percent`: server (`proxy-0`, `proxy-1`, `proxy-workers`, `bare`, `smspva`,
  `vaksms`, `redis`) → % of one core it used in a window where nothing was asked of it (pollers,
  lease renewals).
- `getstatus_cpu_vs_bare`: `cpu_us_per_request.getStatus.smsproxy / .bare`, both served by the
  same uvicorn stack (`settings.stack`).
- `getnumber_idle_ms`: purchases with no load, one request at a time, each round buying one
  number directly, through the bare relay and through smsproxy from the same provider:
  `count`, `proxy_p50`, `proxy_p99`, `relay_p50`, `relay_p99`, `direct_p50`, `direct_p99`,
  `proxy_over_relay_p50`, `proxy_over_relay_p99` (smsproxy's own share),
  `relay_over_direct_p50`, `relay_over_direct_p99` (the stack's), `failed`, `cancels` (answer
  word → count of the setStatus 8 that ended smsproxy's numbers).
- `workers`: `available` (whether `serve --workers` could be measured), `count` (2), `reason`
  (why not, when not), `ratio` (`getstatus_workers_rps / getstatus_rps`), `cpu_share_percent`
  (each process of that server, master included, as % of the server's CPU in its closed loop,
  largest first: an even split is what lets two workers use two cores).
- `targets.<name>`: `value`, `target` (as text), `pass` (true, false, or null when not
  measured), `note` (why not measured, or null) for `getstatus_cpu_vs_bare` (<= 2),
  `getstatus_vs_bare` (>= 0.5), `getnumber_own_idle_p50_ms` (`getnumber_idle_ms`
  `proxy_over_relay_p50` <= 1), `workers_two_vs_one` (`workers.ratio` >= 1.6),
  `upstream_polls_per_interval`, `sms_to_ok_p99_ms`, `redis_bytes_per_activation`. The
  under-load `getnumber_added_ms` figures are reported beside them without a target: with a
  busy 2-core machine they measure queueing, and issue 15 moved the target to smsproxy's own
  share with no load.
- `unavailable`: the figures this mode cannot measure (null above).
- `proxy_log`: from the proxies' JSON logs, `warning` and `error` (event → count), and
  `unstructured_lines` (lines that are not JSON: tracebacks, uvicorn's own messages).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from proxy.bench.cpu import Spent, idle_rates
from proxy.bench.figures import (
    DIRECT_ENDPOINTS,
    Order,
    Raw,
    difference,
    find_order,
    intervals_touched,
    latency_ms,
    ms,
    percentile,
    ratio,
    upstream_orders,
)
from proxy.bench.hammer import Result
from proxy.bench.idle import IdlePurchases
from proxy.bench.load import BotActivation, Purchases

ACTIONS = ("getNumber", "getStatus", "setStatus")
PROVIDERS = ("smspva", "vaksms")
NEEDS_STACK = [
    "upstream",
    "sms_to_ok_ms",
    "getnumber_added_ms",
    "redis",
    "throughput.bare_rps",
    "throughput.getstatus_two_replicas_rps",
    "getstatus_vs_bare",
    "two_replicas_ratio",
    "two_replicas_per_core",
    "actions.*.server_p50_ms",
    "proxy_log",
    "cpu_us_per_request",
    "idle_cpu_percent",
    "getstatus_cpu_vs_bare",
    "getnumber_idle_ms",
    "workers",
    "throughput.getstatus_workers_rps",
    "throughput.server_busy_percent",
]
# Closed-loop targets (runner._closed_loop_targets) -> their name under cpu_us_per_request.
LOOP_LABELS = {
    "bare": "bare",
    "getstatus": "smsproxy",
    "getstatus_two_replicas": "smsproxy_two_replicas",
    "getstatus_workers": "smsproxy_workers",
}


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def build_report(raw: Raw) -> dict[str, Any]:
    """The JSON object documented above."""
    managed = raw.mode == "managed"
    interval: float | None = raw.options["poll_interval_s"]
    orders = upstream_orders(raw.upstream_stats) if managed else {}
    matched = [(act, find_order(orders, act.phone)) for act in raw.activations]
    report: dict[str, Any] = {
        "mode": raw.mode,
        "settings": {
            **raw.options,
            "cores": cores(),
            "client": raw.client,
            "stack": raw.stack,
            "native": raw.native or None,
        },
        "actions": _actions(raw),
        "activations": _activations(raw, matched),
        "upstream": _upstream(raw, matched, orders, interval) if interval else None,
        "sms_to_ok_ms": _sms_to_ok(matched, raw) if managed else None,
        "getnumber_added_ms": _added(raw, matched) if managed else None,
        "redis": _redis(raw) if managed else None,
    }
    report.update(_throughput(raw))
    report.update(_cpu(raw) if managed else dict.fromkeys(MANAGED_CPU_KEYS))
    report["targets"] = _targets(report, interval)
    report["unavailable"] = [] if managed else NEEDS_STACK
    log = raw.proxy_log
    report["proxy_log"] = (
        None
        if log is None
        else {
            "warning": dict(log.events["warning"]),
            "error": dict(log.events["error"]) | dict(log.events["critical"]),
            "unstructured_lines": log.unstructured,
        }
    )
    return report


def _actions(raw: Raw) -> dict[str, Any]:
    duration = float(raw.options["duration_s"])
    server = raw.proxy_log.server_seconds if raw.proxy_log is not None else {}
    figures = {}
    for action in ACTIONS:
        count = raw.recorder.count(action)
        own = server.get(action, [])
        figures[action] = {
            "count": count,
            "rps": round(count / duration, 1),
            **latency_ms(raw.recorder.latencies[action]),
            "server_p50_ms": ms(percentile(own, 0.5)),
            "server_p99_ms": ms(percentile(own, 0.99)),
            "answers": dict(raw.recorder.words[action].most_common()),
        }
    return figures


Matched = list[tuple[BotActivation, Order | None]]


def _activations(raw: Raw, matched: Matched) -> dict[str, Any]:
    completed = sum(1 for act in raw.activations if act.last_word == "ACCESS_ACTIVATION")
    by_provider = Counter(order.provider for _, order in matched if order is not None)
    return {
        "created": len(raw.activations),
        "completed": completed,
        "left_open": sum(act.left_open for act in raw.activations),
        "not_ended": sum(act.ended_at is None for act in raw.activations),
        "cleanup": dict(raw.cleanup),
        "by_provider": {p: by_provider[p] for p in PROVIDERS} if raw.mode == "managed" else None,
    }


def _upstream(
    raw: Raw, matched: Matched, orders: dict[str, Order], interval: float
) -> dict[str, Any]:
    worst, over = 0.0, 0
    end_of_run = raw.stats_at or 0.0
    for act, order in matched:
        if order is None:
            continue
        allowed = intervals_touched(act.bought_at, act.ended_at or end_of_run, interval)
        worst = max(worst, order.polls / allowed)
        over += order.polls > allowed
    tracked = None
    if raw.tracked is not None:
        t = raw.tracked
        order = find_order(orders, t.phone)
        asked = t.client_requests + sum(
            r.served + sum(r.errors.values()) for name, r in raw.hammer.items() if name != "bare"
        )
        allowed = intervals_touched(t.bought_at, t.ended_at or end_of_run, interval)
        polls = order.polls if order is not None else None
        tracked = {"client_requests": asked, "polls": polls, "allowed": allowed}
        if polls is not None:
            worst = max(worst, polls / allowed)
            over += polls > allowed
    completed = [(a, o) for a, o in matched if o is not None and a.last_word == "ACCESS_ACTIVATION"]
    phones = raw.purchases.phones if raw.purchases is not None else []
    idle_orders = [find_order(orders, phone) for phone in phones]
    providers = {}
    for provider in PROVIDERS:
        mine = [o for _, o in completed if o.provider == provider]
        polls = sum(o.polls for o in mine)
        counted = Counter(raw.upstream_stats.get(provider, {}).get("requests", {}))
        idle = raw.purchases
        counted[DIRECT_ENDPOINTS[provider]] -= raw.direct.sent(provider) + (
            idle.direct_sent(provider) if idle is not None else 0
        )
        requests = +counted  # drops what is left at zero
        created = sum(1 for _, o in matched if o is not None and o.provider == provider)
        created += sum(1 for o in idle_orders if o is not None and o.provider == provider)
        providers[provider] = {
            "activations": len(mine),
            "polls": polls,
            "polls_per_activation": ratio(polls, len(mine), 2),
            "requests": dict(requests.most_common()),
            "requests_per_activation": ratio(sum(requests.values()), created, 2),
        }
    all_polls = sum(o.polls for _, o in completed)
    client_polls = raw.recorder.count("getStatus")
    every_poll = sum(o.polls for _, o in matched if o is not None)
    return {
        "polls_per_activation": ratio(all_polls, len(completed), 2),
        "polls_per_interval_worst": round(worst, 2) if matched else None,
        "activations_over_bound": over,
        "client_polls_per_upstream_poll": ratio(client_polls, every_poll, 2),
        "closed_loop_activation": tracked,
        "providers": providers,
    }


def _sms_to_ok(matched: Matched, raw: Raw) -> dict[str, Any]:
    delays, stale, seen = [], [], []
    for act, order in matched:
        if order is None or order.first_sms_at is None:
            continue
        recorded = raw.code_seen_at.get(act.activation_id)
        if recorded is not None:
            seen.append(recorded - (order.first_sms_at + raw.monotonic_to_unix))
        if act.ok_at is None:
            continue
        delays.append(act.ok_at - order.first_sms_at)
        last_wait = act.last_wait_sent
        stale.append(max(0.0, last_wait - order.first_sms_at) if last_wait is not None else 0.0)
    return {
        "count": len(delays),
        "p50": ms(percentile(delays, 0.5)),
        "p99": ms(percentile(delays, 0.99)),
        "max": ms(max(delays)) if delays else None,
        "stale_wait_p50": ms(percentile(stale, 0.5)),
        "stale_wait_p99": ms(percentile(stale, 0.99)),
        "stale_wait_max": ms(max(stale)) if stale else None,
        "proxy_count": len(seen),
        "proxy_p50": ms(percentile(seen, 0.5)),
        "proxy_p99": ms(percentile(seen, 0.99)),
        "proxy_max": ms(max(seen)) if seen else None,
    }


def _added(raw: Raw, matched: Matched) -> dict[str, Any]:
    def compare(proxy: list[float], direct: list[float], relayed: list[float]) -> dict[str, Any]:
        p50, p99 = ms(percentile(proxy, 0.5)), ms(percentile(proxy, 0.99))
        d50, d99 = ms(percentile(direct, 0.5)), ms(percentile(direct, 0.99))
        r50, r99 = ms(percentile(relayed, 0.5)), ms(percentile(relayed, 0.99))
        return {"p50": difference(p50, d50), "p99": difference(p99, d99),
                "proxy_p50": p50, "proxy_p99": p99, "direct_p50": d50, "direct_p99": d99,
                "direct_count": len(direct),
                "relay_p50": r50, "relay_p99": r99, "relay_count": len(relayed),
                "relay_over_direct_p50": difference(r50, d50),
                "relay_over_direct_p99": difference(r99, d99),
                "proxy_over_relay_p50": difference(p50, r50),
                "proxy_over_relay_p99": difference(p99, r99)}  # fmt: skip

    proxy_by: dict[str, list[float]] = {p: [] for p in PROVIDERS}
    for act, order in matched:
        if order is not None:
            proxy_by[order.provider].append(act.number_latency)
    direct_by = {p: raw.direct.direct.latencies[p] for p in PROVIDERS}
    relay_by = {p: raw.direct.relayed.latencies[p] for p in PROVIDERS}
    overall = compare(*([x for p in PROVIDERS for x in by[p]]
                        for by in (proxy_by, direct_by, relay_by)))  # fmt: skip
    overall["providers"] = {p: compare(proxy_by[p], direct_by[p], relay_by[p]) for p in PROVIDERS}
    overall["direct_failed"] = raw.direct.failed()
    return overall


# Ids in key names: numbers, and VAK-SMS's 32-hex order ids.
_IDS = re.compile(r"[0-9a-f]{16,}|\d+")


def _redis(raw: Raw) -> dict[str, Any]:
    created = len(raw.activations)
    before, after = raw.memory_before, raw.memory_after
    delta = after.used - before.used if before and after else None
    data_delta = after.data - before.data if before and after else None
    patterns: dict[str, dict[str, int]] = {}
    for key, size in raw.keys or []:
        entry = patterns.setdefault(_IDS.sub("#", key), {"count": 0, "bytes": 0})
        entry["count"] += 1
        entry["bytes"] += size
    key_bytes = sum(size for _, size in raw.keys or [])
    return {
        "activations": created,
        "used_memory_delta": delta,
        "bytes_per_activation": ratio(data_delta, created, 0),
        "keys_bytes_per_activation": ratio(key_bytes, created, 0) if raw.keys else None,
        "activation_key_bytes": raw.activation_key_bytes,
        "keys": dict(sorted(patterns.items(), key=lambda kv: -kv[1]["bytes"])),
    }


def _throughput(raw: Raw) -> dict[str, Any]:
    bare = raw.hammer.get("bare")
    one = raw.hammer.get("getstatus")
    two = raw.hammer.get("getstatus_two_replicas")
    rps = {name: round(r.rps, 1) if r is not None else None
           for name, r in (("bare", bare), ("one", one), ("two", two))}  # fmt: skip
    workers = raw.hammer.get("getstatus_workers")
    errors: Counter[str] = Counter()
    for result in raw.hammer.values():
        errors.update(result.errors)
    two_ratio = ratio(rps["two"], rps["one"])
    idle = idle_rates(raw.idle) if raw.idle is not None else {}
    client_us = {name: _us(r.client_cpu, r.served) for name, r in raw.hammer.items()}
    server_us = {name: _loop_cpu_us(raw, name, idle) for name in raw.hammer}
    busy = {
        name: round(net / r.server.wall * 100, 1)
        for name, r in raw.hammer.items()
        if (net := _net(r.server, raw.loop_servers.get(name, []), idle)) is not None
        and r.server.wall > 0
    }
    limited = [
        name for name in raw.hammer
        if (c := client_us.get(name)) is not None and (v := server_us.get(name)) is not None
        and c >= v
    ]  # fmt: skip
    return {
        "throughput": {
            "bare_rps": rps["bare"],
            "getstatus_rps": rps["one"],
            "getstatus_two_replicas_rps": rps["two"],
            "getstatus_workers_rps": round(workers.rps, 1) if workers is not None else None,
            "bare_p50_ms": ms(percentile(bare.latencies, 0.5)) if bare else None,
            "bare_p99_ms": ms(percentile(bare.latencies, 0.99)) if bare else None,
            "getstatus_p50_ms": ms(percentile(one.latencies, 0.5)) if one else None,
            "getstatus_p99_ms": ms(percentile(one.latencies, 0.99)) if one else None,
            "getstatus_answers": dict(one.words.most_common()) if one else None,
            "errors": dict(errors),
            "client": raw.client,
            "client_cpu_us_per_request": client_us,
            "server_busy_percent": busy if raw.mode == "managed" else None,
            "client_limited": limited,
        },
        "getstatus_vs_bare": ratio(rps["one"], rps["bare"]),
        "two_replicas_ratio": two_ratio,
        "two_replicas_per_core": round(two_ratio / 2, 3) if two_ratio is not None else None,
    }


# -- CPU ----------------------------------------------------------------------------------------

MANAGED_CPU_KEYS = (
    "cpu_us_per_request",
    "idle_cpu_percent",
    "getstatus_cpu_vs_bare",
    "getnumber_idle_ms",
    "workers",
)


def _net(spent: Spent | None, names: list[str], idle: dict[str, float]) -> float | None:
    """CPU seconds of `names` in `spent`, less their idle burn; None when nothing to read."""
    if spent is None or not names:
        return None
    return spent.net(names, idle)


def _us(seconds: float | None, count: int) -> float | None:
    """Microseconds per request."""
    if seconds is None or count <= 0:
        return None
    return round(seconds / count * 1e6, 1)


def _loop_cpu_us(raw: Raw, name: str, idle: dict[str, float]) -> float | None:
    result: Result | None = raw.hammer.get(name)
    if result is None:
        return None
    return _us(_net(result.server, raw.loop_servers.get(name, []), idle), result.served)


def _smsproxy(spent: Spent | None) -> list[str]:
    """smsproxy's processes among the servers a window read (replicas and workers)."""
    return sorted(name for name in (spent.cpu if spent else {}) if name.startswith("proxy-"))


def _cpu(raw: Raw) -> dict[str, Any]:
    """CPU per request by action and server, net of idle burn; the no-load purchases."""
    idle = idle_rates(raw.idle) if raw.idle is not None else {}
    get_status = {label: _loop_cpu_us(raw, name, idle) for name, label in LOOP_LABELS.items()}
    p = raw.purchases
    get_number: dict[str, Any] = {"smsproxy": None, "redis": None, "relay": None,
                                  "smsproxy_over_relay": None, "count": 0}  # fmt: skip
    set_status: dict[str, Any] = {"smsproxy": None, "redis": None, "count": 0}
    idle_ms = None
    if p is not None:
        bought, relayed = sum(p.proxy.sent.values()), sum(p.relayed.sent.values())
        own = _us(_net(p.buying, _smsproxy(p.buying), idle), bought)
        relay = _us(_net(p.buying, ["bare"], idle), relayed)
        get_number = {
            "smsproxy": own,
            "redis": _us(_net(p.buying, ["redis"], idle), bought),
            "relay": relay,
            "smsproxy_over_relay": difference(own, relay),
            "count": bought,
        }
        cancels = sum(p.cancels.values())
        set_status = {
            "smsproxy": _us(_net(p.cancelling, _smsproxy(p.cancelling), idle), cancels),
            "redis": _us(_net(p.cancelling, ["redis"], idle), cancels),
            "count": cancels,
        }
        idle_ms = _idle_latencies(p)
    requests = sum(raw.recorder.count(action) for action in ACTIONS)
    load = {
        "smsproxy": _us(_net(raw.load_cpu, _smsproxy(raw.load_cpu), idle), requests),
        "redis": _us(_net(raw.load_cpu, ["redis"], idle), requests),
        "requests": requests,
    }
    workers = dict(raw.workers) or {"available": False, "count": None, "reason": None}
    many, one = raw.hammer.get("getstatus_workers"), raw.hammer.get("getstatus")
    workers["ratio"] = ratio(many.rps, one.rps) if many is not None and one is not None else None
    split = many.server.processes.get("proxy-workers", {}) if many is not None else {}
    total = sum(split.values())
    workers["cpu_share_percent"] = (
        sorted((round(seconds / total * 100, 1) for seconds in split.values()), reverse=True)
        if total > 0
        else None
    )
    return {
        "cpu_us_per_request": {
            "getStatus": get_status,
            "getNumber": get_number,
            "setStatus": set_status,
            "load": load,
        },
        "idle_cpu_percent": {name: round(rate * 100, 2) for name, rate in sorted(idle.items())},
        "getstatus_cpu_vs_bare": ratio(get_status["smsproxy"], get_status["bare"]),
        "getnumber_idle_ms": idle_ms,
        "workers": workers,
    }


def _idle_latencies(p: IdlePurchases) -> dict[str, Any]:
    def pooled(purchases: Purchases) -> list[float]:
        return [x for values in purchases.latencies.values() for x in values]

    proxy, relay, direct = pooled(p.proxy), pooled(p.relayed), pooled(p.direct)
    p50, p99 = ms(percentile(proxy, 0.5)), ms(percentile(proxy, 0.99))
    r50, r99 = ms(percentile(relay, 0.5)), ms(percentile(relay, 0.99))
    d50, d99 = ms(percentile(direct, 0.5)), ms(percentile(direct, 0.99))
    failed = sum(p.proxy.failed.values()) + sum(p.relayed.failed.values())
    return {
        "count": len(proxy),
        "proxy_p50": p50, "proxy_p99": p99,
        "relay_p50": r50, "relay_p99": r99,
        "direct_p50": d50, "direct_p99": d99,
        "proxy_over_relay_p50": difference(p50, r50),
        "proxy_over_relay_p99": difference(p99, r99),
        "relay_over_direct_p50": difference(r50, d50),
        "relay_over_direct_p99": difference(r99, d99),
        "failed": failed + sum(p.direct.failed.values()),
        "cancels": dict(p.cancels.most_common()),
    }  # fmt: skip


def _dig(report: dict[str, Any], *path: str) -> Any:
    node: Any = report
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _targets(report: dict[str, Any], interval: float | None) -> dict[str, Any]:
    """Issue 15's targets for a 2-core machine and those the bench met before, each with its
    measured value; `note` says why one could not be measured."""
    sms_limit = round(interval * 1000 + 200, 2) if interval else math.inf
    sms_text = f"{sms_limit:g} (interval + 200 ms)" if interval else "poll interval + 200 ms"
    workers = report.get("workers") or {}
    checks: list[tuple[str, Any, str, Callable[[float], bool]]] = [
        ("getstatus_cpu_vs_bare", _dig(report, "getstatus_cpu_vs_bare"), "<= 2",
         lambda v: v <= 2),
        ("getstatus_vs_bare", _dig(report, "getstatus_vs_bare"), ">= 0.5", lambda v: v >= 0.5),
        ("getnumber_own_idle_p50_ms", _dig(report, "getnumber_idle_ms", "proxy_over_relay_p50"),
         "<= 1", lambda v: v <= 1),
        ("workers_two_vs_one", workers.get("ratio"), ">= 1.6", lambda v: v >= 1.6),
        ("upstream_polls_per_interval", _dig(report, "upstream", "polls_per_interval_worst"),
         "<= 1", lambda v: v <= 1),
        ("sms_to_ok_p99_ms", _dig(report, "sms_to_ok_ms", "proxy_p99"),
         f"<= {sms_text}", lambda v: v <= sms_limit),
        ("redis_bytes_per_activation", _dig(report, "redis", "bytes_per_activation"), "<= 1024",
         lambda v: v <= 1024),
    ]  # fmt: skip
    notes = {"workers_two_vs_one": workers.get("reason")}
    return {
        name: {
            "value": value,
            "target": target,
            "pass": None if value is None else ok(value),
            "note": notes.get(name),
        }
        for name, value, target, ok in checks
    }


# -- the table ----------------------------------------------------------------------------------


def _num(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _mark(target: dict[str, Any]) -> str:
    return {True: "ok", False: "MISS", None: "n/a"}[target["pass"]]


def render_table(report: dict[str, Any]) -> str:
    """The report for a human: per-action table, then each figure beside its target."""
    s = report["settings"]
    where = (
        f"provider poll interval {s['poll_interval_s']:g} s, SMS after {s['sms_delay_s']:g} s"
        if s["url"] is None
        else f"against {s['url']}"
    )
    lines = [
        f"smsproxy bench ({report['mode']}): {s['duration_s']:g} s, {s['bots']} bots polling "
        f"every {s['poll_s']:g} s, {where}, {s['cores']} cores",
        "",
        f"{'action':<10} {'count':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'proxy p50':>9} {'proxy p99':>9}  answers",
    ]
    for action, f in report["actions"].items():
        answers = ", ".join(f"{word} {n}" for word, n in f["answers"].items())
        lines.append(
            f"{action:<10} {f['count']:>7} {f['rps']:>7.1f} {_num(f['p50_ms'], digits=2):>8} "
            f"{_num(f['p99_ms'], digits=2):>8} {_num(f['server_p50_ms'], digits=2):>9} "
            f"{_num(f['server_p99_ms'], digits=2):>9}  {answers}"
        )
    a = report["activations"]
    by = a["by_provider"]
    split = f" ({', '.join(f'{p} {n}' for p, n in by.items())})" if by else ""
    lines += [
        "",
        f"activations: {a['created']} created{split}, {a['completed']} completed, "
        f"{a['left_open']} left open at the end and ended by the bench"
        + (f", {a['not_ended']} could not be ended" if a["not_ended"] else ""),
        "",
        f"{'figure':<54} {'value':>20}  {'target':<28} ",
    ]
    t = report["targets"]
    tp = report["throughput"]
    added = report["getnumber_added_ms"] or {}
    idle = report["getnumber_idle_ms"] or {}
    sms = report["sms_to_ok_ms"] or {}
    up = report["upstream"] or {}
    redis = report["redis"] or {}
    cpu = report["cpu_us_per_request"] or {}
    status_cpu = cpu.get("getStatus") or {}
    number_cpu = cpu.get("getNumber") or {}
    cancel_cpu = cpu.get("setStatus") or {}
    workers = report["workers"] or {}

    def target(name: str) -> tuple[str, str]:
        return t[name]["target"], _mark(t[name])

    rows: list[tuple[str, str, str, str]] = [
        ("getStatus CPU per request ÷ bare endpoint",
         _num(report["getstatus_cpu_vs_bare"], "×", 2), *target("getstatus_cpu_vs_bare")),
        ("getStatus throughput ÷ bare endpoint", _num(report["getstatus_vs_bare"], "×", 2),
         *target("getstatus_vs_bare")),
        ("getNumber smsproxy over bare relay, no load, p50 ms",
         _num(idle.get("proxy_over_relay_p50"), digits=2), *target("getnumber_own_idle_p50_ms")),
        (f"serve --workers {workers.get('count') or 2} ÷ one worker, getStatus",
         _num(workers.get("ratio"), "×", 2), *target("workers_two_vs_one")),
        ("upstream polls per interval, worst activation",
         _num(up.get("polls_per_interval_worst"), digits=2),
         *target("upstream_polls_per_interval")),
        ("upstream SMS → proxy has STATUS_OK, p50 / p99 ms",
         f"{_num(sms.get('proxy_p50'), digits=0)} / {_num(sms.get('proxy_p99'), digits=0)}",
         *target("sms_to_ok_p99_ms")),
        ("Redis bytes per activation", _num(redis.get("bytes_per_activation"), digits=0),
         *target("redis_bytes_per_activation")),
        ("getStatus CPU µs/request: bare / smsproxy",
         f"{_num(status_cpu.get('bare'), digits=0)} / {_num(status_cpu.get('smsproxy'), digits=0)}",
         "reported", ""),
        ("getNumber CPU µs/purchase: smsproxy / Redis / relay",
         f"{_num(number_cpu.get('smsproxy'), digits=0)} / {_num(number_cpu.get('redis'), digits=0)}"
         f" / {_num(number_cpu.get('relay'), digits=0)}", "reported", ""),
        ("setStatus 8 CPU µs/request: smsproxy / Redis",
         f"{_num(cancel_cpu.get('smsproxy'), digits=0)} / "
         f"{_num(cancel_cpu.get('redis'), digits=0)}", "reported", ""),
        ("getNumber no load, p50 ms: smsproxy / relay / direct",
         f"{_num(idle.get('proxy_p50'), digits=2)} / {_num(idle.get('relay_p50'), digits=2)} / "
         f"{_num(idle.get('direct_p50'), digits=2)}", "reported", ""),
        ("upstream SMS → bot's STATUS_OK (1 s polls), p50 / p99 ms",
         f"{_num(sms.get('p50'), digits=0)} / {_num(sms.get('p99'), digits=0)}", "reported", ""),
        ("getNumber under load over upstream, p50 / p99 ms",
         f"{_num(added.get('p50'), digits=2)} / {_num(added.get('p99'), digits=2)}",
         "reported", ""),
        ("  of which a bare relay adds, p50 / p99 ms",
         f"{_num(added.get('relay_over_direct_p50'), digits=2)} / "
         f"{_num(added.get('relay_over_direct_p99'), digits=2)}", "reported", ""),
        ("  of which smsproxy adds, p50 / p99 ms",
         f"{_num(added.get('proxy_over_relay_p50'), digits=2)} / "
         f"{_num(added.get('proxy_over_relay_p99'), digits=2)}", "reported", ""),
        ("two replicas ÷ one replica (per core)",
         f"{_num(report['two_replicas_ratio'], '×', 2)} "
         f"({_num(report['two_replicas_per_core'], digits=2)})", "reported", ""),
    ]  # fmt: skip
    lines += [f"{name:<54} {value:>20}  {target:<28} {mark}" for name, value, target, mark in rows]
    if t["workers_two_vs_one"]["note"]:
        lines.append(f"workers not measured: {t['workers_two_vs_one']['note']}")
    if workers.get("cpu_share_percent"):
        shares = " / ".join(f"{share:g}" for share in workers["cpu_share_percent"])
        lines.append(f"serve --workers: CPU split between its processes {shares} %")
    stack = s.get("stack") or {}
    client_us = tp["client_cpu_us_per_request"]
    lines += [
        "",
        f"closed loop ({tp['client']}"
        + (f", servers on {stack.get('http')} + {stack.get('loop')}" if stack else "")
        + f"), {s['connections']} connections, {s['hammer_s']:g} s each: "
        f"bare {_num(tp['bare_rps'], ' req/s')}, "
        f"getStatus {_num(tp['getstatus_rps'], ' req/s')} "
        f"(p50 {_num(tp['getstatus_p50_ms'], ' ms', 2)}, "
        f"p99 {_num(tp['getstatus_p99_ms'], ' ms', 2)}), "
        f"two replicas {_num(tp['getstatus_two_replicas_rps'], ' req/s')}, "
        f"--workers {_num(tp['getstatus_workers_rps'], ' req/s')}",
        "client CPU µs/request: "
        + ", ".join(f"{name} {_num(v, digits=0)}" for name, v in client_us.items())
        + (
            "; server busy % of a core: "
            + ", ".join(f"{n} {_num(v, digits=0)}" for n, v in tp["server_busy_percent"].items())
            if tp["server_busy_percent"]
            else ""
        ),
    ]
    native = s.get("native") or {}
    if native:
        listed = "; ".join(f"{name} {' + '.join(libs or []) or 'neither'}"
                           for name, libs in native.items())  # fmt: skip
        lines.append(f"httptools / uvloop loaded by: {listed}")
    if tp["client_limited"]:
        lines.append(
            "the client, not the server, was the limit (its CPU per request at least the "
            f"server's) for: {', '.join(tp['client_limited'])}"
        )
    if up:
        per = ", ".join(
            f"{p} {_num(v['polls_per_activation'], digits=2)}" for p, v in up["providers"].items()
        )
        loop = up.get("closed_loop_activation") or {}
        lines.append(
            f"upstream polls per completed activation: {per}; bots' getStatus per upstream poll "
            f"{_num(up.get('client_polls_per_upstream_poll'), digits=2)}; closed-loop activation: "
            f"{loop.get('client_requests')} getStatus, {loop.get('polls')} upstream polls "
            f"(bound {loop.get('allowed')})"
        )
    if sms.get("count"):
        lines.append(
            f"SMS → STATUS_OK includes the bots' {s['poll_s']:g} s poll period; still answered "
            f'"wait" after the SMS reached the upstream: p50 '
            f"{_num(sms['stale_wait_p50'], ' ms', 0)}, "
            f"p99 {_num(sms['stale_wait_p99'], ' ms', 0)}, "
            f"max {_num(sms['stale_wait_max'], ' ms', 0)} ({sms['count']} codes)"
        )
    if added:
        lines.append(
            f"getNumber p50 / p99: proxy {_num(added['proxy_p50'], digits=2)} / "
            f"{_num(added['proxy_p99'], digits=2)} ms, direct upstream "
            f"{_num(added['direct_p50'], digits=2)} / {_num(added['direct_p99'], digits=2)} ms "
            f"({added['direct_count']} direct purchases), through the bare relay "
            f"{_num(added['relay_p50'], digits=2)} / {_num(added['relay_p99'], digits=2)} ms "
            f"({added['relay_count']} relayed)"
        )
    if redis:
        lines.append(
            f"Redis: used_memory +{redis['used_memory_delta']} B for {redis['activations']} "
            f"activations; keys {_num(redis['keys_bytes_per_activation'], digits=0)} B per "
            f"activation; one activation record {redis['activation_key_bytes']} B"
        )
    log = report["proxy_log"]
    if log and (log["warning"] or log["error"] or log["unstructured_lines"]):
        events = {**log["warning"], **log["error"]}
        listed = ", ".join(f"{event} {n}" for event, n in events.items())
        lines.append(
            f"proxy log: {listed or 'no warnings'}"
            + (f"; {log['unstructured_lines']} non-JSON lines" if log["unstructured_lines"] else "")
        )
    if report["unavailable"]:
        lines.append("not measured against --url: " + ", ".join(report["unavailable"]))
    return "\n".join(lines)
