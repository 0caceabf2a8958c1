"""Closed-loop throughput: N keep-alive connections, each sending the next request on its answer.

This client writes pre-built HTTP/1.1 requests on raw asyncio streams instead of using httpx:
on a 2-core machine httpx spends about 2 ms of CPU per request, which caps a closed-loop httpx
client near 450 req/s, below what even the proxy serves, so a ratio taken with it would measure
the client. The same client drives the bare endpoint, one proxy and two proxies, so the ratios
compare servers, not clients. It still costs the bench process tens of microseconds per
request, more than the bare endpoint itself: its own CPU is recorded (`client_cpu`) so that a
reader sees when it, not the server, is the limit; wrk (wrk.py) is used instead when installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from proxy.bench.cpu import Spent, own_seconds


@dataclass(frozen=True, slots=True)
class Target:
    """Where one connection goes and the exact bytes of its request (`url` for wrk)."""

    host: str
    port: int
    tls: bool
    request: bytes
    url: str

    @classmethod
    def for_url(cls, url: str, params: dict[str, str]) -> Target:
        """A GET of `url` with `params` as its query string."""
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if tls else 80)
        path = (parts.path or "/") + ("?" + urlencode(params) if params else "")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "User-Agent: smsproxy-bench\r\nAccept: */*\r\n\r\n"
        ).encode()
        query = urlencode(params)
        return cls(host, port, tls, request, f"{url}?{query}" if query else url)


@dataclass(slots=True)
class Result:
    """Answers within the measured window of one or more runs, and what they cost.

    `requests` are the answers within the window (throughput); `served` counts those that
    came just after it too, since the server spent CPU on them (CPU per request). `client_cpu`
    is the load generator's CPU seconds, `server` what the target's processes used (set by the
    runner, which knows them).
    """

    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    words: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    served: int = 0
    client: str = "python"
    client_cpu: float = 0.0
    server: Spent = field(default_factory=Spent)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def add(self, other: Result) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)
        self.words.update(other.words)
        self.errors.update(other.errors)
        self.served += other.served
        self.client = other.client
        self.client_cpu += other.client_cpu
        self.server.add(other.server)


class _Connection:
    """One keep-alive connection that reconnects if the server closes it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        context = ssl.create_default_context() if self.target.tls else None
        self._reader, self._writer = await asyncio.open_connection(
            self.target.host, self.target.port, ssl=context
        )

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def exchange(self) -> tuple[int, bytes, bool]:
        """Send the request, read one answer: (status, body, server keeps the connection)."""
        if self._writer is None or self._reader is None:
            await self.open()
        assert self._writer is not None and self._reader is not None
        self._writer.write(self.target.request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ValueError("answer without Content-Length")
        body = await self._reader.readexactly(int(headers["content-length"]))
        return status, body, headers.get("connection", "").lower() != "close"


async def hammer(targets: Sequence[Target], connections: int, seconds: float) -> Result:
    """`connections` connections (spread over `targets` in turn), closed-loop for `seconds`.

    All connections are opened before the clock starts, so connection setup is not measured.
    """
    pool = [_Connection(targets[i % len(targets)]) for i in range(connections)]
    await asyncio.gather(*(c.open() for c in pool))
    result = Result()
    cpu_before = own_seconds()
    started = time.perf_counter()
    deadline = started + seconds

    async def loop(connection: _Connection) -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                status, body, keep = await connection.exchange()
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                result.errors[type(exc).__name__] += 1
                await connection.close()
                continue
            done = time.perf_counter()
            result.served += 1
            if done > deadline:
                return  # answered after the window: neither counted nor timed
            result.requests += 1
            result.latencies.append(done - sent)
            text = body.decode("utf-8", "replace")
            result.words[text.split(":", 1)[0] if status == 200 else f"HTTP_{status}"] += 1
            if not keep:
                await connection.close()

    try:
        await asyncio.gather(*(loop(c) for c in pool))
    finally:
        await asyncio.gather(*(c.close() for c in pool))
    result.client_cpu = own_seconds() - cpu_before
    result.seconds = seconds
    return result


class Driver(Protocol):
    """A closed-loop client as the runner drives it: this module's, or wrk (wrk.Wrk)."""

    name: str

    def slice_seconds(self, seconds: float) -> float:
        """The slice it can run closest to `seconds`."""
        ...

    async def run(self, targets: Sequence[Target], connections: int, seconds: float) -> Result:
        """`connections` connections over `targets`, closed loop for `seconds`."""
        ...


class Python:
    """The closed-loop client above, as the runner drives it (wrk.Wrk is the other one)."""

    name = "python"

    @staticmethod
    def slice_seconds(seconds: float) -> float:
        return seconds

    async def run(self, targets: Sequence[Target], connections: int, seconds: float) -> Result:
        return await hammer(targets, connections, seconds)
