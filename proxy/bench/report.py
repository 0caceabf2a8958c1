"""The report of `smsproxy bench`: one dict (printed by `--json`) and the table made from it.

`smsproxy bench --json` prints one object. Times are milliseconds (`_ms`), rates requests per
second (`rps`), memory bytes; a figure that the run could not measure is `null` (with `--url`:
everything that needs the emulators, Redis or the bare endpoint, listed in `unavailable`).

- `mode`: `managed` (the bench started everything) or `url` (`--url`: a running proxy).
- `settings`: `duration_s`, `bots`, `poll_s` (the bots' getStatus period), `poll_interval_s`
  (the providers' `poll_interval`; null with `--url`), `sms_delay_s` (the emulators'; null with
  `--url`), `hammer_s` (closed-loop seconds per target), `connections`, `cores`, `url`.
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
  Redis, connections alternating), `bare_p50_ms`, `bare_p99_ms`, `getstatus_p50_ms`,
  `getstatus_p99_ms`, `getstatus_answers`, `errors`.
- `getstatus_vs_bare`: `getstatus_rps / bare_rps`; the bare endpoint is one starlette route
  answering a fixed word, no Redis, served with the same uvicorn settings.
- `two_replicas_ratio`: `getstatus_two_replicas_rps / getstatus_rps`.
- `two_replicas_per_core`: `two_replicas_ratio / 2`, throughput per core used relative to one
  replica.
- `targets.<name>`: `value`, `target` (as text), `pass` (true, false, or null when not
  measured) for `getstatus_vs_bare`, `upstream_polls_per_interval`, `sms_to_ok_p99_ms`,
  `getnumber_added_p50_ms`, `getnumber_added_p99_ms`, `redis_bytes_per_activation`.
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
from proxy.bench.load import BotActivation

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
]


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
        "settings": {**raw.options, "cores": cores()},
        "actions": _actions(raw),
        "activations": _activations(raw, matched),
        "upstream": _upstream(raw, matched, orders, interval) if interval else None,
        "sms_to_ok_ms": _sms_to_ok(matched, raw) if managed else None,
        "getnumber_added_ms": _added(raw, matched) if managed else None,
        "redis": _redis(raw) if managed else None,
    }
    report.update(_throughput(raw))
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
        hammered = raw.hammer.get("getstatus")
        hammered_2 = raw.hammer.get("getstatus_two_replicas")
        asked = t.client_requests + sum(
            r.requests + sum(r.errors.values()) for r in (hammered, hammered_2) if r is not None
        )
        allowed = intervals_touched(t.bought_at, t.ended_at or end_of_run, interval)
        polls = order.polls if order is not None else None
        tracked = {"client_requests": asked, "polls": polls, "allowed": allowed}
        if polls is not None:
            worst = max(worst, polls / allowed)
            over += polls > allowed
    completed = [(a, o) for a, o in matched if o is not None and a.last_word == "ACCESS_ACTIVATION"]
    providers = {}
    for provider in PROVIDERS:
        mine = [o for _, o in completed if o.provider == provider]
        polls = sum(o.polls for o in mine)
        counted = Counter(raw.upstream_stats.get(provider, {}).get("requests", {}))
        counted[DIRECT_ENDPOINTS[provider]] -= raw.direct.sent(provider)
        requests = +counted  # drops what is left at zero
        created = sum(1 for _, o in matched if o is not None and o.provider == provider)
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
    errors: Counter[str] = Counter()
    for result in raw.hammer.values():
        errors.update(result.errors)
    two_ratio = ratio(rps["two"], rps["one"])
    return {
        "throughput": {
            "bare_rps": rps["bare"],
            "getstatus_rps": rps["one"],
            "getstatus_two_replicas_rps": rps["two"],
            "bare_p50_ms": ms(percentile(bare.latencies, 0.5)) if bare else None,
            "bare_p99_ms": ms(percentile(bare.latencies, 0.99)) if bare else None,
            "getstatus_p50_ms": ms(percentile(one.latencies, 0.5)) if one else None,
            "getstatus_p99_ms": ms(percentile(one.latencies, 0.99)) if one else None,
            "getstatus_answers": dict(one.words.most_common()) if one else None,
            "errors": dict(errors),
        },
        "getstatus_vs_bare": ratio(rps["one"], rps["bare"]),
        "two_replicas_ratio": two_ratio,
        "two_replicas_per_core": round(two_ratio / 2, 3) if two_ratio is not None else None,
    }


def _dig(report: dict[str, Any], *path: str) -> Any:
    node: Any = report
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _targets(report: dict[str, Any], interval: float | None) -> dict[str, Any]:
    """The issue's targets for a 2-core machine, each with its measured value."""
    sms_limit = round(interval * 1000 + 200, 2) if interval else math.inf
    sms_text = f"{sms_limit:g} (interval + 200 ms)" if interval else "poll interval + 200 ms"
    checks: list[tuple[str, Any, str, Callable[[float], bool]]] = [
        ("getstatus_vs_bare", _dig(report, "getstatus_vs_bare"), ">= 0.5", lambda v: v >= 0.5),
        ("upstream_polls_per_interval", _dig(report, "upstream", "polls_per_interval_worst"),
         "<= 1", lambda v: v <= 1),
        ("sms_to_ok_p99_ms", _dig(report, "sms_to_ok_ms", "proxy_p99"),
         f"<= {sms_text}", lambda v: v <= sms_limit),
        ("getnumber_added_p50_ms", _dig(report, "getnumber_added_ms", "p50"), "<= 2",
         lambda v: v <= 2),
        ("getnumber_added_p99_ms", _dig(report, "getnumber_added_ms", "p99"), "<= 5",
         lambda v: v <= 5),
        ("redis_bytes_per_activation", _dig(report, "redis", "bytes_per_activation"), "<= 1024",
         lambda v: v <= 1024),
    ]  # fmt: skip
    return {
        name: {"value": value, "target": target, "pass": None if value is None else ok(value)}
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
        f"{'figure':<46} {'value':>16}  {'target':<28} ",
    ]
    t = report["targets"]
    tp = report["throughput"]
    added = report["getnumber_added_ms"] or {}
    sms = report["sms_to_ok_ms"] or {}
    up = report["upstream"] or {}
    redis = report["redis"] or {}
    rows: list[tuple[str, str, str, str]] = [
        ("getStatus throughput ÷ bare endpoint", _num(report["getstatus_vs_bare"], "×", 2),
         t["getstatus_vs_bare"]["target"], _mark(t["getstatus_vs_bare"])),
        ("upstream polls per interval, worst activation",
         _num(up.get("polls_per_interval_worst"), digits=2),
         t["upstream_polls_per_interval"]["target"], _mark(t["upstream_polls_per_interval"])),
        ("upstream SMS → proxy has STATUS_OK, p50 / p99 ms",
         f"{_num(sms.get('proxy_p50'), digits=0)} / {_num(sms.get('proxy_p99'), digits=0)}",
         t["sms_to_ok_p99_ms"]["target"], _mark(t["sms_to_ok_p99_ms"])),
        ("upstream SMS → bot's STATUS_OK (1 s polls), p50 / p99 ms",
         f"{_num(sms.get('p50'), digits=0)} / {_num(sms.get('p99'), digits=0)}", "reported", ""),
        ("getNumber added over upstream, p50 ms", _num(added.get("p50"), digits=2),
         t["getnumber_added_p50_ms"]["target"], _mark(t["getnumber_added_p50_ms"])),
        ("getNumber added over upstream, p99 ms", _num(added.get("p99"), digits=2),
         t["getnumber_added_p99_ms"]["target"], _mark(t["getnumber_added_p99_ms"])),
        ("  of which a bare relay adds, p50 / p99 ms",
         f"{_num(added.get('relay_over_direct_p50'), digits=2)} / "
         f"{_num(added.get('relay_over_direct_p99'), digits=2)}", "reported", ""),
        ("  of which smsproxy adds, p50 / p99 ms",
         f"{_num(added.get('proxy_over_relay_p50'), digits=2)} / "
         f"{_num(added.get('proxy_over_relay_p99'), digits=2)}", "reported", ""),
        ("Redis bytes per activation", _num(redis.get("bytes_per_activation"), digits=0),
         t["redis_bytes_per_activation"]["target"], _mark(t["redis_bytes_per_activation"])),
        ("two replicas ÷ one replica (per core)",
         f"{_num(report['two_replicas_ratio'], '×', 2)} "
         f"({_num(report['two_replicas_per_core'], digits=2)})", "reported", ""),
    ]  # fmt: skip
    lines += [f"{name:<46} {value:>16}  {target:<28} {mark}" for name, value, target, mark in rows]
    lines += [
        "",
        f"closed loop, {s['connections']} connections, {s['hammer_s']:g} s each: "
        f"bare {_num(tp['bare_rps'], ' req/s')}, "
        f"getStatus {_num(tp['getstatus_rps'], ' req/s')} "
        f"(p50 {_num(tp['getstatus_p50_ms'], ' ms', 2)}, "
        f"p99 {_num(tp['getstatus_p99_ms'], ' ms', 2)}), "
        f"two replicas {_num(tp['getstatus_two_replicas_rps'], ' req/s')}",
    ]
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
