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
from urllib.parse import unquote

import httpx
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from proxy.actions import Context, Trace, perform
from proxy.admin import Shared, SharedState, publishing, require_token
from proxy.backoff import Throttle
from proxy.catalog.cache import OfferCache
from proxy.catalog.offers import Catalogs
from proxy.config import ConfigError, ServerSettings, Settings
from proxy.dispatch import Dispatcher
from proxy.health.breaker import Health
from proxy.health.guard import GuardedProvider
from proxy.logging import clip
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
from proxy.operator.routes import operator_page_routes
from proxy.operator.tally import Tally
from proxy.poller import Poller
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import (
    ProtocolError,
    Request as ProtocolRequest,
    number,
    parse_request,
)
from proxy.protocol.words import Word
from proxy.providers import build_provider
from proxy.providers.http import make_client
from proxy.redis_server import EmbeddedRedis
from proxy.store.activations import ActivationStore, StoreError
from proxy.store.cache import RecordCache
from proxy.store.connect import RedisLink, connect_redis
from proxy.store.keys import Keys
from proxy.store.outbox import Outbox
from proxy.store.watch import StoreWatch
from proxy.tenants import Tenants
from proxy.webhooks import Notifier, Sender

log = structlog.get_logger("request")
STORE_FAILURES = Throttle(10.0)
shutdown_log = structlog.get_logger("shutdown")

HANDLER_PATH = "/stubs/handler_api.php"


class State(TypedDict):
    """What the lifespan yields to every request (starlette "Lifespan State")."""

    ctx: Context
    tenants: Tenants
    redis: aioredis.Redis
    link: RedisLink


def create_app(settings: Settings) -> Starlette:
    """The smsproxy ASGI app for `settings`; ConfigError when they cannot work (check_settings)."""
    check_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        embedded: EmbeddedRedis | None = None
        url = settings.redis.url
        if not url and settings.redis.mode == "single":
            embedded = EmbeddedRedis(settings.redis.data_dir)
            await asyncio.to_thread(embedded.start)
            url = embedded.url
            structlog.get_logger("redis").info("embedded_redis_started", url=url)
        link = connect_redis(settings.redis, url)
        asyncio.get_running_loop().set_exception_handler(log_loop_exception)
        client = make_client()
        # Webhooks: apart from upstream calls, and no connection kept for another delivery (one
        # to a client's pinned address must not carry another host's request or TLS session).
        hooks = httpx.AsyncClient(
            follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
        )
        warming: asyncio.Task[None] | None = None
        watch = StoreWatch(link, Keys(settings.redis.key_prefix).ready_probe())
        cache: RecordCache | None = None
        state: State | None = None
        tally: Tally | None = None
        poller: Poller | None = None
        try:
            state = build_state(settings, link, client)
            await watch.start()
            tally = state["ctx"].store.tally
            if tally is not None:
                await tally.start()
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
                poller.start()
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
            # A background task is not waited on for long: a cancellation it ignores (redis-py
            # 8 on Python 3.11, see connect_redis) leaves it behind, its Redis pool closed.
            if warming is not None:
                warming.cancel()
                await bounded("catalog_warming", warming, min(TASK_SECONDS, left()))
            if poller is not None:
                await bounded("poller", poller.stop(), left())  # 3.5 s at most: Poller.stop
            if state is not None:
                await bounded("store_drain", state["ctx"].store.drain(), left())
                drains = [p.drain() for p in state["ctx"].providers.values()
                          if isinstance(p, GuardedProvider)]  # fmt: skip
                await bounded("health_drains", asyncio.gather(*drains), left())
            if tally is not None:  # its last counts, after everything that counts has ended
                await bounded("tally", tally.stop(), min(TASK_SECONDS, left()))
            if cache is not None:
                await bounded("record_cache", cache.stop(), min(TASK_SECONDS, left()))
            await bounded("upstream_client", client.aclose(), left())
            await bounded("webhook_client", hooks.aclose(), left())
            await bounded("store_watch", watch.stop(), min(TASK_SECONDS, left()))
            await bounded("redis_client", link.aclose(), left())
            if embedded is not None:
                await asyncio.to_thread(embedded.stop, max(1.0, left()))

    # The operator endpoints: on the admin app alone when [admin] port is set (404 here),
    # else here, behind [admin] token when one is set.
    admin = settings.admin
    shared = Shared()
    handler = HandlerApi(settings.server)
    app = SmsProxyApp(
        handler,
        routes=[
            Route(HANDLER_PATH, handler, methods=["GET", "POST"]),
            Route("/health/live", health_live, methods=["GET"]),
            Route("/health/ready", health_ready, methods=["GET"]),
            *([] if admin.port else operator_routes(settings)),
        ],
        lifespan=publishing(lifespan, shared),
    )
    app.state.shared = shared
    return app


def operator_routes(settings: Settings) -> list[Route]:
    """What shows the operator's data (upstream balances, errors, traffic), behind [admin]
    token: the JSON and Prometheus endpoints, and the operator's page with its JSON twin."""
    token = settings.admin.token
    return [
        Route("/health/upstreams", require_token(health_upstreams, token), methods=["GET"]),
        Route("/metrics", require_token(metrics_endpoint, token), methods=["GET"]),
        *operator_page_routes(settings),
    ]


def create_admin_app(settings: Settings, app: Starlette) -> Starlette:
    """The operator endpoints for [admin] host:port, over the state of `app` (the client app
    from `create_app`, served in the same event loop): no lifespan of its own, 503 while
    `app` is not running."""
    shared: Shared = app.state.shared
    return Starlette(
        routes=operator_routes(settings),
        middleware=[Middleware(SharedState, shared=shared)],
    )


SHUTDOWN_SECONDS = 20.0
TASK_SECONDS = 2.0  # the most a background task's end is waited for


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


def load_maps(settings: Settings) -> tuple[CodeMap, OperatorMap]:
    """The code and operator tables with the configuration's own pairs applied."""
    mapping = settings.mapping
    try:
        codes = load_code_map(Overrides(services=mapping.services, countries=mapping.countries))
        operators = load_operator_map(OperatorOverrides(pairs=mapping.operators))
    except ValueError as exc:
        raise ConfigError(f"mapping: {exc}") from exc
    return codes, operators


def check_settings(settings: Settings) -> None:
    """What the settings cannot say alone: a rate for every currency in use, mapping pairs the
    tables take. Checked before serving, so that a failure is a ConfigError (one line, exit 2),
    not an error inside the server's startup."""
    money = Money(settings.money.currency, settings.money.rates)
    money.check([*(p.currency for p in settings.providers.values()),
                 *(t.currency for t in settings.tenants)])  # fmt: skip
    load_maps(settings)


def build_state(settings: Settings, link: RedisLink, client: httpx.AsyncClient) -> State:
    """Providers, store and dispatcher for one app instance."""
    redis = link.client
    keys = Keys(settings.redis.key_prefix)
    health = Health(redis, keys, dict(settings.providers), settings.routing)
    metrics = Metrics()
    secrets = [p.api_key for p in settings.providers.values()]
    tally = Tally(redis, keys, settings.admin.flush_seconds, secrets)
    providers: dict[str, GuardedProvider] = {
        name: GuardedProvider(build_provider(p, client), health, metrics, tally)
        for name, p in settings.providers.items()
    }
    money = Money(settings.money.currency, settings.money.rates)
    money.check([*(p.currency for p in settings.providers.values()),
                 *(t.currency for t in settings.tenants)])  # fmt: skip
    codes, operators = load_maps(settings)
    cache = RecordCache(link.pubsub, keys.changes()) if settings.redis.local_cache else None
    store = ActivationStore(redis, keys, settings.redis.retention_days * 86400, cache, link)
    store.tally = tally
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
    return State(ctx=ctx, tenants=Tenants(settings.tenants), redis=redis, link=link)


class Oversized(ProtocolError):
    """A request over `[server]` limits (body bytes, parameter count): BAD_ACTION, before any
    authentication or parsing. `unread`: the body was left unread, so the connection closes
    after the answer instead of reading the rest of it."""

    def __init__(self, detail: str, *, unread: bool = False) -> None:
        super().__init__(Word.BAD_ACTION, detail)
        self.detail = detail
        self.unread = unread


DEFAULT_LIMITS = ServerSettings()


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case, as ASGI servers give names), as starlette's
    `request.headers.get` reads it."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


async def read_params(
    scope: Scope, receive: Receive, limits: ServerSettings = DEFAULT_LIMITS
) -> dict[str, str]:
    """Query string, overlaid by a form (or flat JSON) body when a POST carries one: at most
    `limits.max_params` parameters in all (counted before any is decoded) and
    `limits.max_body_bytes` of query string and of body (read chunk by chunk), else Oversized."""
    query_string: bytes = scope["query_string"]
    if len(query_string) > limits.max_body_bytes:
        raise Oversized(f"query string over {limits.max_body_bytes} bytes")
    query = _fields(query_string.decode("latin-1"), limits.max_params)
    params = dict(query)
    if scope["method"] != "POST":
        return params
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    body = await read_body(scope, receive, limits.max_body_bytes)
    if not body:
        return params
    room = limits.max_params - len(query)
    if content_type == "application/x-www-form-urlencoded":
        params.update(_fields(body.decode("utf-8", "replace"), room))
    elif content_type == "application/json":
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return params
        if isinstance(decoded, dict):
            if len(decoded) > room:
                raise Oversized(f"more than {limits.max_params} parameters")
            params.update({str(k): str(v) for k, v in decoded.items() if v is not None})
    return params


def _fields(text: str, most: int) -> list[tuple[str, str]]:
    """`a=1&b=2` as pairs, exactly as `parse_qsl(text, keep_blank_values=True,
    max_num_fields=most)` reads them (Oversized past `most` fields, counted by their `&`
    first), without its cost: a name or value with no `+` or `%` is taken as it is (a
    getStatus carries nothing to decode; parse_qsl cost about 7 µs of each)."""
    if not text:
        return []
    if text.count("&") >= most:  # parse_qsl: more than `most` fields is 1 + count("&")
        raise Oversized(f"more than {most} parameters")
    fields = text.split("&")
    if "%" not in text and "+" not in text:
        return [field.partition("=")[::2] for field in fields if field]
    pairs = []
    for field in fields:
        if field:
            name, _, value = field.partition("=")
            pairs.append((unquote(name.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


async def read_body(scope: Scope, receive: Receive, most: int) -> bytes:
    """The body, never more than `most` bytes of it held: a larger declared length is refused
    unread, and a chunked one is given up at the chunk that would pass the limit.
    ClientDisconnect when the client leaves before it is all read (as starlette's stream)."""
    declared = header(scope, b"content-length")
    if declared is not None:
        length = number(declared)
        if length is None or length > most:
            raise Oversized(f"body over {most} bytes", unread=True)
    body = bytearray()
    more = True
    while more:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) + len(chunk) > most:
                raise Oversized(f"body over {most} bytes", unread=True)
            body += chunk
        elif kind == "http.disconnect":
            raise ClientDisconnect()
    return bytes(body)


TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"


def render(answer: Answer) -> tuple[bytes, bytes]:
    """The body and content type of an answer (HTTP 200 always: clients take any 4xx/5xx for
    a network failure); what starlette's Response made of it, byte for byte."""
    if answer.text is not None:
        return answer.text.encode("utf-8"), TEXT
    body = json.dumps(answer.json, ensure_ascii=False, separators=(",", ":"))
    return body.encode("utf-8"), JSON


def response_headers(
    body: bytes, content_type: bytes, *, close: bool = False
) -> list[tuple[bytes, bytes]]:
    """What starlette's Response sent with `body`, in its order; with `close`, `connection:
    close` after them (uvicorn then closes instead of reading a body left unread)."""
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", content_type)]
    if close:
        headers.append((b"connection", b"close"))
    return headers


def _request_id() -> str:
    """16 hex digits to find a request's log lines by: unique enough, and unlike uuid4 no
    system call per request (the bytes' hex: a third of a format's cost)."""
    return random.getrandbits(64).to_bytes(8, "big").hex()


def _ms(seconds: float) -> float:
    """Milliseconds to two decimals, as `round(seconds * 1000, 2)` but without its decimal
    conversion (a third of its cost; a duration is never negative)."""
    return int(seconds * 100_000 + 0.5) / 100


class HandlerApi:
    """The SMS-Activate endpoint, a plain ASGI app: every client polls it about once a second
    per activation, and starlette's Request, Response, routing and middleware cost more than
    the rest of a getStatus did (issue 15: profile in PERF-NOTES.md). It reads the query string
    and body itself and sends the two ASGI messages, with what starlette's Response sent:
    `content-length`, `content-type` and, when the body was refused unread, `connection:
    close`. Logs one canonical line per request (the client's own values in it clipped:
    proxy.logging.clip). Every failure is a protocol word, never an HTTP error."""

    def __init__(self, limits: ServerSettings = DEFAULT_LIMITS) -> None:
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        state = scope["state"]
        ctx: Context = state["ctx"]
        tenants: Tenants = state["tenants"]
        request_id = clip(header(scope, b"x-request-id")) or _request_id()
        trace = Trace()
        action = tenant_name = None
        parsed: ProtocolRequest | None = None
        refused: dict[str, str] = {}  # why a request over the limits was refused, for the log
        close = False
        try:
            params = await read_params(scope, receive, self.limits)
            action = clip(params.get("action"))
            tenant = tenants.authenticate(params.get("api_key"))
            if tenant is None:
                answer = answers.word(Word.BAD_KEY)
            else:
                tenant_name = tenant.name
                parsed = parse_request(params)
                answer = await perform(ctx, tenant, parsed, trace)
        except Oversized as exc:
            answer = answers.word(exc.word)
            refused, close = {"refused": exc.detail}, exc.unread
        except ProtocolError as exc:
            answer = answers.word(exc.word)
        except ClientDisconnect:
            # Gone before its body was read: nobody to answer, and nothing went wrong here.
            answer = answers.word(Word.BAD_ACTION)
            refused = {"refused": "client disconnected"}
        except StoreError as exc:
            # The request's own line says ERROR_SQL; the cause at most every 10 s (Redis
            # down fails every request alike), with how many requests it stands for.
            if (count := STORE_FAILURES.due()) is not None:
                log.error("store_failed", error=str(exc), requests=count)
            answer = answers.word(Word.ERROR_SQL)
        except Exception:
            log.exception("request_failed")
            answer = answers.word(Word.ERROR_SQL)
        try:
            body, content_type = render(answer)
        except Exception:  # a JSON answer holding what UTF-8 cannot carry (a lone surrogate)
            log.exception("answer_failed", answer=answer.word)
            answer = answers.word(Word.ERROR_SQL)
            body, content_type = render(answer)
        label = type(parsed).__name__ if parsed is not None else "invalid"
        ctx.metrics.request_done(label, answer.word, time.perf_counter() - started)
        log.info(
            "request",
            request_id=request_id,
            action=action,
            tenant=tenant_name,
            activation_id=trace.activation_id,
            provider=trace.provider,
            answer=answer.word,
            duration_ms=_ms(time.perf_counter() - started),
            **refused,
        )
        headers = response_headers(body, content_type, close=close)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class SmsProxyApp(Starlette):
    """Starlette, with the SMS-Activate endpoint's GET and POST handed straight to it: no
    routing and no middleware on the path every poll takes. Everything else (other paths,
    methods, a root_path to strip) goes through starlette, which routes the endpoint to the
    same handler."""

    def __init__(self, handler: HandlerApi, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == HANDLER_PATH
            and scope["method"] in DIRECT_METHODS
            and not scope.get("root_path")
        ):
            await self.handler(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


DIRECT_METHODS = frozenset({"GET", "POST"})


async def health_live(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def health_ready(request: Request) -> Response:
    """Ready when the primary takes a write now (a replica answering pings, a cluster with
    slots uncovered or a demoted primary are not ready), checked on each call, within
    READY_TIMEOUT."""
    ctx: Context = request.state.ctx
    link: RedisLink = request.state.link
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await link.writable(ctx.store.keys.ready_probe())
    except (RedisError, OSError) as exc:  # TimeoutError is an OSError
        error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return JSONResponse({"status": "unavailable", "redis": error}, status_code=503)
    return JSONResponse({"status": "ok"})


READY_TIMEOUT = 2.0  # a probe's whole answer: an orchestrator's own timeout is often 1-5 s


def log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What asyncio reports (a task's unretrieved error, a callback's) as one JSON line,
    not the stdlib logger's multi-line traceback."""
    error = context.get("exception")
    structlog.get_logger("asyncio").error(
        "asyncio_error",
        message=context.get("message"),
        exc_info=error if isinstance(error, BaseException) else None,
    )


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
