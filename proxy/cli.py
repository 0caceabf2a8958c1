"""The `smsproxy` command: serve, demo, emulate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import socket
import sys
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import structlog

from proxy import __version__
from proxy.app import HANDLER_PATH, check_settings, create_admin_app, create_app, load_maps
from proxy.config import ConfigError, Settings, load_settings, settings_from_dict
from proxy.demo_traffic import keep_funded, run_traffic
from proxy.logging import configure_logging
from proxy.mapping.report import unmapped_json, unmapped_report
from proxy.serving import (
    CannotListen,
    Server,
    free_port,
    listen,
    make_server,
    run,
    serve_until_signalled,
)

DEMO_KEY = "demo"
EMULATOR_KEY = "emulator-key"
DEMO_BALANCES = {"smspva": Decimal("100"), "vaksms": Decimal("10000")}  # USD, RUB


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except ConfigError as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        print(f"smsproxy: configuration error: {message}", file=sys.stderr)
        return 2
    except CannotListen as exc:  # bound before anything starts (proxy.serving.listen)
        print(f"smsproxy: {exc} (choose another port: {exc.hint})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsproxy", description=__doc__)
    parser.add_argument("--version", action="version", version=f"smsproxy {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the production server")
    serve.add_argument("--config", type=Path, default=os.environ.get("SMSPROXY_CONFIG"))
    serve.add_argument("--host", help="overrides [server] host")
    serve.add_argument("--port", type=int, help="overrides [server] port")
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("SMSPROXY_WORKERS", "1") or 1),
        help="processes serving the one port (default 1; one per core uses them all)",
    )
    serve.set_defaults(run=run_serve)

    demo = commands.add_parser("demo", help="Redis, both emulators and the proxy on loopback")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--sms-delay", type=float, default=5.0, help="seconds until the SMS")
    demo.add_argument("--data-dir", type=Path, help="Redis data (default: a temporary dir)")
    demo.add_argument(
        "--traffic", type=float, default=6.0,
        help="demo bots' purchases a minute, for the operator page's figures (0: none)",
    )  # fmt: skip
    demo.set_defaults(run=run_demo)

    providers = commands.add_parser("providers", help="each provider's health, from a proxy")
    providers.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="a running smsproxy (its [admin] address when it has an admin port)",
    )
    providers.add_argument(
        "--token",
        default=os.environ.get("SMSPROXY_ADMIN__TOKEN", ""),
        help="its [admin] token (default: $SMSPROXY_ADMIN__TOKEN)",
    )
    providers.add_argument("--json", action="store_true", help="as one JSON object")
    providers.set_defaults(run=run_providers)

    catalog = commands.add_parser("catalog", help="report on the code mapping")
    catalog.add_argument(
        "--unmapped",
        action="store_true",
        required=True,
        help="list provider codes with no SMS-Activate counterpart",
    )
    catalog.add_argument("--json", action="store_true", help="as one JSON object")
    catalog.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("SMSPROXY_CONFIG"),
        help="apply this configuration's [mapping] overrides",
    )
    catalog.set_defaults(run=run_catalog)

    emulate = commands.add_parser("emulate", help="run one provider emulator")
    emulate.add_argument("provider", choices=["smspva", "vaksms", "handler-api"])
    emulate.add_argument("--port", type=int, required=True)
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--api-key", default=EMULATOR_KEY)
    emulate.add_argument("--balance", type=Decimal, default=Decimal("100"))
    emulate.add_argument("--sms-delay", type=float, default=5.0)
    emulate.add_argument("--stock", type=int, help="numbers per service and country (100)")
    emulate.add_argument(
        "--no-rate-limit", action="store_true", help="lift SMSPVA's 50 requests/s per key"
    )
    emulate.add_argument(
        "--shapes",
        choices=["sdk", "seed"],
        default="sdk",
        help="SMSPVA answer shapes: smspva-sdk's (default) or the seed documents' older ones",
    )
    emulate.add_argument(
        "--profile",
        default="canonical",
        help="handler-api: a shipped quirk profile (canonical, herosms, smsbower, grizzlysms, "
        "smspva_alternative) or the path of a profile file",
    )
    emulate.set_defaults(run=run_emulate)

    bench = commands.add_parser(
        "bench",
        help="load-test the proxy (starts everything, or --url)",
        description="Start Redis, both emulators, two proxies and a bare reference endpoint, "
        "drive simulated bots, then print CPU per request, throughput, latency and the "
        "targets.",
    )
    bench.add_argument("--duration", type=float, default=30.0, help="seconds of bot load (30)")
    bench.add_argument("--bots", type=int, default=50, help="simulated clients (50)")
    bench.add_argument("--poll", type=float, default=1.0, help="bots' getStatus period (1 s)")
    bench.add_argument(
        "--poll-interval", type=float, default=1.0, help="providers' poll_interval (1 s)"
    )
    bench.add_argument("--sms-delay", type=float, default=2.0, help="emulated SMS delay (2 s)")
    bench.add_argument(
        "--hammer-seconds",
        type=float,
        help="closed-loop time per target (default: duration/8, within 1..4 s)",
    )
    bench.add_argument("--connections", type=int, default=32, help="closed-loop connections (32)")
    bench.add_argument(
        "--url",
        help="a running proxy instead: client-side figures only, and its bots buy real numbers "
        "from whatever upstreams it has",
    )
    bench.add_argument("--api-key", default=DEMO_KEY, help="its tenant key, with --url (demo)")
    bench.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="the closed loop's load generator: wrk when on PATH (auto), or as named",
    )
    bench.add_argument(
        "--purchases", type=int, help="rounds of no-load purchases (default: from --duration)"
    )
    bench.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    bench.set_defaults(run=run_bench)
    return parser


def run_providers(args: argparse.Namespace) -> int:
    """The /health/upstreams table in the terminal."""
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        response = httpx.get(args.url.rstrip("/") + "/health/upstreams", headers=headers,
                             timeout=10)  # fmt: skip
        if response.status_code in (401, 404):
            hint = "--token" if response.status_code == 401 else "the [admin] address as --url"
            raise ValueError(f"HTTP {response.status_code} (give {hint})")
        health = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"smsproxy: cannot read {args.url}/health/upstreams: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(health, indent=2))
        return 0
    print(format_providers(health))
    return 0


def format_providers(health: dict[str, dict[str, Any]]) -> str:
    columns = ("provider", "state", "failures", "reason", "latency ms", "balance", "last error")
    rows = [columns]
    for name, view in sorted(health.items()):
        latency = view.get("last_latency_ms")
        rows.append((
            name, str(view.get("state", "")), str(view.get("failures", "")),
            str(view.get("reason") or "-"), "-" if latency is None else f"{latency:.1f}",
            str(view.get("last_balance") or "-"), str(view.get("last_error") or "-")[:60],
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     for row in rows)  # fmt: skip


def run_catalog(args: argparse.Namespace) -> int:
    settings = load_settings(args.config) if args.config else settings_from_dict({})
    codes, operators = load_maps(settings)
    if args.json:
        print(json.dumps(unmapped_json(codes, operators), ensure_ascii=False, indent=2))
    else:
        print(unmapped_report(codes, operators))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.logging.format, settings.logging.level)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    if args.workers < 1:
        raise ConfigError(f"--workers: at least 1, got {args.workers}")
    if args.workers > 1:
        return serve_workers(settings, host, port, args)
    try:
        servers = proxy_servers(settings, host, port)
    except CannotListen as exc:
        exc.hint = "--port" if exc.port == port else "[admin] port"
        raise
    log_start(settings, host, port, args.config)
    warn_open_admin(settings)
    run(serve_until_signalled(servers))
    return 0


def serve_workers(settings: Settings, host: str, port: int, args: argparse.Namespace) -> int:
    """`--workers N`: the sockets bound here, N forked workers serving them (proxy.workers).
    An embedded Redis is started here too, once, and shared by the workers."""
    from proxy.redis_server import EmbeddedRedis
    from proxy.workers import supervise

    check_settings(settings)
    admin = settings.admin
    try:
        sockets = listen(host, port)
        admin_sockets = listen(admin.host, admin.port) if admin.port else []
    except CannotListen as exc:
        exc.hint = "--port" if exc.port == port else "[admin] port"
        raise
    log_start(settings, host, port, args.config)
    warn_open_admin(settings)
    embedded: EmbeddedRedis | None = None
    if settings.redis.mode == "single" and not settings.redis.url:
        embedded = EmbeddedRedis(settings.redis.data_dir).start()
        structlog.get_logger("redis").info("embedded_redis_started", url=embedded.url)
        redis = dataclasses.replace(settings.redis, url=embedded.url)
        settings = dataclasses.replace(settings, redis=redis)

    def worker(index: int) -> int:
        servers = proxy_servers(settings, host, port, sockets, admin_sockets)
        run(serve_until_signalled(servers))
        return 0

    try:
        return supervise(args.workers, worker)
    finally:
        if embedded is not None:
            embedded.stop()


def warn_open_admin(settings: Settings) -> None:
    if not settings.admin.port and not settings.admin.token:
        structlog.get_logger("admin").warning(
            "operator_endpoints_open",
            paths=["/health/upstreams", "/metrics"],
            hint="they show upstream balances to anyone reaching this port: "
            "set [admin] port (own address) or [admin] token",
        )


def log_start(settings: Settings, host: str, port: int, config: Path | None) -> None:
    """One line for what this server is (where it listens, its upstreams, how many clients),
    and a warning when it can serve nobody."""
    log = structlog.get_logger("serve")
    address = f"[{host}]" if ":" in host else host
    log.info(
        "serving",
        listen=f"http://{address}:{port}",
        config=str(config) if config else None,
        providers={name: provider.kind for name, provider in settings.providers.items()},
        tenants=len(settings.tenants),
    )
    if not settings.tenants:
        log.warning("no_tenants", hint="every request is answered BAD_KEY: add [[tenants]]")
    if not settings.providers:
        log.warning("no_providers", hint="no number can be bought: add [providers.<name>]")


def proxy_servers(
    settings: Settings,
    host: str,
    port: int,
    sockets: list[socket.socket] | None = None,
    admin_sockets: list[socket.socket] | None = None,
) -> list[Server]:
    """The proxy on host:port and, when [admin] port is set, its operator endpoints on
    [admin] host:port: two servers for one event loop, sharing one state (on `sockets`,
    `admin_sockets` when a supervisor bound them)."""
    app = create_app(settings)
    servers = [make_server(app, host, port, access_log=False, sockets=sockets)]
    admin = settings.admin
    if admin.port:
        admin_app = create_admin_app(settings, app)
        servers.append(make_server(admin_app, admin.host, admin.port, lifespan="off",
                                   sockets=admin_sockets or None))  # fmt: skip
        structlog.get_logger("admin").info(
            "operator_endpoints", url=f"http://{admin.host}:{admin.port}", token=bool(admin.token)
        )
    return servers


def build_emulator(
    provider: str, api_key: str, balance: Decimal, sms_delay: float, profile: str = "canonical"
) -> Any:
    from proxy.emulators import HandlerApiEmulator, SmspvaEmulator, VaksmsEmulator

    if provider == "handler-api":
        return HandlerApiEmulator(profile, api_keys={api_key: balance}, sms_delay=sms_delay)
    factory = SmspvaEmulator if provider == "smspva" else VaksmsEmulator
    return factory(api_keys={api_key: balance}, sms_delay=sms_delay)


def run_emulate(args: argparse.Namespace) -> int:
    configure_logging("console", "info")
    from proxy.providers.profiles import ProfileError

    try:
        emulator = build_emulator(
            args.provider, args.api_key, args.balance, args.sms_delay, args.profile
        )
    except ProfileError as exc:
        print(f"smsproxy emulate: {exc}", file=sys.stderr)
        return 2
    if args.stock is not None:
        emulator.default_stock = args.stock  # kept by /_emulator/reset too
        emulator.set_all_stock(args.stock)
    if args.no_rate_limit and hasattr(emulator, "rate_limit"):
        emulator.rate_limit = None  # only SMSPVA has one; VAK-SMS documents none
    if args.provider == "smspva":
        emulator.shapes = args.shapes
    server = make_server(emulator.app, args.host, args.port)
    what = args.provider
    if args.provider == "handler-api":
        what = f"handler-api ({emulator.profile.name}, {emulator.profile.handler_path})"
    print(f"{what} emulator on http://{args.host}:{args.port} (api key {args.api_key})")
    run(serve_until_signalled([server]))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from proxy.bench.report import render_table
    from proxy.bench.runner import BenchOptions, run

    positive = {"--duration": args.duration, "--bots": args.bots, "--poll": args.poll,
                "--poll-interval": args.poll_interval, "--connections": args.connections,
                "--hammer-seconds": args.hammer_seconds or 1,
                "--purchases": 1 if args.purchases is None else args.purchases}  # fmt: skip
    wrong = [name for name, value in positive.items() if value <= 0]
    if wrong or args.sms_delay < 0:
        print(f"smsproxy bench: must be positive: {', '.join(wrong or ['--sms-delay'])}",
              file=sys.stderr)  # fmt: skip
        return 2
    options = BenchOptions(
        duration=args.duration,
        bots=args.bots,
        poll=args.poll,
        poll_interval=args.poll_interval,
        sms_delay=args.sms_delay,
        hammer_seconds=args.hammer_seconds,
        connections=args.connections,
        url=args.url,
        api_key=args.api_key,
        progress=not args.no_progress,
        client=args.client,
        idle_rounds=args.purchases,
    )
    try:
        result = run(options)
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError, RedisError) as exc:
        # A server that would not start or died, or a target that does not answer.
        print(f"smsproxy bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_table(result))
    return 0


def demo_settings(
    smspva_url: str, vaksms_url: str, data_dir: Path, admin_token: str = ""
) -> Settings:
    """The demo's configuration: one tenant `demo` that may use both emulated providers, and
    the operator's page behind `admin_token`."""
    return settings_from_dict(
        {
            "redis": {"url": "", "data_dir": str(data_dir)},
            "admin": {"token": admin_token, "refresh_seconds": 5},
            "money": {"currency": "USD", "rates": {"RUB": "0.011"}},
            "logging": {"format": "console"},
            "providers": {
                "smspva": {
                    "kind": "smspva",
                    "api_key": EMULATOR_KEY,
                    "base_url": smspva_url,
                    "poll_interval": 2,
                },
                "vaksms": {
                    "kind": "vaksms",
                    "api_key": EMULATOR_KEY,
                    "base_url": vaksms_url,
                    "poll_interval": 2,
                },
            },
            # Weighted: the demo's purchases go to both providers, as the page then shows.
            "tenants": [
                {
                    "name": "demo",
                    "key": DEMO_KEY,
                    "providers": ["smspva", "vaksms"],
                    "strategy": "weighted",
                }
            ],
        }
    )


def run_demo(args: argparse.Namespace) -> int:
    configure_logging("console", "info")
    with tempfile.TemporaryDirectory(prefix="smsproxy-demo-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "redis"
        run(_demo(args.port, args.sms_delay, data_dir, args.traffic))
    return 0


async def _demo(port: int, sms_delay: float, data_dir: Path, traffic: float = 0.0) -> None:
    host = "127.0.0.1"
    admin_token = secrets.token_urlsafe(12)
    ports = {"smspva": free_port(), "vaksms": free_port()}
    servers = []
    emulators = {}
    for provider, emulator_port in ports.items():
        emulator = build_emulator(provider, EMULATOR_KEY, DEMO_BALANCES[provider], sms_delay)
        emulators[provider] = (emulator, DEMO_BALANCES[provider])
        servers.append(make_server(emulator.app, host, emulator_port))
    urls = {name: f"http://{host}:{p}" for name, p in ports.items()}
    settings = demo_settings(urls["smspva"], urls["vaksms"], data_dir, admin_token)
    servers.extend(proxy_servers(settings, host, port))
    background: list[asyncio.Task[None]] = []

    def stop_bots() -> None:  # before the servers stop: bots would only meet closed ports
        for task in background:
            task.cancel()

    running = asyncio.create_task(serve_until_signalled(servers, on_stop=stop_bots))
    # uvicorn offers no start event to await, so look every 50 ms.
    while not all(server.started for server in servers) and not running.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    base = f"http://{host}:{port}"
    if all(server.started for server in servers):
        print_demo_banner(base, urls, admin_token, traffic)
        if traffic > 0:
            background.append(asyncio.create_task(run_traffic(base, DEMO_KEY, traffic)))
            background.append(asyncio.create_task(keep_funded(emulators, EMULATOR_KEY)))
    try:
        await running
    finally:
        stop_bots()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    structlog.get_logger("demo").info("demo_stopped")


def print_demo_banner(
    base: str, upstreams: dict[str, str], admin_token: str = "", traffic: float = 0.0
) -> None:
    endpoint = f"{base}{HANDLER_PATH}?api_key={DEMO_KEY}"
    lines = [
        "",
        f"smsproxy demo is running: base URL {base}{HANDLER_PATH}  (api key: {DEMO_KEY})",
        f"emulated upstreams: SMSPVA {upstreams['smspva']}, VAK-SMS {upstreams['vaksms']}",
        "",
        f"operator page: {base}/admin/login?token={admin_token}",
        f"  (token {admin_token}; demo bots buy about {traffic:g} numbers a minute)"
        if traffic > 0
        else f"  (token {admin_token}; no demo bots: --traffic 0)",
        "",
        "Try:",
        f"  curl '{endpoint}&action=getBalance'",
        f"  curl '{endpoint}&action=getNumber&service=tg&country=0'",
        f"  curl '{endpoint}&action=getStatus&id=<id from ACCESS_NUMBER>'",
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
