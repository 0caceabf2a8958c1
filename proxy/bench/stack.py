"""The servers under test, each in its own process: Redis, both emulators, proxies, the bare app.

Processes rather than threads: the machine has two cores, and a load generator sharing a GIL
with the proxy would measure the GIL. Everything listens on 127.0.0.1 free ports and is stopped
(SIGTERM, wait, then SIGKILL) when the stack exits, on errors and Ctrl-C too. Each child runs
in its own session, so a terminal's Ctrl-C reaches only the bench, which then stops them in
order: proxies first, then emulators, then Redis; a child that outlives its SIGTERM is killed
with its whole process group (a `serve --workers` master and its workers).

Every server is named (`proxy-0`, `proxy-1`, `proxy-workers`, `bare`, `smspva`, `vaksms`,
`redis`) and its process id known (`servers()`): the bench reads their CPU time by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from proxy.redis_server import EmbeddedRedis
from proxy.running import Running
from proxy.serving import free_port

HOST = "127.0.0.1"
EMULATOR_KEY = "emulator-key"  # the proxy's upstream account on both emulators
TENANT_KEYS = ("bench-smspva-first", "bench-vaksms-first")
PROVIDERS = ("smspva", "vaksms")
# Each tenant's failover order: opposite, so that half the bots buy from each provider.
TENANT_ORDERS = dict(zip(TENANT_KEYS, (PROVIDERS, PROVIDERS[::-1]), strict=True))
KEY_PREFIX = "smsproxy"
WORKERS = 2  # `serve --workers N`: as many as the reference machine has cores
# Enough that neither stock nor money runs out in any run: the bench measures the proxy.
EMULATOR_STOCK = 10**9
EMULATOR_BALANCE = 10**9


@dataclass(frozen=True, slots=True)
class StackSettings:
    workdir: Path
    poll_interval: float
    sms_delay: float
    replicas: int = 2


@dataclass(slots=True)
class Child:
    """One server process and where it answers."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    ready_path: str
    log_path: Path
    log: IO[bytes]

    def tail(self, lines: int = 15) -> str:
        """The end of its output, for error messages."""
        self.log.flush()
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def proxy_config(settings: StackSettings, redis_url: str, upstreams: dict[str, str]) -> str:
    """The bench deployment as TOML: both providers on the emulators, two tenants.

    Both tenants may use both providers, in opposite failover order, so that half the bots buy
    from each provider. The emulators run without their rate limit; the proxy's own per-account
    `rate_limit` is raised to match, so the figures measure the proxy, not a throttle.
    """
    lines = [
        "[redis]",
        f"url = {json.dumps(redis_url)}",
        f"key_prefix = {json.dumps(KEY_PREFIX)}",
        "[money]",
        'currency = "USD"',
        'rates = { RUB = "0.011" }',
        "[logging]",
        'format = "json"',
        'level = "info"',
    ]
    for name in PROVIDERS:
        lines += [
            f"[providers.{name}]",
            f'kind = "{name}"',
            f"api_key = {json.dumps(EMULATOR_KEY)}",
            f"base_url = {json.dumps(upstreams[name])}",
            f"poll_interval = {settings.poll_interval!r}",
            "rate_limit = 1000000.0",
        ]
    for key, order in TENANT_ORDERS.items():
        lines += [
            "[[tenants]]",
            f"name = {json.dumps(key)}",
            f"key = {json.dumps(key)}",
            f"providers = {json.dumps(list(order))}",
        ]
    return "\n".join(lines) + "\n"


def serve_has_workers() -> bool:
    """Whether this smsproxy's `serve` takes `--workers` (asked of its --help, as a user would)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "proxy.cli", "serve", "--help"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--workers" in done.stdout


class Stack(Running):
    """Start with `with Stack(settings) as stack:`; everything is stopped on the way out."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.redis: EmbeddedRedis | None = None
        self.emulators: dict[str, Child] = {}
        self.proxies: list[Child] = []
        self.bare: Child | None = None
        self.workers: Child | None = None  # `serve --workers`, started later (start_workers)
        self.config: Path | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> Stack:
        workdir = self.settings.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.redis = EmbeddedRedis(workdir / "redis", persistent=False).start()
            for name in PROVIDERS:
                port = free_port()
                args = [
                    "-m", "proxy.cli", "emulate", name,
                    "--port", str(port), "--api-key", EMULATOR_KEY,
                    "--balance", str(EMULATOR_BALANCE), "--stock", str(EMULATOR_STOCK),
                    "--sms-delay", repr(self.settings.sms_delay), "--no-rate-limit",
                ]  # fmt: skip
                self.emulators[name] = self._spawn(name, args, port, "/_emulator/stats")
            config = workdir / "smsproxy.toml"
            upstreams = {name: child.url for name, child in self.emulators.items()}
            config.write_text(proxy_config(self.settings, self.redis.url, upstreams))
            self.config = config
            for index in range(self.settings.replicas):
                port = free_port()
                args = ["-m", "proxy.cli", "serve", "--config", str(config),
                        "--host", HOST, "--port", str(port)]  # fmt: skip
                self.proxies.append(self._spawn(f"proxy-{index}", args, port, "/health/ready"))
            port = free_port()
            relays = [f"--upstream={name}={url}" for name, url in upstreams.items()]
            self.bare = self._spawn(
                "bare", ["-m", "proxy.bench.bare", "--port", str(port), *relays], port,
                "/stubs/handler_api.php",
            )  # fmt: skip
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_workers(self, workers: int = WORKERS, timeout: float = 60.0) -> Child:
        """One more smsproxy, `serve --workers N` on the same Redis; RuntimeError or
        TimeoutError (with its output) if it does not come up."""
        assert self.config is not None, "start() first"
        port = free_port()
        args = ["-m", "proxy.cli", "serve", "--config", str(self.config),
                "--host", HOST, "--port", str(port), "--workers", str(workers)]  # fmt: skip
        child = self._spawn("proxy-workers", args, port, "/health/ready")
        try:
            self._wait_ready(timeout, [child])
        except BaseException:
            _stop([child], timeout=10.0)  # not part of the run: check_alive must not see it
            raise
        self.workers = child
        return child

    def servers(self) -> dict[str, int]:
        """Every running server by name -> process id (the root of its process tree)."""
        found = {child.name: child.process.pid for child in self.children()}
        if self.redis is not None and self.redis.pid is not None:
            found["redis"] = self.redis.pid
        return found

    def _spawn(self, name: str, args: list[str], port: int, ready_path: str) -> Child:
        log_path = self.settings.workdir / f"{name}.log"
        log = log_path.open("wb")
        # -P: not the current directory first on sys.path, so that the servers import the
        # smsproxy the bench itself runs (installed, or on PYTHONPATH), not a checkout the
        # bench happens to be started from.
        process = subprocess.Popen(
            [sys.executable, "-P", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return Child(name, process, f"http://{HOST}:{port}", ready_path, log_path, log)

    def children(self) -> list[Child]:
        """Proxies and the bare app first: the order in which they are stopped."""
        bare = [self.bare] if self.bare is not None else []
        workers = [self.workers] if self.workers is not None else []
        return [*self.proxies, *workers, *bare, *self.emulators.values()]

    def _wait_ready(self, timeout: float, children: list[Child] | None = None) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(self.children() if children is None else children)
        with httpx.Client(timeout=2.0) as client:
            while waiting:
                child = waiting[0]
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited at start:\n{child.tail()}")
                try:
                    if client.get(child.url + child.ready_path).status_code == 200:
                        waiting.pop(0)
                        continue
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{child.name} not ready in {timeout}s:\n{child.tail()}")
                time.sleep(0.05)

    def check_alive(self) -> None:
        """Raise if a server died during the run (a crash is a result worth reporting)."""
        for child in self.children():
            if child.process.poll() is not None:
                raise RuntimeError(
                    f"{child.name} exited with {child.process.returncode} during the run:\n"
                    f"{child.tail()}"
                )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every child, wait for each (SIGKILL after `timeout`), then stop Redis.

        Safe to call twice; the children's logs stay readable afterwards.
        """
        _stop(self.children(), timeout)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


def _stop(children: list[Child], timeout: float) -> None:
    """SIGTERM all, then wait for each; one that outlives `timeout` is killed with its group."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Its own session's leader, still alive: its group is its own (workers too).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.kill()
            child.process.wait(timeout)
        child.log.close()
