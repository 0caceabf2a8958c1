"""The benchmark's phases, in order, and what each one records.

Managed mode (no `--url`):

1. start the stack (stack.py); give the direct buyers their own upstream account;
2. buy the activation the closed-loop phase will poll, then read Redis memory;
3. the load: bots through replica 0, direct upstream purchases alongside (load.py), every
   server's CPU time read before and after;
4. Redis memory and key sizes again, then end what the bots left open;
5. start `smsproxy serve --workers 2` on the same Redis, if this smsproxy has the option;
6. an idle window: what each server burns with nothing asked of it (subtracted from the
   phases' CPU, cpu.Spent.net);
7. purchases with no load, direct, through the bare relay and through smsproxy (idle.py);
8. closed loop on the bare endpoint, on getStatus through one replica, through two replicas on
   the same Redis and through `serve --workers 2`, interleaved in rounds so that drift in
   machine speed hits all alike; each slice reads the CPU time of the target's processes. wrk
   drives it when installed (wrk.py), else the Python client (hammer.py);
9. the emulators' statistics and the proxies' logs, then everything is stopped.

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

from proxy.bench.bare import STACK_PATH
from proxy.bench.cpu import Window, descendants, native_libraries
from proxy.bench.figures import Memory, Raw, TrackedActivation, summarize_logs
from proxy.bench.hammer import Driver, Python, Result, Target, hammer
from proxy.bench.idle import IdlePlan, idle_purchases
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
    TENANT_ORDERS,
    WORKERS,
    Stack,
    StackSettings,
    serve_has_workers,
)
from proxy.bench.wrk import Wrk, find_wrk

HANDLER_PATH = "/stubs/handler_api.php"
DIRECT_KEY = "bench-direct"  # the direct buyers' upstream account: apart from the proxy's
ROUNDS = 3  # closed-loop slices per target, interleaved
WARMUP = 0.3  # seconds of closed loop per target before measuring
IDLE_WINDOW = (0.5, 2.0)  # seconds in which each server's idle CPU is read: duration / 10
SETTLE = 0.5  # seconds before it, for what ending the leftovers set going
CLIENTS = ("auto", "wrk", "python")
NATIVE = ("httptools", "uvloop")  # the fast stack's compiled parts (issue 15)


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
    client: str = "auto"  # the closed loop's: wrk when on PATH (auto), or as named
    idle_rounds: int | None = None  # purchases with no load: rounds of three

    @property
    def purchases(self) -> int:
        """Rounds of no-load purchases: a short run gets fewer (10..100)."""
        if self.idle_rounds is not None:
            return self.idle_rounds
        return max(10, min(100, round(self.duration * 3)))

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
        driver = _driver(options, Path(tmp))
        workers = serve_has_workers()
        with Stack(settings) as stack:
            raw = asyncio.run(_managed_phases(stack, options, progress, driver, workers))
            progress.step("stopping servers")
        raw.proxy_log = summarize_logs([p.log_path for p in stack.proxies], raw.load_wall)
    return raw


def _driver(options: BenchOptions, workdir: Path) -> Driver:
    """wrk when asked for or, with `auto`, when on PATH; else the Python client."""
    if options.client not in CLIENTS:
        raise ValueError(f"client must be one of {', '.join(CLIENTS)}, not {options.client!r}")
    binary = find_wrk() if options.client != "python" else None
    if options.client == "wrk" and binary is None:
        raise RuntimeError("wrk is not on PATH (apt-get install wrk, brew install wrk)")
    return Wrk(binary, workdir) if binary is not None else Python()


def _endpoint(url: str) -> str:
    """The handler URL: `--url` may name the base or the handler itself."""
    url = url.rstrip("/")
    return url if url.endswith(HANDLER_PATH) else url + HANDLER_PATH


async def _managed_phases(
    stack: Stack, options: BenchOptions, progress: Progress, driver: Driver, workers: bool
) -> Raw:
    assert stack.redis is not None and stack.bare is not None
    endpoint = _endpoint(stack.proxies[0].url)
    raw = Raw(options=_settings_of(options, driver), mode="managed", client=driver.name)
    raw.stack = await _stack_of(stack.bare.url)
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
        with Window(stack.servers()) as load:
            await _load(
                raw, endpoint, list(TENANT_KEYS), options, progress, upstreams, stack.bare.url
            )
        raw.load_cpu = load.spent
        raw.memory_after = await _memory(redis)
        await _key_sizes(redis, raw)
        await _codes_seen(redis, raw)
        progress.step("ending open activations")
        raw.cleanup = await finish_leftovers(
            endpoint, TENANT_KEYS, raw.activations, options.poll_interval
        )
        raw.workers = await _start_workers(stack, progress, workers)
        servers = stack.servers()
        raw.native = _native(servers)
        progress.step("reading idle CPU")
        await asyncio.sleep(SETTLE)
        with Window(servers) as idle:
            await asyncio.sleep(min(IDLE_WINDOW[1], max(IDLE_WINDOW[0], options.duration / 10)))
        raw.idle = idle.spent
        progress.step("purchases with no load")
        plan = IdlePlan(
            endpoint=endpoint,
            tenant_for={order[0]: key for key, order in TENANT_ORDERS.items()},
            upstreams=upstreams,
            relay_url=stack.bare.url,
            direct_key=DIRECT_KEY,
            rounds=options.purchases,
        )
        raw.purchases = await idle_purchases(plan, servers)
        if tracked is not None:
            raw.tracked = tracked
            await _until_code(endpoint, TENANT_KEYS[0], tracked, options)
        targets = _closed_loop_targets(stack, tracked)
        raw.loop_servers = {name: target.servers for name, target in targets.items()}
        raw.hammer = await _rounds(targets, options, progress, driver, servers)
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
    with tempfile.TemporaryDirectory(prefix="smsproxy-bench-") as tmp:
        driver = _driver(options, Path(tmp))
        raw = Raw(options=_settings_of(options, driver), mode="url", client=driver.name)
        tracked = await _buy_tracked(endpoint, options.api_key)
        try:
            await _against_url_phases(raw, endpoint, tracked, options, progress, driver)
        finally:
            if tracked is not None:
                await _end_tracked(endpoint, options.api_key, tracked)
    return raw


async def _against_url_phases(
    raw: Raw,
    endpoint: str,
    tracked: TrackedActivation | None,
    options: BenchOptions,
    progress: Progress,
    driver: Driver,
) -> None:
    """The load, the leftovers, the closed loop: no server of ours to read the CPU of."""
    await _load(raw, endpoint, [options.api_key], options, progress, None)
    progress.step("ending open activations")
    raw.cleanup = await finish_leftovers(
        endpoint, [options.api_key], raw.activations, options.poll_interval
    )
    if tracked is not None:
        params = _status_params(options.api_key, tracked.activation_id)
        targets = {"getstatus": LoopTarget([Target.for_url(endpoint, params)], [])}
        raw.hammer = await _rounds(targets, options, progress, driver, {})


def _settings_of(options: BenchOptions, driver: Driver) -> dict[str, Any]:
    """The run's settings; with `--url` the target's own poll interval and SMS timing are not
    the bench's to set, so they are null. `hammer_s` is what the client measures per target
    (wrk rounds each slice to whole seconds)."""
    managed = options.url is None
    return {
        "duration_s": options.duration,
        "bots": options.bots,
        "poll_s": options.poll,
        "poll_interval_s": options.poll_interval if managed else None,
        "sms_delay_s": options.sms_delay if managed else None,
        "hammer_s": driver.slice_seconds(options.hammer / ROUNDS) * ROUNDS,
        "connections": options.connections,
        "url": options.url,
        "idle_purchases": options.purchases if managed else None,
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


@dataclass(frozen=True, slots=True)
class LoopTarget:
    """One closed-loop target: where its connections go, and the servers (stack.servers()
    names) whose CPU it costs."""

    targets: list[Target]
    servers: list[str]


def _closed_loop_targets(stack: Stack, tracked: TrackedActivation | None) -> dict[str, LoopTarget]:
    """The same request bytes for all: a getStatus of the tracked activation."""
    assert stack.bare is not None
    activation_id = tracked.activation_id if tracked is not None else "1"
    params = _status_params(TENANT_KEYS[0], activation_id)
    targets = {"bare": LoopTarget([Target.for_url(_endpoint(stack.bare.url), params)], ["bare"])}
    if tracked is not None:
        replicas = [Target.for_url(_endpoint(p.url), params) for p in stack.proxies]
        names = [p.name for p in stack.proxies]
        targets["getstatus"] = LoopTarget(replicas[:1], names[:1])
        targets["getstatus_two_replicas"] = LoopTarget(replicas[:2], names[:2])
        if stack.workers is not None:
            workers = Target.for_url(_endpoint(stack.workers.url), params)
            targets["getstatus_workers"] = LoopTarget([workers], [stack.workers.name])
    return targets


async def _rounds(
    targets: dict[str, LoopTarget],
    options: BenchOptions,
    progress: Progress,
    driver: Driver,
    servers: dict[str, int],
) -> dict[str, Result]:
    """A warm-up (Python client), then ROUNDS interleaved slices per target, summed; each
    slice with the CPU its target's servers used meanwhile."""
    results = {name: Result(client=driver.name) for name in targets}
    slice_ = driver.slice_seconds(options.hammer / ROUNDS)
    total = len(targets) * (WARMUP + slice_ * ROUNDS)
    done = 0.0
    for name, target in targets.items():
        progress.show("closed loop", done / total, f"warm-up {name}")
        await hammer(target.targets, options.connections, WARMUP)
        done += WARMUP
    for round_ in range(ROUNDS):
        for name, target in targets.items():
            label = f"round {round_ + 1}/{ROUNDS} {name} ({driver.name})"
            progress.show("closed loop", done / total, label)
            watched = {server: servers[server] for server in target.servers if server in servers}
            with Window(watched) as window:
                result = await driver.run(target.targets, options.connections, slice_)
            result.server = window.spent
            results[name].add(result)
            done += slice_
    progress.show("closed loop", 1.0, "done")
    return results


async def _start_workers(stack: Stack, progress: Progress, supported: bool) -> dict[str, Any]:
    """`serve --workers 2` beside the replicas; why not, when it cannot be measured."""
    figures: dict[str, Any] = {"available": False, "count": WORKERS, "reason": None}
    if not supported:
        figures["reason"] = "this smsproxy serve has no --workers option"
        return figures
    progress.step(f"starting serve --workers {WORKERS}")
    try:
        await asyncio.to_thread(stack.start_workers, WORKERS)
    except (RuntimeError, TimeoutError, OSError) as exc:
        figures["reason"] = f"serve --workers {WORKERS} did not start: {exc}"[-2000:]
        return figures
    figures["available"] = True
    return figures


def _native(servers: dict[str, int]) -> dict[str, list[str] | None]:
    """For the smsproxy processes and the bare app: which of httptools and uvloop each has
    loaded (any process of its tree), so the report shows what `serve` really runs on."""
    trees = descendants(servers.values())
    found: dict[str, list[str] | None] = {}
    for name, pid in servers.items():
        if name == "bare" or name.startswith("proxy-"):
            loaded = [native_libraries(p, NATIVE) for p in trees[pid]]
            names = {lib for libs in loaded if libs is not None for lib in libs}
            found[name] = sorted(names) if any(libs is not None for libs in loaded) else None
    return found


async def _stack_of(bare_url: str) -> dict[str, Any] | None:
    """The HTTP parser and event loop the bare endpoint runs on (bare.STACK_PATH)."""
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            answer = await client.get(bare_url + STACK_PATH)
            answer.raise_for_status()
            stack: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError):
            return None
    return stack


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
