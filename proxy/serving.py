"""Run ASGI apps with uvicorn: several in one event loop (demo) or one in a thread (tests)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import faulthandler
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Literal, TypeVar

import uvicorn
from starlette.types import ASGIApp

from proxy.running import Running

T = TypeVar("T")
STUCK_EXIT_SECONDS = 12.0


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on uvloop's event loop where it is installed (a dependency off Windows).

    Its loop costs less per socket event (on the 2-core reference machine a Redis command
    through redis-py about 10-20% less), and a getNumber is a dozen of them.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class CannotListen(OSError):
    """The address to serve on cannot be bound (a port in use, a host not ours)."""

    def __init__(self, host: str, port: int, reason: str, hint: str = "--port") -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason
        self.hint = hint  # where another port is chosen


def listen(host: str, port: int, backlog: int = 2048) -> list[socket.socket]:
    """Sockets listening on host:port now, one per address the host names (as uvicorn's own
    binding, asyncio's create_server, makes them); CannotListen if one cannot be bound.

    Bound before anything starts, a port in use ends a server at once, not after it started
    Redis and took the poller lease (issue 14); and connections made during the startup wait
    in the backlog instead of being refused."""
    sockets: list[socket.socket] = []
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in dict.fromkeys(found):
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # a family this machine does not have, as asyncio skips it
                continue
            sockets.append(sock)
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL or len(found) == 1:
                    raise
                sockets.pop().close()  # IPv6 named but disabled, say (asyncio: bpo-30945)
                continue
            sock.listen(backlog)
        if not sockets:
            raise OSError(errno.EADDRNOTAVAIL, "no address to bind")
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CannotListen(host, port, exc.strerror or str(exc)) from exc
    return sockets


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class Server(uvicorn.Server):
    """A uvicorn server that leaves signals to its caller, on sockets bound when it is made.

    uvicorn's own capture replaces the process's handlers per server and re-raises the signal
    after shutdown; with several servers in one loop (the demo) only the last would stop.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config)
        self.bound = sockets

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(self.bound if sockets is None else sockets)
        finally:
            for sock in self.bound:
                sock.close()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_until_signalled(
    servers: list[Server], on_stop: Callable[[], None] | None = None
) -> None:
    """Serve all, and stop all gracefully on SIGINT or SIGTERM (`on_stop` called first)."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if on_stop is not None:
            on_stop()
        # Should the exit take far longer than its steps allow, what it waits on goes to
        # stderr: every task's coroutine stack (if the loop still runs), then every thread's
        # stack, again every few seconds (if it does not).
        loop.call_later(STUCK_EXIT_SECONDS, _print_tasks)
        faulthandler.dump_traceback_later(STUCK_EXIT_SECONDS, repeat=True, file=sys.stderr)
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    await asyncio.gather(*(server.serve() for server in servers))


def _print_tasks() -> None:
    """Each task with the chain of coroutines it is awaiting, innermost last."""
    print(f"exit still waiting after {STUCK_EXIT_SECONDS:g} s; tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        chain: list[str] = []
        awaited: Any = task.get_coro()
        while awaited is not None and len(chain) < 50:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        print(f"  {task.get_name()}: " + " -> ".join(chain), file=sys.stderr)


def make_server(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    access_log: bool = False,
    lifespan: Literal["auto", "on", "off"] = "on",
    sockets: list[socket.socket] | None = None,
) -> Server:
    """A uvicorn server that leaves logging and signals to its caller, its port bound now
    (CannotListen if it cannot be), or served on `sockets` already bound (a worker's)."""
    if sockets is None:
        sockets = listen(host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=access_log,
        lifespan=lifespan,
        timeout_graceful_shutdown=3,
    )
    return Server(config, sockets)


class ThreadedServer(Running):
    """One app served by uvicorn in a background thread, on a free loopback port."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.server = make_server(app, host, self.port)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        # The stdlib loop, not uvloop: a uvloop loop still alive in a daemon thread when the
        # interpreter exits can crash it (a segfault at the end of a test run, seen here).
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"server on port {self.port} failed to start") from self._error
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {self.port} did not start in {timeout}s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
