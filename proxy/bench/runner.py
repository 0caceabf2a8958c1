"""The benchmark's phases, in order, and what each one records.

Managed mode (no `--url`):

1. start the stack (stack.py); give the direct buyers their own upstream account;
2. buy the activation the closed-loop phase will poll, then read Redis memory;
3. the load: bots through replica 0, direct upstream purchases alongside (load.py);
4. Redis memory and key sizes again, then end what the bots left open;
5. closed loop (hammer.py) on the bare endpoint, on getStatus through one replica and through
   two replicas on the same Redis, interleaved in rounds so that drift in machine speed hits all
   three alike;
6. the emulators' statistics and the proxies' logs, then everything is stopped.

With `--url` only the client-side phases run: the load, the leftovers, getStatus closed loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import redis.asyncio as aioredis

from proxy.bench.figures import Memory, Raw, TrackedActivation, summarize_logs
from proxy.bench.hammer import Result, Target, hammer
from proxy.bench.load import (
    COUNTRY,
    SERVICE,
    DirectPlan,
    LoadPlan,
    Recorder,
    call,
    finish_leftovers,
    http_client,
    run_bots,
    run_direct,
)
from proxy.bench.progress import Progress
from proxy.bench.report import build_report
from proxy.bench.stack import (
    EMULATOR_BALANCE,
    KEY_PREFIX,
    TENANT_KEYS,
    Stack,
    StackSettings,
)

HANDLER_PATH = "/stubs/handler_api.php"
DIRECT_KEY = "bench-direct"  # the direct buyers' upstream account: apart from the proxy's
ROUNDS = 3  # closed-loop slices per target, interleaved
WARMUP = 0.3  # seconds of closed loop per target before measuring


@dataclass(frozen=True, slots=True)
class BenchOptions:
    duration: float = 30.0
    bots: int = 50
    poll: float = 1.0
    poll_interval: float = 1.0
    sms_delay: float = 2.0
    hammer_seconds: float | None = None
    connections: int = 32
    url: str | None = None
    api_key: str = "demo"
    progress: bool = True

    @property
    def hammer(self) -> float:
        """Closed-loop seconds per target: a short run gets a short closed loop."""
        if self.hammer_seconds is not None:
            return self.hammer_seconds
        return min(4.0, max(1.0, self.duration / 8))


def run(options: BenchOptions) -> dict[str, Any]:
    """Run the benchmark; the report as one JSON-ready dict (see report.py for the keys)."""
    progress = Progress(options.progress)
    try:
        with _sigterm_as_interrupt():
            if options.url:
                raw = asyncio.run(_against_url(options, progress))
            else:
                raw = _managed(options, progress)
    finally:
        progress.done()
    return build_report(raw)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every child process is still stopped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _managed(options: BenchOptions, progress: Progress) -> Raw:
    with tempfile.TemporaryDirectory(prefix="smsproxy-bench-") as tmp:
        progress.step("starting servers")
        settings = StackSettings(Path(tmp), options.poll_interval, options.sms_delay)
        with Stack(settings) as stack:
            raw = asyncio.run(_managed_phases(stack, options, progress))
            progress.step("stopping servers")
        raw.proxy_log = summarize_logs([p.log_path for p in stack.proxies], raw.load_wall)
    return raw


def _endpoint(url: str) -> str:
    """The handler URL: `--url` may name the base or the handler itself."""
    url = url.rstrip("/")
    return url if url.endswith(HANDLER_PATH) else url + HANDLER_PATH


async def _managed_phases(stack: Stack, options: BenchOptions, progress: Progress) -> Raw:
    assert stack.redis is not None and stack.bare is not None
    endpoint = _endpoint(stack.proxies[0].url)
    raw = Raw(options=_settings_of(options), mode="managed")
    async with httpx.AsyncClient(timeout=10) as control:
        for child in stack.emulators.values():
            answer = await control.post(
                child.url + "/_emulator/balance",
                json={"api_key": DIRECT_KEY, "amount": str(EMULATOR_BALANCE)},
            )
            answer.raise_for_status()
    redis = aioredis.Redis.from_url(stack.redis.url, decode_responses=True)
    try:
        tracked = await _buy_tracked(endpoint, TENANT_KEYS[0])
        raw.memory_before = await _memory(redis)
        upstreams = {name: child.url for name, child in stack.emulators.items()}
        await _load(raw, endpoint, list(TENANT_KEYS), options, progress, upstreams, stack.bare.url)
        raw.memory_after = await _memory(redis)
        await _key_sizes(redis, raw)
        await _codes_seen(redis, raw)
        progress.step("ending open activations")
        raw.cleanup = await finish_leftovers(
            endpoint, TENANT_KEYS, raw.activations, options.poll_interval
        )
        if tracked is not None:
            raw.tracked = tracked
            await _until_code(endpoint, TENANT_KEYS[0], tracked, options)
        raw.hammer = await _rounds(_closed_loop_targets(stack, tracked), options, progress)
        if tracked is not None:
            await _end_tracked(endpoint, TENANT_KEYS[0], tracked)
        stack.check_alive()
        async with httpx.AsyncClient(timeout=30) as control:
            for name, child in stack.emulators.items():
                answer = await control.get(child.url + "/_emulator/stats")
                answer.raise_for_status()
                raw.upstream_stats[name] = answer.json()
        raw.stats_at = time.monotonic()
    finally:
        await redis.aclose()
    return raw


async def _against_url(options: BenchOptions, progress: Progress) -> Raw:
    assert options.url is not None
    endpoint = _endpoint(options.url)
    raw = Raw(options=_settings_of(options), mode="url")
    tracked = await _buy_tracked(endpoint, options.api_key)
    try:
        await _load(raw, endpoint, [options.api_key], options, progress, None)
        progress.step("ending open activations")
        raw.cleanup = await finish_leftovers(
            endpoint, [options.api_key], raw.activations, options.poll_interval
        )
        if tracked is not None:
            params = _status_params(options.api_key, tracked.activation_id)
            targets = {"getstatus": [Target.for_url(endpoint, params)]}
            raw.hammer = await _rounds(targets, options, progress)
    finally:
        if tracked is not None:
            await _end_tracked(endpoint, options.api_key, tracked)
    return raw


def _settings_of(options: BenchOptions) -> dict[str, Any]:
    """The run's settings; with `--url` the target's own poll interval and SMS timing are not
    the bench's to set, so they are null."""
    managed = options.url is None
    return {
        "duration_s": options.duration,
        "bots": options.bots,
        "poll_s": options.poll,
        "poll_interval_s": options.poll_interval if managed else None,
        "sms_delay_s": options.sms_delay if managed else None,
        "hammer_s": options.hammer,
        "connections": options.connections,
        "url": options.url,
    }


# -- the load ---------------------------------------------------------------------------------


async def _load(
    raw: Raw,
    endpoint: str,
    api_keys: list[str],
    options: BenchOptions,
    progress: Progress,
    upstreams: dict[str, str] | None,
    relay_url: str | None = None,
) -> None:
    """Bots until the deadline; with `upstreams`, direct purchases from them alongside (and,
    with `relay_url`, through that relay)."""
    recorder = raw.recorder
    started, wall_start = time.monotonic(), time.time()
    deadline = started + options.duration
    plan = LoadPlan(endpoint, api_keys, options.bots, options.poll, deadline)
    jobs: list[Coroutine[Any, Any, None]] = []
    if upstreams is not None:
        direct = DirectPlan(
            upstreams=upstreams,
            api_key=DIRECT_KEY,
            buyers=max(1, options.bots // 10),  # about half the bots' purchase rate
            pause=options.poll,
            deadline=deadline,
            relay_url=relay_url,
        )
        jobs.append(run_direct(direct, raw.direct))
    ticker = asyncio.create_task(_tick(progress, started, options.duration, recorder))
    try:
        raw.activations, *_ = await asyncio.gather(run_bots(plan, recorder), *jobs)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    raw.load_wall = (wall_start, time.time())


async def _tick(progress: Progress, started: float, duration: float, recorder: Recorder) -> None:
    """Redraw the bar four times a second while the bots run."""
    while True:
        elapsed = time.monotonic() - started
        words = recorder.words
        failures = sum(
            n for counter in words.values() for word, n in counter.items()
            if word.startswith("HTTP_")
        )  # fmt: skip
        detail = (
            f"{min(elapsed, duration):.0f}/{duration:.0f} s  "
            f"numbers {words['getNumber']['ACCESS_NUMBER']}  "
            f"polls {recorder.count('getStatus')}  "
            f"codes {words['getStatus']['STATUS_OK']}  "
            f"failed {failures}"
        )
        progress.show("bots", elapsed / duration, detail)
        await asyncio.sleep(0.25)


# -- the activation polled in closed loop -------------------------------------------------------


def _status_params(api_key: str, activation_id: str) -> dict[str, str]:
    return {"api_key": api_key, "action": "getStatus", "id": activation_id}


async def _buy_tracked(endpoint: str, api_key: str) -> TrackedActivation | None:
    """One activation bought outside the bots: the closed loop polls it."""
    async with http_client() as client:
        bought_at = time.monotonic()
        params = {"api_key": api_key, "action": "getNumber", "service": SERVICE,
                  "country": COUNTRY}  # fmt: skip
        reply = await call(client, endpoint, params, Recorder())
    if reply.word != "ACCESS_NUMBER":
        return None
    _, activation_id, phone = reply.text.split(":", 2)
    return TrackedActivation(activation_id, phone, bought_at)


async def _until_code(
    endpoint: str, api_key: str, tracked: TrackedActivation, options: BenchOptions
) -> None:
    """Wait (bounded) for its code, so every closed-loop slice polls the same state."""
    deadline = time.monotonic() + options.sms_delay + 2 * options.poll_interval + 5
    async with http_client() as client:
        while time.monotonic() < deadline:
            params = _status_params(api_key, tracked.activation_id)
            reply = await call(client, endpoint, params, Recorder())
            tracked.client_requests += 1
            if reply.word != "STATUS_WAIT_CODE":
                return
            await asyncio.sleep(0.1)


async def _end_tracked(endpoint: str, api_key: str, tracked: TrackedActivation) -> None:
    """Finish it (6 after a code, else cancel with 8) and note when its life ended."""
    async with http_client() as client:
        params = {"api_key": api_key, "action": "setStatus", "id": tracked.activation_id}
        reply = await call(client, endpoint, {**params, "status": "8"}, Recorder())
        if reply.word == "BAD_STATUS":
            await call(client, endpoint, {**params, "status": "6"}, Recorder())
    tracked.ended_at = time.monotonic()


# -- closed loop --------------------------------------------------------------------------------


def _closed_loop_targets(
    stack: Stack, tracked: TrackedActivation | None
) -> dict[str, list[Target]]:
    """The same request bytes for all: a getStatus of the tracked activation."""
    assert stack.bare is not None
    activation_id = tracked.activation_id if tracked is not None else "1"
    params = _status_params(TENANT_KEYS[0], activation_id)
    targets = {"bare": [Target.for_url(_endpoint(stack.bare.url), params)]}
    if tracked is not None:
        replicas = [Target.for_url(_endpoint(p.url), params) for p in stack.proxies]
        targets["getstatus"] = replicas[:1]
        targets["getstatus_two_replicas"] = replicas[:2]
    return targets


async def _rounds(
    targets: dict[str, list[Target]], options: BenchOptions, progress: Progress
) -> dict[str, Result]:
    """A warm-up, then ROUNDS interleaved slices per target, summed."""
    results = {name: Result() for name in targets}
    slice_ = options.hammer / ROUNDS
    total = len(targets) * (WARMUP + options.hammer)
    done = 0.0
    for name, target in targets.items():
        progress.show("closed loop", done / total, f"warm-up {name}")
        await hammer(target, options.connections, WARMUP)
        done += WARMUP
    for round_ in range(ROUNDS):
        for name, target in targets.items():
            progress.show("closed loop", done / total, f"round {round_ + 1}/{ROUNDS} {name}")
            results[name].add(await hammer(target, options.connections, slice_))
            done += slice_
    progress.show("closed loop", 1.0, "done")
    return results


# -- Redis --------------------------------------------------------------------------------------


async def _codes_seen(redis: aioredis.Redis, raw: Raw) -> None:
    """When the proxy itself had each first code: the `at` of the record's first message."""
    raw.monotonic_to_unix = time.time() - time.monotonic()
    ids = [act.activation_id for act in raw.activations]
    async with redis.pipeline(transaction=False) as pipe:
        for activation_id in ids:
            pipe.hget(f"{KEY_PREFIX}:act:{{{activation_id}}}", "msgs")
        rows = await pipe.execute()
    for activation_id, row in zip(ids, rows, strict=True):
        messages = json.loads(row) if row else []
        if messages:
            raw.code_seen_at[activation_id] = float(messages[0][2])


async def _memory(redis: aioredis.Redis) -> Memory:
    info: dict[str, Any] = await redis.info("memory")
    return Memory(int(info["used_memory"]), int(info.get("mem_clients_normal", 0)))


async def _key_sizes(redis: aioredis.Redis, raw: Raw) -> None:
    """MEMORY USAGE of every key under the proxy's prefix, and of one activation record."""
    keys: list[str] = [key async for key in redis.scan_iter(f"{KEY_PREFIX}:*", count=1000)]
    sizes: list[int | None] = []
    for start in range(0, len(keys), 500):
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys[start : start + 500]:
                pipe.memory_usage(key)
            sizes.extend(await pipe.execute())
    raw.keys = [(key, size or 0) for key, size in zip(keys, sizes, strict=True)]
    if raw.activations:
        sample = f"{KEY_PREFIX}:act:{{{raw.activations[0].activation_id}}}"
        raw.activation_key_bytes = await redis.memory_usage(sample)
