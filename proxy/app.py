"""Starlette wiring: the handler_api.php route, health routes and the lifespan that builds state."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypedDict
from urllib.parse import parse_qsl

import httpx
import redis.asyncio as aioredis
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy.actions import Context, Trace, perform
from proxy.catalog.cache import OfferCache
from proxy.catalog.offers import Catalogs
from proxy.config import ConfigError, Settings
from proxy.dispatch import Dispatcher
from proxy.health.breaker import Health
from proxy.health.guard import GuardedProvider
from proxy.mapping import (
    CodeMap,
    OperatorMap,
    OperatorOverrides,
    Overrides,
    load_code_map,
    load_operator_map,
)
from proxy.metrics import Metrics
from proxy.money import Money
from proxy.poller import Poller
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import ProtocolError, Request as ProtocolRequest, parse_request
from proxy.protocol.words import Word
from proxy.providers import build_provider
from proxy.providers.http import make_client
from proxy.redis_server import EmbeddedRedis
from proxy.store.activations import ActivationStore, StoreError
from proxy.store.cache import RecordCache
from proxy.store.keys import Keys
from proxy.store.outbox import Outbox
from proxy.store.packing import pack_with_hiredis
from proxy.tenants import Tenants
from proxy.webhooks import Notifier, Sender

log = structlog.get_logger("request")
shutdown_log = structlog.get_logger("shutdown")

HANDLER_PATH = "/stubs/handler_api.php"


class State(TypedDict):
    """What the lifespan yields to every request (starlette "Lifespan State")."""

    ctx: Context
    tenants: Tenants
    redis: aioredis.Redis


def create_app(settings: Settings) -> Starlette:
    """The smsproxy ASGI app for `settings`."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        embedded: EmbeddedRedis | None = None
        url = settings.redis.url
        if not url:
            embedded = EmbeddedRedis(settings.redis.data_dir)
            await asyncio.to_thread(embedded.start)
            url = embedded.url
            structlog.get_logger("redis").info("embedded_redis_started", url=url)
        redis = connect_redis(url)
        client = make_client()
        # Webhooks: apart from upstream calls, and no connection kept for another delivery (one
        # to a client's pinned address must not carry another host's request or TLS session).
        hooks = httpx.AsyncClient(
            follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
        )
        warming: asyncio.Task[None] | None = None
        cache: RecordCache | None = None
        state: State | None = None
        polling: asyncio.Task[None] | None = None
        try:
            state = build_state(settings, redis, client)
            # What exists now lives as long as the app: kept out of the cyclic collector's
            # sight, a full collection no longer walks the code tables and modules (on the
            # 2-core reference machine such a pause took 40 ms, in the middle of requests).
            gc.collect()
            gc.freeze()
            cache = state["ctx"].store.cache
            if cache is not None:
                await cache.start()
            if settings.routing.poller:
                ctx = state["ctx"]
                secrets = {t.name: t.webhook_secret.encode() for t in settings.tenants
                           if t.webhook_secret}  # fmt: skip
                sender = Sender(ctx.notifier.outbox, hooks, secrets, ctx.metrics,
                                settings.webhooks.private_targets)  # fmt: skip
                poller = Poller(ctx, settings.providers, sender)
                polling = asyncio.create_task(poller.run())
            if settings.catalog.warm:
                warming = asyncio.create_task(
                    state["ctx"].catalogs.keep_warm(settings.catalog.warm)
                )
            yield state
        finally:
            # The whole shutdown bounded, each step within what is left of it: an orchestrator's
            # SIGKILL (after 30 s by default) must not be what ends a replica, and a step that
            # overstays is named in the log.
            left = Deadline(SHUTDOWN_SECONDS)
            for name, task in (("catalog_warming", warming), ("poller", polling)):
                if task is not None:
                    task.cancel()
                    await bounded(name, task, left())
            if state is not None:
                await bounded("store_drain", state["ctx"].store.drain(), left())
                drains = [p.drain() for p in state["ctx"].providers.values()
                          if isinstance(p, GuardedProvider)]  # fmt: skip
                await bounded("health_drains", asyncio.gather(*drains), left())
            if cache is not None:
                await bounded("record_cache", cache.stop(), left())
            await bounded("upstream_client", client.aclose(), left())
            await bounded("webhook_client", hooks.aclose(), left())
            await bounded("redis_client", redis.aclose(close_connection_pool=True), left())
            if embedded is not None:
                await asyncio.to_thread(embedded.stop, max(1.0, left()))

    return Starlette(
        routes=[
            Route(HANDLER_PATH, handler_api, methods=["GET", "POST"]),
            Route("/health/live", health_live, methods=["GET"]),
            Route("/health/ready", health_ready, methods=["GET"]),
            Route("/health/upstreams", health_upstreams, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


SHUTDOWN_SECONDS = 20.0


class Deadline:
    """Seconds left until a deadline set `seconds` from now (never below a floor)."""

    def __init__(self, seconds: float, floor: float = 0.1) -> None:
        self.at = time.monotonic() + seconds
        self.floor = floor

    def __call__(self) -> float:
        return max(self.floor, self.at - time.monotonic())


async def bounded(name: str, step: Awaitable[Any], seconds: float) -> None:
    """Wait at most `seconds` for one shutdown step, then go on without it (logged). A step
    that swallows its cancellation cannot hold the exit up either: it is not awaited again."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        shutdown_log.warning("shutdown_step_timed_out", step=name, seconds=round(seconds, 2))
    elif not task.cancelled() and (error := task.exception()) is not None:
        shutdown_log.warning("shutdown_step_failed", step=name, exc_info=error)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A step left behind may still fail: its error is logged, not reported as unretrieved."""
    if not task.cancelled() and (error := task.exception()) is not None:
        shutdown_log.warning("shutdown_step_failed_late", exc_info=error)


def connect_redis(url: str, max_connections: int = 64) -> aioredis.Redis:
    """A client whose pool waits for a free connection instead of failing under bursts
    (a catalog request reads many entries at once)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=max_connections, timeout=10,
        health_check_interval=30,
    )  # fmt: skip
    pack_with_hiredis(pool)
    return aioredis.Redis(connection_pool=pool)


def load_maps(settings: Settings) -> tuple[CodeMap, OperatorMap]:
    """The code and operator tables with the configuration's own pairs applied."""
    mapping = settings.mapping
    try:
        codes = load_code_map(Overrides(services=mapping.services, countries=mapping.countries))
        operators = load_operator_map(OperatorOverrides(pairs=mapping.operators))
    except ValueError as exc:
        raise ConfigError(f"mapping: {exc}") from exc
    return codes, operators


def build_state(settings: Settings, redis: aioredis.Redis, client: httpx.AsyncClient) -> State:
    """Providers, store and dispatcher for one app instance."""
    keys = Keys(settings.redis.key_prefix)
    health = Health(redis, keys, dict(settings.providers), settings.routing)
    metrics = Metrics()
    providers: dict[str, GuardedProvider] = {
        name: GuardedProvider(build_provider(p, client), health, metrics)
        for name, p in settings.providers.items()
    }
    money = Money(settings.money.currency, settings.money.rates)
    money.check([*(p.currency for p in settings.providers.values()),
                 *(t.currency for t in settings.tenants)])  # fmt: skip
    codes, operators = load_maps(settings)
    cache = RecordCache(redis, keys.changes()) if settings.redis.local_cache else None
    store = ActivationStore(redis, keys, settings.redis.retention_days * 86400, cache)
    catalogs = Catalogs(
        OfferCache(redis, keys, settings.catalog),
        providers,
        settings.providers,
        codes,
        operators,
        money,
        settings.catalog,
        health,
    )
    dispatcher = Dispatcher(
        store, providers, codes, money, catalogs, health, settings.routing, metrics
    )
    ctx = Context(
        store=store,
        providers=providers,
        dispatcher=dispatcher,
        codes=codes,
        money=money,
        catalogs=catalogs,
        metrics=metrics,
        health=health,
        settings=settings.routing,
        notifier=Notifier(Outbox(redis, keys), {t.name: t.webhook_url for t in settings.tenants}),
    )
    return State(ctx=ctx, tenants=Tenants(settings.tenants), redis=redis)


async def read_params(request: Request) -> dict[str, str]:
    """Query string, overlaid by a form (or flat JSON) body when a POST carries one."""
    params = dict(request.query_params)
    if request.method != "POST":
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body:
        return params
    if content_type == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif content_type == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            return params
        if isinstance(decoded, dict):
            params.update({str(k): str(v) for k, v in decoded.items() if v is not None})
    return params


def render(answer: Answer) -> Response:
    """HTTP 200 always: clients take any 4xx/5xx for a network failure."""
    if answer.text is not None:
        return Response(answer.text, media_type="text/plain; charset=utf-8")
    body = json.dumps(answer.json, ensure_ascii=False, separators=(",", ":"))
    return Response(body, media_type="application/json")


def _request_id() -> str:
    """16 hex digits to find a request's log lines by: unique enough, and unlike uuid4 no
    system call per request."""
    return f"{random.getrandbits(64):016x}"


async def handler_api(request: Request) -> Response:
    """The SMS-Activate endpoint; logs one canonical line per request."""
    started = time.perf_counter()
    state: Any = request.state
    ctx: Context = state.ctx
    tenants: Tenants = state.tenants
    request_id = request.headers.get("x-request-id") or _request_id()
    trace = Trace()
    action = tenant_name = None
    parsed: ProtocolRequest | None = None
    try:
        params = await read_params(request)
        action = params.get("action")
        tenant = tenants.authenticate(params.get("api_key"))
        if tenant is None:
            answer = answers.word(Word.BAD_KEY)
        else:
            tenant_name = tenant.name
            parsed = parse_request(params)
            answer = await perform(ctx, tenant, parsed, trace)
    except ProtocolError as exc:
        answer = answers.word(exc.word)
    except StoreError as exc:
        log.error("store_failed", error=str(exc))
        answer = answers.word(Word.ERROR_SQL)
    except Exception:
        log.exception("request_failed")
        answer = answers.word(Word.ERROR_SQL)
    label = type(parsed).__name__ if parsed is not None else "invalid"
    ctx.metrics.requests.labels(label, answer.word).inc()
    ctx.metrics.request_seconds.labels(label).observe(time.perf_counter() - started)
    log.info(
        "request",
        request_id=request_id,
        action=action,
        tenant=tenant_name,
        activation_id=trace.activation_id,
        provider=trace.provider,
        answer=answer.word,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return render(answer)


async def health_live(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def health_ready(request: Request) -> Response:
    """Ready when Redis answers."""
    ctx: Context = request.state.ctx
    try:
        await ctx.store.ping()
    except StoreError as exc:
        return JSONResponse({"status": "unavailable", "redis": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


async def health_upstreams(request: Request) -> Response:
    """Each provider's breaker state, last balance and last latency, as all replicas see it."""
    ctx: Context = request.state.ctx
    try:
        views = [await ctx.health.view(name) for name in ctx.providers]
    except StoreError as exc:
        return JSONResponse({"status": "unavailable", "redis": str(exc)}, status_code=503)
    return JSONResponse({v.provider: dataclasses.asdict(v) for v in views})


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition; shared gauges (breakers, active, cancel rate) read from Redis."""
    ctx: Context = request.state.ctx
    with contextlib.suppress(StoreError):
        await refresh_gauges(ctx)
    return Response(ctx.metrics.exposition(), media_type=ctx.metrics.content_type)


async def refresh_gauges(ctx: Context) -> None:
    names = list(ctx.providers)
    for name in names:
        view = await ctx.health.view(name)
        ctx.metrics.breaker_open.labels(name).set(1 if view.state == "open" else 0)
    ctx.metrics.active.set(await ctx.store.active_count())
    hours = ctx.settings.success_window_hours
    issued = await ctx.store.provider_counts(names, "all:issued", hours)
    cancelled = await ctx.store.provider_counts(names, "all:cancelled", hours)
    for name in names:
        rate = cancelled[name] / issued[name] if issued[name] else 0.0
        ctx.metrics.cancel_rate.labels(name).set(rate)
